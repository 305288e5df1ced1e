"""What every gallery store shares: the records it returns, the ``Gallery`` protocol, and input validation.

Validation lives here so that both stores accept and refuse exactly the same names and vectors, and so that
every check runs before a store opens its write transaction."""

from __future__ import annotations

import json
import math
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from faceprint.errors import InvalidEmbeddingError, InvalidNameError

MAX_NAME_LENGTH = 100
MAX_MODEL_NAME_LENGTH = 100
MAX_CONTENT_HASH_LENGTH = 200
# Unicode categories refused in names: control characters and line/paragraph separators (they break listings).
_FORBIDDEN_CATEGORIES = {"Cc", "Zl", "Zp"}
C = TypeVar("C")


@dataclass(frozen=True)
class Person:
    """An enrolled person: how many photos they have, when they were created and last changed, a thumbnail."""

    name: str
    photos: int
    created: datetime
    updated: datetime
    thumbnail: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PhotoRecord:
    """One enrolled photo of a person; its embeddings live in the store, keyed by ``id``."""

    id: int
    person: str
    content_hash: str
    created: datetime
    quality: dict
    has_image: bool


@dataclass(frozen=True)
class Candidate:
    """A search hit: the stored photo's person and id, and its cosine similarity to the query (higher is closer)."""

    person: str
    photo_id: int
    similarity: float


@dataclass(frozen=True)
class PhotoData:
    """Everything a gallery stores about one photo and its person: what export writes and import reads.

    ``embeddings`` holds each model's vector as stored (not re-normalised), so a round trip is exact."""

    person: str
    content_hash: str
    created: datetime
    quality: dict
    embeddings: dict[str, np.ndarray]
    person_created: datetime
    person_updated: datetime
    thumbnail: bytes | None = field(default=None, repr=False)
    image: bytes | None = field(default=None, repr=False)


@dataclass
class ImportSummary:
    """What an import changed: people and photos created, photos already there, embeddings stored."""

    people_added: int = 0
    photos_added: int = 0
    photos_present: int = 0
    embeddings_added: int = 0

    def count(self, photo_created: bool, person_created: bool, embeddings: int) -> None:
        self.photos_added += photo_created
        self.photos_present += not photo_created
        self.people_added += person_created
        self.embeddings_added += embeddings

    def to_dict(self) -> dict:
        return {
            "people_added": self.people_added,
            "photos_added": self.photos_added,
            "photos_present": self.photos_present,
            "embeddings_added": self.embeddings_added,
        }


Vectors = Mapping[str, np.ndarray]  # model name -> one embedding
Quality = Mapping[str, float]  # quality measure -> value
Versions = Mapping[str, str]  # model name -> version of the network that computed its embedding
Blob = bytes | None


@runtime_checkable
class Gallery(Protocol):
    """Enrolled people and, per photo, one embedding per model; searchable by cosine similarity."""

    url: str

    def add_photo(
        self,
        person: str,
        content_hash: str,
        embeddings: Vectors,
        quality: Quality | None = None,
        thumbnail: Blob = None,
        image: Blob = None,
        versions: Versions | None = None,
    ) -> tuple[PhotoRecord, bool]:
        """Store a photo (creating the person if new) in one transaction; ``(record, created)``. ``versions``:
        the network version of each embedding (vectors of another version than the model's are refused)."""
        ...

    def people(self) -> list[Person]:
        """Every enrolled person, sorted by name."""
        ...

    def person(self, name: str) -> Person:
        """One person; ``UnknownPersonError`` if absent."""
        ...

    def photos(self, name: str) -> list[PhotoRecord]:
        """A person's photos, oldest first; ``UnknownPersonError`` if absent."""
        ...

    def rename(self, old: str, new: str) -> None:
        """Rename a person; ``UnknownPersonError`` / ``PersonExistsError``."""
        ...

    def delete(self, name: str) -> None:
        """Remove a person and every trace of them: photos, embeddings, thumbnails, images."""
        ...

    def remove_photo(self, name: str, photo_id: int) -> None:
        """Remove one photo; a person left with no photos is deleted."""
        ...

    def search(self, model: str, vectors: np.ndarray, k: int = 10, version: str | None = None) -> list[list[Candidate]]:
        """For each query row, the ``k`` stored photos most similar under ``model``, best first (queries of
        another ``version`` than the model's are refused)."""
        ...

    def photo_thumbnail(self, name: str, photo_id: int) -> bytes | None:
        """One photo's thumbnail; ``UnknownPersonError`` / ``UnknownPhotoError`` if absent."""
        ...

    def model_versions(self) -> dict[str, str | None]:
        """Each model's network version (``None``: stored before versions were recorded)."""
        ...

    def vectors(self, model: str, photo_ids: Sequence[int]) -> np.ndarray:
        """The stored ``model`` embeddings of the given photos, one row each (zeros where a photo has none)."""
        ...

    def models(self) -> set[str]:
        """The models that have at least one stored embedding."""
        ...

    def dump(self) -> Iterator[PhotoData]:
        """Every photo with all that is stored about it, by person then age, from one consistent snapshot."""
        ...

    def import_photos(self, photos: Iterable[PhotoData], versions: Versions | None = None) -> ImportSummary:
        """Store many photos keeping their times, in one transaction; photos already present only gain models;
        ``versions`` as for ``add_photo``."""
        ...

    def count(self) -> int:
        """The number of stored photos."""
        ...

    def close(self) -> None:
        """Release every connection; the object must not be used afterwards."""
        ...


def normalize_name(name: Any) -> str:
    """A person's name as stored: NFC, whitespace stripped; ``InvalidNameError`` if unusable or confusable (control,
    format, separator other than the space, private-use or unassigned characters; '/'; only dots)."""
    if not isinstance(name, str):
        raise InvalidNameError(f"a person's name must be text, not {type(name).__name__}")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise InvalidNameError("a person's name must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"a person's name must be at most {MAX_NAME_LENGTH} characters (got {len(cleaned)})")
    refused = {
        "Cc": "control characters",
        "Cf": "invisible formatting characters (zero-width, direction overrides)",
        "Zl": "line separators",
        "Zp": "paragraph separators",
        "Zs": "spaces other than the plain space",
        "Co": "private-use characters",
        "Cs": "surrogates",
        "Cn": "unassigned characters",
    }
    for character in cleaned:
        kind = refused.get(unicodedata.category(character)) if character != " " else None
        if kind:
            raise InvalidNameError(
                f"a person's name must not contain {kind} (found U+{ord(character):04X} at {cleaned.index(character)})"
            )
    if "/" in cleaned:
        raise InvalidNameError("a person's name must not contain '/'")
    if set(cleaned) == {"."}:
        raise InvalidNameError(f"{cleaned!r} cannot be a person's name")
    return cleaned


def validate_content_hash(content_hash: Any) -> str:
    """The photo's content hash, checked to be a short non-empty string (it is the idempotency key)."""
    if not isinstance(content_hash, str) or not content_hash or len(content_hash) > MAX_CONTENT_HASH_LENGTH:
        raise ValueError(f"content_hash must be a non-empty string of at most {MAX_CONTENT_HASH_LENGTH} characters")
    return content_hash


def validate_model_name(model: Any) -> str:
    """A model name: non-empty text without control characters (it names a table's row, never a table)."""
    if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL_NAME_LENGTH:
        raise InvalidEmbeddingError(f"model names must be non-empty text of at most {MAX_MODEL_NAME_LENGTH} characters")
    if any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in model):
        raise InvalidEmbeddingError(f"model name {model!r} contains control characters")
    return model


def validate_vector(model: str, vector: Any) -> np.ndarray:
    """One embedding as a contiguous float32 1-D array; ``InvalidEmbeddingError`` if not finite and non-zero."""
    try:
        array = np.asarray(vector)
    except (TypeError, ValueError) as error:
        raise InvalidEmbeddingError(f"the {model} embedding is not an array of numbers: {error}") from None
    if array.ndim != 1 or array.size == 0:
        raise InvalidEmbeddingError(f"the {model} embedding must be a non-empty 1-D vector (got shape {array.shape})")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InvalidEmbeddingError(f"the {model} embedding must hold numbers (got dtype {array.dtype})")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise InvalidEmbeddingError(f"the {model} embedding contains NaN or infinite values")
    if not np.any(array):
        raise InvalidEmbeddingError(f"the {model} embedding is all zeros, which has no direction to compare")
    return array


def validate_embeddings(embeddings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every model's embedding validated (at least one is required, or the photo could never be found)."""
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise InvalidEmbeddingError("a photo needs at least one embedding (a mapping of model name to vector)")
    return {validate_model_name(model): validate_vector(model, vector) for model, vector in embeddings.items()}


def check_dimension(model: str, stored: int, given: int) -> None:
    """``InvalidEmbeddingError`` if a vector's size differs from the size the model's first vector fixed."""
    if stored != given:
        raise InvalidEmbeddingError(
            f"the {model} embedding has {given} dimensions but this gallery stores {stored}-dimensional {model} "
            "vectors; was it computed by a different model or version?"
        )


def quality_json(quality: Mapping[str, float] | None) -> str:
    """Quality measures (e.g. detection score, sharpness) as JSON; only finite numbers are accepted."""
    if quality is None:
        return "{}"
    if not isinstance(quality, Mapping):
        raise ValueError("quality must be a mapping of measure name to number")
    values: dict[str, float] = {}
    for key, value in quality.items():
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"quality measure {key!r} is not a finite number")
        values[str(key)] = number
    return json.dumps(values, sort_keys=True)


def check_blob(what: str, data: Any) -> bytes | None:
    """``None`` or the bytes of a thumbnail or image (anything else is a programming error)."""
    if data is None:
        return None
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"{what} must be bytes or None, not {type(data).__name__}")
    return bytes(data)


def check_photo_data(photo: PhotoData) -> PhotoData:
    """A photo to import, validated as ``add_photo`` validates its arguments (name normalised, vectors
    float32), with times that are timezone-aware."""
    if not isinstance(photo, PhotoData):
        raise ValueError(f"expected PhotoData, not {type(photo).__name__}")
    times = {}
    for what in ("created", "person_created", "person_updated"):
        value = getattr(photo, what)
        if not isinstance(value, datetime):
            raise ValueError(f"{what} must be a datetime, not {type(value).__name__}")
        times[what] = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    quality_json(photo.quality)
    return PhotoData(
        person=normalize_name(photo.person),
        content_hash=validate_content_hash(photo.content_hash),
        quality=dict(photo.quality or {}),
        embeddings=validate_embeddings(photo.embeddings),
        thumbnail=check_blob("thumbnail", photo.thumbnail),
        image=check_blob("image", photo.image),
        **times,
    )


def query_matrix(vectors: Any, k: int) -> np.ndarray:
    """Search queries as a float32 matrix of unit rows (one 1-D vector is one query); ``k`` must be positive."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer (got {k!r})")
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InvalidEmbeddingError(f"search vectors must be a 1-D vector or a 2-D matrix (got shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise InvalidEmbeddingError("search vectors contain NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise InvalidEmbeddingError("a search vector is all zeros, which has no direction to compare")
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def sort_people(people: list[Person]) -> list[Person]:
    """People in the order a person expects: case-insensitive, then exact (the same for every store)."""
    return sorted(people, key=lambda p: (p.name.casefold(), p.name))


class ThreadConnections(Generic[C]):
    """One database connection per thread, opened on first use.

    A connection whose thread has ended is closed when the next one is opened (so a server that starts a
    thread per request does not leak them); after a fork the child opens its own and never touches the
    parent's, whose sockets it shares."""

    def __init__(self, open_connection: Callable[[], C], close_connection: Callable[[C], None]) -> None:
        self._open_connection = open_connection
        self._close_connection = close_connection
        self._local = threading.local()
        self._lock = threading.Lock()
        self._entries: list[tuple[int, threading.Thread, C]] = []

    def get(self) -> C:
        """This thread's connection."""
        entry = getattr(self._local, "entry", None)
        if entry is not None and entry[0] == os.getpid():
            return entry[2]
        connection = self._open_connection()
        pid = os.getpid()
        entry = (pid, threading.current_thread(), connection)
        with self._lock:
            ours = [e for e in self._entries if e[0] == pid]  # other processes' connections are not ours to close
            ended = [e for e in ours if not e[1].is_alive()]
            self._entries = [e for e in ours if e[1].is_alive()] + [entry]
        self._local.entry = entry
        for _, _, stale in ended:
            self._close_connection(stale)
        return connection

    def discard(self) -> None:
        """Forget (and close) this thread's connection, e.g. after the server dropped it."""
        entry = getattr(self._local, "entry", None)
        self._local.entry = None
        if entry is not None:
            with self._lock:
                self._entries = [e for e in self._entries if e is not entry]
            if entry[0] == os.getpid():
                self._close_connection(entry[2])

    def close_all(self) -> None:
        """Close every connection this process opened."""
        with self._lock:
            entries, self._entries = self._entries, []
        for pid, _, connection in entries:
            if pid == os.getpid():
                self._close_connection(connection)

    def __len__(self) -> int:
        return len(self._entries)
