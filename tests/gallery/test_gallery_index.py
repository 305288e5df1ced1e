"""The SQLite store's search index: HNSW above a size threshold (forced low here) agrees with exact search,
follows writes made by other processes, and its saved file is trusted only when it belongs to the gallery."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from datetime import UTC, datetime

import numpy as np
import pytest
from index_workers import add_and_delete

from faceprint.gallery import sqlite as sqlite_store
from faceprint.gallery.base import PhotoData
from faceprint.gallery.sqlite import SQLiteGallery

DIM = 64
NOW = datetime.now(UTC)


def structured(seed: int, people: int, photos: int) -> tuple[np.ndarray, np.ndarray]:
    """Face-like vectors: person directions drawn from a low-dimensional subspace (so people resemble each
    other, as real embeddings do), each photo its person's direction plus noise. ``(centres, photos)``."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIM, 16)))[0].T  # 16 orthonormal directions
    centres = rng.normal(size=(people, 16)) @ basis + 0.3 * rng.normal(size=(people, DIM)) / np.sqrt(DIM)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    shots = np.repeat(centres, photos, axis=0) + 0.35 * rng.normal(size=(people * photos, DIM)) / np.sqrt(DIM)
    return centres.astype(np.float32), (shots / np.linalg.norm(shots, axis=1, keepdims=True)).astype(np.float32)


def fill(gallery: SQLiteGallery, shots: np.ndarray, photos: int) -> None:
    gallery.import_photos(
        PhotoData(
            person=f"Person {i // photos:04d}",
            content_hash=f"h{i}",
            created=NOW,
            quality={},
            embeddings={"facenet": vector},
            person_created=NOW,
            person_updated=NOW,
        )
        for i, vector in enumerate(shots)
    )


def exact_top(gallery: SQLiteGallery, queries: np.ndarray, k: int = 1) -> list[list[int]]:
    """Photo ids of the k nearest stored vectors by brute force over what the database holds."""
    connection = gallery._connection()
    rows = connection.execute("SELECT photo_id, vector FROM embeddings ORDER BY photo_id").fetchall()
    ids = np.array([row[0] for row in rows])
    matrix = np.stack([np.frombuffer(row[1], dtype=np.float32) for row in rows])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = queries @ matrix.T
    return [ids[np.argsort(-row, kind="stable")[:k]].tolist() for row in scores]


@pytest.fixture
def big(tmp_path) -> tuple[SQLiteGallery, np.ndarray]:
    """A SQLite gallery of 3,000 photos (750 people x 4) whose HNSW threshold is 1,000, and its centres."""
    centres, shots = structured(seed=1, people=750, photos=4)
    gallery = SQLiteGallery(tmp_path / "g.db", ann_threshold=1_000)
    fill(gallery, shots, photos=4)
    yield gallery, centres
    gallery.close()


def test_hnsw_search_agrees_with_exact_search(big, tmp_path):
    gallery, centres = big
    rng = np.random.default_rng(2)
    queries = centres[:300] + 0.35 * rng.normal(size=(300, DIM)).astype(np.float32) / np.sqrt(DIM)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    results = gallery.search("facenet", queries, k=10)
    assert gallery.index_stats("facenet")["approximate"] is True
    exact = exact_top(gallery, queries, k=10)
    top1 = np.mean([hits[0].photo_id == truth[0] for hits, truth in zip(results, exact)])
    recall10 = np.mean([len({c.photo_id for c in hits} & set(truth)) / 10 for hits, truth in zip(results, exact)])
    # usearch builds the graph on several threads, so the graph (and its recall) differs from run to run: 12 builds
    # of this set gave top-1 agreement 0.993-1.0, and one CI run under heavy load 0.983. The recall target itself
    # (0.99 at 1M real-like vectors) is measured by benchmarks/search.py, not here.
    assert top1 >= 0.97 and recall10 >= 0.97, (top1, recall10)
    for hits in results:  # the contract of search(): k results, best first, exact similarities, right people
        assert len(hits) == 10
        assert [c.similarity for c in hits] == sorted((c.similarity for c in hits), reverse=True)
    stored = gallery.vectors("facenet", [results[0][0].photo_id])[0]
    assert results[0][0].similarity == pytest.approx(float(stored @ queries[0]), abs=1e-5)
    assert results[0][0].person == gallery.photos(results[0][0].person)[0].person

    # The same gallery searched exactly (threshold above its size) gives the same best photo for every query.
    exact_store = SQLiteGallery(gallery.path, ann_threshold=10**9, save_index=False)
    try:
        exact_results = exact_store.search("facenet", queries, k=1)
        assert exact_store.index_stats("facenet")["approximate"] is False
        same = np.mean([a[0].photo_id == b[0].photo_id for a, b in zip(results, exact_results)])
        assert same >= 0.99
    finally:
        exact_store.close()

    # Removals and additions reach the index without a rebuild.
    gallery.delete("Person 0000")
    assert all(c.person != "Person 0000" for c in gallery.search("facenet", centres[0], k=10)[0])
    gallery.add_photo("Late", "late", {"facenet": centres[0]})
    assert gallery.search("facenet", centres[0], k=1)[0][0].person == "Late"
    assert gallery.index_stats("facenet")["vectors"] == 3_000 - 4 + 1


def test_index_follows_writes_of_another_process_and_its_saved_file(big, caplog):
    gallery, centres = big
    assert gallery.search("facenet", centres[5], k=1)[0][0].person == "Person 0005"  # builds and saves the index
    pointer = gallery.index_path("facenet", 1)
    assert pointer.is_file()
    fresh = np.random.default_rng(3).normal(size=(5, DIM)).astype(np.float32)
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=add_and_delete, args=(gallery.url, fresh, ["Person 0005"]))
    writer.start()
    writer.join(120)
    assert writer.exitcode == 0

    # This process's in-memory index applies the other process's changes on its next search.
    assert gallery.search("facenet", fresh[2], k=1)[0][0].person == "Newcomer 2"
    assert all(c.person != "Person 0005" for c in gallery.search("facenet", centres[5], k=10)[0])

    # A new process loads the saved (now stale) file and catches up from the log instead of rebuilding.
    with caplog.at_level(logging.INFO, logger="faceprint.gallery.sqlite_index"):
        reader = SQLiteGallery(gallery.path, ann_threshold=1_000)
        try:
            assert reader.search("facenet", fresh[4], k=1)[0][0].person == "Newcomer 4"
            assert all(c.person != "Person 0005" for c in reader.search("facenet", centres[5], k=10)[0])
            assert reader.index_stats("facenet")["vectors"] == 3_000 - 4 + 5
        finally:
            reader.close()
    assert "loaded the facenet index" in caplog.text and "indexed" not in caplog.text


def test_a_saved_index_of_another_gallery_or_a_damaged_one_is_not_trusted(big, tmp_path, caplog):
    gallery, centres = big
    gallery.search("facenet", centres[0], k=1)
    pointer = gallery.index_path("facenet", 1)

    # Another gallery (same file names, different contents) next to a copy of this one's index file.
    _, other_shots = structured(seed=9, people=300, photos=4)
    other = SQLiteGallery(tmp_path / "other.db", ann_threshold=1_000, save_index=False)
    fill(other, other_shots, photos=4)
    other.close()
    other_pointer = tmp_path / f"other.db.{pointer.name.split('.', 2)[2]}"
    shutil.copy(pointer, other_pointer)
    data = next(tmp_path.glob(f"{pointer.name}.*.usearch"))
    shutil.copy(data, tmp_path / data.name.replace("g.db", "other.db"))
    other_pointer.write_text(other_pointer.read_text().replace(data.name, data.name.replace("g.db", "other.db")))
    with caplog.at_level(logging.INFO, logger="faceprint.gallery"):
        other = SQLiteGallery(tmp_path / "other.db", ann_threshold=1_000)
        try:
            assert other.index_stats("facenet")["vectors"] == 1_200
            assert other.search("facenet", other_shots[7], k=1)[0][0].person == "Person 0001"
        finally:
            other.close()
    assert "made for another gallery_id" in caplog.text

    # A damaged data file is ignored and the index rebuilt from the database.
    current = next(p for p in tmp_path.glob(f"{pointer.name}.*.usearch"))
    current.write_bytes(current.read_bytes()[:1000])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="faceprint.gallery"):
        reader = SQLiteGallery(gallery.path, ann_threshold=1_000)
        try:
            assert reader.search("facenet", centres[3], k=1)[0][0].person == "Person 0003"
            assert reader.index_stats("facenet")["vectors"] == 3_000
        finally:
            reader.close()
    assert "indexed 3000 facenet vectors" in caplog.text


def test_an_index_older_than_the_kept_log_is_resynchronised(big, monkeypatch, caplog):
    gallery, centres = big
    gallery.search("facenet", centres[0], k=1)  # saved at the current log position
    monkeypatch.setattr(sqlite_store, "LOG_KEEP", 2)  # every later write prunes the log
    writer = SQLiteGallery(gallery.path, save_index=False)
    try:
        for index in range(6):
            writer.add_photo(f"Extra {index}", f"x{index}", {"facenet": centres[100 + index]})
        writer.delete("Person 0001")
        floor = writer._connection().execute("SELECT log_floor FROM changes").fetchone()[0]
    finally:
        writer.close()
    assert floor > 0
    with caplog.at_level(logging.INFO, logger="faceprint.gallery.sqlite_index"):
        reader = SQLiteGallery(gallery.path, ann_threshold=1_000)
        try:
            assert reader.search("facenet", centres[104], k=1)[0][0].person == "Extra 4"
            assert all(c.person != "Person 0001" for c in reader.search("facenet", centres[1], k=10)[0])
            assert reader.index_stats("facenet")["vectors"] == 3_000 - 4 + 6
        finally:
            reader.close()
    assert "re-synchronising" in caplog.text


def test_index_goes_back_to_exact_search_when_the_gallery_shrinks(tmp_path):
    centres, shots = structured(seed=4, people=100, photos=3)
    gallery = SQLiteGallery(tmp_path / "g.db", ann_threshold=200, save_index=False)
    try:
        fill(gallery, shots, photos=3)
        assert gallery.search("facenet", centres[0], k=1)[0][0].person == "Person 0000"
        assert gallery.index_stats("facenet")["approximate"] is True
        for index in range(70):
            gallery.delete(f"Person {index:04d}")
        assert gallery.search("facenet", centres[80], k=1)[0][0].person == "Person 0080"
        stats = gallery.index_stats("facenet")
        assert stats["vectors"] == 90 and stats["approximate"] is False
    finally:
        gallery.close()
