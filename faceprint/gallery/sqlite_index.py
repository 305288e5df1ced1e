"""How a process searches a SQLite gallery: one in-memory index per model, kept current through the vector log.

Each model's :class:`~faceprint.gallery.vector_index.VectorIndex` (numpy below ``ANN_THRESHOLD`` vectors, HNSW
above) is brought up to date before a search by applying the log entries written since it last looked, whichever
process wrote them, instead of reloading every vector. An HNSW index is saved beside the database
(``gallery.db.<model>.index``, a small JSON file that names its data file) with the log position it reflects; a
process that opens it applies the log from there, and rebuilds or re-synchronises it when it belongs to another
gallery or is older than the log kept."""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from faceprint.errors import GalleryError
from faceprint.gallery.base import check_dimension
from faceprint.gallery.engine import Tx
from faceprint.gallery.vector_index import VectorIndex, VectorSource

log = logging.getLogger(__name__)

# A searcher saves its HNSW index again once this many vectors (or 1% of the index, if more) changed since.
SAVE_AFTER_CHANGES = 2_000
_SLICE = 50_000  # vectors read at a time when building or catching up


def log_position(connection: sqlite3.Connection) -> int:
    """The sequence number of the newest vector log entry ever written (0 if none)."""
    row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'").fetchone()
    return 0 if row is None else row[0]


def _safe_file_part(model: str, model_id: int) -> str:
    """The model's name where it is safe in a file name, else its id."""
    return model if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", model) else f"model-{model_id}"


class Database(Protocol):
    """What the indexes need of the SQLite engine."""

    path: Path

    def connection(self) -> sqlite3.Connection: ...

    def read(self, snapshot: bool = False) -> AbstractContextManager[Tx]: ...

    def stored_vectors(self, model_id: int, photo_ids: Sequence[int]) -> dict[int, bytes]: ...


@dataclass
class _Searcher:
    """One model's in-memory index, as of log position ``seq`` and change counter ``counter``."""

    model_id: int
    index: VectorIndex
    seq: int
    counter: int = -1
    unsaved: int = 0  # vectors changed since the index file was last written
    checked: bool = False  # its size has been compared with the database since it was loaded from a file


class Indexes:
    """Every model's index of one SQLite gallery, in this process."""

    def __init__(self, engine: Database, ann_threshold: int, ef_search: int, save_index: bool) -> None:
        self.engine = engine
        self.ann_threshold = ann_threshold
        self.ef_search = ef_search
        self.save_index = save_index
        self._lock = threading.RLock()  # guards the in-memory indexes
        self._searchers: dict[str, _Searcher] = {}

    def index_path(self, model: str, model_id: int) -> Path:
        """Where the model's HNSW index is saved: beside the database, e.g. ``gallery.db.facenet.index``."""
        path = self.engine.path
        return path.with_name(f"{path.name}.{_safe_file_part(model, model_id)}.index")

    def search(self, model: str, queries: np.ndarray, k: int) -> list[tuple[list[int], list[float]]]:
        """Exact below the index threshold, HNSW (approximate) above it; the similarities are exact cosines."""
        with self._lock:
            searcher = self._searcher(model)
            if searcher is None:
                return [([], []) for _ in range(len(queries))]
            check_dimension(model, searcher.index.dim, queries.shape[1])
            return [(keys.tolist(), sims.tolist()) for keys, sims in searcher.index.search(queries, k)]

    def stats(self, model: str) -> dict:
        """How the model is searched right now: vector count, exact or HNSW, memory held."""
        with self._lock:
            searcher = self._searcher(model)
            if searcher is None:
                return {"vectors": 0, "approximate": False, "memory_bytes": 0}
            index = searcher.index
            return {"vectors": len(index), "approximate": index.approximate, "memory_bytes": index.memory_bytes()}

    def close(self) -> None:
        """Save HNSW indexes that changed a lot since they were saved, then drop them."""
        with self._lock:
            if self.save_index:
                for model, searcher in self._searchers.items():
                    if searcher.index.approximate and searcher.unsaved >= SAVE_AFTER_CHANGES:
                        with contextlib.suppress(GalleryError, sqlite3.Error):
                            self._save(model, searcher)
            self._searchers.clear()

    def _searcher(self, model: str) -> _Searcher | None:
        """The model's index as of the latest write (``None`` if the model has no vectors); call under the lock.

        Fast path: the change counter has not moved. Otherwise the log entries since the index's position are
        applied; a new index is loaded from its file (then caught up) or built from every stored vector."""
        connection = self.engine.connection()
        counter = connection.execute("SELECT counter FROM changes WHERE id = 1").fetchone()[0]
        searcher = self._searchers.get(model)
        if searcher is not None and searcher.counter == counter:
            return searcher if len(searcher.index) else None
        if searcher is None:
            searcher = self._open_searcher(model)
            if searcher is None:
                return None
            self._searchers[model] = searcher
        with self.engine.read() as tx:
            counter = tx.value("SELECT counter FROM changes WHERE id = 1")
            self._catch_up(tx.connection, model, searcher)
            searcher.counter = counter
        if (
            self.save_index
            and searcher.index.approximate
            and searcher.unsaved >= max(SAVE_AFTER_CHANGES, len(searcher.index) // 100)
        ):
            self._save(model, searcher)
        return searcher if len(searcher.index) else None

    def _open_searcher(self, model: str) -> _Searcher | None:
        """A model's index from its saved file if that is this gallery's, else built from the database."""
        with self.engine.read() as tx:
            model_row = tx.one("SELECT id, dim FROM models WHERE name = ?", (model,))
            gallery_id = tx.value("SELECT gallery_id FROM changes WHERE id = 1")
        if model_row is None:
            return None
        model_id, dim = model_row
        if self.save_index:
            expect = {"gallery_id": gallery_id, "model_id": model_id, "model": model, "dim": dim}
            loaded = VectorIndex.load(
                self.index_path(model, model_id),
                expect,
                self._vector_source(model_id),
                ann_threshold=self.ann_threshold,
                ef_search=self.ef_search,
            )
            if loaded is not None:
                index, meta = loaded
                log.info("loaded the %s index of %s (%d vectors)", model, self.engine.path, len(index))
                return _Searcher(model_id=model_id, index=index, seq=int(meta.get("seq", -1)))
        index = VectorIndex(
            dim, self._vector_source(model_id), ann_threshold=self.ann_threshold, ef_search=self.ef_search
        )
        with self.engine.read() as tx:
            seq = log_position(tx.connection)
            cursor = tx.run("SELECT photo_id, vector FROM embeddings WHERE model_id = ? ORDER BY photo_id", (model_id,))
            while rows := cursor.fetchmany(_SLICE):  # in slices, so memory holds the index and one slice
                keys = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
                vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), dim)
                index.add(keys, vectors)
        kind = "HNSW" if index.approximate else "exact"
        log.info("indexed %d %s vectors of %s (%s)", len(index), model, self.engine.path, kind)
        searcher = _Searcher(model_id=model_id, index=index, seq=seq, checked=True)
        if self.save_index and index.approximate:
            self._save(model, searcher)
        return searcher

    def _vector_source(self, model_id: int) -> VectorSource:
        """The exact vectors of photo ids, read from the database (for re-ranking HNSW candidates)."""

        def source(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            found = self.engine.stored_vectors(model_id, np.asarray(keys).tolist())
            ids = np.fromiter(found, dtype=np.int64, count=len(found))
            blob = b"".join(found.values())
            return ids, np.frombuffer(blob, dtype=np.float32).reshape(len(found), -1)

        return source

    def _catch_up(self, connection: sqlite3.Connection, model: str, searcher: _Searcher) -> None:
        """Apply the vector log since the index's position (in the caller's read transaction); when the log no
        longer reaches back that far, or the index is ahead of it, compare photo ids instead."""
        position = log_position(connection)
        floor = connection.execute("SELECT log_floor FROM changes WHERE id = 1").fetchone()[0]
        index = searcher.index
        if searcher.seq == position and searcher.checked:
            return
        if floor <= searcher.seq <= position:
            rows = connection.execute(
                "SELECT photo_id, stored FROM vector_log WHERE seq > ? AND model_id = ? ORDER BY seq",
                (searcher.seq, searcher.model_id),
            ).fetchall()
            latest = dict(rows)  # each photo's last event wins
            removed = [photo_id for photo_id, stored in latest.items() if not stored]
            added = [photo_id for photo_id, stored in latest.items() if stored]
        else:
            log.info("re-synchronising the %s index of %s with the database", model, self.engine.path)
            stored_rows = connection.execute("SELECT photo_id FROM embeddings WHERE model_id = ?", (searcher.model_id,))
            stored_ids = np.fromiter((row[0] for row in stored_rows), dtype=np.int64)
            indexed = index.keys()
            removed = np.setdiff1d(indexed, stored_ids).tolist()
            added = np.setdiff1d(stored_ids, indexed).tolist()
            rows = removed + added
        index.remove(np.asarray(removed, dtype=np.int64))
        source = self._vector_source(searcher.model_id)
        for start in range(0, len(added), _SLICE):
            keys, vectors = source(np.asarray(added[start : start + _SLICE], dtype=np.int64))
            index.add(keys, vectors)
        searcher.seq = position
        searcher.unsaved += len(rows)
        if not searcher.checked:  # loaded from a file: make sure it holds what the database holds
            searcher.checked = True
            stored = connection.execute(
                "SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (searcher.model_id,)
            ).fetchone()[0]
            if stored != len(index):
                log.warning(
                    "the saved %s index of %s was out of step with the database; re-synchronising",
                    model,
                    self.engine.path,
                )
                searcher.seq = -1
                self._catch_up(connection, model, searcher)

    def _save(self, model: str, searcher: _Searcher) -> None:
        """Write the model's HNSW index beside the database with the log position it reflects."""
        with self.engine.read() as tx:
            gallery_id = tx.value("SELECT gallery_id FROM changes WHERE id = 1")
        meta = {"gallery_id": gallery_id, "model_id": searcher.model_id, "model": model, "seq": searcher.seq}
        searcher.index.save(self.index_path(model, searcher.model_id), meta)
        searcher.unsaved = 0
