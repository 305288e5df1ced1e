"""Open-set identification on clean photos: enroll some people from a few photos, probe with their other photos
and with strangers; rank-1 accuracy, identification rate and false-positive identification rate (strangers named)
at the shipped default threshold for the gallery's size, on the one similarity scale (``faceprint.scoring``).

Usage: .venv/bin/python -m benchmarks.open_set [--enroll 4] [--seed 0]
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
from faceprint.pipeline import FacePipeline
from faceprint.quality import face_measures
from faceprint.scoring import pair_quality, quality_features, shipped_scoring


def embed_all(pipeline: FacePipeline, paths: list[Path]) -> dict[Path, tuple[dict[str, np.ndarray], np.ndarray, dict]]:
    """Each photo's central face: its embeddings, quality features and quality measures."""
    vectors = {}
    for start in tqdm(range(0, len(paths), 64), desc="embedding", unit="batch"):
        chunk = paths[start : start + 64]
        images = [pipeline.load(p) for p in chunk]
        for path, image, result in zip(chunk, images, pipeline.embed_central(images)):
            measures = face_measures(image.pixels, result.face) if result.face is not None else None
            vectors[path] = (result.vectors, quality_features(measures), measures)
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


def person_scores(scoring, vectors, gallery, probe, aggregate: str) -> dict[str, float]:
    probe_vectors, probe_quality, _ = vectors[probe]
    scores = {}
    for name, photos in gallery.items():
        cosines = np.array([[float(vectors[p][0][m] @ probe_vectors[m]) for m in scoring.models] for p in photos])
        quality = np.stack([pair_quality(vectors[p][1], probe_quality) for p in photos])
        similarity = np.sort(scoring.similarity(cosines, quality))[::-1]
        scores[name] = float(similarity[0]) if aggregate == "max" else float(similarity[:2].mean())
    return scores


def evaluate(scoring, vectors, gallery, genuine, strangers, aggregate: str) -> dict:
    photos = [p for group in gallery.values() for p in group]
    enrolled = {m: np.stack([vectors[p][0][m] for p in photos]) for m in scoring.models}
    quality = np.stack([vectors[p][1] for p in photos])
    shift = scoring.gallery_shift(scoring.cross_person_similarities(enrolled, quality, [p.parent.name for p in photos]))
    limit = scoring.identification_threshold(len(gallery), shift)

    def threshold(probe) -> float:
        """The default for this probe's face: its size band's operating point, as ``recognize`` applies it."""
        measures = vectors[probe][2] or {}
        return scoring.identification_threshold(len(gallery), shift, face_size=measures.get("size"))

    rank1 = accepted_right = wrong_accept = 0
    for name, probe in genuine:
        scores = person_scores(scoring, vectors, gallery, probe, aggregate)
        best = max(scores, key=scores.get)
        rank1 += best == name
        if scores[best] >= threshold(probe):
            accepted_right += best == name
            wrong_accept += best != name
    false_accepts = 0
    for _, probe in strangers:
        scores = person_scores(scoring, vectors, gallery, probe, aggregate)
        false_accepts += max(scores.values()) >= threshold(probe)
    return {
        "enrolled_people": len(gallery),
        "genuine_probes": len(genuine),
        "stranger_probes": len(strangers),
        "threshold": limit,
        "thresholds_by_size": {
            "small": scoring.identification_threshold(len(gallery), shift, face_size=0.0),
            "large": scoring.identification_threshold(len(gallery), shift, face_size=1e4),
        },
        "gallery_shift": shift,
        "rank1_accuracy": round(rank1 / len(genuine), 4),
        "identification_rate": round(accepted_right / len(genuine), 4),
        "false_reject_rate": round(1 - accepted_right / len(genuine), 4),
        "misidentified_rate": round(wrong_accept / len(genuine), 4),
        "fpir": round(false_accepts / len(strangers), 4),
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
    scoring = shipped_scoring()
    results: dict = {"enroll": args.enroll}
    for label, people in collections().items():
        min_photos = args.enroll + 2
        gallery, genuine, strangers = protocol(people, args.enroll, min_photos, args.seed)
        used = sorted({p for photos in gallery.values() for p in photos} | {p for _, p in genuine + strangers})
        vectors = embed_all(pipeline, used)
        results[label] = {
            aggregate: evaluate(scoring, vectors, gallery, genuine, strangers, aggregate)
            for aggregate in ("max", "mean_top2")
        }
    path = write_result("open_set", results)
    for label in ("orl", "lfw"):
        for aggregate, row in results[label].items():
            print(f"{label:4s} {aggregate:9s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
