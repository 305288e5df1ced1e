"""The embedded gallery: one SQLite file; exact search for small galleries, an HNSW index for big ones.

Safe with several threads (one connection each) and several processes writing at once: WAL mode, every write
in one ``BEGIN IMMEDIATE`` transaction with a busy timeout. Vectors are float32 BLOBs in one ``embeddings``
table. Triggers log every vector stored or removed (``vector_log``), so a process that searches keeps each
model's in-memory index up to date by applying what changed since it last looked, whichever process wrote it
(``faceprint.gallery.sqlite_index``)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from faceprint.errors import GalleryError
from faceprint.gallery import vector_index
from faceprint.gallery.base import ThreadConnections
from faceprint.gallery.engine import Engine, ModelRow, Tx
from faceprint.gallery.schema import Column, CreateIndex, CreateTable, Table, Type
from faceprint.gallery.sqlite_index import Indexes, log_position
from faceprint.gallery.store import GalleryStore

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 60.0
MIN_SQLITE = (3, 35, 0)  # INSERT/DELETE ... RETURNING
# The vector log keeps at least this many entries; a saved index older than that is re-synchronised by
# comparing photo ids (cheap) rather than rebuilt.
LOG_KEEP = 500_000
_BATCH = 5_000  # rows per query when reading vectors by id

EMBEDDINGS = Table(
    "embeddings",
    (
        Column("model_id", Type.INTEGER, references="models"),
        Column("photo_id", Type.REF, references="photos"),
        Column("vector", Type.BLOB),
    ),
    primary_key=("model_id", "photo_id"),
)
CHANGES = Table(
    "changes", (Column("id", Type.INTEGER, check="id = 1"), Column("counter", Type.INTEGER)), primary_key=("id",)
)


def _storage_v1(tx: Tx) -> None:
    """Every model's vectors in one table, and a counter of committed writes (a cheap "anything new?" check)."""
    for operation in (CreateTable(EMBEDDINGS), CreateIndex("embeddings_photo", "embeddings", ("photo_id",))):
        for statement in tx.engine.render(operation):
            tx.run(statement)
    for statement in tx.engine.render(CreateTable(CHANGES)):
        tx.run(statement)
    tx.run("INSERT INTO changes (id, counter) VALUES (1, 0)")


def _storage_v2(tx: Tx) -> None:
    """A log of every vector stored or removed, written by triggers (so no code path can forget it), for
    searchers to update their index incrementally; and a random id that ties saved index files to this gallery."""
    tx.run("ALTER TABLE changes ADD COLUMN log_floor INTEGER NOT NULL DEFAULT 0")
    tx.run("ALTER TABLE changes ADD COLUMN gallery_id TEXT")
    tx.run("UPDATE changes SET gallery_id = ?", (uuid.uuid4().hex,))
    tx.run(
        "CREATE TABLE vector_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, model_id INTEGER NOT NULL, "
        "photo_id INTEGER NOT NULL, stored INTEGER NOT NULL)"
    )
    for event, row, stored in (("INSERT", "NEW", 1), ("DELETE", "OLD", 0)):
        name = "embeddings_stored" if stored else "embeddings_removed"
        tx.run(
            f"CREATE TRIGGER {name} AFTER {event} ON embeddings BEGIN INSERT INTO vector_log (model_id, photo_id, "
            f"stored) VALUES ({row}.model_id, {row}.photo_id, {stored}); END"
        )


def _close_quietly(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        connection.close()


class SQLiteEngine(Engine):
    """SQLite: WAL, one connection per thread, writers serialised by ``BEGIN IMMEDIATE``."""

    name = "sqlite"
    TYPES: ClassVar[dict[Type, str]] = {
        Type.ID: "INTEGER PRIMARY KEY AUTOINCREMENT",
        Type.REF: "INTEGER",
        Type.INTEGER: "INTEGER",
        Type.TEXT: "TEXT",
        Type.TIME: "REAL",  # seconds since the epoch
        Type.JSON: "TEXT",
        Type.BLOB: "BLOB",
    }
    in_ids = "IN (SELECT value FROM json_each(?))"  # any number of ids in one parameter
    unique_violation = (sqlite3.IntegrityError,)
    storage_steps: ClassVar[dict[int, Callable[[Tx], None]]] = {1: _storage_v1, 2: _storage_v2}

    def __init__(self, path: Path, url: str, ann_threshold: int, ef_search: int, save_index: bool) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise GalleryError(
                f"the gallery needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer (RETURNING clauses); this "
                f"Python has SQLite {sqlite3.sqlite_version}"
            )
        self.path = path
        self.url = url
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise GalleryError(f"cannot create the gallery folder {self.path.parent}: {error}") from None
        self._connections = ThreadConnections(self._open, _close_quietly)
        self._closed = False
        self.indexes = Indexes(self, ann_threshold, ef_search, save_index)

    # --- dialect -------------------------------------------------------------------------------------------

    def params(self, params: Sequence[Any]) -> Sequence[Any]:
        return [value.timestamp() if isinstance(value, datetime) else value for value in params]

    def ids(self, ids: Sequence[int]) -> str:
        return json.dumps([int(i) for i in ids])

    def read_time(self, value: float) -> datetime:
        return datetime.fromtimestamp(value, UTC)

    def read_json(self, value: str) -> dict:
        return json.loads(value)

    # --- connections and transactions ----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """A new connection: autocommit mode (transactions are begun explicitly), WAL, busy timeout, foreign keys."""
        try:
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # Only takes effect when the file is created: 16 KiB pages hold seven 512-d float32 vectors, where
            # 4 KiB pages hold one (and waste half of it), so a big gallery takes half the disk.
            connection.execute("PRAGMA page_size = 16384")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise GalleryError(f"cannot open the gallery {self.path}: {error}") from None
        return connection

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (check_same_thread is off only so that ``close`` can close them all)."""
        if self._closed:
            raise GalleryError(f"the gallery {self.url} has been closed")
        return self._connections.get()

    @contextlib.contextmanager
    def _transaction(
        self, begin: str, on_commit: bool = False, refused: type[sqlite3.Error] | None = None, why: str = ""
    ) -> Iterator[Tx]:
        """A transaction begun with ``begin``; a ``refused`` error while beginning becomes ``GalleryError(why)``;
        ``on_commit``: bump the change counter (and prune the vector log) before committing."""
        connection = self.connection()
        try:
            connection.execute(begin)
        except sqlite3.Error as error:
            if refused is None or not isinstance(error, refused):
                raise
            raise GalleryError(f"{why}: {error}") from None
        try:
            yield Tx(self, connection)
            if on_commit:
                connection.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
                self._prune_log(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def write(self) -> contextlib.AbstractContextManager[Tx]:
        """``BEGIN IMMEDIATE`` (the write lock, waiting up to the busy timeout); bumps the change counter."""
        busy = f"the gallery {self.path} is busy, try again"  # still locked by another writer after the timeout
        return self._transaction("BEGIN IMMEDIATE", on_commit=True, refused=sqlite3.OperationalError, why=busy)

    def read(self, snapshot: bool = False) -> contextlib.AbstractContextManager[Tx]:
        """A deferred transaction: in WAL mode, a snapshot from its first read on."""
        return self._transaction("BEGIN")

    def migration(self) -> contextlib.AbstractContextManager[Tx]:
        unusable = f"{self.path} is not a usable SQLite gallery"
        return self._transaction("BEGIN IMMEDIATE", refused=sqlite3.DatabaseError, why=unusable)

    def _prune_log(self, connection: sqlite3.Connection) -> None:
        """Keep the vector log to about ``LOG_KEEP`` entries; ``log_floor`` records the newest one deleted."""
        floor = connection.execute("SELECT log_floor FROM changes WHERE id = 1").fetchone()[0]
        position = log_position(connection)
        if position - floor > 2 * LOG_KEEP:
            cutoff = position - LOG_KEEP
            connection.execute("DELETE FROM vector_log WHERE seq <= ?", (cutoff,))
            connection.execute("UPDATE changes SET log_floor = ? WHERE id = 1", (cutoff,))

    def close(self) -> None:
        if not self._closed:
            self.indexes.close()
        self._closed = True
        self._connections.close_all()

    # --- vector storage ------------------------------------------------------------------------------------

    def store_vector(self, tx: Tx, model: ModelRow, photo_id: int, vector: np.ndarray) -> bool:
        cursor = tx.run(
            "INSERT INTO embeddings (model_id, photo_id, vector) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (model.id, photo_id, vector.tobytes()),
        )
        return cursor.rowcount > 0

    def stored_vectors(self, model_id: int, photo_ids: Sequence[int]) -> dict[int, bytes]:
        """The stored vector (float32 bytes) of each of these photos that has one for the model."""
        connection = self.connection()
        found: dict[int, bytes] = {}
        for start in range(0, len(photo_ids), _BATCH):
            found.update(
                connection.execute(
                    f"SELECT photo_id, vector FROM embeddings WHERE model_id = ? AND photo_id {self.in_ids}",
                    (model_id, self.ids(photo_ids[start : start + _BATCH])),
                ).fetchall()
            )
        return found

    def read_vectors(self, tx: Tx, model: ModelRow, photo_ids: Sequence[int]) -> dict[int, np.ndarray]:
        found = self.stored_vectors(model.id, photo_ids)
        return {photo_id: np.frombuffer(blob, dtype=np.float32) for photo_id, blob in found.items()}

    def has_vectors(self, tx: Tx, model: ModelRow) -> bool:
        return bool(tx.value("SELECT EXISTS (SELECT 1 FROM embeddings WHERE model_id = ?)", (model.id,)))

    def nearest(self, model: ModelRow, queries: np.ndarray, k: int) -> list[tuple[list[int], list[float]]]:
        return self.indexes.search(model.name, queries, k)


class SQLiteGallery(GalleryStore):
    """The ``Gallery`` protocol over one SQLite file (see the module docstring for how it stays safe)."""

    engine: SQLiteEngine

    def __init__(
        self,
        path: str | os.PathLike[str],
        url: str | None = None,
        ann_threshold: int | None = None,
        ef_search: int | None = None,
        save_index: bool | None = None,
    ) -> None:
        """``ann_threshold``: vectors from which a model is searched through HNSW (default
        ``vector_index.ANN_THRESHOLD``); ``ef_search``: HNSW search breadth (recall against speed); ``save_index``:
        keep HNSW indexes in files beside the database. Each may also come from the URL's query, e.g.
        ``sqlite:///g.db?ef_search=128&ann_threshold=50000&save_index=0``."""
        path = Path(path).expanduser()
        url = url or f"sqlite:///{path}"
        options = dict(parse_qsl(urlsplit(url).query))
        try:
            ann = int(
                ann_threshold if ann_threshold is not None else options.get("ann_threshold", vector_index.ANN_THRESHOLD)
            )
            ef = int(
                ef_search if ef_search is not None else options.get("ef_search", vector_index.HNSW_EXPANSION_SEARCH)
            )
        except ValueError:
            raise GalleryError(f"ann_threshold and ef_search in {url} must be whole numbers") from None
        if ann < 1 or not 1 <= ef <= 10_000:
            raise GalleryError("ann_threshold must be positive and ef_search between 1 and 10000")
        save = save_index if save_index is not None else options.get("save_index", "1") not in ("0", "no")
        super().__init__(SQLiteEngine(path, url, ann, ef, save))

    @property
    def path(self) -> Path:
        return self.engine.path

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        return self.engine.connection()

    @property
    def _searchers(self) -> dict:
        """Each model's in-memory index (for benchmarks that tune a live index)."""
        return self.engine.indexes._searchers

    def index_path(self, model: str, model_id: int) -> Path:
        """Where the model's HNSW index is saved: beside the database, e.g. ``gallery.db.facenet.index``."""
        return self.engine.indexes.index_path(model, model_id)

    def index_stats(self, model: str) -> dict:
        """How the model is searched right now: vector count, exact or HNSW, memory held (for benchmarks)."""
        return self.engine.indexes.stats(model)

    def __repr__(self) -> str:
        return f"SQLiteGallery({str(self.path)!r})"
