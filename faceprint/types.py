"""Domain types shared by every layer: faces found in an image and their embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""MTCNN's five landmarks, in this order; left/right as seen in the image (viewer's left)."""


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` is [x, y, w, h] in pixels, ``landmarks`` is a 5x2 array (see LANDMARK_NAMES)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    def to_dict(self) -> dict:
        """JSON form, with the field names the API uses."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": {
                name: [round(float(x), 1), round(float(y), 1)]
                for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)
            },
        }


@dataclass
class FaceEmbeddings:
    """A face and its L2-normalised embedding from each model, keyed by model name."""

    face: Face | None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
