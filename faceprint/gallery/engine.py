"""What a database engine supplies to the gallery: its dialect, connections, transactions, locks, error mapping,
and where each model's vectors live and how they are searched.

The gallery's behaviour is written once (``faceprint.gallery.store``) in SQL that both engines accept, with ``?``
placeholders; an engine translates the placeholders and parameters (``Tx``) and fills the few places where
dialects differ (``row_lock``, ``byte_order``, ``in_ids``). Vector storage differs by design: SQLite keeps every
model's vectors as BLOBs and searches an index held in the process, PostgreSQL gives each model a pgvector table
with an HNSW index searched by the server."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from faceprint.gallery.schema import AddColumn, Column, CreateIndex, CreateTable, Operation, Sql, Table, Type


@dataclass(frozen=True)
class ModelRow:
    """A registered model: its id (which keys its vector storage), name, dimension and network version."""

    id: int
    name: str
    dim: int
    version: str | None


class Tx:
    """One transaction on one connection, taking SQL with ``?`` placeholders and Python values."""

    def __init__(self, engine: Engine, connection: Any) -> None:
        self.engine = engine
        self.connection = connection

    def run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Execute one statement; the driver's cursor."""
        return self.connection.execute(self.engine.statement(sql), self.engine.params(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.run(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.run(sql, params).fetchall()

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (``None`` if there is no row)."""
        row = self.one(sql, params)
        return None if row is None else row[0]


class Engine(ABC):
    """One database engine behind the gallery (see the module docstring)."""

    name: ClassVar[str]
    TYPES: ClassVar[dict[Type, str]]
    row_lock: ClassVar[str] = ""  # appended to a SELECT to lock the rows it reads until the transaction ends
    byte_order: ClassVar[str] = ""  # appended to an ORDER BY term to sort text by code point
    in_ids: ClassVar[str]  # "<column> {in_ids}" tests membership in the list given by ``ids(...)``
    unique_violation: ClassVar[tuple[type[BaseException], ...]]
    # What each schema step adds to this engine's own vector storage, by the version the step reaches.
    storage_steps: ClassVar[dict[int, Callable[[Tx], None]]] = {}

    url: str
    _connections: Any  # ThreadConnections of the driver's connections

    # --- dialect -------------------------------------------------------------------------------------------

    def statement(self, sql: str) -> str:
        """The SQL in the driver's placeholder style."""
        return sql

    def params(self, params: Sequence[Any]) -> Sequence[Any]:
        """The parameters as the driver takes them."""
        return params

    @abstractmethod
    def ids(self, ids: Sequence[int]) -> Any:
        """The parameter for ``in_ids``."""

    @abstractmethod
    def read_time(self, value: Any) -> datetime:
        """A stored time as a timezone-aware UTC datetime."""

    @abstractmethod
    def read_json(self, value: Any) -> dict:
        """A stored JSON object."""

    def render(self, operation: Operation) -> list[str]:
        """An engine-neutral schema operation as this engine's statements."""
        if isinstance(operation, CreateTable):
            return [self._create_table(operation.table)]
        if isinstance(operation, AddColumn):
            return [f"ALTER TABLE {operation.table} ADD COLUMN {self._column(operation.column)}"]
        if isinstance(operation, CreateIndex):
            return [f"CREATE INDEX {operation.name} ON {operation.table} ({', '.join(operation.columns)})"]
        if isinstance(operation, Sql):
            return [operation.text]
        raise TypeError(f"unknown schema operation {operation!r}")

    def _column(self, column: Column) -> str:
        parts = [column.name, self.TYPES[column.type]]
        if column.type is not Type.ID and not column.null:
            parts.append("NOT NULL")
        if column.unique:
            parts.append("UNIQUE")
        if column.default is not None:
            parts.append(f"DEFAULT {column.default}")
        if column.check is not None:
            parts.append(f"CHECK ({column.check})")
        if column.references is not None:
            parts.append(f"REFERENCES {column.references}(id) ON DELETE CASCADE")
        return " ".join(parts)

    def _create_table(self, table: Table) -> str:
        parts = [self._column(column) for column in table.columns]
        parts += [f"UNIQUE ({', '.join(columns)})" for columns in table.unique]
        if table.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
        return f"CREATE TABLE {table.name} (\n    " + ",\n    ".join(parts) + "\n)"

    # --- connections and transactions ----------------------------------------------------------------------

    @abstractmethod
    def write(self) -> contextlib.AbstractContextManager[Tx]:
        """One write transaction, committed when the block ends and rolled back on any error."""

    @abstractmethod
    def read(self, snapshot: bool = False) -> contextlib.AbstractContextManager[Tx]:
        """One read transaction; ``snapshot``: every query sees the same state even across many batches."""

    @abstractmethod
    def migration(self) -> contextlib.AbstractContextManager[Tx]:
        """The transaction that upgrades the schema, exclusive against other processes doing the same."""

    def stream(self, tx: Tx, sql: str, params: Sequence[Any], batch: int) -> Iterator[list[tuple]]:
        """The rows of a query in lists of ``batch``, without holding them all in memory."""
        cursor = tx.run(sql, params)
        while rows := cursor.fetchmany(batch):
            yield rows

    @abstractmethod
    def close(self) -> None:
        """Release every connection (and whatever the engine keeps in memory)."""

    # --- vector storage ------------------------------------------------------------------------------------

    def lock_models(self, tx: Tx) -> None:
        """Serialise the registration of new models (a no-op where writers are serialised anyway)."""
        return None

    def create_vector_storage(self, tx: Tx, model: ModelRow) -> None:
        """Prepare storage for a newly registered model's vectors (in the caller's transaction)."""
        return None

    @abstractmethod
    def store_vector(self, tx: Tx, model: ModelRow, photo_id: int, vector: np.ndarray) -> bool:
        """Store a photo's vector unless it has one for this model; whether it was stored."""

    @abstractmethod
    def read_vectors(self, tx: Tx, model: ModelRow, photo_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored float32 vectors (as stored, not re-normalised) of those photos that have one."""

    @abstractmethod
    def has_vectors(self, tx: Tx, model: ModelRow) -> bool:
        """Whether any photo has a vector of this model."""

    @abstractmethod
    def nearest(self, model: ModelRow, queries: np.ndarray, k: int) -> list[tuple[list[int], list[float]]]:
        """For each unit query row, up to ``k`` photo ids by decreasing cosine similarity, and the similarities."""
