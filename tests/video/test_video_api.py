"""``POST /api/v1/video`` through Flask's test client, with the real models."""

from __future__ import annotations

import base64
import io

import pytest

from faceprint.web import create_app

ISOLATED = {  # no keys, no rate limit, whatever the environment of the test run says
    "FACEPRINT_ADMIN_KEY": None,
    "FACEPRINT_RECOGNIZE_KEY": None,
    "FACEPRINT_API_KEYS_FILE": None,
    "FACEPRINT_RATE_LIMIT": "off",
    "FACEPRINT_MAX_UPLOAD_MB": None,
    "FACEPRINT_MAX_PIXELS": None,
    "FACEPRINT_TRUSTED_PROXIES": None,
}


@pytest.fixture(scope="module")
def client(recognizer):
    app = create_app({**ISOLATED, "RECOGNIZER": recognizer})
    app.testing = True
    return app.test_client()


def test_a_clip_is_answered_with_named_tracks_and_thumbnails(client, clip):
    answer = client.post("/api/v1/video", data={"video": (clip.open("rb"), "party.mp4")})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert {t["identity"] for t in body["tracks"]} == {"Obama", "Biden", None}
    assert all(t["thumbnail"].startswith("data:image/jpeg;base64,") for t in body["tracks"])
    assert body["fps"] == 25 and body["threshold"] == 60.0


def test_json_base64_without_thumbnails(client, empty_clip):
    video = base64.b64encode(empty_clip.read_bytes()).decode()
    answer = client.post("/api/v1/video", json={"video": video, "thumbnails": False})
    assert answer.status_code == 200 and answer.get_json()["tracks"] == []


@pytest.mark.parametrize(
    "data, status, code",
    [
        ({"video": (b"plain text, not a video", "x.mp4")}, 422, "invalid_video"),
        ({"video": (b"", "x.mp4")}, 422, "invalid_video"),
        ({}, 400, None),
    ],
)
def test_bad_uploads_are_json_errors(client, data, status, code):
    data = {k: (io.BytesIO(v[0]), v[1]) for k, v in data.items()}
    answer = client.post("/api/v1/video", data=data, content_type="multipart/form-data")
    assert answer.status_code == status
    error = answer.get_json()["error"]
    assert error["message"] and (code is None or error["code"] == code)
    assert "/tmp" not in error["message"]  # the server's temporary file is never named


def test_a_clip_longer_than_the_limit_is_refused(recognizer, clip):
    app = create_app({**ISOLATED, "RECOGNIZER": recognizer, "FACEPRINT_MAX_VIDEO_SECONDS": 1})
    answer = app.test_client().post("/api/v1/video", data={"video": (clip.open("rb"), "long.mp4")})
    assert answer.status_code == 413 and answer.get_json()["error"]["code"] == "video_too_long"


def test_the_endpoint_is_documented(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/video"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
