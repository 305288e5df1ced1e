"""faceprint against PyPI ``face_recognition`` 1.3.0 (dlib HOG detector + dlib ResNet encodings), in one run.

Speed: per image, detect + encode every face, on the same decoded images, the two libraries interleaved image by
image (median, p95, ratio). Accuracy: LFW View 1 DevTest pairs, face_recognition's documented rule (euclidean
distance <= 0.6 on the central face's encoding) against faceprint's fused decision at its shipped threshold.
face_recognition's encodings are cached by image content (``--no-cache`` to recompute).

Needs ``pip install --no-deps face-recognition==1.3.0`` (its dlib and model packages are faceprint's already).

Usage: .venv/bin/python -m benchmarks.face_recognition_compare [--speed-images 40] [--repeat 3] [--pairs-limit N]
Writes benchmarks/results/face_recognition_compare.json."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.common import DATASETS, photo_640x480, write_result
from faceprint.cache import ArrayCache, array_key, content_hash
from faceprint.embedding import DEFAULT_MODELS
from faceprint.imaging import load_image
from faceprint.lfw import accuracy_with_calibration, image_path, read_pairs, score_pairs
from faceprint.pipeline import FacePipeline
from faceprint.verification import shipped_calibration

TOLERANCE = 0.6
"""face_recognition's default ``compare_faces`` tolerance."""
FR_VERSION = "face_recognition-1.3.0/hog-upsample1/small-landmarks/jitter1/central/v1"


def fr_encode_all(image: np.ndarray) -> list[np.ndarray]:
    """face_recognition's usual call sequence: HOG face locations, then one encoding per face."""
    import face_recognition

    return face_recognition.face_encodings(image, face_recognition.face_locations(image, model="hog"))


def fr_central_encoding(image: np.ndarray) -> np.ndarray | None:
    """The encoding of the face nearest the image centre (LFW's subject), None when HOG finds no face."""
    import face_recognition

    locations = face_recognition.face_locations(image, model="hog")
    if not locations:
        return None
    centre = np.array(image.shape[:2]) / 2.0
    nearest = min(
        locations, key=lambda box: float(np.sum((np.array([box[0] + box[2], box[3] + box[1]]) / 2 - centre) ** 2))
    )
    return face_recognition.face_encodings(image, [nearest])[0]


def percentile(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)), 1)


def speed(images: dict[str, np.ndarray], repeat: int) -> dict:
    """Per-image wall time of both libraries, interleaved, after one warm-up pass over every image."""
    pipeline = FacePipeline()  # no cache
    for image in images.values():
        fr_encode_all(image)
        pipeline.embed_image(image)
    times: dict[str, list[float]] = {"face_recognition": [], "faceprint": []}
    faces: dict[str, list[int]] = {"face_recognition": [], "faceprint": []}
    for _ in range(repeat):
        for image in images.values():
            start = time.perf_counter()
            faces["face_recognition"].append(len(fr_encode_all(image)))
            times["face_recognition"].append((time.perf_counter() - start) * 1000.0)
            start = time.perf_counter()
            faces["faceprint"].append(len(pipeline.embed_image(image)))
            times["faceprint"].append((time.perf_counter() - start) * 1000.0)
    result = {
        name: {
            "median_ms": round(statistics.median(samples), 1),
            "p95_ms": percentile(samples, 95),
            "faces_found": int(sum(faces[name])) // repeat,
        }
        for name, samples in times.items()
    }
    ratio = np.array(times["face_recognition"]) / np.array(times["faceprint"])
    result["median_ratio_face_recognition_over_faceprint"] = round(float(np.median(ratio)), 2)
    result["images"], result["repeat"] = list(images), repeat
    return result


def accuracy(pairs_path: Path, limit: int | None, seed: int, use_cache: bool) -> dict:
    """LFW View 1 accuracy of both libraries on the same pairs (all, or a seeded sample of ``limit`` pairs)."""
    images_dir = DATASETS / "lfw" / "images"
    pairs = read_pairs(pairs_path).pairs
    if limit and limit < len(pairs):
        chosen = np.random.default_rng(seed).choice(len(pairs), size=limit, replace=False)
        pairs = [pairs[i] for i in sorted(chosen)]
    cache = ArrayCache() if use_cache else None
    paths = sorted(
        {image_path(images_dir, p.name_a, p.index_a) for p in pairs}
        | {image_path(images_dir, p.name_b, p.index_b) for p in pairs}
    )
    encodings: dict[Path, np.ndarray | None] = {}
    for path in tqdm(paths, desc="face_recognition", unit="img"):
        key = array_key(content_hash(path.read_bytes()), FR_VERSION)
        cached = cache.get(key) if cache is not None else None
        if cached is None:
            found = fr_central_encoding(load_image(path))
            cached = np.zeros(0) if found is None else np.asarray(found, dtype=np.float64)
            if cache is not None:
                cache.put(key, cached)
        encodings[path] = cached if cached.size else None
    same = np.array([p.same for p in pairs])
    decisions = []
    for p in pairs:
        a, b = (
            encodings[image_path(images_dir, p.name_a, p.index_a)],
            encodings[image_path(images_dir, p.name_b, p.index_b)],
        )
        decisions.append(a is not None and b is not None and float(np.linalg.norm(a - b)) <= TOLERANCE)
    fr_accuracy = float(np.mean(np.array(decisions) == same))
    pipeline = FacePipeline(cache=cache)
    scores = score_pairs(pipeline, pairs, images_dir, DEFAULT_MODELS, progress=True)
    faceprint = accuracy_with_calibration(scores, shipped_calibration(), DEFAULT_MODELS)
    return {
        "pairs_file": pairs_path.name,
        "pairs": len(pairs),
        "sampled": bool(limit and limit < len(read_pairs(pairs_path).pairs)),
        "seed": seed,
        "images": len(paths),
        "face_recognition": {
            "rule": f"euclidean distance <= {TOLERANCE} (compare_faces default), central HOG face",
            "accuracy": round(fr_accuracy, 4),
            "no_face_images": sum(v is None for v in encodings.values()),
        },
        "faceprint": {
            "rule": "fused FaceNet + dlib score >= shipped threshold",
            "accuracy": round(faceprint["accuracy"], 4),
            "per_model": {k: round(v, 4) for k, v in faceprint["per_model"].items()},
            "no_face_images": scores.no_face,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-images", type=int, default=40, help="LFW images timed besides the 640x480 photo")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the speed images")
    parser.add_argument("--pairs", type=Path, default=DATASETS / "lfw" / "pairsDevTest.txt")
    parser.add_argument("--pairs-limit", type=int, default=None, help="score a seeded sample of this many pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="recompute face_recognition's encodings")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()

    photo = DATASETS / "samples" / "people" / "obama" / "obama1.jpg"
    images = {
        "obama1 640x480": photo_640x480(photo),
        "group 800x533 (6 faces)": load_image(DATASETS / "samples" / "group" / "compreface_015_6.jpg"),
    }
    lfw = sorted((DATASETS / "lfw" / "images").glob("*/*.jpg"))
    step = max(1, len(lfw) // max(1, args.speed_images))
    images.update({f"lfw/{p.name}": load_image(p) for p in lfw[::step][: args.speed_images]})
    result = {"speed": speed(images, args.repeat)}
    if not args.skip_accuracy:
        result["accuracy"] = accuracy(args.pairs, args.pairs_limit, args.seed, not args.no_cache)
    path = write_result("face_recognition_compare", result)
    s, fr = result["speed"], result["speed"]["face_recognition"]
    print(
        f"speed over {len(images)} images x {args.repeat}: face_recognition median {fr['median_ms']} ms "
        f"(p95 {fr['p95_ms']}), faceprint median {s['faceprint']['median_ms']} ms "
        f"(p95 {s['faceprint']['p95_ms']}); median per-image ratio {s['median_ratio_face_recognition_over_faceprint']}x"
    )
    if "accuracy" in result:
        a = result["accuracy"]
        print(
            f"LFW {a['pairs_file']} ({a['pairs']} pairs{', sampled' if a['sampled'] else ''}): "
            f"face_recognition {a['face_recognition']['accuracy']}, faceprint fused {a['faceprint']['accuracy']}"
        )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
