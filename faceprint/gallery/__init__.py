"""The face gallery: enrolled people and their photos' embeddings, searchable by cosine similarity.

Two stores behind one ``Gallery`` protocol, chosen by URL: ``sqlite:///path/to/gallery.db`` (embedded, the
default; exact search up to 20,000 vectors per model, an HNSW index saved beside the file above that) and
``postgresql://user@host:port/db`` (PostgreSQL + pgvector, for several servers and big galleries). Both take
``?ef_search=N`` to trade speed for recall; SQLite also ``ann_threshold=N`` and ``save_index=0``. The behaviour is
written once (``store``) over each engine's dialect and vector storage (``engine``, ``sqlite``, ``postgres``); a
gallery of an earlier release is upgraded in place when opened (``schema``). ``faceprint.gallery.transfer`` moves a
gallery to and from a portable file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceprint.errors import GalleryError, UnknownCollectionError
from faceprint.gallery.collections import (
    DEFAULT_COLLECTION,
    check_collection,
    collection_url,
    scheme,
    sqlite_collections,
    sqlite_path,
)

if TYPE_CHECKING:
    from faceprint.gallery.base import Candidate, Gallery, Person, PhotoRecord

__all__ = [
    "DEFAULT_COLLECTION",
    "Candidate",
    "Gallery",
    "Person",
    "PhotoRecord",
    "check_collection",
    "collection_exists",
    "collection_url",
    "default_gallery_url",
    "list_collections",
    "open_gallery",
    "require_collection",
    "sqlite_path",
]


def __getattr__(name: str) -> Any:
    """The protocol and records load on first use: the command-line parser imports this package without NumPy."""
    if name in ("Candidate", "Gallery", "Person", "PhotoRecord"):
        from faceprint.gallery import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_gallery_url() -> str:
    """``$FACEPRINT_GALLERY``, else a SQLite file in the per-user data folder (``$XDG_DATA_HOME`` or ~/.local/share)."""
    if os.environ.get("FACEPRINT_GALLERY"):
        return os.environ["FACEPRINT_GALLERY"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'faceprint' / 'gallery.db'}"


def open_gallery(url: str | None = None, collection: str | None = None) -> Gallery:
    """Open (creating if needed) the gallery at ``url`` (``None``: :func:`default_gallery_url`), or one of its
    collections (``None``: the default collection, the gallery the URL names)."""
    url = collection_url((url or default_gallery_url()).strip(), collection)
    kind = scheme(url)
    if kind == "sqlite":
        from faceprint.gallery.sqlite import SQLiteGallery

        return SQLiteGallery(sqlite_path(url), url=url)
    if kind == "postgresql":
        from faceprint.gallery.postgres import PostgresGallery

        return PostgresGallery(url)
    raise _unknown_url(url)


def _unknown_url(url: str) -> GalleryError:
    return GalleryError(
        f"unknown gallery URL {url.split('@')[-1]!r}: use sqlite:///path/to/gallery.db or "
        "postgresql://user@host:port/database"
    )


CREATE_HINT = "enroll someone into it to create it"


def list_collections(url: str | None = None) -> list[str]:
    """The collections that exist in the gallery at ``url``, the default first (a SQLite gallery's default exists
    once its file does; PostgreSQL's is always listed)."""
    url = (url or default_gallery_url()).strip()
    kind = scheme(url)
    if kind == "sqlite":
        return sqlite_collections(url)
    if kind == "postgresql":
        from faceprint.gallery.postgres import postgres_collections

        return postgres_collections(url)
    raise _unknown_url(url)


def collection_exists(url: str | None, collection: str | None) -> bool:
    """Whether ``collection`` exists in the gallery at ``url`` (without creating anything)."""
    name = check_collection(collection)
    url = (url or default_gallery_url()).strip()
    if scheme(url) == "postgresql" and name == DEFAULT_COLLECTION:
        return True  # the shared gallery itself: created by whoever opens it first, as before collections
    return name in list_collections(url)


def require_collection(url: str | None, collection: str | None, hint: str = CREATE_HINT) -> str:
    """The collection's name, or ``UnknownCollectionError`` naming those that exist, then ``hint`` (for requests that
    only read and so must not create a collection from a mistyped name)."""
    name = check_collection(collection)
    if not collection_exists(url, name):
        known = ", ".join(list_collections(url)) or "none yet"
        raise UnknownCollectionError(f"no collection named {name!r} in the gallery (collections: {known}): {hint}")
    return name
