"""API keys and roles, browser sign-in with sessions and CSRF tokens, rate limits, and the serve command's refusal
to listen on the network without keys."""

from __future__ import annotations

import io
import json
import stat

import pytest
from web_helpers import ADMIN_KEY, RECOGNIZE_KEY, csrf_token, error_of, upload

from faceprint.web.keys import load_keys, read_key_file
from faceprint.web.limits import LIMITER_EXTENSION
from faceprint.web.serve import check_keys, is_loopback
from faceprint.web.settings import ConfigurationError, load_settings


@pytest.fixture(scope="module")
def keyed_app(make_app):
    return make_app(FACEPRINT_ADMIN_KEY=ADMIN_KEY, FACEPRINT_RECOGNIZE_KEY=RECOGNIZE_KEY)


# -- API keys --------------------------------------------------------------------------------------------------


def test_with_keys_the_api_needs_one_but_health_and_docs_do_not(keyed_app, photos):
    client = keyed_app.test_client()
    assert "API key is required" in error_of(client.get("/api/v1/people"), 401, "unauthorized")
    error_of(client.post("/api/v1/detect", data={"image": upload(photos["obama"])}), 401, "unauthorized")
    wrong = client.get("/api/v1/people", headers={"X-API-Key": "not-the-key-at-all"})
    assert "not valid" in error_of(wrong, 401, "unauthorized")
    error_of(client.get("/api/v1/people", headers={"Authorization": "Bearer wrong-key-wrong-key"}), 401, "unauthorized")
    for public in ("/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs"):
        assert client.get(public).status_code == 200, public


def test_the_recognize_key_may_ask_but_not_change_the_gallery(keyed_app, photos):
    client = keyed_app.test_client()
    as_recognizer = {"X-API-Key": RECOGNIZE_KEY}
    detected = client.post("/api/v1/detect", data={"image": upload(photos["obama"])}, headers=as_recognizer)
    assert detected.status_code == 200 and len(detected.get_json()["faces"]) == 1
    bearer = client.post(
        "/api/v1/detect", data={"image": upload(photos["obama"])}, headers={"Authorization": f"Bearer {RECOGNIZE_KEY}"}
    )
    assert bearer.status_code == 200
    enroll = client.post("/api/v1/people", data={"name": "X", "images": upload(photos["obama"])}, headers=as_recognizer)
    assert "admin key" in error_of(enroll, 403, "forbidden")
    error_of(client.delete("/api/v1/people/Anyone", headers=as_recognizer), 403, "forbidden")
    error_of(client.patch("/api/v1/people/Anyone", json={"name": "B"}, headers=as_recognizer), 403, "forbidden")
    # the admin key passes the role check and reaches the gallery
    error_of(client.delete("/api/v1/people/Anyone", headers={"X-API-Key": ADMIN_KEY}), 404, "unknown_person")


def test_keys_from_json_and_toml_files(tmp_path):
    json_file = tmp_path / "keys.json"
    json_file.write_text(json.dumps({"admin": ADMIN_KEY, "recognize": RECOGNIZE_KEY}))
    toml_file = tmp_path / "keys.toml"
    toml_file.write_text(f'admin = "{ADMIN_KEY}"\n')
    assert read_key_file(json_file) == {"admin": ADMIN_KEY, "recognize": RECOGNIZE_KEY}
    keys = load_keys({"FACEPRINT_API_KEYS_FILE": str(toml_file)})
    assert keys.role_of(ADMIN_KEY) == "admin" and keys.role_of(RECOGNIZE_KEY) is None
    for content, message in (
        ("{not json", "not valid"),
        ('{"root": "0123456789abcdefgh"}', "admin"),
        ('{"admin": "short"}', "at least 16"),
    ):
        json_file.write_text(content)
        with pytest.raises(ConfigurationError, match=message):
            read_key_file(json_file)
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_key_file(tmp_path / "missing.json")
    with pytest.raises(ConfigurationError, match="must differ"):
        load_keys({"FACEPRINT_ADMIN_KEY": ADMIN_KEY, "FACEPRINT_RECOGNIZE_KEY": ADMIN_KEY})


def test_serving_beyond_loopback_needs_keys_or_generates_them(tmp_path, monkeypatch):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    assert check_keys("127.0.0.1", {}, generate=False) == {}
    with pytest.raises(ConfigurationError, match="without API keys"):
        check_keys("0.0.0.0", {}, generate=False)
    assert check_keys("0.0.0.0", {"FACEPRINT_ADMIN_KEY": ADMIN_KEY}, generate=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = check_keys("0.0.0.0", {}, generate=True)
    path = tmp_path / "faceprint" / "keys.json"
    assert settings["FACEPRINT_API_KEYS_FILE"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = load_keys(settings)
    assert set(keys.keys) == {"admin", "recognize"} and keys.keys["admin"] != keys.keys["recognize"]
    assert check_keys("0.0.0.0", {}, generate=True) == settings  # the same file is reused, never overwritten
    assert load_keys(settings) == keys


# -- browser sessions and CSRF ---------------------------------------------------------------------------------


def test_pages_redirect_to_sign_in_and_a_key_signs_in_with_its_role(keyed_app, photos):
    client = keyed_app.test_client()
    home = client.get("/people")
    assert home.status_code == 302 and home.headers["Location"].startswith("/signin?next=/people")
    token = csrf_token(client, "/signin")
    wrong = client.post("/signin", data={"key": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "not valid" in wrong.get_data(as_text=True)
    signed = client.post("/signin", data={"key": RECOGNIZE_KEY, "csrf_token": token, "next": "/people"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/people"
    assert client.get("/people").status_code == 200
    token = csrf_token(client, "/people")
    headers = {"X-CSRFToken": token}
    error_of(client.get("/api/v1/people"), 403, "forbidden")  # the recognize key may not list the gallery
    detected = client.post("/api/v1/detect", data={"image": upload(photos["obama"])}, headers=headers)
    assert detected.status_code == 200
    error_of(client.delete("/api/v1/people/Anyone", headers=headers), 403, "forbidden")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    error_of(client.post("/api/v1/detect", data={"image": upload(photos["obama"])}), 401, "unauthorized")


def test_sign_in_never_redirects_off_the_site(keyed_app):
    client = keyed_app.test_client()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        token = csrf_token(client, "/signin")  # signing in starts a new session, with a new token
        response = client.post("/signin", data={"key": ADMIN_KEY, "csrf_token": token, "next": target})
        assert response.headers["Location"] == "/", target


def test_form_posts_need_a_valid_csrf_token(keyed_app):
    client = keyed_app.test_client()
    csrf_token(client, "/signin")
    missing = client.post("/signin", data={"key": ADMIN_KEY})  # a page: the error is the error page
    assert missing.status_code == 400 and "token is missing" in missing.get_data(as_text=True)
    forged = client.post(
        "/signin", data={"key": ADMIN_KEY, "csrf_token": "forged"}, headers={"Accept": "application/json"}
    )
    error_of(forged, 400, "csrf_failed")  # a client that asks for JSON gets JSON
    assert client.get("/people").status_code == 302  # still not signed in


def test_browser_api_calls_need_the_csrf_token_but_scripts_do_not(client, photos):
    """Without keys: a browser (cookie or Origin header) must send the page's token; curl-like clients need none."""
    forged = client.post(
        "/api/v1/people/Someone/photos",
        data={"images": upload(photos["obama"])},
        headers={"Origin": "https://evil.example"},
    )
    error_of(forged, 400, "csrf_failed")
    token = csrf_token(client, "/")
    error_of(client.delete("/api/v1/people/Someone"), 400, "csrf_failed")  # the session cookie marks a browser
    error_of(client.delete("/api/v1/people/Someone", headers={"X-CSRFToken": "wrong"}), 400, "csrf_failed")
    error_of(client.delete("/api/v1/people/Someone", headers={"X-CSRFToken": token}), 404, "unknown_person")
    script = client.application.test_client()
    error_of(script.delete("/api/v1/people/Someone"), 404, "unknown_person")


def test_api_key_requests_are_exempt_from_csrf(keyed_app):
    client = keyed_app.test_client()
    csrf_token(client, "/signin")  # a session cookie, as a browser would have
    response = client.delete("/api/v1/people/Anyone", headers={"X-API-Key": ADMIN_KEY, "Origin": "http://localhost"})
    error_of(response, 404, "unknown_person")


def test_without_keys_the_sign_in_page_just_goes_home(client):
    assert client.get("/signin?next=/people").headers["Location"] == "/people"


# -- rate limits -----------------------------------------------------------------------------------------------


def test_expensive_endpoints_are_rate_limited_per_client(make_app):
    client = make_app(FACEPRINT_RATE_LIMIT="2/minute").test_client()
    for _ in range(2):
        error_of(client.post("/api/v1/detect", data={"image": (io.BytesIO(b"x"), "x.jpg")}), 400, "invalid_image")
    limited = client.post("/api/v1/detect", data={"image": (io.BytesIO(b"x"), "x.jpg")})
    assert "2 per 1 minute" in error_of(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    for _ in range(5):  # cheap endpoints are not limited
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/api/v1/people").status_code == 200


def test_a_rate_limit_switched_off_stays_off_through_serve(make_app):
    """``faceprint serve`` derives its settings, then the app derives them again: "off" must survive both."""
    derived = load_settings(environ={"FACEPRINT_RATE_LIMIT": "off", "FACEPRINT_AUTH_FAILURE_LIMIT": "off"})
    assert derived["FACEPRINT_RATE_LIMIT"] is None and derived["FACEPRINT_AUTH_FAILURE_LIMIT"] is None
    again = load_settings(derived, environ={})
    assert again["FACEPRINT_RATE_LIMIT"] is None and again["FACEPRINT_AUTH_FAILURE_LIMIT"] is None
    assert make_app(FACEPRINT_RATE_LIMIT=derived["FACEPRINT_RATE_LIMIT"]).extensions.get(LIMITER_EXTENSION) is None
    assert load_settings(environ={})["FACEPRINT_RATE_LIMIT"] == "600/minute"  # unset: the default still applies


def test_a_bad_rate_limit_setting_is_a_clear_error(make_app):
    with pytest.raises(ConfigurationError, match="FACEPRINT_RATE_LIMIT"):
        make_app(FACEPRINT_RATE_LIMIT="lots")
