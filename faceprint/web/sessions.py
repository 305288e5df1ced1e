"""Server-side records of signed-in browser sessions: the cookie carries only a random id, and a session counts only
while its record exists and names the key it was opened with. Signing out deletes the record; changing a key ends
every session opened with the old one.

``FACEPRINT_SESSION_STORE`` is ``memory`` (one process; sessions end when it stops) or the path of a SQLite file
shared by every worker process of a deployment."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, role TEXT NOT NULL, key_digest TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL
)"""


def key_digest(key: str) -> str:
    """A digest that tells keys apart without storing them."""
    return hashlib.sha256(b"faceprint-session-key\0" + key.encode()).hexdigest()


class SessionStore:
    """Open sessions by id: role, digest of the key that opened it, expiry."""

    def __init__(self, location: str, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        memory = location.strip().lower() in ("memory", ":memory:", "")
        if not memory:
            Path(location).expanduser().parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if memory else str(Path(location).expanduser())
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10)
        if not memory:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def open(self, role: str, key: str) -> str:
        """Record a new session for ``role`` opened with ``key``; returns its id."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (session_id, role, key_digest(key), now, now + self.lifetime_s),
            )
        return session_id

    def role(self, session_id: object, keys: dict[str, str]) -> str | None:
        """The role of an open, unexpired session whose key is still the configured key of its role."""
        if not isinstance(session_id, str) or not session_id:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT role, key_digest FROM sessions WHERE id = ? AND expires >= ?", (session_id, time.time())
            ).fetchone()
        if row is None:
            return None
        role, digest = row
        current = keys.get(role)
        if current is None or not secrets.compare_digest(key_digest(current), digest):
            self.close(session_id)
            return None
        return role

    def close(self, session_id: object) -> None:
        """End a session (signing out)."""
        if isinstance(session_id, str):
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def count(self) -> int:
        """How many sessions are recorded (open or not yet purged)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
