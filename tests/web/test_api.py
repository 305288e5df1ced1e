"""The JSON API with the real models, real photos and a real SQLite gallery: every endpoint, every bad input, and
the end-to-end enroll -> recognise -> delete flow."""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from web_helpers import b64, error_of, upload
from werkzeug.test import EnvironBuilder, run_wsgi_app

from faceprint import FaceRecognizer
from faceprint.imaging import DEFAULT_MAX_PIXELS
from faceprint.pipeline import FacePipeline

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


# -- service ---------------------------------------------------------------------------------------------------


def test_health_is_cheap_and_describes_the_service(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "models": ["facenet", "dlib"], "gallery": "sqlite", "people": 0}


def test_unknown_route_and_method_are_json_errors(client):
    assert "no API endpoint" in error_of(client.get("/api/v1/no-such-thing"), 404, "not_found")
    response = client.delete("/api/v1/health")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_every_answer_carries_security_headers(client):
    for response in (client.get("/api/v1/health"), client.get("/"), client.get("/api/v1/missing"), client.get("/nope")):
        for header in SECURITY_HEADERS:
            assert header in response.headers, (response.request.path, header)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "http" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "camera=(self)" in response.headers["Permissions-Policy"]


def test_an_unexpected_error_is_a_generic_500_logged_on_the_server(make_app, caplog):
    app = make_app()

    def broken():
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/api/v1/broken", "broken", broken)
    with caplog.at_level(logging.ERROR, logger="faceprint.web.errorhandlers"):
        response = app.test_client().get("/api/v1/broken")
    message = error_of(response, 500, "internal_error")
    assert "secret" not in message and "RuntimeError" not in response.get_data(as_text=True)
    assert "secret internal detail" in caplog.text


# -- detect ----------------------------------------------------------------------------------------------------


def test_detect_finds_every_face_of_a_group_photo(client, photos):
    """Biden and Obama, and the girl at the bottom right edge (the file name counts only the two men)."""
    response = client.post("/api/v1/detect", data={"image": upload(photos["group"])})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    width, height = Image.open(photos["group"]).size
    assert (body["width"], body["height"]) == (width, height)
    assert len(body["faces"]) == 3
    face = body["faces"][0]
    assert len(face["box"]) == 4 and 0.9 <= face["score"] <= 1.0
    assert set(face["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


def test_detect_accepts_base64_json_and_data_urls(client, photos):
    multipart = client.post("/api/v1/detect", data={"image": upload(photos["obama"])}).get_json()
    plain = client.post("/api/v1/detect", json={"image": b64(photos["obama"])}).get_json()
    data_url = client.post("/api/v1/detect", json={"image": "data:image/jpeg;base64," + b64(photos["obama"])})
    assert data_url.status_code == 200
    assert multipart == plain == data_url.get_json()
    assert len(multipart["faces"]) == 1


def test_detect_on_a_photo_without_faces_answers_an_empty_list(client, photos):
    response = client.post("/api/v1/detect", data={"image": upload(photos["no_face"])})
    assert response.status_code == 200 and response.get_json()["faces"] == []


@pytest.mark.parametrize("endpoint", ["/api/v1/detect", "/api/v1/recognize", "/api/v1/celebrity"])
def test_missing_image_is_a_400_naming_the_field(client, endpoint, photos):
    empty_form = client.post(endpoint, data={}, content_type="multipart/form-data")
    assert "'image'" in error_of(empty_form, 400, "invalid_request")
    wrong_field = client.post(endpoint, data={"photo": upload(photos["obama"])})
    assert "got photo" in error_of(wrong_field, 400, "invalid_request")
    assert "'image'" in error_of(client.post(endpoint, json={"picture": "abc"}), 400, "invalid_request")
    assert "sent as text" in error_of(client.post(endpoint, data={"image": "hello"}), 400, "invalid_request")


def test_wrong_content_type_and_bad_json_are_refused(client):
    error_of(client.post("/api/v1/detect", data=b"raw bytes", content_type="image/jpeg"), 415, "unsupported_media_type")
    error_of(client.post("/api/v1/detect"), 415, "unsupported_media_type")
    bad_json = client.post("/api/v1/detect", data=b"{not json", content_type="application/json")
    assert "JSON object" in error_of(bad_json, 400, "invalid_request")
    error_of(client.post("/api/v1/detect", json=["a list"]), 400, "invalid_request")
    assert "base64" in error_of(client.post("/api/v1/detect", json={"image": "%%%not base64"}), 400, "invalid_image")
    assert "base64" in error_of(client.post("/api/v1/detect", json={"image": 12}), 400, "invalid_request")


def test_non_images_empty_and_truncated_files_are_400_with_the_file_name(client, photos):
    text = client.post("/api/v1/detect", data={"image": (io.BytesIO(b"hello, not a photo"), "notes.txt")})
    assert error_of(text, 400, "invalid_image").startswith("notes.txt: not an image")
    empty = client.post("/api/v1/detect", data={"image": (io.BytesIO(b""), "empty.jpg")})
    assert "empty" in error_of(empty, 400, "invalid_image")
    data = photos["obama"].read_bytes()
    truncated = client.post("/api/v1/recognize", data={"image": (io.BytesIO(data[: len(data) // 3]), "cut.jpg")})
    message = error_of(truncated, 400, "invalid_image")
    assert message.startswith("cut.jpg: damaged or truncated") and "uploaded image" not in message


def test_an_image_over_the_pixel_limit_is_413_before_decoding(client):
    side = int(np.sqrt(DEFAULT_MAX_PIXELS)) + 100
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 1_000_000  # small file, huge picture: a decompression bomb
    response = client.post("/api/v1/detect", data={"image": (io.BytesIO(buffer.getvalue()), "bomb.png")})
    assert "megapixel limit" in error_of(response, 413, "image_too_large")


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(make_app):
    app = make_app(FACEPRINT_MAX_UPLOAD_MB=1)
    client = app.test_client()
    big = client.post("/api/v1/detect", data={"image": (io.BytesIO(b"\xff" * 1_200_000), "big.jpg")})
    assert "1 MB" in error_of(big, 413, "request_too_large")

    class Untouchable(io.RawIOBase):
        read_calls = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            Untouchable.read_calls += 1
            raise AssertionError("the body was read")

    environ = EnvironBuilder(
        path="/api/v1/detect", method="POST", headers={"Content-Type": "multipart/form-data; boundary=x"}
    ).get_environ()
    environ.update({"wsgi.input": Untouchable(), "CONTENT_LENGTH": str(5 * 1024 * 1024), "REMOTE_ADDR": "127.0.0.1"})
    body, status, _ = run_wsgi_app(app, environ)  # straight to the app: no test client buffering the stream
    assert status.startswith("413") and b"request_too_large" in b"".join(body)
    assert Untouchable.read_calls == 0


# -- verify ----------------------------------------------------------------------------------------------------


def test_verify_same_and_different_people(client, photos):
    same = client.post(
        "/api/v1/verify", data={"image_a": upload(photos["obama"]), "image_b": upload(photos["obama_480p"])}
    )
    assert same.status_code == 200, same.get_json()
    assert same.get_json()["same_person"] is True
    different = client.post("/api/v1/verify", json={"image_a": b64(photos["obama"]), "image_b": b64(photos["biden"])})
    body = different.get_json()
    assert body["same_person"] is False and body["similarity"] < body["threshold"]
    assert set(body["per_model"]) == {"facenet", "dlib"} and len(body["faces"]) == 2


def test_verify_needs_both_images_and_a_face_in_each(client, photos):
    only_one = client.post("/api/v1/verify", data={"image_a": upload(photos["obama"])})
    assert "'image_b'" in error_of(only_one, 400, "invalid_request")
    no_face = client.post(
        "/api/v1/verify", data={"image_a": upload(photos["obama"]), "image_b": upload(photos["no_face"], "plane.jpg")}
    )
    assert error_of(no_face, 422, "no_face") == "plane.jpg: no face found"


# -- celebrity -------------------------------------------------------------------------------------------------


def test_celebrity_look_alike_answers_every_face_with_a_notice(client, photos):
    response = client.post("/api/v1/celebrity", data={"image": upload(photos["group"]), "top": "4"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "look-alike" in body["notice"] and len(body["faces"]) == 3
    for face in body["faces"]:
        assert len(face["top"]) == 4 and face["top"][0]["name"] == face["name"]
        assert 0 <= face["confidence"] <= 1 and len(face["box"]) == 4
    error_of(
        client.post("/api/v1/celebrity", data={"image": upload(photos["group"]), "top": "99"}), 400, "invalid_request"
    )


# -- people: end to end ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def enrolled(app, photos):
    """Barack Obama enrolled through the API from two photos (one named with a client path)."""
    response = app.test_client().post(
        "/api/v1/people",
        data={
            "name": "Barack Obama",
            "images": [upload(photos["obama"], "../../home/someone/<b>obama.jpg"), upload(photos["obama_480p"])],
        },
    )
    assert response.status_code == 201, response.get_json()
    yield response.get_json()
    app.test_client().delete("/api/v1/people/Barack%20Obama")


def test_enrollment_reports_every_photo_with_a_safe_name(enrolled):
    assert enrolled["name"] == "Barack Obama" and enrolled["accepted"] == 2
    assert [p["source"] for p in enrolled["photos"]] == ["bobama.jpg", "obama-480p.jpg"]  # no path, no markup
    for photo in enrolled["photos"]:
        assert photo["accepted"] and photo["reason"] is None and isinstance(photo["photo_id"], int)
        assert len(photo["face"]["box"]) == 4


def test_recognise_the_enrolled_person_in_a_group_and_strangers_as_unknown(client, enrolled, photos):
    response = client.post("/api/v1/recognize", data={"image": upload(photos["group"])})
    assert response.status_code == 200, response.get_json()
    faces = response.get_json()["faces"]
    assert sorted(f["identity"] or "" for f in faces) == ["", "", "Barack Obama"]  # Biden and a girl: unknown
    for face in faces:
        assert set(face) >= {"box", "score", "identity", "similarity", "threshold", "candidates"}
        if face["identity"]:
            assert face["similarity"] >= face["threshold"]
            assert face["candidates"][0] == {"name": "Barack Obama", "similarity": face["similarity"]}
    stranger = client.post("/api/v1/recognize", json={"image": b64(photos["stranger"])}).get_json()["faces"]
    assert stranger and all(face["identity"] is None for face in stranger)


def test_recognise_options_threshold_and_top(client, enrolled, photos):
    lenient = client.post("/api/v1/recognize", json={"image": b64(photos["stranger"]), "threshold": 0, "top": 1})
    faces = lenient.get_json()["faces"]
    assert faces[0]["identity"] == "Barack Obama" and faces[0]["threshold"] == 0 and len(faces[0]["candidates"]) == 1
    for bad in ({"threshold": "high"}, {"threshold": 150}, {"top": 0}, {"top": "3.5"}, {"threshold": True}):
        response = client.post("/api/v1/recognize", json={"image": b64(photos["obama"]), **bad})
        error_of(response, 400, "invalid_request")


def test_recognise_at_a_chosen_share_of_strangers(client, enrolled, photos):
    def threshold_at(**options) -> float:
        response = client.post("/api/v1/recognize", json={"image": b64(photos["obama"]), **options})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["faces"][0]["threshold"]

    default = threshold_at()
    assert threshold_at(fpir=0.001) > default > threshold_at(fpir="0.2")
    for bad in ({"fpir": 0}, {"fpir": 0.9}, {"fpir": "often"}, {"fpir": 0.01, "threshold": 60}):
        response = client.post("/api/v1/recognize", json={"image": b64(photos["obama"]), **bad})
        error_of(response, 400, "invalid_request")


def test_people_list_photos_and_thumbnails(client, enrolled):
    people = client.get("/api/v1/people").get_json()["people"]
    obama = next(p for p in people if p["name"] == "Barack Obama")
    assert obama["photos"] == 2 and obama["thumbnail_url"] == "/api/v1/people/Barack%20Obama/thumbnail"
    thumbnail = client.get(obama["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.data)).size == (96, 96)
    listing = client.get("/api/v1/people/Barack%20Obama/photos").get_json()
    ids = [p["photo_id"] for p in listing["photos"]]
    assert sorted(ids) == sorted(p["photo_id"] for p in enrolled["photos"])
    photo = client.get(listing["photos"][1]["thumbnail_url"])
    assert photo.status_code == 200 and photo.data[:2] == b"\xff\xd8"
    error_of(client.get(f"/api/v1/people/Barack%20Obama/photos/{max(ids) + 100}/thumbnail"), 404, "unknown_photo")
    error_of(client.get("/api/v1/people/Barack%20Obama/photos/99999999999999999999/thumbnail"), 404, "unknown_photo")


def test_unknown_people_are_404_everywhere(client, photos):
    for method, path in (
        ("get", "/api/v1/people/Nobody"),
        ("delete", "/api/v1/people/Nobody"),
        ("get", "/api/v1/people/Nobody/photos"),
        ("get", "/api/v1/people/Nobody/thumbnail"),
        ("delete", "/api/v1/people/Nobody/photos/1"),
    ):
        error_of(getattr(client, method)(path), 404, "unknown_person")
    error_of(client.patch("/api/v1/people/Nobody", json={"name": "Somebody"}), 404, "unknown_person")
    added = client.post("/api/v1/people/Nobody/photos", data={"images": upload(photos["obama"])})
    error_of(added, 404, "unknown_person")


def test_enrolling_a_group_photo_says_how_many_faces_and_stores_nothing(client, photos):
    response = client.post("/api/v1/people", data={"name": "Group", "images": upload(photos["group"])})
    message = error_of(response, 422, "no_photo_accepted")
    assert "3 faces found" in message and "obama_and_biden_2.jpg" in message
    body = response.get_json()
    assert body["accepted"] == 0 and body["photos"][0]["source"] == "obama_and_biden_2.jpg"
    assert "3 faces found" in body["photos"][0]["reason"]
    error_of(client.get("/api/v1/people/Group"), 404, "unknown_person")


def test_enrolling_refuses_photos_without_faces_and_non_images_with_reasons(client, photos):
    response = client.post(
        "/api/v1/people",
        data={"name": "Nobody", "images": [upload(photos["no_face"]), (io.BytesIO(b"GIF89a broken"), "x.gif")]},
    )
    error_of(response, 422, "no_photo_accepted")
    reasons = [p["reason"] for p in response.get_json()["photos"]]
    assert reasons[0] == "pilatus800.jpg: no face found" and reasons[1].startswith("x.gif: ")
    assert "uploaded image" not in " ".join(reasons)


def test_enrolling_needs_a_valid_name_and_images(client, photos):
    error_of(client.post("/api/v1/people", data={"images": upload(photos["obama"])}), 400, "invalid_request")
    error_of(client.post("/api/v1/people", data={"name": "  ", "images": upload(photos["obama"])}), 400, "invalid_name")
    error_of(
        client.post("/api/v1/people", data={"name": "AC/DC", "images": upload(photos["obama"])}), 400, "invalid_name"
    )
    error_of(client.post("/api/v1/people", data={"name": "Someone"}), 400, "invalid_request")
    error_of(client.post("/api/v1/people", json={"name": "Someone", "images": []}), 400, "invalid_request")


def test_face_choice_enrolls_one_face_of_a_group_photo_from_json(client, photos):
    response = client.post("/api/v1/people", json={"name": "Chosen", "images": [b64(photos["two_people"])], "face": 1})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["photos"][0]["source"] == "image 1"
    error_of(
        client.post("/api/v1/people", json={"name": "Chosen", "images": ["x"], "face": "left"}), 400, "invalid_request"
    )
    assert client.delete("/api/v1/people/Chosen").get_json() == {"deleted": "Chosen"}


def test_rename_add_and_remove_photos_then_delete(client, photos):
    created = client.post("/api/v1/people", data={"name": "Joe Biden", "images": upload(photos["biden"])})
    assert created.status_code == 201, created.get_json()
    taken = client.post("/api/v1/people", data={"name": "Taken", "images": upload(photos["obama_other"])})
    assert taken.status_code == 201, taken.get_json()
    conflict = client.patch("/api/v1/people/Joe%20Biden", json={"name": "Taken"})
    assert "already exists" in error_of(conflict, 409, "person_exists")
    error_of(client.patch("/api/v1/people/Joe%20Biden", json={"name": ""}), 400, "invalid_name")
    renamed = client.patch("/api/v1/people/Joe%20Biden", json={"name": "Joseph Biden"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Joseph Biden"
    error_of(client.get("/api/v1/people/Joe%20Biden"), 404, "unknown_person")

    added = client.post("/api/v1/people/Taken/photos", data={"images": upload(photos["obama"])})
    assert added.status_code == 201 and added.get_json()["accepted"] == 1
    first, second = (p["photo_id"] for p in client.get("/api/v1/people/Taken/photos").get_json()["photos"])
    removed = client.delete(f"/api/v1/people/Taken/photos/{first}")
    assert removed.get_json() == {"deleted": first, "name": "Taken", "person_deleted": False}
    error_of(client.delete(f"/api/v1/people/Taken/photos/{first}"), 404, "unknown_photo")
    last = client.delete(f"/api/v1/people/Taken/photos/{second}").get_json()
    assert last["person_deleted"] is True
    error_of(client.get("/api/v1/people/Taken"), 404, "unknown_person")

    assert client.delete("/api/v1/people/Joseph%20Biden").status_code == 200
    assert all(p["name"] != "Joseph Biden" for p in client.get("/api/v1/people").get_json()["people"])
    faces = client.post("/api/v1/recognize", data={"image": upload(photos["biden"])}).get_json()["faces"]
    assert faces and faces[0]["identity"] is None


# -- concurrency -----------------------------------------------------------------------------------------------


def test_concurrent_requests_from_threads_give_the_same_answers(make_app, recognizer, enrolled, photos):
    """Several threads at once (as waitress serves them) against the real models, without the embedding cache so
    that every request really runs them: the answers equal the serial ones."""
    uncached = FacePipeline(detector=recognizer.pipeline.detector)
    app = make_app(RECOGNIZER=FaceRecognizer(gallery=recognizer.gallery, pipeline=uncached))
    jobs = [("recognize", photos["group"]), ("detect", photos["obama"]), ("recognize", photos["stranger"])] * 3

    def call(job):
        endpoint, path = job
        response = app.test_client().post(f"/api/v1/{endpoint}", data={"image": upload(path)})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    serial = [call(job) for job in jobs[:3]]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(call, jobs))
    for index, answer in enumerate(parallel):
        assert answer == serial[index % 3]
