"""Measure the activation ranges 8-bit FaceNet uses, on real faces, and write them into the package.

Feeds 256 LFW DevTrain faces (seed 0; the central face of each image, aligned as the pipeline aligns it, and its
mirror image, standardised as FaceNet expects) through the float32 ONNX graph and records each activation's
minimum and maximum (ONNX Runtime's MinMax calibration). faceprint quantises FaceNet from these ranges on first use.
LFW DevTest is never used, so the LFW DevTest figures of the 8-bit model stay honest.

Usage: .venv/bin/python tools/quantize_facenet.py   (writes faceprint/data/facenet_int8_ranges.json)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from faceprint.alignment import align_face
from faceprint.cache import ArrayCache
from faceprint.detection import central_face
from faceprint.embedding.facenet import FACENET_TEMPLATE, facenet_int8_ranges, facenet_onnx
from faceprint.lfw import image_path, read_pairs
from faceprint.onnx_engine import quantize_int8
from faceprint.pipeline import FacePipeline

DATASETS = Path(os.environ.get("FACEPRINT_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
LFW = DATASETS / "lfw"
FACES = 256


def calibration_faces() -> np.ndarray:
    """Aligned FaceNet crops of FACES randomly chosen LFW DevTrain images (central face)."""
    pairs = read_pairs(LFW / "pairsDevTrain.txt").pairs
    paths = sorted(
        {image_path(LFW / "images", p.name_a, p.index_a) for p in pairs}
        | {image_path(LFW / "images", p.name_b, p.index_b) for p in pairs}
    )
    chosen = [paths[i] for i in sorted(np.random.default_rng(0).choice(len(paths), FACES, replace=False))]
    pipeline = FacePipeline(cache=ArrayCache())
    images = [pipeline.load(path) for path in chosen]
    crops = []
    for image, faces in zip(images, pipeline.detect_many(images), strict=True):
        face = central_face(faces, image.pixels.shape)
        if face is not None:
            crops.append(align_face(image.pixels, face.landmarks, FACENET_TEMPLATE))
    return np.stack(crops)


class FaceBatches(CalibrationDataReader):
    """Standardised crops and their mirror images, 16 at a time."""

    def __init__(self, crops: np.ndarray) -> None:
        both = np.concatenate([crops, crops[:, :, ::-1]]).astype(np.float32)
        standardised = (both - 127.5) / 128.0
        self.batches = iter([{"input:0": standardised[i : i + 16]} for i in range(0, len(standardised), 16)])

    def get_next(self):
        return next(self.batches, None)


def main() -> None:
    crops = calibration_faces()
    target = facenet_int8_ranges()
    with tempfile.TemporaryDirectory() as folder:
        ranges = Path(folder) / "ranges.json"
        quantize_int8(facenet_onnx(), ranges, FaceBatches(crops))
        target.write_text(ranges.read_text())
    print(f"{len(crops)} faces (and their mirror images) -> {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
