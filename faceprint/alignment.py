"""Five-point face alignment: a similarity transform (rotation, uniform scale, shift) of MTCNN's landmarks
onto each embedding model's canonical template, so tilted and rotated faces reach the network upright."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlignmentTemplate:
    """Where the five landmarks (see ``faceprint.types.LANDMARK_NAMES``) sit in a model's ``size`` x ``size`` input.

    ``aspect`` > 1 reproduces networks trained on face boxes squashed into a square (FaceNet's crops are on
    average 1.26 times taller than wide): the face is aligned by a similarity transform, then scaled
    vertically by ``1 / aspect``. The rotation is still removed, so tilted faces arrive upright."""

    size: int
    points: tuple[tuple[float, float], ...]
    aspect: float = 1.0

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) taking ``source`` points to ``target``; a 2x3 matrix."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    variance = (src**2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ sign)) / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_face(image: np.ndarray, landmarks: np.ndarray, template: AlignmentTemplate) -> np.ndarray:
    """Warp ``image`` so the face's landmarks land on ``template``; returns a size x size x 3 uint8 crop."""
    unsquashed = template.array * [1.0, template.aspect]
    matrix = np.diag([1.0, 1.0 / template.aspect]) @ similarity_transform(landmarks, unsquashed)
    import cv2  # here, not at the top: commands that align nothing (people list) start without OpenCV

    return cv2.warpAffine(
        image,
        matrix,
        (template.size, template.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def central_landmarks(image_shape: tuple[int, ...], template: AlignmentTemplate, fraction: float = 0.5) -> np.ndarray:
    """Landmarks for a face assumed to fill the central ``fraction`` of the image (fallback when none is found)."""
    height, width = image_shape[:2]
    side = fraction * min(height, width)
    offset = np.array([(width - side) / 2.0, (height - side) / 2.0])
    return (template.array / template.size * side + offset).astype(np.float32)
