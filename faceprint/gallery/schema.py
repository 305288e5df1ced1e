"""The gallery's tables and their history, declared once for every engine.

Tables are described with a handful of engine-neutral column types; each engine renders them in its own SQL
(``Engine.render``). ``STEPS`` is the one list of upgrades: step *i* takes a gallery from schema version *i* to
*i + 1*. Opening a gallery applies the steps it lacks, all in one transaction, on either engine; an engine adds
only what its own vector storage needs to a step (``Engine.storage_steps``). Append steps, never edit or reorder
released ones: galleries in the field were built by them. Adding a table is one ``Table`` and one ``Step`` here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Type(Enum):
    """Engine-neutral column types (``Engine.TYPES`` maps each to the engine's own)."""

    ID = "id"  # an auto-numbered primary key
    REF = "ref"  # a reference to another table's ID, deleted with it
    INTEGER = "integer"
    TEXT = "text"
    TIME = "time"  # a moment in time (read back timezone-aware, UTC)
    JSON = "json"  # a JSON object
    BLOB = "blob"  # bytes


@dataclass(frozen=True)
class Column:
    """One column: name, neutral type, and its constraints."""

    name: str
    type: Type
    null: bool = False
    unique: bool = False
    default: str | None = None  # an SQL literal valid on every engine, e.g. ``'{}'``
    check: str | None = None  # an SQL condition valid on every engine
    references: str | None = None  # for ``Type.REF``: the table whose ``id`` it holds


@dataclass(frozen=True)
class Table:
    """A table: columns, and table-level uniqueness and primary keys over several columns."""

    name: str
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: Column


@dataclass(frozen=True)
class CreateIndex:
    name: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Sql:
    """A statement valid on every engine (e.g. moving data); ``?`` placeholders, no parameters."""

    text: str


Operation = CreateTable | AddColumn | CreateIndex | Sql


@dataclass(frozen=True)
class Step:
    """One schema upgrade: what it is for, and its engine-neutral operations."""

    purpose: str
    operations: tuple[Operation, ...] = field(default=())


PEOPLE = Table(
    "people",
    (
        Column("id", Type.ID),
        Column("name", Type.TEXT, unique=True),
        Column("created", Type.TIME),
        Column("updated", Type.TIME),
    ),
)
PHOTOS = Table(
    "photos",
    (
        Column("id", Type.ID),
        Column("person_id", Type.REF, references="people"),
        Column("content_hash", Type.TEXT),
        Column("created", Type.TIME),
        Column("quality", Type.JSON, default="'{}'"),
    ),
    unique=(("person_id", "content_hash"),),
)
PHOTO_BLOBS = Table(
    "photo_blobs",
    (
        Column("photo_id", Type.REF, references="photos"),
        Column("thumbnail", Type.BLOB, null=True),
        Column("image", Type.BLOB, null=True),
    ),
    primary_key=("photo_id",),
)
# Each model's vectors live in the engine's own storage (see ``Engine.storage_steps``), keyed by model id.
MODELS = Table(
    "models",
    (
        Column("id", Type.ID),
        Column("name", Type.TEXT, unique=True),
        Column("dim", Type.INTEGER, check="dim > 0"),
    ),
)
# Which version of the network computed a model's vectors (e.g. 8-bit against float32 FaceNet); NULL for models
# registered before versions were recorded, whose vectors may mix versions.
MODEL_VERSION = Column("version", Type.TEXT, null=True)

STEPS: tuple[Step, ...] = (
    Step(
        "people, their photos, per-photo thumbnails and images, and the registry of models",
        (CreateTable(PEOPLE), CreateTable(PHOTOS), CreateTable(PHOTO_BLOBS), CreateTable(MODELS)),
    ),
    Step("a log of stored and removed vectors, for indexes kept in the searching process (SQLite only)"),
    Step("the version of the network that computed each model's vectors", (AddColumn("models", MODEL_VERSION),)),
)
