"""Collections: several independent galleries under one gallery URL (as CompreFace's face collections).

Each collection is a gallery store of its own, so the store core, its schema upgrades and its vector indexes are
unchanged and no search can cross collections. The ``default`` collection is the gallery the URL names, so
galleries of earlier releases keep their people in it. Other collections live beside it: on SQLite one file each in
a folder next to the gallery file (``gallery.db`` -> ``gallery.collections/NAME.db``); on PostgreSQL one schema each
(``faceprint_collection_NAME`` beside ``faceprint``), named in the URL as ``?collection=NAME``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from faceprint.errors import GalleryError, InvalidCollectionError

DEFAULT_COLLECTION = "default"
MAX_COLLECTION_LENGTH = 40
COLLECTION_PATTERN = r"[a-z0-9][a-z0-9_-]{0,39}"
_NAME = re.compile(COLLECTION_PATTERN)


def check_collection(name: object) -> str:
    """A valid collection name (``None`` is the default collection); ``InvalidCollectionError`` otherwise."""
    if name is None:
        return DEFAULT_COLLECTION
    if not isinstance(name, str):
        raise InvalidCollectionError(f"a collection name must be text, not {type(name).__name__}")
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise InvalidCollectionError(
            f"{shown!r} is not a collection name: use 1 to {MAX_COLLECTION_LENGTH} lowercase letters, digits, '-' "
            "and '_', starting with a letter or digit (e.g. 'staff' or 'front-door')"
        )
    return name


def scheme(url: str) -> str:
    """The store a gallery URL names: ``sqlite`` or ``postgresql`` (else the scheme as written)."""
    found = urlsplit(url.strip()).scheme.lower()
    return "postgresql" if found == "postgres" else found


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


def collections_folder(gallery_file: Path) -> Path:
    """Where a SQLite gallery's other collections live: ``gallery.db`` -> ``gallery.collections``."""
    return gallery_file.with_name(gallery_file.stem + ".collections")


def collection_url(url: str, collection: str | None) -> str:
    """The URL of ``collection`` in the gallery that ``url`` names: ``url`` itself for ``None`` (the collection the
    URL names, the default unless it says otherwise) and for the default collection of a SQLite gallery."""
    url = url.strip()
    if collection is None:
        return url
    name = check_collection(collection)
    parts = urlsplit(url)
    if scheme(url) == "sqlite":
        if name == DEFAULT_COLLECTION:
            return url
        target = collections_folder(sqlite_path(url)) / f"{name}.db"
        return f"sqlite:///{target}" + (f"?{parts.query}" if parts.query else "")
    if scheme(url) == "postgresql":
        query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "collection"]
        if name != DEFAULT_COLLECTION:
            query.append(("collection", name))
        return urlunsplit(parts._replace(query=urlencode(query)))
    return url


def url_collection(url: str) -> str:
    """The collection a PostgreSQL URL names with ``?collection=NAME`` (the default when it names none)."""
    values = [value for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True) if key == "collection"]
    return check_collection(values[-1] if values else None)


def sqlite_collections(url: str) -> list[str]:
    """The collections of a SQLite gallery that exist (have a file), the default first."""
    path = sqlite_path(url.strip())
    found = [DEFAULT_COLLECTION] if path.is_file() else []
    folder = collections_folder(path)
    if folder.is_dir():
        found += sorted(
            p.stem for p in folder.glob("*.db") if p.is_file() and _NAME.fullmatch(p.stem) and p.stem != "default"
        )
    return found
