"""What dropping the mirror pass (test-time augmentation) of FaceNet and/or dlib would cost in LFW View 1 accuracy
and save in time. Not applied: it changes the embeddings, so the shipped calibration, celebrity model and stored
galleries would have to be rebuilt.

Accuracy comes from the per-image embeddings ``tools/lfw_experiments.py embed --variants facenet-aspect,dlib`` caches
(original and mirrored crop stored separately): for each variant the fusion is refitted on DevTrain and applied to
DevTest, as ``faceprint calibrate`` does. Time: each embedder with and without its mirror pass on one aligned face
of the 640x480 photo, interleaved.

Usage: .venv/bin/python -m benchmarks.mirror_tradeoff [--repeat 20]
Writes benchmarks/results/mirror_tradeoff.json."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks.common import DATASETS, REPO, photo_640x480, timed_interleaved, write_result
from faceprint.alignment import align_face
from faceprint.embedding.base import shipped_centres
from faceprint.embedding.dlib_resnet import DlibEmbedder
from faceprint.embedding.facenet import FaceNetEmbedder
from faceprint.lfw import read_pairs
from faceprint.pipeline import FacePipeline
from faceprint.verification import best_accuracy_threshold, fit_fusion

# (FaceNet mirror, dlib mirror); FaceNet is always centred, dlib never (the shipped preprocessing).
VARIANTS = {
    "shipped: both mirrored": (True, True),
    "dlib without mirror": (True, False),
    "FaceNet without mirror": (False, True),
    "neither mirrored": (False, False),
}


def accuracy() -> dict:
    sys.path.insert(0, str(REPO / "tools"))
    import lfw_experiments as lx

    train, test = read_pairs(lx.LFW / "pairsDevTrain.txt").pairs, read_pairs(lx.LFW / "pairsDevTest.txt").pairs
    same_train, same_test = np.array([p.same for p in train]), np.array([p.same for p in test])
    rows = {}
    for label, (facenet_flip, dlib_flip) in VARIANTS.items():
        columns = [
            (
                lx.similarities("facenet-aspect", facenet_flip, train, True),
                lx.similarities("facenet-aspect", facenet_flip, test, True),
            ),
            (lx.similarities("dlib", dlib_flip, train, False), lx.similarities("dlib", dlib_flip, test, False)),
        ]
        per_model = {}
        for name, (s_train, s_test) in zip(("facenet", "dlib"), columns, strict=True):
            threshold, _ = best_accuracy_threshold(s_train, same_train)
            per_model[name] = round(float(np.mean((s_test >= threshold) == same_test)), 4)
        x_train, x_test = np.stack([c[0] for c in columns], 1), np.stack([c[1] for c in columns], 1)
        fusion = fit_fusion(x_train, same_train, ("facenet", "dlib"), fars=())
        rows[label] = {
            "devtrain_fused": round(float(np.mean((fusion.score(x_train) >= fusion.threshold) == same_train)), 4),
            "devtest_fused": round(float(np.mean((fusion.score(x_test) >= fusion.threshold) == same_test)), 4),
            "devtest_per_model": per_model,
        }
    return rows


def speed(repeat: int) -> dict:
    image = photo_640x480(DATASETS / "samples" / "people" / "obama" / "obama1.jpg")
    face = FacePipeline().detector.detect(image)[0]
    centre = shipped_centres().get("facenet")
    facenet = {flip: FaceNetEmbedder(flip=flip, centre=centre) for flip in (True, False)}
    dlib = {flip: DlibEmbedder(flip=flip) for flip in (True, False)}
    facenet_crop = align_face(image, face.landmarks, facenet[True].template)[None]
    dlib_crop = align_face(image, face.landmarks, dlib[True].template)[None]
    return timed_interleaved(
        {
            "facenet mirrored": lambda: facenet[True].embed(facenet_crop),
            "facenet single": lambda: facenet[False].embed(facenet_crop),
            "dlib mirrored": lambda: dlib[True].embed(dlib_crop),
            "dlib single": lambda: dlib[False].embed(dlib_crop),
        },
        repeat,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    result = {"accuracy": accuracy(), "speed_one_face": speed(args.repeat)}
    path = write_result("mirror_tradeoff", result)
    for label, row in result["accuracy"].items():
        print(
            f"{label:24s} DevTrain {row['devtrain_fused']:.4f}  DevTest {row['devtest_fused']:.4f}  "
            f"per model {row['devtest_per_model']}"
        )
    for label, row in result["speed_one_face"].items():
        print(f"{label:18s} median {row['median_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
