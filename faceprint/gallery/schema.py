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

# The photo library (``faceprint.library``): every indexed photo file, the faces found in it with their geometry,
# quality and embeddings, and the clusters of unknown faces. ``person_id`` and ``cluster_id`` are plain integers,
# not references: deleting a person or a cluster must leave the faces indexed, merely unnamed or unclustered.
LIBRARY_PHOTOS = Table(
    "library_photos",
    (
        Column("id", Type.ID),
        Column("path", Type.TEXT, unique=True),
        Column("content_hash", Type.TEXT),
        Column("stamp", Type.TEXT),  # "size:mtime_ns" of the file when indexed: unchanged files are not read
        Column("taken", Type.TEXT, null=True),  # EXIF date and time, ISO 8601
        Column("width", Type.INTEGER, default="0"),
        Column("height", Type.INTEGER, default="0"),
        Column("error", Type.TEXT, null=True),  # why the file could not be indexed
        Column("indexed", Type.TIME),
    ),
)
LIBRARY_FACES = Table(
    "library_faces",
    (
        Column("id", Type.ID),
        Column("photo_id", Type.REF, references="library_photos"),
        Column("face", Type.JSON),  # box [x, y, w, h], detection score, five landmarks
        Column("quality", Type.JSON, default="'{}'"),
        Column("person_id", Type.INTEGER, null=True),
        Column("similarity", Type.TEXT, null=True),  # to the named person, 0-100
        Column("cluster_id", Type.INTEGER, null=True),
        Column("clustered", Type.INTEGER, default="0"),  # 1 once the clustering has considered the face
        Column("thumbnail", Type.BLOB, null=True),
    ),
)
LIBRARY_VECTORS = Table(
    "library_vectors",
    (
        Column("face_id", Type.REF, references="library_faces"),
        Column("model", Type.TEXT),
        Column("version", Type.TEXT, null=True),
        Column("vector", Type.BLOB),  # float32, unit length
    ),
    primary_key=("face_id", "model"),
)
LIBRARY_CLUSTERS = Table(
    "library_clusters",
    (
        Column("id", Type.ID),
        Column("ignored", Type.INTEGER, default="0"),
        Column("created", Type.TIME),
    ),
)

STEPS: tuple[Step, ...] = (
    Step(
        "people, their photos, per-photo thumbnails and images, and the registry of models",
        (CreateTable(PEOPLE), CreateTable(PHOTOS), CreateTable(PHOTO_BLOBS), CreateTable(MODELS)),
    ),
    Step("a log of stored and removed vectors, for indexes kept in the searching process (SQLite only)"),
    Step("the version of the network that computed each model's vectors", (AddColumn("models", MODEL_VERSION),)),
    Step(
        "the photo library: indexed photos, their faces and embeddings, clusters of unknown faces",
        (
            CreateTable(LIBRARY_PHOTOS),
            CreateTable(LIBRARY_FACES),
            CreateTable(LIBRARY_VECTORS),
            CreateTable(LIBRARY_CLUSTERS),
            CreateIndex("library_photos_hash", "library_photos", ("content_hash",)),
            CreateIndex("library_faces_photo", "library_faces", ("photo_id",)),
            CreateIndex("library_faces_person", "library_faces", ("person_id",)),
            CreateIndex("library_faces_cluster", "library_faces", ("cluster_id",)),
        ),
    ),
)
