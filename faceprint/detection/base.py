"""What every face detector provides, and helpers for choosing among detected faces."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from faceprint.types import Face


class Detector(Protocol):
    """Finds every face in an RGB uint8 image, largest first."""

    name: str

    def detect(self, image: np.ndarray) -> list[Face]: ...


def central_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The face a single-subject photo is about: large and near the centre (as FaceNet's aligner chooses)."""
    if not faces:
        return None
    height, width = image_shape[:2]
    centre = np.array([width / 2.0, height / 2.0])

    def weight(face: Face) -> float:
        x, y, w, h = face.box
        offset = np.array([x + w / 2.0, y + h / 2.0]) - centre
        return face.area - 2.0 * float(offset @ offset)

    return max(faces, key=weight)


def sort_by_size(faces: list[Face]) -> list[Face]:
    """Largest face first; ties broken left to right so the order is stable."""
    return sorted(faces, key=lambda f: (-f.area, f.box[0], f.box[1]))
