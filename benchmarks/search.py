"""Gallery search at scale: latency (median, p95), recall@1 / recall@10 against exact search, memory, and
insert / index-build times, for the SQLite store (exact below its threshold, usearch HNSW above) and for
PostgreSQL + pgvector HNSW, on 512-d face-like embeddings synthesised around real FaceNet embeddings of LFW.

Usage (each size is one run; results accumulate in benchmarks/results/search.json):
  .venv/bin/python -m benchmarks.search --stores sqlite postgres --sizes 10000 100000
  .venv/bin/python -m benchmarks.search --stores sqlite --sizes 1000000 --workdir /var/tmp/faceprint-search
  .venv/bin/python -m benchmarks.search --exact-only        # exact numpy latency by size (the threshold)
  .venv/bin/python -m benchmarks.search --libraries 100000  # usearch (f32/i8) vs faiss HNSW, same data

How the vectors are made (see SEARCH.md): 300 real FaceNet embeddings of 100 LFW people (3 photos each) are
computed once (cached). A synthetic person's direction is a random convex mix of three real people's mean
embeddings plus a little isotropic noise; a synthetic photo is that direction plus a random mix of real
within-person deviations (the difference between a real photo and its person's mean) plus a little noise, re-
normalised. The gallery holds 5 photos per person; the queries are new photos of stored people."""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, REPO, RESULTS, machine

DIM = 512
PHOTOS_PER_PERSON = 5
QUERIES = 1000
LATENCY_QUERIES = 500
STRANGERS = 500
K = 10
# Synthesis parameters, chosen so that synthetic same-person and impostor similarities match the real ones
# (printed by every run: real same-person cosine 0.69 +- 0.13, impostor 0.00 +- 0.14).
CENTRE_NOISE = 0.3
DEVIATION_SCALE = 1.35
PHOTO_NOISE = 0.3
RESULT_FILE = RESULTS / "search.json"
BLOCK = 4000  # people generated together (one random stream per block, so any person can be regenerated)


# --- data -------------------------------------------------------------------------------------------------


def real_embeddings(people: int = 100, per_person: int = 3) -> np.ndarray:
    """Real FaceNet embeddings of LFW: ``people`` people with 3+ photos, ``per_person`` photos each (cached)."""
    from faceprint.cache import ArrayCache
    from faceprint.pipeline import FacePipeline

    root = DATASETS / "lfw" / "images"
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= per_person)
    chosen = sorted(np.random.default_rng(0).choice(len(candidates), people, replace=False))
    paths = [f for i in chosen for f in sorted(candidates[i].glob("*.jpg"))[:per_person]]
    pipeline = FacePipeline(models=("facenet",), cache=ArrayCache())
    faces = pipeline.embed_central([pipeline.load(p) for p in paths])
    return np.stack([face.vectors["facenet"] for face in faces]).astype(np.float32).reshape(people, per_person, DIM)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class FaceLike:
    """Synthetic people and photos built around real embeddings (see the module docstring)."""

    def __init__(self, real: np.ndarray, seed: int = 7) -> None:
        self.means = _unit(real.mean(axis=1))
        self.deviations = (real - real.mean(axis=1, keepdims=True)).reshape(-1, DIM)
        self.seed = seed

    def centres(self, block: int) -> np.ndarray:
        """Directions of people ``block * BLOCK .. block * BLOCK + BLOCK - 1`` (deterministic per block)."""
        rng = np.random.default_rng([self.seed, 0, block])
        which = rng.integers(0, len(self.means), (BLOCK, 3))
        weights = rng.dirichlet([1.0, 1.0, 1.0], BLOCK)
        mixed = np.einsum("nk,nkd->nd", weights, self.means[which])
        return _unit(mixed + CENTRE_NOISE * rng.normal(size=(BLOCK, DIM)) / np.sqrt(DIM))

    def photos(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One new photo of each given person direction."""
        count = len(centres)
        which = rng.integers(0, len(self.deviations), (count, 2))
        mix = rng.normal(size=(count, 2))
        deviation = np.einsum("nk,nkd->nd", mix, self.deviations[which]) / np.sqrt(2)
        noise = PHOTO_NOISE * rng.normal(size=(count, DIM)) / np.sqrt(DIM)
        return _unit(centres + DEVIATION_SCALE * deviation + noise)

    def gallery(self, size: int) -> Iterator[np.ndarray]:
        """The gallery's vectors in blocks: person i has photos 5i .. 5i+4."""
        people = size // PHOTOS_PER_PERSON
        for block in range(-(-people // BLOCK)):
            count = min(BLOCK, people - block * BLOCK)
            centres = np.repeat(self.centres(block)[:count], PHOTOS_PER_PERSON, axis=0)
            yield self.photos(centres, np.random.default_rng([self.seed, 1, block]))

    def queries(self, size: int, count: int = QUERIES) -> tuple[np.ndarray, np.ndarray]:
        """New photos (not in the gallery) of ``count`` stored people chosen at random, and their numbers."""
        rng = np.random.default_rng([self.seed, 2, size])
        people = np.sort(rng.choice(size // PHOTOS_PER_PERSON, count, replace=False))
        centres = np.concatenate(
            [self.centres(int(block))[people[people // BLOCK == block] % BLOCK] for block in np.unique(people // BLOCK)]
        )
        order = rng.permutation(count)
        return self.photos(centres, rng)[order], people[order]

    def strangers(self, count: int) -> np.ndarray:
        """Photos of people who are not in any gallery (open-set queries)."""
        return self.photos(self.centres(10**6)[:count], np.random.default_rng([self.seed, 3]))


def similarity_stats(real: np.ndarray, synthetic: FaceLike) -> dict:
    """Same-person and impostor cosine similarities, real versus synthetic (the check that they look alike)."""
    flat = real.reshape(-1, DIM)
    scores = flat @ flat.T
    person = np.repeat(np.arange(len(real)), real.shape[1])
    same = scores[np.triu(person[:, None] == person[None, :], 1)]
    other = scores[person[:, None] != person[None, :]]
    rng = np.random.default_rng(11)
    centres = synthetic.centres(10**6 + 1)[:2000]
    a, b = synthetic.photos(centres, rng), synthetic.photos(centres, rng)
    cross = a @ b.T
    synthetic_same = np.sum(a * b, axis=1)
    synthetic_other = cross[~np.eye(len(a), dtype=bool)]

    def summary(values: np.ndarray) -> dict:
        return {"mean": round(float(values.mean()), 3), "std": round(float(values.std()), 3)}

    return {
        "real_same_person": summary(same),
        "real_impostor": summary(other),
        "synthetic_same_person": summary(synthetic_same),
        "synthetic_impostor": summary(synthetic_other),
        "real_embeddings": int(flat.shape[0]),
    }


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int = K, block: int = 100_000) -> np.ndarray:
    """Row numbers of the exact k nearest rows of ``matrix`` for each query (ground truth), blockwise."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(matrix), block):
        scores = queries @ matrix[start : start + block].T
        rows = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k] + start
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, rows - start, axis=1)], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows


def ground_truth(data: FaceLike, size: int, matrix: np.ndarray, result: dict) -> tuple:
    """Exact top 10 of the queries (photos of stored people) and of 500 strangers; records how often exact
    search puts a photo of the query's own person first (how hard the synthetic data is)."""
    queries, people = data.queries(size)
    truth = exact_top(matrix, queries)
    strangers = data.strangers(STRANGERS)
    result["exact_top1_is_same_person"] = round(float(np.mean(truth[:, 0] // PHOTOS_PER_PERSON == people)), 4)
    return truth, strangers, exact_top(matrix, strangers)


def recall(found: list[list[int]], truth: np.ndarray) -> dict:
    """recall@1: the exact nearest photo is returned first; recall@10: share of the exact top 10 returned."""
    at1 = np.mean([bool(hits) and hits[0] == row[0] for hits, row in zip(found, truth)])
    at10 = np.mean([len(set(hits[:K]) & set(row[:K].tolist())) / K for hits, row in zip(found, truth)])
    return {"recall_at_1": round(float(at1), 4), "recall_at_10": round(float(at10), 4)}


def latency(search, queries: np.ndarray) -> dict:
    samples = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(float(np.percentile(samples, 95)), 3),
        "queries": len(samples),
    }


def rss_mb() -> float:
    """This process's resident memory (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


_LOAD_PROBE = """
import json, sys, time
import numpy as np
from benchmarks.search import rss_mb
from faceprint.gallery.sqlite import SQLiteGallery
query = np.ones(512, dtype=np.float32)
before = rss_mb()
start = time.perf_counter()
gallery = SQLiteGallery(sys.argv[1], ann_threshold=int(sys.argv[2]))
gallery.search("facenet", query, k=10)
print(json.dumps({"load_s": time.perf_counter() - start, "before_mb": before, "after_mb": rss_mb()}))
"""


def load_probe(path: Path, ann_threshold: int) -> dict:
    """Open the gallery in a fresh process and search once (loading the saved index): time and memory it took."""
    import subprocess
    import sys

    output = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE, str(path), str(ann_threshold)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    probe = json.loads(output.strip().splitlines()[-1])
    return {
        "index_load_s": round(probe["load_s"], 2),
        "process_rss_growth_mb": round(probe["after_mb"] - probe["before_mb"], 1),
    }


# --- stores -----------------------------------------------------------------------------------------------


def photo_records(data: FaceLike, size: int, skip: int = 0) -> Iterator:
    """The gallery as PhotoData, photo i of person i // 5 with content hash ``r<i>``, from photo ``skip`` on."""
    from faceprint.gallery.base import PhotoData

    now = datetime.now(UTC)
    row = 0
    for block in data.gallery(size):
        for vector in block:
            if row >= skip:
                yield PhotoData(
                    person=f"P{row // PHOTOS_PER_PERSON:07d}",
                    content_hash=f"r{row}",
                    created=now,
                    quality={},
                    embeddings={"facenet": vector},
                    person_created=now,
                    person_updated=now,
                )
            row += 1


def fill(gallery, data: FaceLike, size: int, single: int = 2000) -> dict:
    """``single`` photos through add_photo (one transaction each), the rest through import_photos (bulk)."""
    records = photo_records(data, size)
    start = time.perf_counter()
    for _, record in zip(range(single), records):
        gallery.add_photo(record.person, record.content_hash, record.embeddings)
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    summary = gallery.import_photos(records)
    bulk_s = time.perf_counter() - start
    assert gallery.count() == size, gallery.count()
    return {
        "add_photo_ms_per_photo": round(single_s * 1000 / single, 3),
        "import_photos_per_second": round(summary.photos_added / bulk_s, 1) if bulk_s else None,
        "import_s": round(bulk_s, 1),
    }


def photo_rows(gallery) -> dict[int, int]:
    """photo id -> row number (the content hash is ``r<row>``)."""
    from faceprint.gallery.postgres import PostgresGallery

    if isinstance(gallery, PostgresGallery):
        with gallery._transaction() as connection:
            rows = connection.execute("SELECT id, content_hash FROM faceprint.photos").fetchall()
    else:
        rows = gallery._connection().execute("SELECT id, content_hash FROM photos").fetchall()
    return {photo_id: int(content[1:]) for photo_id, content in rows}


def same_data(gallery, matrix: np.ndarray) -> bool:
    """Whether a database left by an earlier run holds these vectors (first and last row compared)."""
    for row in (0, len(matrix) - 1):
        found = (
            gallery._connection()
            .execute(
                "SELECT e.vector FROM embeddings e JOIN photos p ON p.id = e.photo_id WHERE p.content_hash = ?",
                (f"r{row}",),
            )
            .fetchone()
        )
        if found is None or np.frombuffer(found[0], dtype=np.float32).tobytes() != matrix[row].tobytes():
            return False
    return True


def bench_sqlite(
    data: FaceLike,
    size: int,
    workdir: Path,
    matrix: np.ndarray,
    efs: list[int],
    force_hnsw: bool = False,
    prepare_only: bool = False,
) -> dict:
    from faceprint.gallery import vector_index
    from faceprint.gallery.sqlite import SQLiteGallery

    if force_hnsw:  # the HNSW path below the size where the store would choose it (for comparison)
        vector_index.ANN_THRESHOLD = 1_000
    path = workdir / f"sqlite-{size}.db"
    result: dict = {"store": "sqlite", "size": size, "ann_threshold": vector_index.ANN_THRESHOLD}
    gallery = SQLiteGallery(path, save_index=False)
    if gallery.count() != size or not same_data(gallery, matrix):
        gallery.close()
        for stale in workdir.glob(f"sqlite-{size}.db*"):
            stale.unlink()
        gallery = SQLiteGallery(path, save_index=False)
        result["insert"] = fill(gallery, data, size)
    gallery.close()
    if prepare_only:  # a separate run then builds and measures (each run stays under ~20 minutes at 1M)
        return result
    result["database_mb"] = round(sum(p.stat().st_size for p in workdir.glob(f"sqlite-{size}.db*")) / 2**20, 1)
    for old in workdir.glob(f"sqlite-{size}.db.*.index*"):
        old.unlink()

    # Build: the first search of a fresh process reads every vector and builds (and saves) the index.
    gallery = SQLiteGallery(path, ann_threshold=vector_index.ANN_THRESHOLD)
    queries, _ = data.queries(size)
    start = time.perf_counter()
    gallery.search("facenet", queries[0], k=K)
    result["index_build_s"] = round(time.perf_counter() - start, 1)
    stats = gallery.index_stats("facenet")
    result["approximate"] = stats["approximate"]
    result["index_memory_mb"] = round(stats["memory_bytes"] / 2**20, 1)
    gallery.close()
    # Load: what a process starting on a saved index pays (time and resident memory), in a fresh process.
    result.update(load_probe(path, vector_index.ANN_THRESHOLD))
    gallery = SQLiteGallery(path, ann_threshold=vector_index.ANN_THRESHOLD)
    gallery.search("facenet", queries[0], k=K)
    index_files = list(workdir.glob(f"sqlite-{size}.db.*.index*"))
    result["index_file_mb"] = round(sum(p.stat().st_size for p in index_files) / 2**20, 1)

    rows = photo_rows(gallery)
    truth, strangers, stranger_truth = ground_truth(data, size, matrix, result)
    searcher = gallery._searchers["facenet"]
    result["by_ef_search"] = {}
    for ef in efs if result["approximate"] else [None]:
        if ef is not None:
            searcher.index.ef_search = ef
        found = [[rows[c.photo_id] for c in hits] for hits in gallery.search("facenet", queries, k=K)]
        timing = latency(lambda q: gallery.search("facenet", q, k=K), queries[:LATENCY_QUERIES])
        other = [[rows[c.photo_id] for c in hits] for hits in gallery.search("facenet", strangers, k=K)]
        result["by_ef_search"][str(ef or "exact")] = {
            **recall(found, truth),
            **timing,
            "strangers": recall(other, stranger_truth),
        }
        print(f"  sqlite {size}: ef_search {ef}: {result['by_ef_search'][str(ef or 'exact')]}", flush=True)
    gallery.close()
    return result


def bench_postgres(
    data: FaceLike, size: int, matrix: np.ndarray, efs: list[int], ef_construction: int | None = None
) -> dict:
    import sys

    sys.path.insert(0, str(REPO / "tests" / "gallery"))
    import postgres_server
    import psycopg

    from faceprint.gallery.postgres import HNSW_EF_CONSTRUCTION, HNSW_M, PostgresGallery

    # A benchmark server may use more memory than the test server: the HNSW graph must fit shared_buffers, and
    # maintenance_work_mem while it is built (about 2.7 kB per 512-d vector), or the build slows down many times.
    memory = "2GB" if size <= 200_000 else "6GB"
    postgres_server.SERVER_OPTIONS = postgres_server.SERVER_OPTIONS.replace(
        "shared_buffers=32MB",
        f"shared_buffers={memory} -c maintenance_work_mem={memory} -c max_parallel_maintenance_workers=1",
    )
    server = postgres_server.PostgresServer()
    server.start()
    result: dict = {
        "store": "postgres",
        "size": size,
        "server": "PostgreSQL 16.2 + pgvector 0.6.2 (pgserver wheel)",
        "hnsw_ef_construction": ef_construction or HNSW_EF_CONSTRUCTION,
    }
    try:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        url = server.url("bench")
        gallery = PostgresGallery(url)
        records = photo_records(data, size)
        single = 2000
        start = time.perf_counter()
        for _, record in zip(range(single), records):  # one transaction each, into the live HNSW index
            gallery.add_photo(record.person, record.content_hash, record.embeddings)
        add_ms = (time.perf_counter() - start) * 1000 / single
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP INDEX faceprint.embedding_1_hnsw")
        start = time.perf_counter()
        gallery.import_photos(records)  # bulk, without the index
        import_s = time.perf_counter() - start
        with psycopg.connect(url, autocommit=True) as connection:
            start = time.perf_counter()
            # The store's own index definition, rebuilt after the bulk load (optionally with another ef_construction).
            options = f" WITH (m = {HNSW_M}, ef_construction = {int(ef_construction or HNSW_EF_CONSTRUCTION)})"
            connection.execute(
                "CREATE INDEX embedding_1_hnsw ON faceprint.embedding_1 USING hnsw (embedding vector_cosine_ops)"
                + options
            )
            build_s = time.perf_counter() - start
            connection.execute("VACUUM ANALYZE faceprint.embedding_1")
            sizes = connection.execute(
                "SELECT pg_table_size('faceprint.embedding_1'), pg_relation_size('faceprint.embedding_1_hnsw'),"
                " pg_database_size('bench')"
            ).fetchone()
        result["insert"] = {
            "add_photo_ms_per_photo": round(add_ms, 3),
            "import_photos_per_second": round((size - single) / import_s, 1),
            "import_s": round(import_s, 1),
            "note": "add_photo into the live HNSW index; import_photos with the index dropped, then rebuilt",
        }
        result["index_build_s"] = round(build_s, 1)
        result["table_mb"] = round(sizes[0] / 2**20, 1)
        result["index_memory_mb"] = round(sizes[1] / 2**20, 1)
        result["database_mb"] = round(sizes[2] / 2**20, 1)
        gallery.close()

        queries, _ = data.queries(size)
        truth, strangers, stranger_truth = ground_truth(data, size, matrix, result)
        result["by_ef_search"] = {}
        for ef in efs:
            gallery = PostgresGallery(url, ef_search=ef)
            rows = photo_rows(gallery)
            for query in queries[:50]:  # warm the buffers
                gallery.search("facenet", query, k=K)
            found = [[rows[c.photo_id] for c in gallery.search("facenet", q, k=K)[0]] for q in queries]
            timing = latency(lambda q, g=gallery: g.search("facenet", q, k=K), queries[:LATENCY_QUERIES])
            other = [[rows[c.photo_id] for c in gallery.search("facenet", q, k=K)[0]] for q in strangers]
            result["by_ef_search"][str(ef)] = {
                **recall(found, truth),
                **timing,
                "strangers": recall(other, stranger_truth),
            }
            print(f"  postgres {size}: ef_search {ef}: {result['by_ef_search'][str(ef)]}", flush=True)
            gallery.close()
    finally:
        server.stop()
    return result


def exact_latency(data: FaceLike, sizes: list[int]) -> dict:
    """Single-query exact search (numpy matrix product + top-k) by gallery size: where exact stops being fast."""
    from faceprint.gallery.vector_index import VectorIndex

    largest = max(sizes)
    matrix = np.concatenate(list(data.gallery(largest)))
    queries, _ = data.queries(largest, 300)
    result = {}
    for size in sizes:
        index = VectorIndex(DIM, source=None, ann_threshold=10**12)
        index.add(np.arange(size), matrix[:size])
        result[str(size)] = latency(lambda q, i=index: i.search(q[None, :], K), queries)
        print(f"  exact numpy {size}: {result[str(size)]}", flush=True)
    return result


def compare_libraries(data: FaceLike, size: int) -> dict:
    """usearch (f32 and i8 with exact re-ranking) and faiss HNSW on the same vectors: build, memory, recall, speed."""
    matrix = np.concatenate(list(data.gallery(size)))
    queries, _ = data.queries(size, 500)
    truth = exact_top(matrix, queries)
    result: dict = {}
    from usearch.index import Index

    for dtype in ("f32", "i8"):
        index = Index(ndim=DIM, metric="cos", dtype=dtype, connectivity=16, expansion_add=128)
        start = time.perf_counter()
        index.add(np.arange(size), matrix, threads=os.cpu_count() or 1)
        entry = {"build_s": round(time.perf_counter() - start, 1), "memory_mb": round(index.memory_usage / 2**20, 1)}
        for ef in (64, 128, 256):
            index.expansion_search = ef

            def search(q, index=index, dtype=dtype):
                keys = index.search(q, K if dtype == "f32" else 32, threads=1).keys
                if dtype != "f32":  # exact re-ranking of 32 candidates, as the SQLite store does
                    keys = keys[np.argsort(-(matrix[keys] @ q))]
                return keys[:K].tolist()

            found = [search(q) for q in queries]
            entry[f"ef{ef}"] = {**recall(found, truth), **latency(search, queries[:300])}
        result[f"usearch-{dtype}"] = entry
        print(f"  usearch {dtype}: {entry}", flush=True)
    try:
        import faiss
    except ImportError:
        result["faiss"] = "not installed"
        return result
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    start = time.perf_counter()
    index.add(matrix)
    entry = {"build_s": round(time.perf_counter() - start, 1), "removal": "not supported by IndexHNSWFlat"}
    faiss.omp_set_num_threads(1)
    for ef in (64, 128, 256):
        index.hnsw.efSearch = ef
        found = [index.search(q[None, :], K)[1][0].tolist() for q in queries]
        entry[f"ef{ef}"] = {**recall(found, truth), **latency(lambda q: index.search(q[None, :], K), queries[:300])}
    result["faiss-hnsw-flat"] = entry
    print(f"  faiss: {entry}", flush=True)
    return result


def save(section: str, key: str, value) -> None:
    """Merge one result into benchmarks/results/search.json (runs at different sizes accumulate)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    current = json.loads(RESULT_FILE.read_text()) if RESULT_FILE.exists() else {}
    current["machine"] = machine()
    current.setdefault(section, {})[key] = value
    RESULT_FILE.write_text(json.dumps(current, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument(
        "--stores", nargs="*", choices=["sqlite", "sqlite-hnsw", "postgres"], default=["sqlite", "postgres"]
    )
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/faceprint-search"))
    parser.add_argument("--sqlite-ef", type=int, nargs="*", default=[32, 64, 128, 256])
    parser.add_argument("--postgres-ef", type=int, nargs="*", default=[20, 40, 64, 100, 200])
    parser.add_argument("--postgres-ef-construction", type=int, help="rebuild pgvector's index with this value")
    parser.add_argument("--result-key", default="", help="suffix for the result's key (e.g. a variant's name)")
    parser.add_argument("--prepare-only", action="store_true", help="only fill the SQLite databases (timed)")
    parser.add_argument("--exact-only", action="store_true", help="only measure exact numpy search by size")
    parser.add_argument("--libraries", type=int, metavar="N", help="only compare ANN libraries on N vectors")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    real = real_embeddings()
    data = FaceLike(real)
    stats = similarity_stats(real, data)
    save("data", "similarities", stats)
    print(f"similarities: {stats}", flush=True)
    if args.exact_only:
        save("exact_numpy", "by_size", exact_latency(data, [5_000, 10_000, 20_000, 50_000, 100_000]))
        save("exact_numpy", "OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS"))
        return
    if args.libraries:
        save("libraries", str(args.libraries), compare_libraries(data, args.libraries))
        return
    for size in args.sizes:
        matrix = np.concatenate(list(data.gallery(size)))
        for store in args.stores:
            print(f"{store} {size}:", flush=True)
            started = time.perf_counter()
            if store.startswith("sqlite"):
                result = bench_sqlite(
                    data, size, args.workdir, matrix, args.sqlite_ef, store == "sqlite-hnsw", args.prepare_only
                )
                if args.prepare_only:
                    print(json.dumps(result), flush=True)
                    save("prepared", f"{store}-{size}", result)
                    continue
            else:
                result = bench_postgres(data, size, matrix, args.postgres_ef, args.postgres_ef_construction)
            if "insert" not in result and RESULT_FILE.exists():  # filled by an earlier --prepare-only run
                prepared = json.loads(RESULT_FILE.read_text()).get("prepared", {}).get(f"{store}-{size}", {})
                if "insert" in prepared:
                    result["insert"] = {**prepared["insert"], "run": "earlier --prepare-only run"}
            result["wall_s"] = round(time.perf_counter() - started, 1)
            result["measured"] = datetime.now(UTC).isoformat(timespec="seconds")
            save(store, f"{size}{args.result_key}", result)
            print(json.dumps(result, indent=2), flush=True)
        del matrix
        gc.collect()


if __name__ == "__main__":
    main()
