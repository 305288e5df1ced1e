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
from urllib.parse import unquote, urlsplit

from faceprint.errors import GalleryError
from faceprint.gallery.base import Candidate, Gallery, Person, PhotoRecord

__all__ = ["Candidate", "Gallery", "Person", "PhotoRecord", "default_gallery_url", "open_gallery"]


def default_gallery_url() -> str:
    """``$FACEPRINT_GALLERY``, else a SQLite file in the per-user data folder (``$XDG_DATA_HOME`` or ~/.local/share)."""
    if os.environ.get("FACEPRINT_GALLERY"):
        return os.environ["FACEPRINT_GALLERY"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'faceprint' / 'gallery.db'}"


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs`` and ``sqlite:///rel`` as SQLAlchemy reads them)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise GalleryError(f"a SQLite gallery URL has no host: write sqlite:///path/to/gallery.db (got {url!r})")
    path = unquote(parts.path)
    # sqlite:///gallery.db -> "/gallery.db" is relative; sqlite:////abs/gallery.db -> "//abs/..." is absolute.
    path = path[1:] if path.startswith("/") else path
    if not path or path.endswith("/"):
        raise GalleryError(f"the SQLite gallery URL {url!r} names no file: write sqlite:///path/to/gallery.db")
    return Path(path).expanduser()


def open_gallery(url: str | None = None) -> Gallery:
    """Open (creating if needed) the gallery at ``url``; ``None`` means :func:`default_gallery_url`."""
    url = (url or default_gallery_url()).strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from faceprint.gallery.sqlite import SQLiteGallery

        return SQLiteGallery(sqlite_path(url), url=url)
    if scheme in ("postgresql", "postgres"):
        from faceprint.gallery.postgres import PostgresGallery

        return PostgresGallery(url)
    raise GalleryError(
        f"unknown gallery URL {url.split('@')[-1]!r}: use sqlite:///path/to/gallery.db or "
        "postgresql://user@host:port/database"
    )
