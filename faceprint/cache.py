"""A persistent cache of arrays keyed by content, so no image is detected or embedded twice.

Keys combine the image's SHA-256, what was computed (e.g. a model's ``version``) and its inputs (e.g. the
landmarks used for alignment). SQLite keeps it safe with several processes writing at once."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
from pathlib import Path

import numpy as np

from faceprint.npy_bytes import load_npy_bytes
from faceprint.paths import default_cache_dir


def content_hash(data: bytes | np.ndarray) -> str:
    """SHA-256 of file bytes (or of an array's shape and pixels)."""
    digest = hashlib.sha256()
    if isinstance(data, np.ndarray):
        digest.update(repr((data.shape, str(data.dtype))).encode())
        data = np.ascontiguousarray(data).tobytes()
    digest.update(data)
    return digest.hexdigest()


def array_key(*parts: object) -> str:
    """A short stable key from strings and arrays (arrays rounded to 0.01 so float noise does not miss)."""
    digest = hashlib.sha1()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.round(part.astype(np.float64), 2).tobytes())
        else:
            digest.update(str(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


class ArrayCache:
    """Key -> numpy array store in one SQLite file (WAL mode, one short transaction per write)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_cache_dir() / "arrays.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connection() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS arrays (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30.0)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def get(self, key: str) -> np.ndarray | None:
        row = self._connection().execute("SELECT value FROM arrays WHERE key = ?", (key,)).fetchone()
        return None if row is None else load_npy_bytes(row[0])

    def put(self, key: str, value: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        with self._connection() as connection:
            connection.execute("INSERT OR REPLACE INTO arrays (key, value) VALUES (?, ?)", (key, buffer.getvalue()))
