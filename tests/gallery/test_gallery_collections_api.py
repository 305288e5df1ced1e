"""``/api/v1/collections/<collection>/...`` on SQLite and PostgreSQL: the people and recognition endpoints on a
separate set of people, ``/api/v1/people`` still the default collection, unknown collections 404 for readers, bad
names 400, per-collection thumbnail URLs, and the OpenAPI document."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from web_settings import ISOLATED

from faceprint import FaceRecognizer
from faceprint.gallery import list_collections
from faceprint.web import create_app

STAFF = "/api/v1/collections/staff"


@pytest.fixture
def client(gallery_url: str, pipeline) -> FlaskClient:
    app = create_app({**ISOLATED, "RECOGNIZER": FaceRecognizer(gallery=gallery_url, pipeline=pipeline)})
    app.testing = True
    return app.test_client()


def upload(path: Path) -> tuple[io.BytesIO, str]:
    return io.BytesIO(path.read_bytes()), path.name


def error(response, status: int, code: str) -> str:
    body = response.get_json()
    assert response.status_code == status and body["error"]["code"] == code, (response.status_code, body)
    return body["error"]["message"]


def test_people_and_recognition_per_collection(client, samples: Path, gallery_url: str):
    people, group = samples / "people", samples / "group" / "obama_and_biden_2.jpg"
    created = client.post(f"{STAFF}/people", data={"name": "Obama", "images": upload(people / "obama" / "obama.jpg")})
    assert created.status_code == 201, created.get_json()
    assert client.post("/api/v1/people", data={"name": "Biden", "images": upload(people / "biden" / "biden.jpg")})
    assert client.get("/api/v1/collections").get_json() == {"collections": ["default", "staff"]}

    listed = client.get(f"{STAFF}/people").get_json()["people"]
    assert [p["name"] for p in listed] == ["Obama"]
    assert listed[0]["thumbnail_url"] == f"{STAFF}/people/Obama/thumbnail"
    thumbnail = client.get(listed[0]["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert [p["name"] for p in client.get("/api/v1/people").get_json()["people"]] == ["Biden"]
    assert [p["name"] for p in client.get("/api/v1/collections/default/people").get_json()["people"]] == ["Biden"]
    error(client.get("/api/v1/people/Obama"), 404, "unknown_person")

    faces = client.post(f"{STAFF}/recognize", data={"image": upload(group)}).get_json()["faces"]
    assert {face["identity"] for face in faces} - {None} == {"Obama"}
    faces = client.post("/api/v1/recognize", data={"image": upload(group)}).get_json()["faces"]
    assert {face["identity"] for face in faces} - {None} == {"Biden"}

    photos = client.get(f"{STAFF}/people/Obama/photos").get_json()["photos"]
    assert photos[0]["thumbnail_url"] == f"{STAFF}/people/Obama/photos/{photos[0]['photo_id']}/thumbnail"
    assert client.get(photos[0]["thumbnail_url"]).status_code == 200
    added = client.post(f"{STAFF}/people/Obama/photos", data={"images": upload(people / "obama" / "obama1.jpg")})
    assert added.status_code == 201, added.get_json()
    renamed = client.patch(f"{STAFF}/people/Obama", json={"name": "Barack Obama"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Barack Obama"
    deleted = client.delete(f"{STAFF}/people/Barack%20Obama/photos/{photos[0]['photo_id']}")
    assert deleted.get_json()["person_deleted"] is False
    assert client.delete(f"{STAFF}/people/Barack%20Obama").get_json() == {"deleted": "Barack Obama"}
    assert client.get(f"{STAFF}/people").get_json() == {"people": []}
    assert [p["name"] for p in client.get("/api/v1/people").get_json()["people"]] == ["Biden"]


def test_unknown_collections_are_404_for_readers_and_never_created(client, samples: Path, gallery_url: str):
    photo = samples / "people" / "obama" / "obama.jpg"
    requests = [
        client.get("/api/v1/collections/visitors/people"),
        client.get("/api/v1/collections/visitors/people/Obama"),
        client.delete("/api/v1/collections/visitors/people/Obama"),
        client.patch("/api/v1/collections/visitors/people/Obama", json={"name": "X"}),
        client.post("/api/v1/collections/visitors/recognize", data={"image": upload(photo)}),
        client.post("/api/v1/collections/visitors/people/Obama/photos", data={"images": upload(photo)}),
        client.post("/api/v1/collections/visitors/video", data={"video": upload(photo)}),
    ]
    for response in requests:
        assert "no collection named 'visitors'" in error(response, 404, "unknown_collection")
    for bad in ("Staff", "a%20b", "x" * 41, "..", "-x"):
        message = error(client.get(f"/api/v1/collections/{bad}/people"), 400, "invalid_collection")
        assert "is not a collection name" in message
        response = client.post(f"/api/v1/collections/{bad}/people", data={"name": "Obama", "images": upload(photo)})
        error(response, 400, "invalid_collection")
    assert "visitors" not in list_collections(gallery_url) and len(list_collections(gallery_url)) <= 1


def test_the_openapi_document_describes_the_collection_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/collections" in paths
    people = paths["/api/v1/collections/{collection}/people"]
    assert set(people) >= {"get", "post", "parameters"}
    parameter = next(p for p in people["parameters"] if p["name"] == "collection")
    assert parameter["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,39}$"
    assert "/api/v1/collections/{collection}/recognize" in paths
    assert "/api/v1/collections/{collection}/video" in paths
    assert "/api/v1/collections/{collection}/people/{name}/photos/{photo_id}/thumbnail" in paths
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values() if isinstance(op, dict)]
    assert len(operation_ids) == len(set(operation_ids))
