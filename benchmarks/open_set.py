"""Open-set identification: enroll some people from a few photos, probe with their other photos and with
strangers; rank-1 accuracy, false-reject and false-accept rates at the shipped default threshold, and the
choice of how a person's several photos are combined (best photo vs mean of the best two).

Usage: .venv/bin/python benchmarks/open_set.py [--enroll 4] [--seed 0]
Writes benchmarks/results/open_set.json. Embeddings come from faceprint's cache when present."""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.common import DATASETS, write_result
from faceprint.cache import ArrayCache
from faceprint.embedding import DEFAULT_MODELS
from faceprint.pipeline import FacePipeline
from faceprint.recognizer import DEFAULT_FAR
from faceprint.verification import shipped_calibration


def embed_all(pipeline: FacePipeline, paths: list[Path]) -> dict[Path, dict[str, np.ndarray]]:
    vectors = {}
    for start in tqdm(range(0, len(paths), 64), desc="embedding", unit="batch"):
        chunk = paths[start : start + 64]
        for path, result in zip(chunk, pipeline.embed_central([pipeline.load(p) for p in chunk])):
            vectors[path] = result.vectors
    return vectors


def protocol(people: dict[str, list[Path]], enroll: int, min_photos: int, seed: int):
    """Half of the people with enough photos are enrolled from ``enroll`` photos; their other photos are genuine
    probes; every photo of everyone else is a stranger probe."""
    rng = random.Random(seed)
    eligible = sorted(name for name, photos in people.items() if len(photos) >= min_photos)
    rng.shuffle(eligible)
    enrolled = set(eligible[: len(eligible) // 2])
    gallery, genuine, strangers = {}, [], []
    for name, photos in sorted(people.items()):
        photos = sorted(photos)
        if name in enrolled:
            rng.shuffle(photos)
            gallery[name] = photos[:enroll]
            genuine += [(name, p) for p in photos[enroll:]]
        else:
            strangers += [(None, p) for p in photos]
    return gallery, genuine, strangers


def person_scores(fusion, vectors, gallery, probe, aggregate: str) -> dict[str, float]:
    scores = {}
    for name, photos in gallery.items():
        sims = np.array([[float(vectors[p][m] @ vectors[probe][m]) for m in fusion.models] for p in photos])
        fused = np.sort(fusion.score(sims))[::-1]
        scores[name] = float(fused[0]) if aggregate == "max" else float(fused[:2].mean())
    return scores


def evaluate(fusion, threshold, vectors, gallery, genuine, strangers, aggregate: str) -> dict:
    rank1 = accepted_right = wrong_accept = 0
    for name, probe in genuine:
        scores = person_scores(fusion, vectors, gallery, probe, aggregate)
        best = max(scores, key=scores.get)
        rank1 += best == name
        if scores[best] >= threshold:
            accepted_right += best == name
            wrong_accept += best != name
    false_accepts = 0
    for _, probe in strangers:
        scores = person_scores(fusion, vectors, gallery, probe, aggregate)
        false_accepts += max(scores.values()) >= threshold
    return {
        "enrolled_people": len(gallery),
        "genuine_probes": len(genuine),
        "stranger_probes": len(strangers),
        "rank1_accuracy": round(rank1 / len(genuine), 4),
        "true_accept_rate": round(accepted_right / len(genuine), 4),
        "false_reject_rate": round(1 - accepted_right / len(genuine), 4),
        "misidentified_rate": round(wrong_accept / len(genuine), 4),
        "stranger_false_accept_rate": round(false_accepts / len(strangers), 4),
    }


def collections() -> dict[str, dict[str, list[Path]]]:
    orl = defaultdict(list)
    for path in sorted((DATASETS / "orl-faces").glob("s*/*.pgm")):
        orl[path.parent.name].append(path)
    lfw = defaultdict(list)
    for path in sorted((DATASETS / "lfw" / "images").glob("*/*.jpg")):
        lfw[path.parent.name].append(path)
    return {"orl": dict(orl), "lfw": dict(lfw)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enroll", type=int, default=4, help="photos enrolled per person (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pipeline = FacePipeline(cache=ArrayCache())
    calibration = shipped_calibration()
    fusion = calibration.fusion(DEFAULT_MODELS)
    threshold = fusion.far_thresholds[DEFAULT_FAR]
    results = {"threshold": threshold, "target_far_per_comparison": float(DEFAULT_FAR), "enroll": args.enroll}
    for label, people in collections().items():
        min_photos = args.enroll + 2
        gallery, genuine, strangers = protocol(people, args.enroll, min_photos, args.seed)
        used = sorted({p for photos in gallery.values() for p in photos} | {p for _, p in genuine + strangers})
        vectors = embed_all(pipeline, used)
        results[label] = {
            aggregate: evaluate(fusion, threshold, vectors, gallery, genuine, strangers, aggregate)
            for aggregate in ("max", "mean_top2")
        }
    path = write_result("open_set", results)
    print(f"threshold {threshold:.4f} (fused score at {DEFAULT_FAR} false accepts per impostor comparison)")
    for label in ("orl", "lfw"):
        for aggregate, row in results[label].items():
            print(f"{label:4s} {aggregate:9s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
