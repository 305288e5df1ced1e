"""FaceRecognizer end to end with the real models and a real SQLite gallery: enroll, recognise every face of
a group photo, answer "unknown" for strangers, manage people."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceprint import FaceRecognizer
from faceprint.imaging import load_image
from faceprint.quality import QualityGate


@pytest.fixture(scope="module")
def recognizer(pipeline, tmp_path_factory):
    gallery = f"sqlite:///{tmp_path_factory.mktemp('gallery') / 'gallery.db'}"
    return FaceRecognizer(gallery=gallery, pipeline=pipeline)


@pytest.fixture(scope="module")
def enrolled(recognizer, samples):
    people = samples / "people"
    obama = recognizer.enroll("Barack Obama", [people / "obama" / "obama.jpg", people / "obama" / "obama-480p.jpg"])
    biden = recognizer.enroll("Joe Biden", [people / "biden" / "biden.jpg"])
    assert obama.accepted == 2, obama.to_dict()
    assert biden.accepted == 1, biden.to_dict()
    return recognizer


def test_people_lists_enrolled_people(enrolled):
    people = {p["name"]: p for p in enrolled.people()}
    assert people["Barack Obama"]["photos"] == 2 and people["Joe Biden"]["photos"] == 1


def test_re_enrolling_the_same_photo_is_idempotent(enrolled, samples):
    again = enrolled.enroll("Barack Obama", samples / "people" / "obama" / "obama.jpg")
    assert again.accepted == 1 and again.photos[0].created is False
    assert {p["name"]: p["photos"] for p in enrolled.people()}["Barack Obama"] == 2


def test_recognises_every_face_of_a_group_photo(enrolled, samples):
    results = enrolled.recognize(samples / "group" / "obama_and_biden_2.jpg")
    identities = [r["identity"] for r in results]
    assert "Barack Obama" in identities and "Joe Biden" in identities
    for result in results:
        assert set(result) >= {"box", "identity", "similarity", "threshold", "candidates"}
        if result["identity"]:
            assert result["similarity"] >= result["threshold"]


def test_strangers_are_unknown(enrolled, samples):
    for photo in (samples / "people" / "rose_leslie" / "img1.jpg", samples / "people" / "kit_harington" / "john1.jpeg"):
        results = enrolled.recognize(photo)
        assert results and all(r["identity"] is None for r in results), results


def test_threshold_can_be_overridden_per_call(enrolled, samples):
    stranger = samples / "people" / "rose_leslie" / "img1.jpg"
    assert enrolled.recognize(stranger, threshold=0.0)[0]["identity"] is not None


def test_several_faces_need_a_choice(recognizer, samples):
    group = samples / "group" / "two_people_2.jpg"
    refused = recognizer.enroll("Someone", group)
    assert refused.accepted == 0 and "2 faces found" in refused.photos[0].reason
    chosen = recognizer.enroll("Someone", group, face=1)
    assert chosen.accepted == 1
    recognizer.delete("Someone")


def test_photo_without_face_or_not_an_image_is_rejected_with_reason(recognizer, samples, datasets):
    result = recognizer.enroll(
        "Nobody",
        [
            samples / "no-face" / "pilatus800.jpg",
            datasets / "celebrity-faces-31" / "train" / "Kashyap" / "._Kashyap_25_face1.jpg",
        ],
    )
    assert result.accepted == 0
    assert "no face" in result.photos[0].reason and "not an image" in result.photos[1].reason
    assert "Nobody" not in {p["name"] for p in recognizer.people()}


def test_quality_gate_refuses_small_and_blurred_faces(pipeline, tmp_path, samples):
    strict = FaceRecognizer(
        gallery=f"sqlite:///{tmp_path / 'g.db'}", pipeline=pipeline, quality=QualityGate(min_face_size=2000)
    )
    small = strict.enroll("Obama", samples / "people" / "obama" / "obama.jpg")
    assert small.accepted == 0 and "too small" in small.photos[0].reason
    blurred = cv2.GaussianBlur(load_image(samples / "people" / "obama" / "obama.jpg"), (0, 0), 9)
    normal = FaceRecognizer(gallery=f"sqlite:///{tmp_path / 'g.db'}", pipeline=pipeline)
    outcome = normal.enroll("Obama", blurred)
    assert outcome.accepted == 0 and "blurred" in outcome.photos[0].reason


def test_rename_remove_and_delete(enrolled, samples):
    enrolled.rename("Joe Biden", "Joseph Biden")
    assert "Joseph Biden" in {p["name"] for p in enrolled.people()}
    photos = enrolled.gallery.photos("Barack Obama")
    enrolled.remove_image("Barack Obama", photos[-1].id)
    assert {p["name"]: p["photos"] for p in enrolled.people()}["Barack Obama"] == 1
    enrolled.delete("Joseph Biden")
    results = enrolled.recognize(samples / "people" / "biden" / "biden2.jpg")
    assert all(r["identity"] != "Joseph Biden" for r in results)


def test_verify_through_the_facade(recognizer, samples):
    people = samples / "people"
    assert recognizer.verify(people / "obama" / "obama1.jpg", people / "obama" / "obama2.jpg")["same_person"]
    assert np.isfinite(recognizer.default_threshold())


def test_predict_celebrity_names_the_celebrity_with_calibrated_top_five(recognizer, datasets):
    folder = datasets / "celebrity-faces-31" / "validation" / "Akshay Kumar"
    photo = sorted(folder.glob("[!.]*.jpg"))[0]
    faces = recognizer.predict_celebrity(photo)
    assert len(faces) == 1
    face = faces[0]
    assert face["name"] == "Akshay Kumar"
    assert len(face["top"]) == 5
    probabilities = [entry["probability"] for entry in face["top"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert face["confidence"] == probabilities[0]
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-6


def test_predict_celebrity_finds_every_face_of_a_group_photo(recognizer, samples):
    photo = samples / "group" / "obama_and_biden_2.jpg"
    faces = recognizer.predict_celebrity(photo, top=3)
    assert [face["box"] for face in faces] == [face.to_dict()["box"] for face in recognizer.detect(photo)]
    assert len(faces) >= 2
    assert all(len(face["top"]) == 3 and face["name"] == face["top"][0]["name"] for face in faces)
