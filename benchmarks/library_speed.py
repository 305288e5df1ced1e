"""Photo library speed: indexing throughput of one-face 640x480 photos, re-indexing an unchanged folder, and
clustering 100k faces incrementally (synthetic embeddings with the structure of real ones), with peak memory.

    python -m benchmarks.library_speed index --photos 1000 --runs 3
    python -m benchmarks.library_speed cluster --faces 100000 --runs 3

Each part runs in its own process (``cluster`` reports that process's peak memory); results go to
``benchmarks/results/library_speed_<part>.json``."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, peak_memory_mb, photo_640x480, write_result


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far: on a machine shared with other work, the figure that
    the others' load does not inflate (wall time does)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> float:
    return round(os.getloadavg()[0], 1)


def synthetic(count: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``count`` faces like a family photo collection: 85% from ``count // 10`` recurring people whose face counts
    follow a Zipf-like law, 15% strangers seen once. Each person has a centre per model; a face is its centre plus
    noise whose size varies per face (pose, light). The spreads reproduce real same-person and different-person
    cosines (FaceNet about 0.66 and 0.0, dlib about 0.93 and 0.70, dlib's embeddings sharing one common
    direction), so about 60% of same-person pairs reach the link threshold directly, as on real photos. Quality
    features span 40-200 px faces and a realistic range of sharpness. Returns vectors, quality and identities."""
    people = max(count // 10, 1)
    recurring = int(count * 0.85)
    weights = 1.0 / np.arange(1, people + 1) ** 0.9
    owners = np.concatenate(
        [rng.choice(people, recurring, p=weights / weights.sum()), people + np.arange(count - recurring)]
    )
    total = people + count - recurring
    spread = rng.uniform(0.75, 1.25, count).astype(np.float32)
    vectors = {}
    for model, dim, radius, shared in (("facenet", 512, 0.72, 0.0), ("dlib", 128, 0.27, 0.75)):
        common = rng.standard_normal(dim, dtype=np.float32)
        common /= np.linalg.norm(common)
        centres = rng.standard_normal((total, dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        centres = np.float32(np.sqrt(shared)) * common + np.float32(np.sqrt(1.0 - shared)) * centres
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        faces = centres[owners]
        for start in range(0, count, 8192):  # float32 noise in blocks: the generator's own memory stays small
            block = slice(start, start + 8192)
            noise = rng.standard_normal((len(faces[block]), dim), dtype=np.float32)
            faces[block] += noise * np.float32(radius / np.sqrt(dim)) * spread[block, None]
        faces /= np.linalg.norm(faces, axis=1, keepdims=True)
        vectors[model] = faces
        del centres
    quality = np.stack([np.log2(rng.uniform(40, 200, count)), rng.uniform(3.5, 6.5, count)], axis=1)
    return vectors, quality, owners


def cluster_part(args: argparse.Namespace) -> dict:
    from benchmarks.clustering import bcubed, faceprint_clusters

    runs = []
    for run in range(args.runs):
        vectors, quality, owners = synthetic(args.faces, np.random.default_rng(2 + run))
        before, cpu, load = peak_memory_mb(), cpu_seconds(), load_average()
        labels, seconds = faceprint_clusters(vectors, quality, None, batches=args.batches)
        cpu = cpu_seconds() - cpu
        scores = bcubed(owners, labels)
        runs.append({"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "load_before": load,
                     "load_after": load_average(), "peak_memory_mb": peak_memory_mb(), "before_mb": before,
                     "clusters": scores["clusters"], "bcubed_precision": scores["bcubed_precision"],
                     "bcubed_f": scores["bcubed_f"]})  # fmt: skip
        print(f"run {run + 1}: {runs[-1]}", flush=True)
    return {
        "faces": args.faces,
        "incremental_runs": args.batches,
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_memory_mb": max(r["peak_memory_mb"] for r in runs),
        "runs": runs,
    }


def make_folder(folder: Path, count: int) -> None:
    """``count`` distinct one-face 640x480 JPEGs from LFW (each photo of a person once, then mirrored, shifted)."""
    import cv2

    sources = sorted((DATASETS / "lfw" / "images").glob("*/*.jpg"))
    rng = np.random.default_rng(0)
    chosen = [sources[i] for i in rng.permutation(len(sources))[:count]]
    folder.mkdir(parents=True, exist_ok=True)
    for n, source in enumerate(chosen):
        pixels = photo_640x480(source)
        cv2.imwrite(
            str(folder / f"{n:05d}.jpg"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )


def index_part(args: argparse.Namespace) -> dict:
    from faceprint.library.library import PhotoLibrary
    from faceprint.pipeline import FacePipeline
    from faceprint.recognizer import FaceRecognizer

    work = Path(tempfile.mkdtemp(prefix="faceprint-index-bench-"))
    try:
        folder = work / "photos"
        make_folder(folder, args.photos)
        pipeline = FacePipeline()
        warm = FaceRecognizer(gallery=f"sqlite:///{work / 'warm.db'}", pipeline=pipeline)
        PhotoLibrary(warm, args.batch).index([folder / "00000.jpg"])  # load every model once
        first, again, first_cpu, again_cpu, loads = [], [], [], [], []
        for run in range(args.runs):
            recognizer = FaceRecognizer(gallery=f"sqlite:///{work / f'run{run}.db'}", pipeline=pipeline)
            library = PhotoLibrary(recognizer, args.batch)
            started, cpu, load = time.perf_counter(), cpu_seconds(), load_average()
            summary = library.index([folder])
            first.append(time.perf_counter() - started)
            first_cpu.append(cpu_seconds() - cpu)
            loads.append(load)
            started, cpu = time.perf_counter(), cpu_seconds()
            unchanged = library.index([folder])
            again.append(time.perf_counter() - started)
            again_cpu.append(cpu_seconds() - cpu)
            assert unchanged.photos_unchanged == args.photos and unchanged.photos_added == 0
            print(f"run {run + 1}: first {first[-1]:.1f} s ({summary.faces} faces), again {again[-1]:.2f} s",
                  flush=True)  # fmt: skip
        first_s, again_s = statistics.median(first), statistics.median(again)
        return {
            "photos": args.photos,
            "batch": args.batch,
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "first_run_s": round(first_s, 1),
            "photos_per_s": round(args.photos / first_s, 2),
            "unchanged_run_s": round(again_s, 2),
            "unchanged_share": round(again_s / first_s, 4),
            "first_run_cpu_s": round(statistics.median(first_cpu), 1),
            "unchanged_run_cpu_s": round(statistics.median(again_cpu), 2),
            "load_average_at_start": loads,
            "runs": {"first_s": [round(s, 1) for s in first], "unchanged_s": [round(s, 2) for s in again]},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("cluster", help="cluster synthetic faces incrementally")
    p.add_argument("--faces", type=int, default=100_000)
    p.add_argument("--batches", type=int, default=10, help="index runs the faces arrive in")
    p.add_argument("--runs", type=int, default=3)
    p = sub.add_parser("index", help="index a folder of one-face photos, then again unchanged")
    p.add_argument("--photos", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    result = cluster_part(args) if args.part == "cluster" else index_part(args)
    print(result)
    print("written to", write_result(f"library_speed_{args.part}", result))


if __name__ == "__main__":
    main()
