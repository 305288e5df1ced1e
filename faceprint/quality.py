"""Enrollment quality gate: refuse faces that would make poor references, with a reason a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceprint.types import Face


@dataclass(frozen=True)
class QualityGate:
    """Limits for an enrollment photo's face. Defaults accept ordinary snapshots and refuse tiny, blurred,
    doubtful or strongly turned faces."""

    min_face_size: int = 60
    """Shorter side of the detected box, in pixels."""
    min_score: float = 0.95
    """MTCNN confidence."""
    min_sharpness: float = 20.0
    """Variance of the Laplacian of the face resized to 112 px wide (lower is blurrier)."""
    max_yaw: float = 0.45
    """Horizontal offset of the nose from the eyes' midpoint, as a fraction of the eye distance."""
    max_roll: float = 35.0
    """Tilt of the line between the eyes, in degrees."""


def face_measures(image: np.ndarray, face: Face) -> dict[str, float]:
    """Size, score, sharpness, yaw and roll of a detected face (the numbers the gate checks)."""
    left_eye, right_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    eye_vector = right_eye - left_eye
    eye_distance = float(np.linalg.norm(eye_vector)) or 1.0
    midpoint = (left_eye + right_eye) / 2.0
    # Project the nose onto the eye line: 0 when frontal, growing as the head turns.
    yaw = abs(float(np.dot(nose - midpoint, eye_vector / eye_distance))) / eye_distance
    roll = abs(float(np.degrees(np.arctan2(eye_vector[1], eye_vector[0]))))
    return {
        "size": float(min(face.box[2], face.box[3])),
        "score": float(face.score),
        "sharpness": sharpness(image, face),
        "yaw": round(yaw, 3),
        "roll": round(roll, 1),
    }


def sharpness(image: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian inside the face box, at a fixed scale so big and small faces compare."""
    x, y, w, h = (round(v) for v in face.box)
    height, width = image.shape[:2]
    crop = image[max(y, 0) : min(y + h, height), max(x, 0) : min(x + w, width)]
    if crop.size == 0:
        return 0.0
    import cv2  # here: importing the quality gate (people list) does not load OpenCV

    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (112, max(1, round(112 * gray.shape[0] / gray.shape[1]))), interpolation=cv2.INTER_AREA)
    return round(float(cv2.Laplacian(gray, cv2.CV_64F).var()), 1)


def quality_problems(measures: dict[str, float], gate: QualityGate) -> list[str]:
    """Why a face fails the gate (empty when it passes)."""
    problems = []
    if measures["size"] < gate.min_face_size:
        problems.append(f"face too small ({measures['size']:.0f} px, need at least {gate.min_face_size} px)")
    if measures["score"] < gate.min_score:
        problems.append(f"detection score too low ({measures['score']:.2f}, need {gate.min_score:.2f})")
    if measures["sharpness"] < gate.min_sharpness:
        problems.append(f"face too blurred (sharpness {measures['sharpness']:.0f}, need {gate.min_sharpness:.0f})")
    if measures["yaw"] > gate.max_yaw:
        problems.append("head turned too far to the side; use a photo facing the camera")
    if measures["roll"] > gate.max_roll:
        problems.append(f"head tilted too far ({measures['roll']:.0f} degrees)")
    return problems
