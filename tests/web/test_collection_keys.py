"""Keys that act on one collection only, from the API key file: they work on that collection's URLs with their
role, and nowhere else; the gallery-wide keys still work everywhere."""

from __future__ import annotations

import json

import pytest
from web_helpers import upload

from faceprint.web.keys import load_keys
from faceprint.web.settings import ConfigurationError

ADMIN, RECOGNIZE = "admin-" + "a" * 32, "recognize-" + "r" * 32
STAFF_ADMIN, STAFF_RECOGNIZE = "staff-admin-" + "s" * 32, "staff-recognize-" + "t" * 32


def key_file(tmp_path, data: dict) -> str:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def client(make_app, tmp_path):
    keys = {
        "admin": ADMIN,
        "recognize": RECOGNIZE,
        "collections": {"staff": {"admin": STAFF_ADMIN, "recognize": STAFF_RECOGNIZE}},
    }
    return make_app(FACEPRINT_API_KEYS_FILE=key_file(tmp_path, keys)).test_client()


def call(client, method: str, path: str, key: str, **kwargs):
    return client.open(path, method=method, headers={"X-API-Key": key}, **kwargs)


def test_a_collection_key_acts_on_its_collection_only(client, photos):
    staff = "/api/v1/collections/staff"
    enrolled = call(
        client, "POST", f"{staff}/people", STAFF_ADMIN, data={"name": "Ada", "images": upload(photos["obama"])}
    )
    assert enrolled.status_code == 201, enrolled.get_json()
    assert [p["name"] for p in call(client, "GET", f"{staff}/people", STAFF_ADMIN).get_json()["people"]] == ["Ada"]
    recognized = call(client, "POST", f"{staff}/recognize", STAFF_RECOGNIZE, data={"image": upload(photos["obama"])})
    assert recognized.status_code == 200 and recognized.get_json()["faces"][0]["identity"] == "Ada"

    refused = call(
        client, "POST", f"{staff}/people", STAFF_RECOGNIZE, data={"name": "Bo", "images": upload(photos["biden"])}
    )
    assert refused.status_code == 403 and "admin key" in refused.get_json()["error"]["message"]
    for method, path in (
        ("GET", "/api/v1/people"),
        ("POST", "/api/v1/recognize"),
        ("GET", "/api/v1/collections"),
        ("GET", "/api/v1/collections/visitors/people"),
        ("GET", "/api/v1/collections/default/people"),
    ):
        response = call(
            client, method, path, STAFF_ADMIN, data={"image": upload(photos["obama"])} if method == "POST" else None
        )
        assert response.status_code == 403, (path, response.get_json())
        assert "acts only on the collection 'staff'" in response.get_json()["error"]["message"]

    assert call(client, "GET", f"{staff}/people", ADMIN).status_code == 200  # gallery-wide keys act everywhere
    assert call(client, "GET", "/api/v1/health", STAFF_ADMIN).status_code == 200
    wrong = call(client, "GET", f"{staff}/people", "staff-admin-" + "x" * 32)
    assert wrong.status_code == 401
    assert call(client, "DELETE", f"{staff}/people/Ada", STAFF_ADMIN).get_json() == {"deleted": "Ada"}


@pytest.mark.parametrize(
    ("collections", "message"),
    [
        ({"Staff": {"admin": STAFF_ADMIN}}, "is not a collection name"),
        ({"staff": {"owner": STAFF_ADMIN}}, "must hold 'admin' and/or 'recognize' keys"),
        ({"staff": {"admin": "short"}}, "at least 16 characters"),
        ({"staff": {"admin": ADMIN}}, "every API key must differ"),
        ({"staff": "key"}, "must hold 'admin' and/or 'recognize' keys"),
    ],
)
def test_bad_collection_keys_are_refused_at_start(tmp_path, collections, message):
    path = key_file(tmp_path, {"admin": ADMIN, "collections": collections})
    with pytest.raises(ConfigurationError, match=message):
        load_keys({"FACEPRINT_API_KEYS_FILE": path})
