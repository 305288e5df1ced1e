"""Clustering quality on a mixed collection with identities hidden: the 4,992 LFW View 1 images and the
celebrity-faces-31 collection (training and validation folders), one face each. Reports BCubed and pairwise
precision, recall and F for faceprint's clustering (``faceprint.library.clustering``) beside plain DBSCAN and
HDBSCAN on the same embeddings. The time and memory of clustering 100k faces are measured by
``benchmarks.library_speed cluster``.

    python -m benchmarks.clustering [--limit N]

Embeddings come from the content cache (``~/.cache/faceprint``), so a second run does not embed again."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, machine, write_result
from faceprint.library.clustering import Clusterer, Faces, link_threshold, quality_matrix
from faceprint.scoring import shipped_scoring


def collection(limit: int | None) -> list[tuple[Path, str]]:
    """(image, identity) of every benchmark photo; identities are 'lfw/Name' and 'celebrity/Name'."""
    items = [(p, f"lfw/{p.parent.name}") for p in sorted((DATASETS / "lfw" / "images").glob("*/*.jpg"))]
    for split in ("train", "validation"):
        root = DATASETS / "celebrity-faces-31" / split
        items += [(p, f"celebrity/{p.parent.name}") for p in sorted(root.glob("*/*.jpg"))]
    if limit:
        items = [items[i] for i in np.random.default_rng(0).permutation(len(items))[:limit]]
    return items


def embed(items: list[tuple[Path, str]]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, int]:
    """Unit vectors per model, quality features and identities of the photos with a detected face."""
    from faceprint.cache import ArrayCache
    from faceprint.errors import FaceprintError
    from faceprint.pipeline import FacePipeline
    from faceprint.quality import face_measures

    pipeline = FacePipeline(cache=ArrayCache())
    models = shipped_scoring().models
    vectors: dict[str, list[np.ndarray]] = {m: [] for m in models}
    measures, labels, skipped = [], [], 0
    for start in range(0, len(items), 32):
        chunk, loaded = [], []
        for path, label in items[start : start + 32]:
            try:
                loaded.append(pipeline.load(path))
                chunk.append(label)
            except FaceprintError:  # e.g. the collection's AppleDouble files
                skipped += 1
        for image, label, result in zip(loaded, chunk, pipeline.embed_central(loaded, models)):
            if result.face is None:
                skipped += 1
                continue
            for m in models:
                vectors[m].append(result.vectors[m] / np.linalg.norm(result.vectors[m]))
            measures.append(face_measures(image.pixels, result.face))
            labels.append(label)
    return (
        {m: np.stack(v).astype(np.float32) for m, v in vectors.items()},
        quality_matrix(measures),
        np.array(labels),
        skipped,
    )


def bcubed(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """BCubed precision/recall/F; unclustered faces (label < 0) are their own singletons."""
    predicted = predicted.copy()
    singles = predicted < 0
    predicted[singles] = -(np.arange(singles.sum()) + 10**9)
    pairs = Counter(zip(truth, predicted))
    sizes_t, sizes_p = Counter(truth), Counter(predicted)
    precision = np.mean([pairs[(t, p)] / sizes_p[p] for t, p in zip(truth, predicted)])
    recall = np.mean([pairs[(t, p)] / sizes_t[t] for t, p in zip(truth, predicted)])
    pairwise_tp = sum(n * (n - 1) / 2 for n in pairs.values())
    pred_pairs = sum(n * (n - 1) / 2 for n in sizes_p.values())
    true_pairs = sum(n * (n - 1) / 2 for n in sizes_t.values())
    pp, pr = pairwise_tp / max(pred_pairs, 1), pairwise_tp / max(true_pairs, 1)
    return {
        "bcubed_precision": round(float(precision), 4),
        "bcubed_recall": round(float(recall), 4),
        "bcubed_f": round(float(2 * precision * recall / (precision + recall)), 4),
        "pairwise_precision": round(pp, 4),
        "pairwise_recall": round(pr, 4),
        "pairwise_f": round(2 * pp * pr / max(pp + pr, 1e-12), 4),
        "clusters": int(np.unique(predicted[~singles]).size),
    }


def faceprint_clusters(vectors, quality, threshold=None, batches: int = 1) -> tuple[np.ndarray, float]:
    """faceprint's clustering, in ``batches`` incremental runs (faces arriving in that many groups)."""
    scoring = shipped_scoring()
    clusterer = Clusterer(scoring, threshold)
    count = len(quality)
    labels = np.full(count, -1, dtype=np.int64)
    seen = np.zeros(count, dtype=bool)
    next_id = 0
    started = time.perf_counter()
    for part in np.array_split(np.random.default_rng(1).permutation(count), batches):
        new = np.zeros(count, dtype=bool)
        new[part] = True
        present = seen | new
        rows = np.flatnonzero(present)
        faces = Faces({m: v[rows] for m, v in vectors.items()}, quality[rows], labels[rows], new[rows])
        result = clusterer.cluster(faces)
        for fresh in np.unique(result[result <= -2]):
            result[result == fresh] = next_id
            next_id += 1
        labels[rows] = result
        seen = present
    return labels, time.perf_counter() - started


def baseline(vectors, algorithm: str, **options) -> np.ndarray:
    """Plain (H)DBSCAN on the concatenated unit FaceNet and dlib embeddings (cosine), noise unclustered."""
    from sklearn.cluster import DBSCAN, HDBSCAN

    joined = np.concatenate([vectors[m] for m in sorted(vectors)], axis=1)
    joined /= np.linalg.norm(joined, axis=1, keepdims=True)
    if algorithm == "dbscan":
        return DBSCAN(metric="cosine", **options).fit_predict(joined)
    return HDBSCAN(**options).fit_predict(joined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="use a random subset of this many photos")
    parser.add_argument("--thresholds", type=float, nargs="*", default=[], help="extra link thresholds to try")
    args = parser.parse_args()
    started = time.perf_counter()
    vectors, quality, truth, skipped = embed(collection(args.limit))
    result: dict = {"machine": machine(), "faces": len(truth), "identities": len(set(truth)), "skipped": skipped}
    result["embedding_s"] = round(time.perf_counter() - started, 1)
    scoring = shipped_scoring()
    rows = {}
    for threshold in [link_threshold(scoring), *args.thresholds]:
        for batches in (1, 5):
            labels, seconds = faceprint_clusters(vectors, quality, threshold, batches)
            rows[f"faceprint t={threshold:g} runs={batches}"] = {**bcubed(truth, labels), "seconds": round(seconds, 2)}
    for eps in (0.15, 0.2, 0.25):
        rows[f"DBSCAN eps={eps} min_samples=2"] = bcubed(truth, baseline(vectors, "dbscan", eps=eps, min_samples=2))
    rows["HDBSCAN min_cluster_size=2"] = bcubed(truth, baseline(vectors, "hdbscan", min_cluster_size=2))
    result["methods"] = rows
    for name, row in rows.items():
        print(f"{name:40s} " + " ".join(f"{k}={v}" for k, v in row.items()))
    print("written to", write_result("clustering", result))


if __name__ == "__main__":
    main()
