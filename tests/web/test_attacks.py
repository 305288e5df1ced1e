"""Every probe of the open-internet review as a regression test: DNS rebinding, keyless servers reached from
elsewhere, open redirects, rate-limit bypass, sessions that outlive sign-out or a key change, malformed numbers and
JSON, the recognize key enumerating the gallery, confusable names, undocumented formats and the smaller findings."""

from __future__ import annotations

import base64
import importlib
import io
import json
import sys

import pytest
from PIL import Image
from web_helpers import ADMIN_KEY, RECOGNIZE_KEY, b64, csrf_token, error_of, upload
from web_settings import ISOLATED

from faceprint.errors import InvalidNameError
from faceprint.gallery.base import normalize_name
from faceprint.web.serve import default_allowed_hosts
from faceprint.web.settings import ConfigurationError
from faceprint.web.signin import safe_next

KEYS = {"FACEPRINT_ADMIN_KEY": ADMIN_KEY, "FACEPRINT_RECOGNIZE_KEY": RECOGNIZE_KEY}
AS_ADMIN = {"X-API-Key": ADMIN_KEY}
AS_RECOGNIZER = {"X-API-Key": RECOGNIZE_KEY}
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture(scope="module")
def keyed_app(make_app):
    return make_app(**KEYS)


@pytest.fixture(scope="module")
def enrolled(app, photos) -> str:
    """Someone enrolled in the module's gallery (the gallery is shared by every app of this module)."""
    name = "Barack Obama"
    response = app.test_client().post("/api/v1/people", data={"name": name, "images": upload(photos["obama"])})
    assert response.status_code == 201, response.get_data(as_text=True)
    return name


def png(width: int = 8, height: int = 8, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 60)).save(buffer, format=fmt)
    return buffer.getvalue()


# -- 1. DNS rebinding: only this server's names --------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example:8000", "evil.example", "127.0.0.1.evil.example", "attacker", "a b"])
def test_a_foreign_host_header_is_refused_before_anything_else(client, host):
    for path in ("/api/v1/people", "/", "/api/v1/health"):
        message = error_of(client.get(path, headers={"Host": host, "Accept": "application/json"}), 400, "invalid_host")
        assert "FACEPRINT_ALLOWED_HOSTS" in message
    error_of(client.delete("/api/v1/people/Anyone", headers={"Host": host}), 400, "invalid_host")


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST."])
def test_loopback_names_are_allowed_by_default(client, host):
    assert client.get("/api/v1/people", headers={"Host": host}).status_code == 200


def test_allowed_hosts_are_configurable_with_wildcards(make_app):
    hosts = "faces.example.org, *.faces.example.net, 2001:db8::1"
    client = make_app(**KEYS, FACEPRINT_ALLOWED_HOSTS=hosts).test_client()
    for host in ("faces.example.org", "faces.example.org:443", "a.faces.example.net", "[2001:db8::1]:8000"):
        response = client.get("/api/v1/people", headers={"Host": host, **AS_ADMIN}, environ_base=ELSEWHERE)
        assert response.status_code == 200, host
    for host in ("example.org", "faces.example.org.evil.example", "localhost", "faces.example.net"):
        error_of(client.get("/api/v1/people", headers={"Host": host, **AS_ADMIN}), 400, "invalid_host")


def test_a_keyless_server_may_only_allow_loopback_names(make_app):
    for hosts in ("faces.example.org", "*"):
        with pytest.raises(ConfigurationError, match="FACEPRINT_ALLOWED_HOSTS"):
            make_app(FACEPRINT_ALLOWED_HOSTS=hosts)
    with pytest.raises(ConfigurationError, match="not a host name"):
        make_app(**KEYS, FACEPRINT_ALLOWED_HOSTS="http://faces.example.org/")


def test_serve_allows_the_address_it_listens_on():
    assert default_allowed_hosts("127.0.0.1") == ("localhost", "127.0.0.1", "[::1]")
    assert "192.0.2.10" in default_allowed_hosts("192.0.2.10")
    assert "[2001:db8::1]" in default_allowed_hosts("2001:db8::1")
    assert len(default_allowed_hosts("0.0.0.0")) > 3  # this machine's host names


# -- 2. the key policy in every entry point ------------------------------------------------------------------------


def test_a_keyless_app_answers_only_this_machine_whatever_server_runs_it(client, photos):
    """``faceprint.web.wsgi:app`` under gunicorn on a public address without keys: remote clients are refused."""
    for method, path in (("get", "/api/v1/people"), ("get", "/"), ("delete", "/api/v1/people/Anyone")):
        response = getattr(client, method)(path, environ_base=ELSEWHERE, headers={"Accept": "application/json"})
        assert "only this machine" in error_of(response, 403, "forbidden")
    detect = client.post("/api/v1/detect", data={"image": upload(photos["obama"])}, environ_base=ELSEWHERE)
    error_of(detect, 403, "forbidden")
    assert client.get("/api/v1/people", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_the_wsgi_entry_point_without_keys_refuses_other_machines(monkeypatch, tmp_path, caplog):
    for name in ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEPRINT_GALLERY", f"sqlite:///{tmp_path / 'gallery.db'}")
    monkeypatch.delitem(sys.modules, "faceprint.web.wsgi", raising=False)
    wsgi = importlib.import_module("faceprint.web.wsgi")
    assert "answers requests from this machine only" in caplog.text
    client = wsgi.app.test_client()
    error_of(client.get("/api/v1/people", environ_base=ELSEWHERE), 403, "forbidden")
    error_of(client.get("/api/v1/people", headers={"Host": "evil.example"}), 400, "invalid_host")
    assert client.get("/api/v1/people").status_code == 200
    monkeypatch.delitem(sys.modules, "faceprint.web.wsgi")


def test_behind_a_trusted_proxy_the_forwarded_client_counts(make_app):
    client = make_app(FACEPRINT_TRUSTED_PROXIES=1).test_client()
    forwarded = {"X-Forwarded-For": "198.51.100.4"}
    error_of(client.get("/api/v1/people", headers=forwarded), 403, "forbidden")
    assert client.get("/api/v1/people", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_with_keys_clients_elsewhere_need_a_key(keyed_app):
    client = keyed_app.test_client()
    error_of(client.get("/api/v1/people", environ_base=ELSEWHERE), 401, "unauthorized")
    assert client.get("/api/v1/people", headers=AS_ADMIN, environ_base=ELSEWHERE).status_code == 200


# -- 3. open redirect ------------------------------------------------------------------------------------------


UNSAFE_TARGETS = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: x=1",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    " /people",
    "/ /evil.example",
    "/\x00",
    "/\u0085/evil.example",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", UNSAFE_TARGETS)
def test_next_never_leaves_the_site(target):
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/people", "/recognize?x=1", "/people#top", "/api/v1/docs"])
def test_next_keeps_local_paths(target):
    assert safe_next(target) == target


def test_sign_in_redirects_stay_on_the_site_and_never_fail(keyed_app, client):
    signing = keyed_app.test_client()
    for query in ("next=/%09/evil.example", "next=/%0a/evil.example", "next=/%0d%0aLocation:%20//evil.example"):
        token = csrf_token(signing, "/signin")
        response = signing.post(f"/signin?{query}", data={"key": ADMIN_KEY, "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/", query
        keyless = client.get(f"/signin?{query}")  # without keys the sign-in page just goes on
        assert keyless.status_code == 302 and keyless.headers["Location"] == "/", query


# -- 5. rate limits do not depend on the key sent --------------------------------------------------------------


def test_invented_keys_share_the_address_allowance(make_app):
    client = make_app(FACEPRINT_RATE_LIMIT="2/minute").test_client()
    for index in range(2):
        response = client.post(
            "/api/v1/detect", data={"image": (io.BytesIO(b"x"), "x.jpg")}, headers={"X-API-Key": f"made-up-{index}"}
        )
        error_of(response, 400, "invalid_image")
    limited = client.post(
        "/api/v1/detect", data={"image": (io.BytesIO(b"x"), "x.jpg")}, headers={"X-API-Key": "yet-another-one"}
    )
    error_of(limited, 429, "rate_limited")


def test_failed_key_attempts_are_throttled(make_app):
    client = make_app(**KEYS, FACEPRINT_AUTH_FAILURE_LIMIT="3/minute").test_client()
    for index in range(3):
        error_of(client.get("/api/v1/people", headers={"X-API-Key": f"guess-{index:012d}"}), 401, "unauthorized")
    throttled = client.get("/api/v1/people", headers={"X-API-Key": "guess-999999999999"})
    assert "failed key attempts" in error_of(throttled, 429, "rate_limited")
    assert int(throttled.headers["Retry-After"]) > 0
    error_of(client.get("/api/v1/people", headers=AS_ADMIN), 429, "rate_limited")  # even the right key, for now
    other = client.get("/api/v1/people", headers=AS_ADMIN, environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200  # another client is not affected
    for _ in range(3):  # the sign-in form counts towards the same throttle
        page = client.application.test_client()
        token = csrf_token(page, "/signin")
        wrong = page.post("/signin", data={"key": "wrong", "csrf_token": token}, environ_base={"REMOTE_ADDR": "::1"})
        assert wrong.status_code == 401
    token = csrf_token(page, "/signin")
    throttled = page.post("/signin", data={"key": ADMIN_KEY, "csrf_token": token}, environ_base={"REMOTE_ADDR": "::1"})
    assert throttled.status_code == 429


# -- 6. sessions end on sign-out and when the key changes ---------------------------------------------------------


def _signed_in(app, key: str):
    client = app.test_client()
    token = csrf_token(client, "/signin")
    assert client.post("/signin", data={"key": key, "csrf_token": token}).status_code == 302
    return client


def test_a_copied_session_cookie_stops_working_after_sign_out(keyed_app):
    client = _signed_in(keyed_app, ADMIN_KEY)
    cookie = client.get_cookie("faceprint_session").value
    copy = keyed_app.test_client()
    copy.set_cookie("faceprint_session", cookie)
    assert copy.get("/api/v1/people").status_code == 200
    token = csrf_token(client, "/people")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    error_of(copy.get("/api/v1/people"), 401, "unauthorized")
    assert copy.get("/people").status_code == 302  # pages ask to sign in again


def test_changing_a_key_ends_the_sessions_opened_with_it(make_app, tmp_path):
    shared = {"FACEPRINT_SESSION_STORE": str(tmp_path / "sessions.db"), "SECRET_KEY": "s" * 64}
    before = make_app(**KEYS, **shared)
    client = _signed_in(before, ADMIN_KEY)
    cookie = client.get_cookie("faceprint_session").value
    same_keys = make_app(**KEYS, **shared).test_client()  # e.g. a restart, or a second worker process
    same_keys.set_cookie("faceprint_session", cookie)
    assert same_keys.get("/api/v1/people").status_code == 200
    rotated = make_app(**{**KEYS, "FACEPRINT_ADMIN_KEY": "a-brand-new-admin-key-0123456789"}, **shared).test_client()
    rotated.set_cookie("faceprint_session", cookie)
    error_of(rotated.get("/api/v1/people"), 401, "unauthorized")
    same_keys.get("/api/v1/people")
    error_of(same_keys.get("/api/v1/people"), 401, "unauthorized")  # the record is gone for good


def test_sessions_expire(make_app):
    app = make_app(**KEYS, FACEPRINT_SESSION_HOURS=0.0000001)
    client = _signed_in(app, ADMIN_KEY)
    error_of(client.get("/api/v1/people"), 401, "unauthorized")


# -- 7. malformed numbers and bodies are 400s ----------------------------------------------------------------------


LONG = "9" * 5000


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/api/v1/recognize", "top", LONG),
        ("/api/v1/recognize", "threshold", LONG),
        ("/api/v1/recognize", "threshold", "1e999999"),
        ("/api/v1/celebrity", "top", LONG),
        ("/api/v1/celebrity", "top", "-" + LONG),
    ],
)
def test_long_numbers_in_forms_are_400(client, photos, path, field, value):
    response = client.post(path, data={"image": upload(photos["obama"]), field: value})
    assert "must be" in error_of(response, 400, "invalid_request")


def test_long_numbers_in_json_are_400(client, photos):
    image = b64(photos["obama"])
    for member in ("top", "threshold"):
        body = f'{{"image": "{image}", "{member}": {LONG}}}'
        response = client.post("/api/v1/recognize", data=body, content_type="application/json")
        error_of(response, 400, "invalid_request")
    response = client.post("/api/v1/people", json={"name": "Someone", "images": [image], "face": LONG}, headers={})
    error_of(response, 400, "invalid_request")
    box = client.post("/api/v1/people", json={"name": "Someone", "images": [image], "face": [LONG, 1, 1, 1]})
    error_of(box, 400, "invalid_request")
    form = client.post("/api/v1/people", data={"name": "Someone", "images": upload(photos["obama"]), "face": LONG})
    error_of(form, 400, "invalid_request")


@pytest.mark.parametrize("depth", [21, 1000, 100_000])
def test_deeply_nested_json_is_400(client, depth):
    body = '{"image": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/api/v1/detect", data=body, content_type="application/json")
    assert "nests deeper" in error_of(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00", b'{"image": "x"', b"[]", b"null", b'"text"', b'{"image": NaN}', b"{" * 3]
)
def test_malformed_json_bodies_are_400(client, body):
    response = client.post("/api/v1/detect", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] in ("invalid_request", "invalid_image")


def test_long_photo_ids_are_404(client):
    response = client.get(f"/api/v1/people/Someone/photos/{LONG}/thumbnail")
    assert response.status_code == 404 and response.is_json
    assert client.delete(f"/api/v1/people/Someone/photos/{LONG}").status_code == 404


# -- 8. the recognize key and /health do not reveal the gallery ----------------------------------------------------


def test_the_recognize_key_cannot_enumerate_the_gallery(keyed_app, enrolled):
    client = keyed_app.test_client()
    quoted = enrolled.replace(" ", "%20")
    for path in (
        "/api/v1/people",
        f"/api/v1/people/{quoted}",
        f"/api/v1/people/{quoted}/thumbnail",
        f"/api/v1/people/{quoted}/photos",
        f"/api/v1/people/{quoted}/photos/1/thumbnail",
    ):
        assert "admin key" in error_of(client.get(path, headers=AS_RECOGNIZER), 403, "forbidden"), path
        assert client.get(path, headers=AS_ADMIN).status_code in (200, 404), path


def test_listing_for_the_recognize_key_can_be_allowed(make_app, enrolled):
    client = make_app(**KEYS, FACEPRINT_RECOGNIZE_CAN_LIST="1").test_client()
    listed = client.get("/api/v1/people", headers=AS_RECOGNIZER)
    assert listed.status_code == 200 and enrolled in [p["name"] for p in listed.get_json()["people"]]
    error_of(client.delete("/api/v1/people/Nobody", headers=AS_RECOGNIZER), 403, "forbidden")


def test_health_tells_the_number_of_people_only_to_the_admin(keyed_app, enrolled):
    client = keyed_app.test_client()
    public = client.get("/api/v1/health").get_json()
    assert public["status"] == "ok" and "people" not in public
    assert "people" not in client.get("/api/v1/health", headers=AS_RECOGNIZER).get_json()
    assert client.get("/api/v1/health", headers=AS_ADMIN).get_json()["people"] >= 1


# -- 9. names: one spelling, nothing invisible, nothing that breaks a URL ------------------------------------------


CONFUSABLE = [
    "Ada\u200bLovelace",  # zero-width space
    "Ada\u200dLovelace",  # zero-width joiner
    "\u202eecalevoL adA",  # right-to-left override
    "Ada\u2066Lovelace\u2069",  # isolates
    "\ufeffAda",  # byte order mark
    "Ada\u00a0Lovelace",  # no-break space
    "Ada\u3000Lovelace",  # ideographic space
    "Ada\u2028Lovelace",  # line separator
    "Ada\ue000",  # private use
    "Ada\u0378",  # unassigned
    "Ada\x7f",
    ".",
    "..",
    "...",
    "a/b",
    "/",
]


@pytest.mark.parametrize("name", CONFUSABLE)
def test_confusable_and_unmanageable_names_are_refused(name):
    with pytest.raises(InvalidNameError) as caught:
        normalize_name(name)
    assert caught.value.http_status == 400
    assert "U+" in caught.value.message or "/" in caught.value.message or "." in name


@pytest.mark.parametrize("name", ["Zoë Ólafsdóttir", "O\u2019Brien", "Jean-Luc Picard", "李小龙", "محمد", "Ada L. (2)"])
def test_real_names_are_kept(name):
    assert normalize_name(f"  {name} ") == name


def test_names_are_stored_in_nfc(client, photos):
    decomposed = "Zoe\u0308 Test"
    response = client.post("/api/v1/people", data={"name": decomposed, "images": upload(photos["biden"])})
    assert response.status_code == 201 and response.get_json()["name"] == "Zoë Test"
    assert client.get("/api/v1/people/Zo%C3%AB%20Test").status_code == 200
    assert client.get("/api/v1/people/Zoe%CC%88%20Test").get_json()["name"] == "Zoë Test"
    assert client.delete("/api/v1/people/Zoe%CC%88%20Test").get_json()["deleted"] == "Zoë Test"


@pytest.mark.parametrize("name", ["Ada\u200bLovelace", "\u202eevil", "..", "a/b"])
def test_the_api_refuses_such_names_for_enrollment_and_renaming(client, photos, enrolled, name):
    enroll = client.post("/api/v1/people", json={"name": name, "images": [b64(photos["obama"])]})
    error_of(enroll, 400, "invalid_name")
    rename = client.patch(f"/api/v1/people/{enrolled}", json={"name": name})
    error_of(rename, 400, "invalid_name")
    assert client.get(f"/api/v1/people/{enrolled.replace(' ', '%20')}").status_code == 200


# -- 10. the smaller findings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PCX", "SGI", "DDS", "EPS"])
def test_undocumented_formats_are_refused_before_decoding(client, fmt):
    try:
        data = png(32, 32, fmt)
    except (OSError, KeyError, ValueError):
        pytest.skip(f"Pillow cannot write {fmt} here")
    response = client.post("/api/v1/detect", data={"image": (io.BytesIO(data), f"x.{fmt.lower()}")})
    message = error_of(response, 400, "invalid_image")
    assert "JPEG, PNG, WebP, BMP, PGM/PPM, GIF, TIFF" in message


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "BMP", "GIF", "PPM"])
def test_documented_formats_are_decoded(client, fmt):
    response = client.post("/api/v1/detect", data={"image": (io.BytesIO(png(64, 48, fmt)), "x")})
    assert response.status_code == 200 and response.get_json()["width"] == 64


def test_many_form_parts_are_refused_for_what_they_are(client):
    fields = {f"field{i}": "x" for i in range(5000)}
    response = client.post("/api/v1/detect", data={**fields, "image": (io.BytesIO(png()), "x.png")})
    message = error_of(response, 413, "too_many_parts")
    assert "parts" in message and "MB" not in message


def test_the_file_limit_is_stated_as_documented(client):
    big = base64.b64encode(b"\xff\xd8" + b"\x00" * (21 * 1024 * 1024)).decode()
    response = client.post("/api/v1/detect", data=json.dumps({"image": big}), content_type="application/json")
    assert "20 MB" in error_of(response, 413, "image_too_large")


def test_a_request_above_the_work_budget_is_refused(make_app, photos):
    client = make_app(FACEPRINT_REQUEST_MEGAPIXELS=0.5).test_client()
    images = [upload(photos["obama"], f"photo{i}.jpg") for i in range(3)]
    response = client.post("/api/v1/people", data={"name": "Budget", "images": images})
    assert "megapixel budget" in error_of(response, 413, "too_much_work")
