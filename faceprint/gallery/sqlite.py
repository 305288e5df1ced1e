"""The embedded gallery: one SQLite file; exact search for small galleries, an HNSW index for big ones.

Safe with several threads (one connection each) and several processes writing at once: WAL mode, every write
in one ``BEGIN IMMEDIATE`` transaction with a busy timeout. Vectors are float32 BLOBs. Triggers log every
vector stored or removed (``vector_log``), so a process that searches keeps each model's in-memory index
(:class:`~faceprint.gallery.vector_index.VectorIndex`: numpy below ``ANN_THRESHOLD`` vectors, HNSW above) up to
date by applying what changed since it last looked, whichever process wrote it, instead of reloading every
vector. An HNSW index is saved beside the database (``gallery.db.<model>.index``, a small JSON file that names
its data file) with the log position it reflects; a process that opens it applies the log from there, and
rebuilds or re-synchronises it when it belongs to another gallery or is older than the log kept."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from faceprint.errors import GalleryError, PersonExistsError, UnknownPersonError, UnknownPhotoError
from faceprint.gallery import vector_index
from faceprint.gallery.base import (
    Candidate,
    ImportSummary,
    Person,
    PhotoData,
    PhotoRecord,
    ThreadConnections,
    check_blob,
    check_dimension,
    check_photo_data,
    normalize_name,
    quality_json,
    query_matrix,
    sort_people,
    validate_content_hash,
    validate_embeddings,
)
from faceprint.gallery.vector_index import VectorIndex, unit_rows

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 60.0
# The vector log keeps at least this many entries; a saved index older than that is re-synchronised by
# comparing photo ids (cheap) rather than rebuilt.
LOG_KEEP = 500_000
# A searcher saves its HNSW index again once this many vectors (or 1% of the index, if more) changed since.
SAVE_AFTER_CHANGES = 2_000
_BATCH = 5_000  # rows per query when reading vectors by id


_SCHEMA_V1 = (
    """CREATE TABLE people (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE photos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        content_hash TEXT NOT NULL,
        created REAL NOT NULL,
        quality TEXT NOT NULL DEFAULT '{}',
        UNIQUE (person_id, content_hash)
    )""",
    """CREATE TABLE photo_blobs (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        thumbnail BLOB,
        image BLOB
    )""",
    """CREATE TABLE models (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        dim INTEGER NOT NULL CHECK (dim > 0)
    )""",
    """CREATE TABLE embeddings (
        model_id INTEGER NOT NULL REFERENCES models(id),
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        vector BLOB NOT NULL,
        PRIMARY KEY (model_id, photo_id)
    )""",
    "CREATE INDEX embeddings_photo ON embeddings (photo_id)",
    "CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter INTEGER NOT NULL)",
    "INSERT INTO changes (id, counter) VALUES (1, 0)",
)


def _migrate_to_v1(connection: sqlite3.Connection) -> None:
    """The initial schema: people, photos, per-photo blobs, models and their float32 vectors, a change counter."""
    # Statement by statement: ``executescript`` would commit the migration transaction half-way.
    for statement in _SCHEMA_V1:
        connection.execute(statement)


def _migrate_to_v2(connection: sqlite3.Connection) -> None:
    """A log of every vector stored or removed, written by triggers (so no code path can forget it), for
    searchers to update their index incrementally; and a random id that ties saved index files to this gallery."""
    connection.execute("ALTER TABLE changes ADD COLUMN log_floor INTEGER NOT NULL DEFAULT 0")
    connection.execute("ALTER TABLE changes ADD COLUMN gallery_id TEXT")
    connection.execute("UPDATE changes SET gallery_id = ?", (uuid.uuid4().hex,))
    connection.execute(
        """CREATE TABLE vector_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            model_id INTEGER NOT NULL,
            photo_id INTEGER NOT NULL,
            stored INTEGER NOT NULL
        )"""
    )
    connection.execute(
        "CREATE TRIGGER embeddings_stored AFTER INSERT ON embeddings BEGIN "
        "INSERT INTO vector_log (model_id, photo_id, stored) VALUES (NEW.model_id, NEW.photo_id, 1); END"
    )
    connection.execute(
        "CREATE TRIGGER embeddings_removed AFTER DELETE ON embeddings BEGIN "
        "INSERT INTO vector_log (model_id, photo_id, stored) VALUES (OLD.model_id, OLD.photo_id, 0); END"
    )


# Migration i takes the schema from version i to i + 1; append new ones, never edit or reorder old ones.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_v1, _migrate_to_v2]


def _close_quietly(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        connection.close()


def _timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _safe_file_part(model: str, model_id: int) -> str:
    """The model's name where it is safe in a file name, else its id."""
    return model if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", model) else f"model-{model_id}"


def _ids_json(ids: Iterable[int]) -> str:
    """Photo ids as a JSON array, for ``IN (SELECT value FROM json_each(?))`` (no limit on how many)."""
    return json.dumps([int(i) for i in ids])


@dataclass
class _Searcher:
    """One model's in-memory index, as of log position ``seq`` and change counter ``counter``."""

    model_id: int
    index: VectorIndex
    seq: int
    counter: int = -1
    unsaved: int = 0  # vectors changed since the index file was last written
    checked: bool = False  # its size has been compared with the database since it was loaded from a file


class SQLiteGallery:
    """The ``Gallery`` protocol over one SQLite file (see the module docstring for how it stays safe)."""

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
        self.path = Path(path).expanduser()
        self.url = url or f"sqlite:///{self.path}"
        options = dict(parse_qsl(urlsplit(self.url).query)) if url else {}
        try:
            self.ann_threshold = int(
                ann_threshold if ann_threshold is not None else options.get("ann_threshold", vector_index.ANN_THRESHOLD)
            )
            self.ef_search = int(
                ef_search if ef_search is not None else options.get("ef_search", vector_index.HNSW_EXPANSION_SEARCH)
            )
        except ValueError:
            raise GalleryError(f"ann_threshold and ef_search in {self.url} must be whole numbers") from None
        if self.ann_threshold < 1 or not 1 <= self.ef_search <= 10_000:
            raise GalleryError("ann_threshold must be positive and ef_search between 1 and 10000")
        self.save_index = save_index if save_index is not None else options.get("save_index", "1") not in ("0", "no")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise GalleryError(f"cannot create the gallery folder {self.path.parent}: {error}") from None
        self._connections = ThreadConnections(self._open, _close_quietly)
        self._lock = threading.RLock()  # guards the in-memory indexes
        self._searchers: dict[str, _Searcher] = {}
        self._closed = False
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # --- connections and transactions -------------------------------------------------------------------

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

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (check_same_thread is off only so that ``close`` can close them all)."""
        if self._closed:
            raise GalleryError(f"the gallery {self.url} has been closed")
        return self._connections.get()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``) that bumps the change counter; rolled back on any error."""
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # still locked by another writer after the busy timeout
            raise GalleryError(f"the gallery {self.path} is busy, try again: {error}") from None
        try:
            yield connection
            connection.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
            self._prune_log(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction, so that several queries see the same snapshot."""
        connection = self._connection()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def _migrate(self) -> None:
        """Bring the schema to the newest version, all migrations in one transaction (so never half-applied)."""
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as error:
            raise GalleryError(f"{self.path} is not a usable SQLite gallery: {error}") from None
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else row[0]
            if version > len(MIGRATIONS):
                raise GalleryError(
                    f"the gallery {self.path} has schema version {version}, newer than this faceprint understands "
                    f"({len(MIGRATIONS)}); upgrade faceprint"
                )
            for number in range(version, len(MIGRATIONS)):
                log.info("migrating gallery %s to schema version %d", self.path, number + 1)
                MIGRATIONS[number](connection)
            if row is None:
                connection.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),))
            elif version != len(MIGRATIONS):
                connection.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    @staticmethod
    def _log_position(connection: sqlite3.Connection) -> int:
        """The sequence number of the newest vector log entry ever written (0 if none)."""
        row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'").fetchone()
        return 0 if row is None else row[0]

    def _prune_log(self, connection: sqlite3.Connection) -> None:
        """Keep the vector log to about ``LOG_KEEP`` entries; ``log_floor`` records the newest one deleted."""
        floor = connection.execute("SELECT log_floor FROM changes WHERE id = 1").fetchone()[0]
        position = self._log_position(connection)
        if position - floor > 2 * LOG_KEEP:
            cutoff = position - LOG_KEEP
            connection.execute("DELETE FROM vector_log WHERE seq <= ?", (cutoff,))
            connection.execute("UPDATE changes SET log_floor = ? WHERE id = 1", (cutoff,))

    def schema_version(self) -> int:
        """The schema version of the file (``len(MIGRATIONS)`` once opened)."""
        return self._connection().execute("SELECT version FROM schema_version").fetchone()[0]

    # --- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _person_id(connection: sqlite3.Connection, name: str) -> int:
        row = connection.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")
        return row[0]

    @staticmethod
    def _model_ids(connection: sqlite3.Connection, vectors: Mapping[str, np.ndarray]) -> dict[str, int]:
        """Each model's id, registering new models with the size of their first vector; sizes are checked."""
        ids: dict[str, int] = {}
        for model, vector in vectors.items():
            row = connection.execute("SELECT id, dim FROM models WHERE name = ?", (model,)).fetchone()
            if row is None:
                cursor = connection.execute("INSERT INTO models (name, dim) VALUES (?, ?)", (model, vector.size))
                ids[model] = cursor.lastrowid
            else:
                check_dimension(model, row[1], vector.size)
                ids[model] = row[0]
        return ids

    _PHOTO_COLUMNS = (
        "SELECT ph.id, p.name, ph.content_hash, ph.created, ph.quality, "
        "EXISTS (SELECT 1 FROM photo_blobs b WHERE b.photo_id = ph.id AND b.image IS NOT NULL) "
        "FROM photos ph JOIN people p ON p.id = ph.person_id "
    )

    @staticmethod
    def _photo(row: tuple) -> PhotoRecord:
        return PhotoRecord(
            id=row[0],
            person=row[1],
            content_hash=row[2],
            created=_timestamp(row[3]),
            quality=json.loads(row[4]),
            has_image=bool(row[5]),
        )

    _PERSON_COLUMNS = (
        "SELECT p.name, (SELECT COUNT(*) FROM photos ph WHERE ph.person_id = p.id), p.created, p.updated, "
        "(SELECT b.thumbnail FROM photos ph JOIN photo_blobs b ON b.photo_id = ph.id "
        " WHERE ph.person_id = p.id AND b.thumbnail IS NOT NULL ORDER BY ph.id LIMIT 1) "
        "FROM people p "
    )

    @staticmethod
    def _person(row: tuple) -> Person:
        return Person(
            name=row[0], photos=row[1], created=_timestamp(row[2]), updated=_timestamp(row[3]), thumbnail=row[4]
        )

    # --- the Gallery protocol --------------------------------------------------------------------------

    def add_photo(
        self,
        person: str,
        content_hash: str,
        embeddings: Mapping[str, np.ndarray],
        quality: Mapping[str, float] | None = None,
        thumbnail: bytes | None = None,
        image: bytes | None = None,
    ) -> tuple[PhotoRecord, bool]:
        """Store a photo and its embeddings, creating the person if new; all or nothing.

        Re-adding a ``content_hash`` the person already has returns the stored record and ``False``; embeddings
        of models that photo does not have yet are added (so a new model can be back-filled), nothing else
        changes. The person's thumbnail is that of their oldest photo that has one."""
        name = normalize_name(person)
        content_hash = validate_content_hash(content_hash)
        vectors = validate_embeddings(embeddings)
        quality_text = quality_json(quality)
        thumbnail = check_blob("thumbnail", thumbnail)
        image = check_blob("image", image)
        now = time.time()
        with self._write() as connection:
            model_ids = self._model_ids(connection, vectors)
            photo_id, created, _, _ = self._store_photo(
                connection, model_ids, name, content_hash, vectors, quality_text, thumbnail, image, now, now, now
            )
            record = self._photo(connection.execute(self._PHOTO_COLUMNS + "WHERE ph.id = ?", (photo_id,)).fetchone())
        return record, created

    @staticmethod
    def _store_photo(
        connection: sqlite3.Connection,
        model_ids: Mapping[str, int],
        name: str,
        content_hash: str,
        vectors: Mapping[str, np.ndarray],
        quality_text: str,
        thumbnail: bytes | None,
        image: bytes | None,
        created_at: float,
        person_created: float,
        person_updated: float,
    ) -> tuple[int, bool, bool, int]:
        """Insert one photo (and its person if new) in the caller's transaction: ``(photo id, photo created,
        person created, embeddings added)``. An existing photo only gains the models it lacked."""
        row = connection.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        person_new = row is None
        if person_new:
            person_id = connection.execute(
                "INSERT INTO people (name, created, updated) VALUES (?, ?, ?)", (name, person_created, person_updated)
            ).lastrowid
        else:
            person_id = row[0]
        row = connection.execute(
            "SELECT id FROM photos WHERE person_id = ? AND content_hash = ?", (person_id, content_hash)
        ).fetchone()
        created = row is None
        if created:
            photo_id = connection.execute(
                "INSERT INTO photos (person_id, content_hash, created, quality) VALUES (?, ?, ?, ?)",
                (person_id, content_hash, created_at, quality_text),
            ).lastrowid
            if thumbnail is not None or image is not None:
                connection.execute(
                    "INSERT INTO photo_blobs (photo_id, thumbnail, image) VALUES (?, ?, ?)",
                    (photo_id, thumbnail, image),
                )
            if not person_new:
                connection.execute(
                    "UPDATE people SET updated = max(updated, ?) WHERE id = ?", (person_updated, person_id)
                )
        else:
            photo_id = row[0]
        cursor = connection.executemany(
            "INSERT OR IGNORE INTO embeddings (model_id, photo_id, vector) VALUES (?, ?, ?)",
            [(model_ids[model], photo_id, vector.tobytes()) for model, vector in vectors.items()],
        )
        return photo_id, created, person_new, max(cursor.rowcount, 0)

    def import_photos(self, photos: Iterable[PhotoData]) -> ImportSummary:
        """Store many photos with their own times, all in one transaction (all or nothing).

        Idempotent like :meth:`add_photo`: a photo the person already has (same content hash) only gains the
        models it lacked. New people get the creation and change times given; existing ones keep theirs."""
        summary = ImportSummary()
        with self._write() as connection:
            model_ids: dict[str, int] = {}
            dims: dict[str, int] = {}
            for photo in photos:
                checked = check_photo_data(photo)
                new = {m: v for m, v in checked.embeddings.items() if m not in model_ids}
                if new:  # registered, or checked against the stored size, by _model_ids
                    model_ids.update(self._model_ids(connection, new))
                    dims.update({model: vector.size for model, vector in new.items()})
                for model, vector in checked.embeddings.items():
                    check_dimension(model, dims[model], vector.size)
                _, created, person_new, added = self._store_photo(
                    connection,
                    model_ids,
                    checked.person,
                    checked.content_hash,
                    checked.embeddings,
                    quality_json(checked.quality),
                    checked.thumbnail,
                    checked.image,
                    checked.created.timestamp(),
                    checked.person_created.timestamp(),
                    checked.person_updated.timestamp(),
                )
                summary.count(created, person_new, added)
        return summary

    def dump(self, batch: int = 1_000) -> Iterator[PhotoData]:
        """Every photo with everything stored about it (raw vectors of every model, thumbnail, image), by person
        name then age, from one consistent snapshot; for export. Consume it fully or close it."""
        connection = self._connection()
        connection.execute("BEGIN")
        try:
            models = dict(connection.execute("SELECT id, name FROM models").fetchall())
            cursor = connection.execute(
                "SELECT ph.id, p.name, p.created, p.updated, ph.content_hash, ph.created, ph.quality, "
                "b.thumbnail, b.image FROM photos ph JOIN people p ON p.id = ph.person_id "
                "LEFT JOIN photo_blobs b ON b.photo_id = ph.id ORDER BY p.name, ph.id"
            )
            while rows := cursor.fetchmany(batch):
                vectors: dict[int, dict[str, np.ndarray]] = {row[0]: {} for row in rows}
                embedded = connection.execute(
                    "SELECT photo_id, model_id, vector FROM embeddings "
                    "WHERE photo_id IN (SELECT value FROM json_each(?))",
                    (_ids_json(vectors),),
                )
                for photo_id, model_id, blob in embedded.fetchall():
                    vectors[photo_id][models[model_id]] = np.frombuffer(blob, dtype=np.float32).copy()
                for row in rows:
                    yield PhotoData(
                        person=row[1],
                        person_created=_timestamp(row[2]),
                        person_updated=_timestamp(row[3]),
                        content_hash=row[4],
                        created=_timestamp(row[5]),
                        quality=json.loads(row[6]),
                        embeddings=vectors[row[0]],
                        thumbnail=row[7],
                        image=row[8],
                    )
        finally:
            if connection.in_transaction:
                connection.execute("COMMIT")

    def people(self) -> list[Person]:
        """Every enrolled person, sorted by name (case-insensitively)."""
        with self._read() as connection:
            rows = connection.execute(self._PERSON_COLUMNS).fetchall()
        return sort_people([self._person(row) for row in rows])

    def person(self, name: str) -> Person:
        """One person; ``UnknownPersonError`` if absent."""
        name = normalize_name(name)
        with self._read() as connection:
            row = connection.execute(self._PERSON_COLUMNS + "WHERE p.name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")
        return self._person(row)

    def photos(self, name: str) -> list[PhotoRecord]:
        """A person's photos, oldest first; ``UnknownPersonError`` if absent."""
        name = normalize_name(name)
        with self._read() as connection:
            person_id = self._person_id(connection, name)
            rows = connection.execute(self._PHOTO_COLUMNS + "WHERE ph.person_id = ? ORDER BY ph.id", (person_id,))
            return [self._photo(row) for row in rows.fetchall()]

    def rename(self, old: str, new: str) -> None:
        """Rename a person; ``UnknownPersonError`` if ``old`` is absent, ``PersonExistsError`` if ``new`` exists."""
        old, new = normalize_name(old), normalize_name(new)
        with self._write() as connection:
            person_id = self._person_id(connection, old)
            if old == new:
                return
            if connection.execute("SELECT 1 FROM people WHERE name = ?", (new,)).fetchone():
                raise PersonExistsError(f"a person named {new!r} already exists; delete or rename them first")
            connection.execute("UPDATE people SET name = ?, updated = ? WHERE id = ?", (new, time.time(), person_id))

    def delete(self, name: str) -> None:
        """Remove a person and every photo, embedding, thumbnail and image of theirs."""
        name = normalize_name(name)
        with self._write() as connection:
            person_id = self._person_id(connection, name)
            # Foreign keys cascade; the explicit deletes keep it so even if a connection lacked the pragma.
            photo_ids = "SELECT id FROM photos WHERE person_id = ?"
            connection.execute(f"DELETE FROM embeddings WHERE photo_id IN ({photo_ids})", (person_id,))
            connection.execute(f"DELETE FROM photo_blobs WHERE photo_id IN ({photo_ids})", (person_id,))
            connection.execute("DELETE FROM photos WHERE person_id = ?", (person_id,))
            connection.execute("DELETE FROM people WHERE id = ?", (person_id,))

    def remove_photo(self, name: str, photo_id: int) -> None:
        """Remove one photo and its embeddings and blobs; a person left with no photos is deleted."""
        name = normalize_name(name)
        with self._write() as connection:
            person_id = self._person_id(connection, name)
            row = connection.execute(
                "SELECT id FROM photos WHERE id = ? AND person_id = ?", (int(photo_id), person_id)
            ).fetchone()
            if row is None:
                raise UnknownPhotoError(f"{name!r} has no photo with id {photo_id}")
            connection.execute("DELETE FROM embeddings WHERE photo_id = ?", (row[0],))
            connection.execute("DELETE FROM photo_blobs WHERE photo_id = ?", (row[0],))
            connection.execute("DELETE FROM photos WHERE id = ?", (row[0],))
            if connection.execute("SELECT 1 FROM photos WHERE person_id = ? LIMIT 1", (person_id,)).fetchone():
                connection.execute("UPDATE people SET updated = ? WHERE id = ?", (time.time(), person_id))
            else:
                connection.execute("DELETE FROM people WHERE id = ?", (person_id,))

    # --- search: one in-memory index per model, kept current through the vector log ----------------------

    def index_path(self, model: str, model_id: int) -> Path:
        """Where the model's HNSW index is saved: beside the database, e.g. ``gallery.db.facenet.index``."""
        return self.path.with_name(f"{self.path.name}.{_safe_file_part(model, model_id)}.index")

    def _searcher(self, model: str) -> _Searcher | None:
        """The model's index as of the latest write (``None`` if the model has no vectors); call under the lock.

        Fast path: the change counter has not moved. Otherwise the log entries since the index's position are
        applied; a new index is loaded from its file (then caught up) or built from every stored vector."""
        connection = self._connection()
        counter = connection.execute("SELECT counter FROM changes WHERE id = 1").fetchone()[0]
        searcher = self._searchers.get(model)
        if searcher is not None and searcher.counter == counter:
            return searcher if len(searcher.index) else None
        if searcher is None:
            searcher = self._open_searcher(model)
            if searcher is None:
                return None
            self._searchers[model] = searcher
        with self._read() as connection:
            counter = connection.execute("SELECT counter FROM changes WHERE id = 1").fetchone()[0]
            self._catch_up(connection, model, searcher)
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
        with self._read() as connection:
            model_row = connection.execute("SELECT id, dim FROM models WHERE name = ?", (model,)).fetchone()
            gallery_id = connection.execute("SELECT gallery_id FROM changes WHERE id = 1").fetchone()[0]
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
                log.info("loaded the %s index of %s (%d vectors)", model, self.path, len(index))
                return _Searcher(model_id=model_id, index=index, seq=int(meta.get("seq", -1)))
        index = VectorIndex(
            dim, self._vector_source(model_id), ann_threshold=self.ann_threshold, ef_search=self.ef_search
        )
        with self._read() as connection:
            seq = self._log_position(connection)
            cursor = connection.execute(
                "SELECT photo_id, vector FROM embeddings WHERE model_id = ? ORDER BY photo_id", (model_id,)
            )
            while rows := cursor.fetchmany(50_000):  # in slices, so memory holds the index and one slice
                keys = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
                vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), dim)
                index.add(keys, vectors)
        log.info(
            "indexed %d %s vectors of %s (%s)", len(index), model, self.path, "HNSW" if index.approximate else "exact"
        )
        searcher = _Searcher(model_id=model_id, index=index, seq=seq, checked=True)
        if self.save_index and index.approximate:
            self._save(model, searcher)
        return searcher

    def _vector_source(self, model_id: int):
        """The exact vectors of photo ids, read from the database (for re-ranking HNSW candidates)."""

        def source(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            found = self._stored_vectors(model_id, np.asarray(keys).tolist())
            ids = np.fromiter(found, dtype=np.int64, count=len(found))
            blob = b"".join(found.values())
            return ids, np.frombuffer(blob, dtype=np.float32).reshape(len(found), -1)

        return source

    def _stored_vectors(self, model_id: int, photo_ids: Sequence[int]) -> dict[int, bytes]:
        """The stored vector (float32 bytes) of each of these photos that has one for the model."""
        connection = self._connection()
        found: dict[int, bytes] = {}
        for start in range(0, len(photo_ids), _BATCH):
            found.update(
                connection.execute(
                    "SELECT photo_id, vector FROM embeddings WHERE model_id = ? "
                    "AND photo_id IN (SELECT value FROM json_each(?))",
                    (model_id, _ids_json(photo_ids[start : start + _BATCH])),
                ).fetchall()
            )
        return found

    def _catch_up(self, connection: sqlite3.Connection, model: str, searcher: _Searcher) -> None:
        """Apply the vector log since the index's position (in the caller's read transaction); when the log no
        longer reaches back that far, or the index is ahead of it, compare photo ids instead."""
        position = self._log_position(connection)
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
            log.info("re-synchronising the %s index of %s with the database", model, self.path)
            stored_ids = np.fromiter(
                (
                    row[0]
                    for row in connection.execute(
                        "SELECT photo_id FROM embeddings WHERE model_id = ?", (searcher.model_id,)
                    )
                ),
                dtype=np.int64,
            )
            indexed = index.keys()
            removed = np.setdiff1d(indexed, stored_ids).tolist()
            added = np.setdiff1d(stored_ids, indexed).tolist()
            rows = removed + added
        index.remove(np.asarray(removed, dtype=np.int64))
        source = self._vector_source(searcher.model_id)
        for start in range(0, len(added), 50_000):
            keys, vectors = source(np.asarray(added[start : start + 50_000], dtype=np.int64))
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
                    "the saved %s index of %s was out of step with the database; re-synchronising", model, self.path
                )
                searcher.seq = -1
                self._catch_up(connection, model, searcher)

    def _save(self, model: str, searcher: _Searcher) -> None:
        """Write the model's HNSW index beside the database with the log position it reflects."""
        with self._read() as connection:
            gallery_id = connection.execute("SELECT gallery_id FROM changes WHERE id = 1").fetchone()[0]
        meta = {"gallery_id": gallery_id, "model_id": searcher.model_id, "model": model, "seq": searcher.seq}
        searcher.index.save(self.index_path(model, searcher.model_id), meta)
        searcher.unsaved = 0

    def search(self, model: str, vectors: np.ndarray, k: int = 10) -> list[list[Candidate]]:
        """For each query row, the ``k`` stored photos most similar under ``model``, best first.

        Exact below the index threshold, HNSW (approximate) above it; either way the similarities are exact
        cosines of the photos returned. A model with no stored vectors gives empty lists; a query of the wrong
        size is an error."""
        queries = query_matrix(vectors, k)
        with self._lock:
            searcher = self._searcher(model)
            if searcher is None:
                return [[] for _ in range(len(queries))]
            check_dimension(model, searcher.index.dim, queries.shape[1])
            hits = searcher.index.search(queries, k)
        names = self._names(np.unique(np.concatenate([keys for keys, _ in hits])) if hits else [])
        return [
            [
                Candidate(names[key], key, float(similarity))
                for key, similarity in zip(keys.tolist(), sims)
                if key in names
            ]
            for keys, sims in hits
        ]

    def _names(self, photo_ids: Iterable[int]) -> dict[int, str]:
        """Each photo's person (photos deleted meanwhile are left out)."""
        rows = self._connection().execute(
            "SELECT ph.id, p.name FROM photos ph JOIN people p ON p.id = ph.person_id "
            "WHERE ph.id IN (SELECT value FROM json_each(?))",
            (_ids_json(photo_ids),),
        )
        return dict(rows.fetchall())

    def vectors(self, model: str, photo_ids: Sequence[int]) -> np.ndarray:
        """The stored ``model`` embeddings of the given photos as unit rows, one row each (zeros where a photo
        has none)."""
        connection = self._connection()
        row = connection.execute("SELECT id, dim FROM models WHERE name = ?", (model,)).fetchone()
        if row is None:
            return np.zeros((len(photo_ids), 0), dtype=np.float32)
        model_id, dim = row
        wanted = [int(photo_id) for photo_id in photo_ids]
        found = self._stored_vectors(model_id, wanted)
        result = np.zeros((len(wanted), dim), dtype=np.float32)
        for position, photo_id in enumerate(wanted):
            if (blob := found.get(photo_id)) is not None:
                result[position] = unit_rows(np.frombuffer(blob, dtype=np.float32)[None, :])[0]
        return result

    def index_stats(self, model: str) -> dict:
        """How the model is searched right now: vector count, exact or HNSW, memory held (for benchmarks)."""
        with self._lock:
            searcher = self._searcher(model)
            if searcher is None:
                return {"vectors": 0, "approximate": False, "memory_bytes": 0}
            index = searcher.index
            return {"vectors": len(index), "approximate": index.approximate, "memory_bytes": index.memory_bytes()}

    def models(self) -> set[str]:
        """The models that have at least one stored embedding."""
        rows = self._connection().execute(
            "SELECT name FROM models m WHERE EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id = m.id)"
        )
        return {row[0] for row in rows.fetchall()}

    def count(self) -> int:
        """The number of stored photos."""
        return self._connection().execute("SELECT COUNT(*) FROM photos").fetchone()[0]

    def close(self) -> None:
        """Save HNSW indexes that changed a lot since they were saved, close every connection, drop the indexes."""
        with self._lock:
            if not self._closed and self.save_index:
                for model, searcher in self._searchers.items():
                    if searcher.index.approximate and searcher.unsaved >= SAVE_AFTER_CHANGES:
                        with contextlib.suppress(GalleryError, sqlite3.Error):
                            self._save(model, searcher)
            self._searchers.clear()
            self._closed = True
        self._connections.close_all()

    def __enter__(self) -> SQLiteGallery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteGallery({str(self.path)!r})"
