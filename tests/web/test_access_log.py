"""The access log: one line per request with method, path, status and time; never a query string, a key, a cookie
or any part of an uploaded image."""

from __future__ import annotations

import io
import logging
import re

import pytest

from faceprint.web.access_log import LOGGER_NAME, access_log_wanted, enable_access_log, log

LINE = re.compile(r'^(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) (?P<size>\d+|-) [\d.]+ ms$')


@pytest.fixture
def access(caplog):
    """The access-log lines written during the test (asked for: the log is silent otherwise)."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    return lambda: [record.getMessage() for record in caplog.records if record.name == LOGGER_NAME]


def test_one_line_per_request_with_method_path_status_and_time(client, access):
    client.get("/api/v1/health")
    client.get("/api/v1/no-such-thing")
    lines = access()
    assert len(lines) == 2, lines
    first, second = (LINE.match(line) for line in lines)
    assert first and second, lines
    assert (first["method"], first["path"], first["status"]) == ("GET", "/api/v1/health", "200")
    assert (second["path"], second["status"]) == ("/api/v1/no-such-thing", "404")
    assert first["client"] == "127.0.0.1"
    assert int(first["size"]) > 0


def test_no_query_string_key_cookie_or_image_data(client, access):
    secret = "query-secret-0123456789"
    client.get(f"/api/v1/health?api_key={secret}&name=Ada", headers={"X-API-Key": "header-secret-0123456789"})
    marker = b"IMAGE-BYTES-THAT-MUST-NOT-BE-LOGGED"
    response = client.post(
        "/api/v1/detect",
        data={"image": (io.BytesIO(marker * 100), "photo.jpg")},
        content_type="multipart/form-data",
        headers={"Cookie": "faceprint_session=cookie-secret-0123456789"},
    )
    assert response.status_code == 400
    text = "\n".join(access())
    assert '"GET /api/v1/health" 200' in text
    assert '"POST /api/v1/detect" 400' in text
    for leak in (secret, "api_key", "Ada", "header-secret", "cookie-secret", marker.decode(), "photo.jpg"):
        assert leak not in text


def test_refused_requests_are_logged_too(client, access):
    client.get("/api/v1/health", headers={"Host": "evil.example"})
    (line,) = access()
    assert '"GET /api/v1/health" 400' in line


def test_a_path_cannot_forge_a_log_line(client, access):
    client.get("/api/v1/x%0A127.0.0.1%20%22GET%20/forged%22%20200")
    (line,) = access()
    assert "\n" not in line
    assert "\\n" in line


def test_silent_unless_a_handler_is_asked_for(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    try:
        assert enable_access_log(handler) is handler
        assert enable_access_log() is handler  # once, however often it is called
        client.get("/api/v1/health")
        assert re.search(r'"GET /api/v1/health" 200 \d+ [\d.]+ ms$', stream.getvalue().strip())
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
        log.propagate = True


@pytest.mark.parametrize(("value", "wanted"), [(None, True), ("1", True), ("0", False), ("off", False), ("no", False)])
def test_on_by_default_for_serve(value, wanted):
    assert access_log_wanted({} if value is None else {"FACEPRINT_ACCESS_LOG": value}) is wanted


def test_serve_has_a_switch_to_turn_it_off():
    import argparse

    from faceprint.web import serve

    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    assert parser.parse_args(["serve", "--no-access-log"]).no_access_log is True
    assert parser.parse_args(["serve"]).no_access_log is False
