"""The shared gallery: PostgreSQL with pgvector, for several app servers and millions of faces.

Tables live in the ``faceprint`` schema; each model's vectors get a table of their own (``vector(DIM)``, the
dimension fixed by the model's first vector) with an HNSW index on cosine distance, so a search is an index
scan rather than a pass over every face. ``hnsw.ef_search`` (recall against speed) is set per search. The
extension and schema are created on first open under a transaction-level advisory lock, so servers starting
together do not race; every write is one transaction. Needs psycopg 3 and the ``pgvector`` package."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from faceprint.errors import GalleryError, PersonExistsError, UnknownPersonError, UnknownPhotoError
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

try:
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
except ImportError as _error:  # pragma: no cover - depends on the installation
    raise GalleryError(
        f"a PostgreSQL gallery needs the psycopg and pgvector packages ({_error}); "
        "install them with: pip install 'psycopg[binary]' pgvector"
    ) from None

log = logging.getLogger(__name__)

SCHEMA = "faceprint"
# HNSW settings, measured on 100k face-like 512-d vectors (benchmarks/SEARCH.md): built with ef_construction 128
# (pgvector's default is 64), ef_search 200 gives recall@1 0.994 against exact search at a p95 of about 10 ms;
# with the default build, recall@1 stays at 0.986 even at ef_search 200.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
DEFAULT_EF_SEARCH = 200
MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
HNSW_MAX_DIM = 2000  # pgvector cannot index more dimensions; such models are searched exactly
MIN_PGVECTOR = (0, 5, 0)  # the first release with HNSW
CONNECT_TIMEOUT_S = 10
# Keys of transaction-level advisory locks (any fixed 64-bit numbers unique to faceprint).
_SCHEMA_LOCK = 0x66_61_63_65_70_01
_MODELS_LOCK = 0x66_61_63_65_70_02


def _migrate_to_v1(connection: psycopg.Connection) -> None:
    """The initial schema: people, photos, per-photo blobs, and the registry of models and their tables."""
    for statement in (
        """CREATE TABLE faceprint.people (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE faceprint.photos (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            person_id BIGINT NOT NULL REFERENCES faceprint.people(id) ON DELETE CASCADE,
            content_hash TEXT NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT now(),
            quality JSONB NOT NULL DEFAULT '{}',
            UNIQUE (person_id, content_hash)
        )""",
        """CREATE TABLE faceprint.photo_blobs (
            photo_id BIGINT PRIMARY KEY REFERENCES faceprint.photos(id) ON DELETE CASCADE,
            thumbnail BYTEA,
            image BYTEA
        )""",
        """CREATE TABLE faceprint.models (
            id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            dim INTEGER NOT NULL CHECK (dim > 0),
            table_name TEXT NOT NULL UNIQUE
        )""",
    ):
        connection.execute(statement)


# Migration i takes the schema from version i to i + 1; append new ones, never edit or reorder old ones.
MIGRATIONS: list[Callable[[psycopg.Connection], None]] = [_migrate_to_v1]


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL without faceprint's own query parameters (``ef_search``), and those parameters."""
    parts = urlsplit(url)
    ours = {"ef_search"}
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {key: value for key, value in query if key in ours}
    rest = urlencode([(key, value) for key, value in query if key not in ours])
    return urlunsplit(parts._replace(query=rest)), options


def display_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _similarity(distance: float) -> float:
    """pgvector's cosine distance as a cosine similarity in [-1, 1]."""
    return float(np.clip(1.0 - distance, -1.0, 1.0))


def _close_quietly(connection: psycopg.Connection) -> None:
    with contextlib.suppress(psycopg.Error):
        connection.close()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class PostgresGallery:
    """The ``Gallery`` protocol over PostgreSQL + pgvector (see the module docstring)."""

    def __init__(self, url: str, ef_search: int | None = None) -> None:
        conninfo, options = split_url(url)
        self.url = display_url(url)
        try:
            value = ef_search if ef_search is not None else int(options.get("ef_search", DEFAULT_EF_SEARCH))
        except ValueError:
            raise GalleryError(f"ef_search in {self.url} must be a whole number") from None
        if not 1 <= value <= MAX_EF_SEARCH:
            raise GalleryError(f"ef_search must be between 1 and {MAX_EF_SEARCH} (got {value})")
        self.ef_search = value
        self._conninfo = conninfo
        self._connections = ThreadConnections(self._open, _close_quietly)
        self._closed = False
        self._initialise()  # on its own connection, closed whatever happens

    # --- connections and transactions -------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        try:
            params = conninfo_to_dict(self._conninfo)
            params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
            params.setdefault("application_name", "faceprint")
            return psycopg.connect(autocommit=True, **params)
        except psycopg.Error as error:
            raise GalleryError(f"cannot connect to the gallery database {self.url}: {error}".strip()) from None

    def _open(self) -> psycopg.Connection:
        """A new autocommit connection (transactions are explicit) that sends and reads numpy vectors."""
        connection = self._connect()
        try:
            register_vector(connection)
        except psycopg.Error as error:
            connection.close()
            raise GalleryError(f"the pgvector type is missing in {self.url}: {error}") from None
        return connection

    def _connection(self) -> psycopg.Connection:
        """This thread's connection (reopened if the server dropped it)."""
        if self._closed:
            raise GalleryError(f"the gallery {self.url} has been closed")
        connection = self._connections.get()
        if connection.closed:
            self._connections.discard()
            connection = self._connections.get()
        return connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction on this thread's connection; a lost connection becomes a ``GalleryError``."""
        connection = self._connection()
        try:
            with connection.transaction():
                yield connection
        except psycopg.OperationalError as error:
            if isinstance(error, psycopg.errors.TransactionRollback):
                raise
            self._connections.discard()
            raise GalleryError(f"the gallery database {self.url} failed: {error}".strip()) from None

    def _initialise(self) -> None:
        """Create the extension and schema if missing and apply pending migrations, serialised by a lock."""
        connection = self._connect()
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                self._ensure_pgvector(connection)
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                connection.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version INTEGER NOT NULL)")
                row = connection.execute(f"SELECT version FROM {SCHEMA}.schema_version").fetchone()
                version = 0 if row is None else row[0]
                if version > len(MIGRATIONS):
                    raise GalleryError(
                        f"the gallery {self.url} has schema version {version}, newer than this faceprint understands "
                        f"({len(MIGRATIONS)}); upgrade faceprint"
                    )
                for number in range(version, len(MIGRATIONS)):
                    log.info("migrating gallery %s to schema version %d", self.url, number + 1)
                    MIGRATIONS[number](connection)
                if row is None:
                    connection.execute(f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (%s)", (len(MIGRATIONS),))
                elif version != len(MIGRATIONS):
                    connection.execute(f"UPDATE {SCHEMA}.schema_version SET version = %s", (len(MIGRATIONS),))
        except psycopg.Error as error:
            raise GalleryError(f"cannot prepare the gallery schema in {self.url}: {error}".strip()) from None
        finally:
            connection.close()

    def _ensure_pgvector(self, connection: psycopg.Connection) -> None:
        """Create the ``vector`` extension if missing and check that it has HNSW."""
        row = connection.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is None:
            try:
                with connection.transaction():  # a savepoint, so the error message below is ours
                    connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as error:
                raise GalleryError(
                    f"the pgvector extension is not enabled in {self.url} and could not be created ({error}); "
                    "install pgvector on the server and run CREATE EXTENSION vector as a superuser"
                ) from None
            row = connection.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if _version_tuple(row[0]) < MIN_PGVECTOR:
            raise GalleryError(
                f"pgvector {row[0]} in {self.url} has no HNSW index; upgrade it to 0.5.0 or newer "
                "(ALTER EXTENSION vector UPDATE)"
            )

    def schema_version(self) -> int:
        """The schema version of the database (``len(MIGRATIONS)`` once opened)."""
        with self._transaction() as connection:
            return connection.execute(f"SELECT version FROM {SCHEMA}.schema_version").fetchone()[0]

    # --- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _table(name: str) -> sql.Composable:
        return sql.Identifier(SCHEMA, name)

    def _model_tables(self, connection: psycopg.Connection, vectors: Mapping[str, np.ndarray]) -> dict[str, str]:
        """Each model's table, creating tables for new models (under a lock); vector sizes are checked."""
        tables: dict[str, str] = {}
        for model, vector in vectors.items():
            row = self._model_row(connection, model)
            if row is None:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MODELS_LOCK,))
                row = self._model_row(connection, model)
            if row is None:
                row = (self._create_model_table(connection, model, vector.size), vector.size)
            check_dimension(model, row[1], vector.size)
            tables[model] = row[0]
        return tables

    @staticmethod
    def _model_row(connection: psycopg.Connection, model: str) -> tuple[str, int] | None:
        """A model's table name and dimension, or ``None`` if the gallery has never stored one of its vectors."""
        return connection.execute(f"SELECT table_name, dim FROM {SCHEMA}.models WHERE name = %s", (model,)).fetchone()

    def _create_model_table(self, connection: psycopg.Connection, model: str, dim: int) -> str:
        """Register a model; create its ``vector(dim)`` table and HNSW cosine index (in the caller's transaction)."""
        model_id = connection.execute(
            f"INSERT INTO {SCHEMA}.models (name, dim, table_name) VALUES (%s, %s, '') RETURNING id", (model, dim)
        ).fetchone()[0]
        table = f"embedding_{model_id}"
        connection.execute(f"UPDATE {SCHEMA}.models SET table_name = %s WHERE id = %s", (table, model_id))
        connection.execute(
            sql.SQL(
                "CREATE TABLE {table} (photo_id BIGINT PRIMARY KEY REFERENCES {photos}(id) ON DELETE CASCADE, "
                "embedding vector({dim}) NOT NULL)"
            ).format(table=self._table(table), photos=self._table("photos"), dim=sql.Literal(dim))
        )
        if dim <= HNSW_MAX_DIM:
            connection.execute(
                sql.SQL(
                    "CREATE INDEX {index} ON {table} USING hnsw (embedding vector_cosine_ops) "
                    "WITH (m = {m}, ef_construction = {ef})"
                ).format(
                    index=sql.Identifier(f"{table}_hnsw"),
                    table=self._table(table),
                    m=sql.Literal(HNSW_M),
                    ef=sql.Literal(HNSW_EF_CONSTRUCTION),
                )
            )
        else:
            log.warning("model %s has %d dimensions, more than HNSW indexes; it is searched exactly", model, dim)
        log.info("registered model %s (%d dimensions) as %s.%s", model, dim, SCHEMA, table)
        return table

    @staticmethod
    def _person_id(connection: psycopg.Connection, name: str, lock: bool = False) -> int:
        query = f"SELECT id FROM {SCHEMA}.people WHERE name = %s" + (" FOR UPDATE" if lock else "")
        row = connection.execute(query, (name,)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")
        return row[0]

    _PHOTO_COLUMNS = (
        f"SELECT ph.id, p.name, ph.content_hash, ph.created, ph.quality, "
        f"EXISTS (SELECT 1 FROM {SCHEMA}.photo_blobs b WHERE b.photo_id = ph.id AND b.image IS NOT NULL) "
        f"FROM {SCHEMA}.photos ph JOIN {SCHEMA}.people p ON p.id = ph.person_id "
    )

    @staticmethod
    def _photo(row: tuple) -> PhotoRecord:
        return PhotoRecord(
            id=row[0],
            person=row[1],
            content_hash=row[2],
            created=_utc(row[3]),
            quality=dict(row[4]),
            has_image=bool(row[5]),
        )

    _PERSON_COLUMNS = (
        f"SELECT p.name, (SELECT COUNT(*) FROM {SCHEMA}.photos ph WHERE ph.person_id = p.id), p.created, p.updated, "
        f"(SELECT b.thumbnail FROM {SCHEMA}.photos ph JOIN {SCHEMA}.photo_blobs b ON b.photo_id = ph.id "
        f" WHERE ph.person_id = p.id AND b.thumbnail IS NOT NULL ORDER BY ph.id LIMIT 1) "
        f"FROM {SCHEMA}.people p "
    )

    @staticmethod
    def _person(row: tuple) -> Person:
        thumbnail = None if row[4] is None else bytes(row[4])
        return Person(name=row[0], photos=row[1], created=_utc(row[2]), updated=_utc(row[3]), thumbnail=thumbnail)

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
        with self._transaction() as connection:
            tables = self._model_tables(connection, vectors)
            # Lock the person's row first, so concurrent writes for one person queue instead of racing.
            row = connection.execute(f"SELECT id FROM {SCHEMA}.people WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                row = connection.execute(
                    f"INSERT INTO {SCHEMA}.people (name) VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING id",
                    (name,),
                ).fetchone()
            person_id = row[0] if row is not None else self._person_id(connection, name, lock=True)
            row = connection.execute(
                f"SELECT id FROM {SCHEMA}.photos WHERE person_id = %s AND content_hash = %s",
                (person_id, content_hash),
            ).fetchone()
            created = row is None
            if created:
                photo_id = connection.execute(
                    f"INSERT INTO {SCHEMA}.photos (person_id, content_hash, quality) VALUES (%s, %s, %s::jsonb) "
                    "RETURNING id",
                    (person_id, content_hash, quality_text),
                ).fetchone()[0]
                if thumbnail is not None or image is not None:
                    connection.execute(
                        f"INSERT INTO {SCHEMA}.photo_blobs (photo_id, thumbnail, image) VALUES (%s, %s, %s)",
                        (photo_id, thumbnail, image),
                    )
                connection.execute(f"UPDATE {SCHEMA}.people SET updated = now() WHERE id = %s", (person_id,))
            else:
                photo_id = row[0]
            for model, vector in vectors.items():
                connection.execute(
                    sql.SQL(
                        "INSERT INTO {table} (photo_id, embedding) VALUES (%s, %s) ON CONFLICT (photo_id) DO NOTHING"
                    ).format(table=self._table(tables[model])),
                    (photo_id, vector),
                )
            record = self._photo(connection.execute(self._PHOTO_COLUMNS + "WHERE ph.id = %s", (photo_id,)).fetchone())
        return record, created

    def import_photos(self, photos: Iterable[PhotoData]) -> ImportSummary:
        """Store many photos with their own times, all in one transaction (all or nothing).

        Idempotent like :meth:`add_photo`: a photo the person already has (same content hash) only gains the
        models it lacked. New people get the creation and change times given; existing ones keep theirs."""
        summary = ImportSummary()
        with self._transaction() as connection:
            tables: dict[str, str] = {}
            dims: dict[str, int] = {}
            for photo in photos:
                checked = check_photo_data(photo)
                new = {m: v for m, v in checked.embeddings.items() if m not in tables}
                if new:  # created, or checked against the stored size, by _model_tables
                    tables.update(self._model_tables(connection, new))
                    dims.update({model: vector.size for model, vector in new.items()})
                for model, vector in checked.embeddings.items():
                    check_dimension(model, dims[model], vector.size)
                row = connection.execute(
                    f"SELECT id FROM {SCHEMA}.people WHERE name = %s FOR UPDATE", (checked.person,)
                ).fetchone()
                person_new = row is None
                if person_new:
                    row = connection.execute(
                        f"INSERT INTO {SCHEMA}.people (name, created, updated) VALUES (%s, %s, %s) "
                        "ON CONFLICT (name) DO NOTHING RETURNING id",
                        (checked.person, checked.person_created, checked.person_updated),
                    ).fetchone()
                    person_new = row is not None
                person_id = row[0] if row is not None else self._person_id(connection, checked.person, lock=True)
                row = connection.execute(
                    f"SELECT id FROM {SCHEMA}.photos WHERE person_id = %s AND content_hash = %s",
                    (person_id, checked.content_hash),
                ).fetchone()
                created = row is None
                if created:
                    photo_id = connection.execute(
                        f"INSERT INTO {SCHEMA}.photos (person_id, content_hash, created, quality) "
                        "VALUES (%s, %s, %s, %s::jsonb) RETURNING id",
                        (person_id, checked.content_hash, checked.created, quality_json(checked.quality)),
                    ).fetchone()[0]
                    if checked.thumbnail is not None or checked.image is not None:
                        connection.execute(
                            f"INSERT INTO {SCHEMA}.photo_blobs (photo_id, thumbnail, image) VALUES (%s, %s, %s)",
                            (photo_id, checked.thumbnail, checked.image),
                        )
                    if not person_new:
                        connection.execute(
                            f"UPDATE {SCHEMA}.people SET updated = greatest(updated, %s) WHERE id = %s",
                            (checked.person_updated, person_id),
                        )
                else:
                    photo_id = row[0]
                added = 0
                for model, vector in checked.embeddings.items():
                    cursor = connection.execute(
                        sql.SQL(
                            "INSERT INTO {table} (photo_id, embedding) VALUES (%s, %s) "
                            "ON CONFLICT (photo_id) DO NOTHING"
                        ).format(table=self._table(tables[model])),
                        (photo_id, vector),
                    )
                    added += max(cursor.rowcount, 0)
                summary.count(created, person_new, added)
        return summary

    def dump(self, batch: int = 1_000) -> Iterator[PhotoData]:
        """Every photo with everything stored about it (raw vectors of every model, thumbnail, image), by person
        name then age, from one consistent snapshot (REPEATABLE READ); for export. Consume it fully or close it."""
        with self._transaction() as connection:
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            models = connection.execute(f"SELECT name, table_name FROM {SCHEMA}.models").fetchall()
            with connection.cursor(name="faceprint_dump") as cursor:
                cursor.itersize = batch
                cursor.execute(
                    f"SELECT ph.id, p.name, p.created, p.updated, ph.content_hash, ph.created, ph.quality, "
                    f"b.thumbnail, b.image FROM {SCHEMA}.photos ph JOIN {SCHEMA}.people p ON p.id = ph.person_id "
                    f'LEFT JOIN {SCHEMA}.photo_blobs b ON b.photo_id = ph.id ORDER BY p.name COLLATE "C", ph.id'
                )
                while rows := cursor.fetchmany(batch):
                    vectors: dict[int, dict[str, np.ndarray]] = {row[0]: {} for row in rows}
                    for name, table in models:
                        query = sql.SQL("SELECT photo_id, embedding FROM {table} WHERE photo_id = ANY(%s)").format(
                            table=self._table(table)
                        )
                        for photo_id, vector in connection.execute(query, (list(vectors),)):
                            array = vector.to_numpy() if hasattr(vector, "to_numpy") else vector
                            vectors[photo_id][name] = np.asarray(array, dtype=np.float32)
                    for row in rows:
                        yield PhotoData(
                            person=row[1],
                            person_created=_utc(row[2]),
                            person_updated=_utc(row[3]),
                            content_hash=row[4],
                            created=_utc(row[5]),
                            quality=dict(row[6]),
                            embeddings=vectors[row[0]],
                            thumbnail=None if row[7] is None else bytes(row[7]),
                            image=None if row[8] is None else bytes(row[8]),
                        )

    def people(self) -> list[Person]:
        """Every enrolled person, sorted by name (case-insensitively)."""
        with self._transaction() as connection:
            rows = connection.execute(self._PERSON_COLUMNS).fetchall()
        return sort_people([self._person(row) for row in rows])

    def person(self, name: str) -> Person:
        """One person; ``UnknownPersonError`` if absent."""
        name = normalize_name(name)
        with self._transaction() as connection:
            row = connection.execute(self._PERSON_COLUMNS + "WHERE p.name = %s", (name,)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")
        return self._person(row)

    def photos(self, name: str) -> list[PhotoRecord]:
        """A person's photos, oldest first; ``UnknownPersonError`` if absent."""
        name = normalize_name(name)
        with self._transaction() as connection:
            person_id = self._person_id(connection, name)
            rows = connection.execute(self._PHOTO_COLUMNS + "WHERE ph.person_id = %s ORDER BY ph.id", (person_id,))
            return [self._photo(row) for row in rows.fetchall()]

    def rename(self, old: str, new: str) -> None:
        """Rename a person; ``UnknownPersonError`` if ``old`` is absent, ``PersonExistsError`` if ``new`` exists."""
        old, new = normalize_name(old), normalize_name(new)
        exists = PersonExistsError(f"a person named {new!r} already exists; delete or rename them first")
        try:
            with self._transaction() as connection:
                person_id = self._person_id(connection, old, lock=True)
                if old == new:
                    return
                if connection.execute(f"SELECT 1 FROM {SCHEMA}.people WHERE name = %s", (new,)).fetchone():
                    raise exists
                connection.execute(
                    f"UPDATE {SCHEMA}.people SET name = %s, updated = now() WHERE id = %s", (new, person_id)
                )
        except psycopg.errors.UniqueViolation:
            raise exists from None

    def delete(self, name: str) -> None:
        """Remove a person; photos, blobs and every model's embeddings go with them (foreign keys cascade)."""
        name = normalize_name(name)
        with self._transaction() as connection:
            row = connection.execute(f"DELETE FROM {SCHEMA}.people WHERE name = %s RETURNING id", (name,)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")

    def remove_photo(self, name: str, photo_id: int) -> None:
        """Remove one photo and its embeddings and blobs; a person left with no photos is deleted."""
        name = normalize_name(name)
        with self._transaction() as connection:
            person_id = self._person_id(connection, name, lock=True)
            row = connection.execute(
                f"DELETE FROM {SCHEMA}.photos WHERE id = %s AND person_id = %s RETURNING id", (int(photo_id), person_id)
            ).fetchone()
            if row is None:
                raise UnknownPhotoError(f"{name!r} has no photo with id {photo_id}")
            left = connection.execute(f"SELECT 1 FROM {SCHEMA}.photos WHERE person_id = %s LIMIT 1", (person_id,))
            if left.fetchone():
                connection.execute(f"UPDATE {SCHEMA}.people SET updated = now() WHERE id = %s", (person_id,))
            else:
                connection.execute(f"DELETE FROM {SCHEMA}.people WHERE id = %s", (person_id,))

    def search(self, model: str, vectors: np.ndarray, k: int = 10) -> list[list[Candidate]]:
        """For each query row, the ``k`` stored photos most similar under ``model`` (HNSW, approximate), best first.

        A model with no stored vectors gives empty lists; a query of the wrong size is an error. When ``k``
        exceeds what HNSW can return (``ef_search`` at most 1000) the search is exact instead."""
        queries = query_matrix(vectors, k)
        with self._transaction() as connection:
            row = self._model_row(connection, model)
            if row is None:
                return [[] for _ in range(len(queries))]
            table, dim = row
            check_dimension(model, dim, queries.shape[1])
            if k > MAX_EF_SEARCH:
                connection.execute("SELECT set_config('enable_indexscan', 'off', true)")
            else:
                connection.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(self.ef_search, k)),))
            query = sql.SQL(
                "SELECT e.photo_id, p.name, e.distance FROM ("
                " SELECT photo_id, embedding <=> %(q)s AS distance FROM {table}"
                " ORDER BY embedding <=> %(q)s LIMIT %(k)s"
                ") e JOIN {photos} ph ON ph.id = e.photo_id JOIN {people} p ON p.id = ph.person_id "
                "ORDER BY e.distance, e.photo_id"
            ).format(table=self._table(table), photos=self._table("photos"), people=self._table("people"))
            results = []
            for vector in queries:
                rows = connection.execute(query, {"q": vector, "k": k}).fetchall()
                results.append([Candidate(name, photo_id, _similarity(distance)) for photo_id, name, distance in rows])
        return results

    def vectors(self, model: str, photo_ids: Sequence[int]) -> np.ndarray:
        """The stored ``model`` embeddings of the given photos, one row each (zeros where a photo has none)."""
        with self._transaction() as connection:
            row = self._model_row(connection, model)
            if row is None:
                return np.zeros((len(photo_ids), 0), dtype=np.float32)
            table, dim = row
            query = sql.SQL("SELECT photo_id, embedding FROM {table} WHERE photo_id = ANY(%s)").format(
                table=self._table(table)
            )
            found = {
                pid: np.asarray(vec.to_numpy() if hasattr(vec, "to_numpy") else vec, dtype=np.float32)
                for pid, vec in connection.execute(query, ([int(i) for i in photo_ids],))
            }
        result = np.zeros((len(photo_ids), dim), dtype=np.float32)
        for position, photo_id in enumerate(photo_ids):
            if (vector := found.get(int(photo_id))) is not None:
                result[position] = vector
        return result

    def models(self) -> set[str]:
        """The models that have at least one stored embedding."""
        with self._transaction() as connection:
            names = set()
            for name, table in connection.execute(f"SELECT name, table_name FROM {SCHEMA}.models").fetchall():
                query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {table})").format(table=self._table(table))
                if connection.execute(query).fetchone()[0]:
                    names.add(name)
        return names

    def count(self) -> int:
        """The number of stored photos."""
        with self._transaction() as connection:
            return connection.execute(f"SELECT COUNT(*) FROM {SCHEMA}.photos").fetchone()[0]

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        self._connections.close_all()

    def __enter__(self) -> PostgresGallery:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresGallery({self.url!r})"
