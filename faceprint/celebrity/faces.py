"""The celebrity collection's face frame: crops warped to one canonical frame, and perceptual hashes of them for
finding copies of a photo. Finding the face itself is the pipeline layer's (``faceprint.locate``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from faceprint.alignment import AlignmentTemplate, align_face, similarity_transform
from faceprint.embedding.dlib_resnet import DLIB_TEMPLATE
from faceprint.locate import (  # re-exported: the celebrity modules find faces through the pipeline layer
    CANVAS_LONGEST,
    CANVAS_RECIPE,
    CANVAS_SIZE,
    FALLBACK_FRACTION,
    LocatedFace,
    chunks,
    detection_canvas,
    locate_faces,
)

log = logging.getLogger(__name__)


def _canonical_template() -> AlignmentTemplate:
    """The frame of the stored face crops: dlib's mean landmarks scaled to 64 px between the eyes, eyes centred
    at (144, 122) of a 288 px square. It holds every model's input region (FaceNet's taller crop included) with a
    margin of about 24 px, so each model can be re-aligned from the stored crop and augmentation has room."""
    points = DLIB_TEMPLATE.array
    eyes = points[:2].mean(axis=0)
    scale = 64.0 / (points[1, 0] - points[0, 0])
    canonical = (points - eyes) * scale + np.array([144.0, 122.0])
    return AlignmentTemplate(size=288, points=tuple((round(float(x), 2), round(float(y), 2)) for x, y in canonical))


CANONICAL = _canonical_template()

__all__ = [
    "CANONICAL",
    "CANVAS_LONGEST",
    "CANVAS_RECIPE",
    "CANVAS_SIZE",
    "FALLBACK_FRACTION",
    "LocatedFace",
    "canonical_crop",
    "chunks",
    "detection_canvas",
    "hash_distances",
    "locate_faces",
    "perceptual_hash",
]


def canonical_crop(pixels: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face warped into the ``CANONICAL`` frame, and its landmarks in that crop's pixels (from which each
    embedding model re-aligns it exactly as it would from the original image)."""
    matrix = similarity_transform(landmarks, CANONICAL.array)
    crop = align_face(pixels, landmarks, CANONICAL)
    moved = np.asarray(landmarks, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return crop, moved.astype(np.float32)


def perceptual_hash(crop: np.ndarray) -> str:
    """255-bit DCT hash (64 hex digits) of the face region of a ``CANONICAL`` crop, background excluded: copies
    of one photo (resized, recompressed, recropped, recoloured) differ in few bits, different photos in many.
    On the celebrity collection no two different people's faces come within 50 bits."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)[80:224, 80:208]
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:16, :16].reshape(-1)
    bits = np.concatenate([low[1:] > np.median(low[1:]), [False]])
    return np.packbits(bits).tobytes().hex()


def hash_distances(hashes: Sequence[str]) -> np.ndarray:
    """Pairwise Hamming distances (in bits) between ``perceptual_hash`` values."""
    bits = np.array([np.unpackbits(np.frombuffer(bytes.fromhex(h), np.uint8)) for h in hashes], dtype=np.uint8)
    if len(bits) == 0:
        return np.zeros((0, 0), dtype=int)
    ones = bits.astype(np.int32)
    return ones @ (1 - ones).T + (1 - ones) @ ones.T
