"""Indexing throughput of the local engine and of the Ray engine on the same folder of one-face 640x480 photos, on
this machine: whole-run time (start-up included) and steady throughput (from the first stored batch to the last),
then a projection to 1M and 100M photos from the local engine's photos per CPU-second (the rate of one fully
used core, which other jobs on the machine do not distort).

    PYTHONPATH=. .venv/bin/python -m benchmarks.index_engines --photos 200
    PYTHONPATH=. .venv/bin/python -m benchmarks.index_engines --photos 100 --engines local   # the per-core rate
    PYTHONPATH=. .venv/bin/python -m benchmarks.index_engines --store-only 3000   # the writers alone: 1, 2, 4

Every run indexes into a new SQLite gallery with no array cache, so every photo is really analysed. The Ray runs
start a local Ray cluster on this machine (start-up and model loading in the workers count in the whole-run time).
``--store-only N`` measures how fast the driver's writer threads store faces into a PostgreSQL gallery: N photos
of one face each (two embeddings, geometry, quality, a thumbnail), in transactions of ``--batch`` photos, into a
throw-away PostgreSQL 16 + pgvector server. Results go to benchmarks/results/index_engines*.json."""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, REPO, photo_640x480, write_result


def make_folder(root: Path, count: int, seed: int = 0) -> Path:
    """``count`` 640x480 JPEG photos of LFW faces (one face each, chosen at random)."""
    from PIL import Image

    sources = sorted((DATASETS / "lfw" / "images").glob("*/*.jpg"))
    chosen = [sources[i] for i in np.random.default_rng(seed).permutation(len(sources))[:count]]
    folder = root / "photos"
    folder.mkdir()
    for n, source in enumerate(chosen):
        Image.fromarray(photo_640x480(source)).save(folder / f"{n:06d}.jpg", quality=90)
    return folder


def run_engine(folder: Path, engine: str, batch: int, workers: int | None = None, cpus: float = 1.0) -> dict:
    """One index run of ``folder`` into a new gallery: seconds overall and steady photos per second."""
    from faceprint.library.indexer import Indexer
    from faceprint.pipeline import FacePipeline
    from faceprint.recognizer import FaceRecognizer

    with tempfile.TemporaryDirectory() as work:
        recognizer = FaceRecognizer(gallery=f"sqlite:///{work}/g.db", pipeline=FacePipeline(cache=None))
        marks: list[tuple[float, int]] = []

        def progress(done: int, total: int) -> None:
            marks.append((time.perf_counter(), done))

        start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        if engine == "local":
            recognizer.pipeline.load_models()  # as `faceprint index` does on its first batch
            summary = Indexer(recognizer, batch).run([folder], progress)
        else:
            from faceprint.library.ray_engine import RayIndexer

            summary = RayIndexer(recognizer, batch, workers=workers, cpus_per_worker=cpus).run([folder], progress)
        seconds = time.perf_counter() - start
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
        recognizer.gallery.close()
    stored = [(t, d) for t, d in marks if d > 0]
    (t0, d0), (t1, d1) = stored[0], stored[-1]
    return {
        "engine": engine,
        "workers": workers,
        "cpus_per_worker": cpus if engine == "ray" else None,
        "photos": summary.photos_added,
        "faces": summary.faces,
        "errors": len(summary.errors),
        "seconds": round(seconds, 1),
        "photos_per_second": round(summary.photos_added / seconds, 2),
        "steady_photos_per_second": round((d1 - d0) / (t1 - t0), 2) if t1 > t0 else None,
        "first_batch_seconds": round(t0 - start, 1),
        # CPU time of this process (the local engine's whole work; only the driver's share for Ray): photos per
        # CPU-second is the throughput of one busy core, whatever else shares the machine.
        "cpu_seconds": round(cpu_seconds, 1),
        "photos_per_cpu_second": round(summary.photos_added / cpu_seconds, 2) if engine == "local" else None,
    }


def projection(per_core: float, cores_per_machine: int = 16, efficiency: float = 0.9) -> list[dict]:
    """Hours to index 1M and 100M photos on N machines of ``cores_per_machine`` cores, at the measured throughput
    per core times ``efficiency`` (Ray's overhead, stragglers)."""
    rows = []
    for photos in (1_000_000, 100_000_000):
        for machines in (1, 10, 100):
            rate = per_core * cores_per_machine * machines * efficiency
            rows.append({"photos": photos, "machines": machines, "cores": cores_per_machine * machines,
                         "hours": round(photos / rate / 3600, 1)})  # fmt: skip
    return rows


def store_only(count: int, batch: int, threads: int) -> dict:
    """Photos and faces per second that one writer stores into a PostgreSQL gallery's library."""
    import sys

    import psycopg

    from faceprint.gallery import open_gallery
    from faceprint.library.indexer import IndexSummary
    from faceprint.library.ray_engine import Writers
    from faceprint.library.store import FaceRow, LibraryStore, PhotoRow

    sys.path.insert(0, str(REPO / "tests" / "gallery"))
    from postgres_server import PostgresServer

    rng = np.random.default_rng(0)
    thumbnail = (DATASETS / "samples" / "people" / "obama" / "obama.jpg").read_bytes()[:2500]  # a thumbnail's size
    server = PostgresServer()
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
        gallery = open_gallery(server.url())
        store = LibraryStore(gallery)

        def row(n: int) -> PhotoRow:
            vectors = {m: (v := rng.normal(size=d).astype(np.float32)) / np.linalg.norm(v)
                       for m, d in (("facenet", 512), ("dlib", 128))}  # fmt: skip
            face = {"box": [10.0, 20.0, 110.0, 140.0], "score": 0.99, "landmarks": [[40.0, 60.0]] * 5}
            quality = {"size": 100.0, "sharpness": 50.0, "yaw": 0.1}
            faces = [FaceRow(face, quality, vectors, {"facenet": "v1", "dlib": "v1"}, thumbnail=thumbnail)]
            return PhotoRow(f"/archive/{n:08d}.jpg", f"{n:064x}", f"1000:{n}", width=640, height=480, faces=faces)

        batches = [[row(n) for n in range(first, min(count, first + batch))] for first in range(0, count, batch)]
        writers = Writers(store, threads, IndexSummary(), count, None)
        start = time.perf_counter()
        for rows in batches:
            writers.submit(rows, len(rows))
        writers.wait()
        seconds = time.perf_counter() - start
        writers.close()
        gallery.close()
    finally:
        server.stop()
    rate = round(count / seconds, 1)
    return {"photos": count, "batch": batch, "writers": threads, "seconds": round(seconds, 1),
            "photos_per_second": rate, "load_average": os.getloadavg()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--engines", nargs="+", choices=["local", "ray"], default=["local", "ray"])
    parser.add_argument("--store-only", type=int, metavar="N", help="only measure the driver's writes of N photos")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4], help="writer threads (--store-only)")
    args = parser.parse_args()
    if args.store_only:
        result = {"runs": [store_only(args.store_only, args.batch, threads) for threads in args.writers]}
        print(result)
        print(write_result("index_engines_store", result))
        return
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as root:
        folder = make_folder(Path(root), args.photos)
        runs = [run_engine(folder, "local", args.batch)]
        print(runs[-1], flush=True)
        for workers, cpus in ((cores, 1.0), (1, float(cores))) if "ray" in args.engines else ():
            runs.append(run_engine(folder, "ray", args.batch, workers, cpus))
            print(runs[-1], flush=True)
    local = runs[0]
    per_core = local["photos_per_cpu_second"]  # a wall-clock rate would count the other jobs' share of the cores
    result = {
        "load_average": os.getloadavg(),
        "photos": args.photos,
        "batch": args.batch,
        "runs": runs,
        "photos_per_second_per_core": round(per_core, 3),
        "projection_16_core_machines": projection(per_core),
    }
    print(write_result("index_engines" if "ray" in args.engines else "index_engines_local", result))
    for row in result["projection_16_core_machines"]:
        print(row)


if __name__ == "__main__":
    main()
