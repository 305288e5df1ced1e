"""The shared gallery: PostgreSQL with pgvector, for several app servers and millions of faces.

Tables live in the ``faceprint`` schema (first on each connection's search path); another collection's in
``faceprint_collection_NAME`` (``?collection=NAME`` in the URL, see ``faceprint.gallery.collections``). Each model's
vectors get a table of their own (``embedding_<model id>``, ``vector(DIM)``, the dimension fixed by the model's first
vector) with an HNSW index on cosine distance, so a search is an index scan rather than a pass over every face.
``hnsw.ef_search`` (recall against speed) is set per search. The extension, schema and upgrades are applied on
open under a transaction-level advisory lock, so servers starting together do not race; every write is one
transaction. Needs psycopg 3 and the ``pgvector`` package."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from faceprint.errors import GalleryError
from faceprint.gallery.base import ThreadConnections
from faceprint.gallery.collections import DEFAULT_COLLECTION, url_collection
from faceprint.gallery.engine import Engine, ModelRow, Tx
from faceprint.gallery.schema import Type
from faceprint.gallery.store import GalleryStore

try:
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.conninfo import conninfo_to_dict
except ImportError as _error:  # pragma: no cover - depends on the installation
    raise GalleryError(
        f"a PostgreSQL gallery needs the psycopg and pgvector packages ({_error}); "
        "install them with: pip install 'psycopg[binary]' pgvector"
    ) from None

log = logging.getLogger(__name__)

SCHEMA = "faceprint"  # the default collection's schema
COLLECTION_SCHEMA_PREFIX = "faceprint_collection_"  # + the collection's name (lowercase letters, digits, - and _)
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


def schema_for(collection: str) -> str:
    """The quoted name of a collection's schema (names are checked: letters, digits, '-' and '_' only)."""
    return SCHEMA if collection == DEFAULT_COLLECTION else f'"{COLLECTION_SCHEMA_PREFIX}{collection}"'


def _search_path(schema: str) -> str:
    """The statement that puts ``schema`` first on the search path (the parameter: for the current transaction only)."""
    return f"SELECT set_config('search_path', '{schema}, ' || current_setting('search_path'), %s)"


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL without faceprint's own query parameters (``ef_search``), and those parameters."""
    parts = urlsplit(url)
    ours = {"ef_search", "collection"}
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


def _close_quietly(connection: psycopg.Connection) -> None:
    with contextlib.suppress(psycopg.Error):
        connection.close()


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    return sql.replace("?", "%s")


def _table(model: ModelRow) -> str:
    """The table of a model's vectors (named by its id, so never by text a user chose)."""
    return f"embedding_{int(model.id)}"


def _numpy(vector: Any) -> np.ndarray:
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)


def _storage_v1(tx: Tx) -> None:
    """The name of each model's vector table (always ``embedding_<id>``)."""
    tx.run("ALTER TABLE models ADD COLUMN table_name TEXT NOT NULL UNIQUE")


def _storage_v3(tx: Tx) -> None:
    """Vector tables are named by model id alone; the column that repeated it goes."""
    tx.run("ALTER TABLE models DROP COLUMN table_name")


class PostgresEngine(Engine):
    """PostgreSQL + pgvector: one connection per thread; row locks and advisory locks keep writers apart."""

    name = "postgresql"
    TYPES: ClassVar[dict[Type, str]] = {
        Type.ID: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        Type.REF: "BIGINT",
        Type.INTEGER: "INTEGER",
        Type.TEXT: "TEXT",
        Type.TIME: "TIMESTAMPTZ",
        Type.JSON: "JSONB",
        Type.BLOB: "BYTEA",
    }
    row_lock = " FOR UPDATE"
    byte_order = ' COLLATE "C"'
    in_ids = "= ANY(?)"
    unique_violation = (psycopg.errors.UniqueViolation,)
    storage_steps: ClassVar[dict[int, Callable[[Tx], None]]] = {1: _storage_v1, 3: _storage_v3}

    def __init__(self, conninfo: str, url: str, ef_search: int, schema: str = SCHEMA) -> None:
        self.conninfo = conninfo
        self.url = url
        self.ef_search = ef_search
        self.schema = schema
        self._connections = ThreadConnections(self._open, _close_quietly)
        self._closed = False

    # --- dialect -------------------------------------------------------------------------------------------

    def statement(self, sql: str) -> str:
        return _placeholders(sql)

    def ids(self, ids: Sequence[int]) -> list[int]:
        return [int(i) for i in ids]

    def read_time(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def read_json(self, value: Any) -> dict:
        return dict(value)

    # --- connections and transactions ----------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        try:
            params = conninfo_to_dict(self.conninfo)
            params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
            params.setdefault("application_name", "faceprint")
            return psycopg.connect(autocommit=True, **params)
        except psycopg.Error as error:
            raise GalleryError(f"cannot connect to the gallery database {self.url}: {error}".strip()) from None

    def _open(self) -> psycopg.Connection:
        """A new autocommit connection (transactions are explicit) that sends and reads numpy vectors."""
        connection = self._connect()
        try:
            connection.execute(_search_path(self.schema), (False,))
            register_vector(connection)
        except psycopg.Error as error:
            connection.close()
            raise GalleryError(f"the pgvector type is missing in {self.url}: {error}") from None
        return connection

    def connection(self) -> psycopg.Connection:
        """This thread's connection (reopened if the server dropped it)."""
        if self._closed:
            raise GalleryError(f"the gallery {self.url} has been closed")
        connection = self._connections.get()
        if connection.closed:
            self._connections.discard()
            connection = self._connections.get()
        return connection

    @contextlib.contextmanager
    def _transaction(self, first: str | None = None) -> Iterator[Tx]:
        """One transaction on this thread's connection; a lost connection becomes a ``GalleryError``."""
        connection = self.connection()
        try:
            with connection.transaction():
                if first is not None:
                    connection.execute(first)
                yield Tx(self, connection)
        except psycopg.OperationalError as error:
            if isinstance(error, psycopg.errors.TransactionRollback):
                raise
            self._connections.discard()
            raise GalleryError(f"the gallery database {self.url} failed: {error}".strip()) from None

    def write(self) -> contextlib.AbstractContextManager[Tx]:
        return self._transaction()

    def read(self, snapshot: bool = False) -> contextlib.AbstractContextManager[Tx]:
        """``snapshot``: REPEATABLE READ, so that every batch of a long read sees the same state."""
        return self._transaction("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY" if snapshot else None)

    @contextlib.contextmanager
    def migration(self) -> Iterator[Tx]:
        """On a connection of its own: the extension and schema created if missing, under an advisory lock."""
        connection = self._connect()
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                self._ensure_pgvector(connection)
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                connection.execute(_search_path(self.schema), (True,))
                yield Tx(self, connection)
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

    def stream(self, tx: Tx, sql: str, params: Sequence[Any], batch: int) -> Iterator[list[tuple]]:
        """A server-side cursor, so that a big gallery is never held in memory at once."""
        with tx.connection.cursor(name="faceprint_stream") as cursor:
            cursor.itersize = batch
            cursor.execute(self.statement(sql), params)
            while rows := cursor.fetchmany(batch):
                yield rows

    def close(self) -> None:
        self._closed = True
        self._connections.close_all()

    # --- vector storage ------------------------------------------------------------------------------------

    def lock_models(self, tx: Tx) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (_MODELS_LOCK,))

    def create_vector_storage(self, tx: Tx, model: ModelRow) -> None:
        """The model's ``vector(dim)`` table and HNSW cosine index (in the caller's transaction)."""
        table, dim = _table(model), int(model.dim)
        tx.run(
            f"CREATE TABLE {table} (photo_id BIGINT PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE, "
            f"embedding vector({dim}) NOT NULL)"
        )
        if dim <= HNSW_MAX_DIM:
            tx.run(
                f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )
        else:
            log.warning("model %s has %d dimensions, more than HNSW indexes; it is searched exactly", model.name, dim)
        log.info("registered model %s (%d dimensions) as %s.%s", model.name, dim, self.schema, table)

    def store_vector(self, tx: Tx, model: ModelRow, photo_id: int, vector: np.ndarray) -> bool:
        cursor = tx.run(
            f"INSERT INTO {_table(model)} (photo_id, embedding) VALUES (?, ?) ON CONFLICT (photo_id) DO NOTHING",
            (photo_id, vector),
        )
        return cursor.rowcount > 0

    def read_vectors(self, tx: Tx, model: ModelRow, photo_ids: Sequence[int]) -> dict[int, np.ndarray]:
        rows = tx.all(
            f"SELECT photo_id, embedding FROM {_table(model)} WHERE photo_id = ANY(?)", (self.ids(photo_ids),)
        )
        return {photo_id: _numpy(vector) for photo_id, vector in rows}

    def has_vectors(self, tx: Tx, model: ModelRow) -> bool:
        return bool(tx.value(f"SELECT EXISTS (SELECT 1 FROM {_table(model)})"))

    def nearest(self, model: ModelRow, queries: np.ndarray, k: int) -> list[tuple[list[int], list[float]]]:
        """HNSW (approximate) when ``k`` is within what it can return (``ef_search`` at most 1000), else exact."""
        query = (
            f"SELECT photo_id, distance FROM (SELECT photo_id, embedding <=> ? AS distance FROM {_table(model)} "
            "ORDER BY embedding <=> ? LIMIT ?) e ORDER BY distance, photo_id"
        )
        results = []
        with self.read() as tx:
            if k > MAX_EF_SEARCH:
                tx.run("SELECT set_config('enable_indexscan', 'off', true)")
            else:
                tx.run("SELECT set_config('hnsw.ef_search', ?, true)", (str(max(self.ef_search, k)),))
            for vector in queries:
                rows = tx.all(query, (vector, vector, k))
                results.append(([row[0] for row in rows], [float(np.clip(1.0 - row[1], -1.0, 1.0)) for row in rows]))
        return results


class PostgresGallery(GalleryStore):
    """The ``Gallery`` protocol over PostgreSQL + pgvector (see the module docstring)."""

    engine: PostgresEngine

    def __init__(self, url: str, ef_search: int | None = None) -> None:
        conninfo, options = split_url(url)
        shown = display_url(url)
        try:
            value = ef_search if ef_search is not None else int(options.get("ef_search", DEFAULT_EF_SEARCH))
        except ValueError:
            raise GalleryError(f"ef_search in {shown} must be a whole number") from None
        if not 1 <= value <= MAX_EF_SEARCH:
            raise GalleryError(f"ef_search must be between 1 and {MAX_EF_SEARCH} (got {value})")
        collection = url_collection(url)
        super().__init__(PostgresEngine(conninfo, shown, value, schema_for(collection)))
        self.collection = collection

    @property
    def ef_search(self) -> int:
        return self.engine.ef_search

    def revision(self) -> tuple[int, int, int]:
        """The number of people, the number of photos and the newest photo id, in one cheap query (no row is
        sent): every enrollment adds a photo with a new id and every deletion lowers a count, so this changes
        whenever the people or their photos do, whichever process changed them."""
        with self.engine.read() as tx:
            row = tx.one(
                "SELECT (SELECT COUNT(*) FROM people), (SELECT COUNT(*) FROM photos), "
                "(SELECT COALESCE(MAX(id), 0) FROM photos)"
            )
        return int(row[0]), int(row[1]), int(row[2])

    @property
    def _conninfo(self) -> str:
        """The real URL (``url`` hides passwords)."""
        return self.engine.conninfo

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """A write transaction on this thread's connection, for tools that query the tables directly."""
        with self.engine.write() as tx:
            yield tx.connection

    def __repr__(self) -> str:
        return f"PostgresGallery({self.url!r})"


def postgres_collections(url: str) -> list[str]:
    """The collections of the PostgreSQL gallery at ``url``: the default, then those with a schema, by name."""
    conninfo, _ = split_url(url)
    engine = PostgresEngine(conninfo, display_url(url), DEFAULT_EF_SEARCH)
    connection = engine._connect()
    try:
        rows = connection.execute(
            "SELECT substr(nspname, %s) FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY 1",
            (len(COLLECTION_SCHEMA_PREFIX) + 1, COLLECTION_SCHEMA_PREFIX),
        ).fetchall()
    except psycopg.Error as error:
        raise GalleryError(f"cannot list the collections of {engine.url}: {error}".strip()) from None
    finally:
        connection.close()
    return [DEFAULT_COLLECTION] + [row[0] for row in rows if row[0] != DEFAULT_COLLECTION]
