"""The embedded gallery: one SQLite file, exact search with numpy.

Safe with several threads (one connection each) and several processes writing at once: WAL mode, every write
in one ``BEGIN IMMEDIATE`` transaction with a busy timeout. Vectors are float32 BLOBs. Each model's vectors are
loaded into one normalised matrix the first time it is searched and reloaded when a counter that every write
bumps has moved, so writes from other processes are seen by the next search."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from faceprint.errors import GalleryError, PersonExistsError, UnknownPersonError, UnknownPhotoError
from faceprint.gallery.base import (
    Candidate,
    Person,
    PhotoRecord,
    ThreadConnections,
    check_blob,
    check_dimension,
    normalize_name,
    quality_json,
    query_matrix,
    sort_people,
    validate_content_hash,
    validate_embeddings,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 60.0


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


# Migration i takes the schema from version i to i + 1; append new ones, never edit or reorder old ones.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_v1]


def _close_quietly(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        connection.close()


def _timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass
class _Matrix:
    """One model's vectors as loaded at change counter ``counter``: unit rows, their photo ids and people."""

    counter: int
    photo_ids: np.ndarray
    people: list[str]
    vectors: np.ndarray


class SQLiteGallery:
    """The ``Gallery`` protocol over one SQLite file (see the module docstring for how it stays safe)."""

    def __init__(self, path: str | os.PathLike[str], url: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.url = url or f"sqlite:///{self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise GalleryError(f"cannot create the gallery folder {self.path.parent}: {error}") from None
        self._connections = ThreadConnections(self._open, _close_quietly)
        self._lock = threading.Lock()  # guards the cached matrices
        self._matrices: dict[str, _Matrix] = {}
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
            row = connection.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
            if row is None:
                person_id = connection.execute(
                    "INSERT INTO people (name, created, updated) VALUES (?, ?, ?)", (name, now, now)
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
                    (person_id, content_hash, now, quality_text),
                ).lastrowid
                if thumbnail is not None or image is not None:
                    connection.execute(
                        "INSERT INTO photo_blobs (photo_id, thumbnail, image) VALUES (?, ?, ?)",
                        (photo_id, thumbnail, image),
                    )
                connection.execute("UPDATE people SET updated = ? WHERE id = ?", (now, person_id))
            else:
                photo_id = row[0]
            connection.executemany(
                "INSERT OR IGNORE INTO embeddings (model_id, photo_id, vector) VALUES (?, ?, ?)",
                [(model_ids[model], photo_id, vector.tobytes()) for model, vector in vectors.items()],
            )
            record = self._photo(connection.execute(self._PHOTO_COLUMNS + "WHERE ph.id = ?", (photo_id,)).fetchone())
        return record, created

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

    def _matrix(self, model: str) -> _Matrix | None:
        """The model's vectors as of the latest write (``None`` if the model has none), reloaded if stale."""
        connection = self._connection()
        counter = connection.execute("SELECT counter FROM changes WHERE id = 1").fetchone()[0]
        with self._lock:
            cached = self._matrices.get(model)
            if cached is not None and cached.counter == counter:
                return cached
            with self._read() as connection:
                counter = connection.execute("SELECT counter FROM changes WHERE id = 1").fetchone()[0]
                model_row = connection.execute("SELECT id, dim FROM models WHERE name = ?", (model,)).fetchone()
                rows = []
                if model_row is not None:
                    rows = connection.execute(
                        "SELECT e.photo_id, p.name, e.vector FROM embeddings e "
                        "JOIN photos ph ON ph.id = e.photo_id JOIN people p ON p.id = ph.person_id "
                        "WHERE e.model_id = ? ORDER BY e.photo_id",
                        (model_row[0],),
                    ).fetchall()
            if not rows:
                self._matrices.pop(model, None)
                return None
            dim = model_row[1]
            vectors = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32).reshape(len(rows), dim)
            vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            matrix = _Matrix(
                counter=counter,
                photo_ids=np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
                people=[row[1] for row in rows],
                vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            )
            self._matrices[model] = matrix
            log.debug("loaded %d %s vectors from %s", len(rows), model, self.path)
            return matrix

    def search(self, model: str, vectors: np.ndarray, k: int = 10) -> list[list[Candidate]]:
        """For each query row, the ``k`` stored photos most similar under ``model`` (exact), best first.

        A model with no stored vectors gives empty lists; a query of the wrong size is an error."""
        queries = query_matrix(vectors, k)
        matrix = self._matrix(model)
        if matrix is None:
            return [[] for _ in range(len(queries))]
        check_dimension(model, matrix.vectors.shape[1], queries.shape[1])
        scores = queries @ matrix.vectors.T
        k = min(k, scores.shape[1])
        results = []
        for row in scores:
            top = np.argpartition(-row, k - 1)[:k] if k < row.size else np.arange(row.size)
            top = top[np.argsort(-row[top], kind="stable")]
            results.append(
                [Candidate(matrix.people[i], int(matrix.photo_ids[i]), float(np.clip(row[i], -1, 1))) for i in top]
            )
        return results

    def vectors(self, model: str, photo_ids: Sequence[int]) -> np.ndarray:
        """The stored ``model`` embeddings of the given photos, one row each (zeros where a photo has none)."""
        matrix = self._matrix(model)
        if matrix is None:
            return np.zeros((len(photo_ids), 0), dtype=np.float32)
        rows = {int(photo_id): index for index, photo_id in enumerate(matrix.photo_ids)}
        result = np.zeros((len(photo_ids), matrix.vectors.shape[1]), dtype=np.float32)
        for position, photo_id in enumerate(photo_ids):
            if (index := rows.get(int(photo_id))) is not None:
                result[position] = matrix.vectors[index]
        return result

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
        """Close every thread's connection and drop the cached matrices."""
        with self._lock:
            self._matrices.clear()
            self._closed = True
        self._connections.close_all()

    def __enter__(self) -> SQLiteGallery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteGallery({str(self.path)!r})"
