"""MTCNN detection on real photos: every clear face in group photos, none in photos without faces."""

from __future__ import annotations

import re

import numpy as np
import pytest

from faceprint.detection import MTCNNDetector, central_face
from faceprint.imaging import load_image


@pytest.fixture(scope="session")
def detector(pipeline):
    return pipeline.detector


def group_photos(samples):
    return sorted((samples / "group").glob("*.jpg"))


def test_every_clear_face_in_group_photos(detector, samples):
    photos = group_photos(samples)
    assert len(photos) >= 8
    for photo in photos:
        expected = int(re.search(r"_(\d+)\.jpg$", photo.name).group(1))
        faces = detector.detect(load_image(photo))
        assert len(faces) >= expected, f"{photo.name}: found {len(faces)}, expected at least {expected}"
        assert len(faces) <= expected + 3, f"{photo.name}: {len(faces)} faces is far more than {expected}"


def test_no_face_in_photos_without_faces(detector, samples):
    for photo in sorted((samples / "no-face").glob("*.jpg")):
        assert detector.detect(load_image(photo)) == [], photo.name


def test_faces_have_box_score_landmarks_and_come_largest_first(detector, samples):
    image = load_image(samples / "group" / "compreface_014_5.jpg")
    faces = detector.detect(image)
    areas = [face.area for face in faces]
    assert areas == sorted(areas, reverse=True)
    for face in faces:
        x, y, w, h = face.box
        assert w > 0 and h > 0 and 0.9 <= face.score <= 1.0
        assert face.landmarks.shape == (5, 2)
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert x <= nose[0] <= x + w and y <= nose[1] <= y + h
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < max(mouth_left[1], mouth_right[1])
        assert set(face.to_dict()) == {"box", "score", "landmarks"}


def test_batch_detection_matches_single_images(detector, samples):
    images = [load_image(p) for p in sorted((samples / "people" / "compreface_person_A").glob("*.jpg"))[:3]]
    single = [detector.detect(image) for image in images]
    batched = detector.detect_batch(images)
    for one, many in zip(single, batched, strict=True):
        assert len(one) == len(many)
        for a, b in zip(one, many, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1.0)


def test_min_face_size_above_twenty_still_finds_large_faces(samples):
    """mtcnn 1.0.0 silently finds nothing with min_face_size > 20; our detector must not inherit that."""
    image = load_image(samples / "group" / "two_people_2.jpg")
    faces = MTCNNDetector(min_face_size=100).detect(image)
    assert len(faces) == 2
    assert all(max(face.box[2:]) >= 100 for face in faces)
    assert MTCNNDetector(min_face_size=400).detect(image) == []


def test_min_score_filters_faces(samples):
    image = load_image(samples / "group" / "compreface_016_8.jpg")
    assert MTCNNDetector(min_score=1.01).detect(image) == []


def test_tiny_image_has_no_face(detector):
    assert detector.detect(np.zeros((8, 8, 3), dtype=np.uint8)) == []


def test_central_face_prefers_large_centred_face(detector, samples):
    image = load_image(samples / "group" / "two_people_2.jpg")
    faces = detector.detect(image)
    chosen = central_face(faces, image.shape)
    assert chosen in faces
    assert central_face([], image.shape) is None


def test_faces_filling_the_whole_picture_are_found_with_a_border(datasets):
    """This ORL photo's face fills the frame: plain MTCNN misses it; the padded second try finds it."""
    image = load_image(datasets / "orl-faces" / "s37" / "4.pgm")
    assert MTCNNDetector(pad_misses=0).detect(image) == []
    faces = MTCNNDetector().detect(image)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert x >= -5 and y >= -5
    assert x + w <= image.shape[1] + 5 and y + h <= image.shape[0] + 5


@pytest.mark.parametrize("engine", ["onnxruntime", "tensorflow"])
def test_compiled_networks_find_the_same_faces_as_mtcnn_itself(samples, engine):
    """The compiled networks (in ONNX Runtime or TensorFlow) must give mtcnn's own boxes, scores and landmarks
    (group, no-face, large photos)."""
    compiled, eager = MTCNNDetector(engine=engine), MTCNNDetector(compiled=False)
    photos = group_photos(samples) + sorted((samples / "no-face").glob("*.jpg"))
    photos += [samples / "people" / "obama" / "obama1.jpg", samples / "people" / "compreface_person_A" / "001_A.jpg"]
    for photo in photos:
        image = load_image(photo)
        fast, reference = compiled.detect(image), eager.detect(image)
        assert len(fast) == len(reference), photo.name
        for a, b in zip(fast, reference, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=0.5)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.5)
            assert abs(a.score - b.score) < 1e-4
