"""Five-point similarity alignment: exact on synthetic points, and robust to rotated real faces."""

from __future__ import annotations

import cv2
import numpy as np

from faceprint.alignment import align_face, central_landmarks, similarity_transform
from faceprint.embedding.facenet import FACENET_TEMPLATE
from faceprint.imaging import load_image


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = np.deg2rad(25), 1.7, np.array([12.0, -4.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.array([[30, 40], [70, 41], [50, 60], [35, 80], [66, 79]], dtype=float)
    target = source @ rotation.T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_aligned_crop_puts_landmarks_on_the_template(pipeline, samples):
    image = load_image(samples / "people" / "obama" / "obama.jpg")
    face = pipeline.detector.detect(image)[0]
    crop = align_face(image, face.landmarks, FACENET_TEMPLATE)
    assert crop.shape == (160, 160, 3) and crop.dtype == np.uint8
    refound = pipeline.detector.detect(np.pad(crop, ((40, 40), (40, 40), (0, 0)), mode="edge"))
    assert refound, "the aligned crop must still contain a detectable face"
    error = np.linalg.norm(refound[0].landmarks - 40 - FACENET_TEMPLATE.array, axis=1)
    assert error.mean() < 6.0


def test_rotated_face_is_aligned_upright_and_embeds_alike(pipeline, samples):
    """Rotate a real photo by 30 degrees: after alignment the face embeds almost as the upright one."""
    image = load_image(samples / "people" / "obama" / "obama.jpg")
    height, width = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), 30, 1.0)
    rotated = cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
    upright = pipeline.embed_image(image, ["facenet"])[0].vectors["facenet"]
    tilted = pipeline.embed_image(rotated, ["facenet"])[0].vectors["facenet"]
    assert float(upright @ tilted) > 0.85


def test_central_landmarks_fall_inside_the_image():
    points = central_landmarks((250, 250, 3), FACENET_TEMPLATE)
    assert points.shape == (5, 2)
    assert (points > 60).all() and (points < 190).all()
