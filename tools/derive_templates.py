"""Derive each embedding model's 5-point alignment template from LFW images.

FaceNet: where MTCNN's landmarks fall in the crops its authors evaluated on (MTCNN box + 32 px margin, 160x160).
dlib: where MTCNN's landmarks fall in dlib's own face chips (5-point shape predictor, 150x150, padding 0.25).

Usage: python tools/derive_templates.py [--images DIR] [--count N]
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np

from faceprint.detection import MTCNNDetector, central_face
from faceprint.imaging import load_image

DATASETS = Path(
    os.environ.get("FACEPRINT_DATASETS", Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets")
)


def facenet_points(face, margin: float = 32.0, size: int = 160) -> np.ndarray:
    x, y, w, h = face.box
    left, top = x - margin / 2, y - margin / 2
    return (face.landmarks - [left, top]) / [w + margin, h + margin] * size


def dlib_points(image, face, detector, size: int = 150, pad: int = 60) -> np.ndarray | None:
    import dlib
    import face_recognition_models

    predictor = dlib_points.predictor = getattr(dlib_points, "predictor", None) or dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    x, y, w, h = face.box
    shape = predictor(image, dlib.rectangle(int(x), int(y), int(x + w), int(y + h)))
    chip = dlib.get_face_chip(image, shape, size=size, padding=0.25)
    padded = np.pad(chip, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    found = central_face(detector.detect(padded), padded.shape)
    return None if found is None else found.landmarks - pad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DATASETS / "lfw" / "images")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    files = sorted(args.images.glob("*/*.jpg"))
    random.Random(0).shuffle(files)
    detector = MTCNNDetector(min_score=0.95)
    facenet, dlib_, aspects = [], [], []
    for path in files[: args.count]:
        image = load_image(path)
        face = central_face(detector.detect(image), image.shape)
        if face is None:
            continue
        facenet.append(facenet_points(face))
        aspects.append((face.box[3] + 32) / (face.box[2] + 32))
        points = dlib_points(image, face, detector)
        if points is not None:
            dlib_.append(points)
    for name, points in (("facenet", facenet), ("dlib", dlib_)):
        mean = np.mean(points, axis=0)
        # Mirror-symmetrise: average each point with its left/right twin reflected about the centre line.
        size = 160 if name == "facenet" else 150
        mirrored = mean[[1, 0, 2, 4, 3]] * [-1, 1] + [size, 0]
        symmetric = (mean + mirrored) / 2
        print(f"{name} ({len(points)} faces):", tuple((round(float(a), 1), round(float(b), 1)) for a, b in symmetric))
    print(f"facenet crop height/width before resizing (aspect): {np.mean(aspects):.3f}")


if __name__ == "__main__":
    main()
