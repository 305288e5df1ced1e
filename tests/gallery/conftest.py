"""Gallery fixtures: a real PostgreSQL + pgvector server per test session, and a fresh gallery of each store.

The server comes from the PyPI ``pgserver`` wheel (see ``postgres_server.py``). If it cannot start, every
PostgreSQL test fails with the server's log: a missing database must never pass as a skipped test."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from postgres_server import PostgresServer, ServerError

from faceprint.gallery import Gallery, open_gallery
from faceprint.gallery.sqlite import SQLiteGallery

MIN_PGVECTOR = (0, 5, 0)  # HNSW arrived in pgvector 0.5.0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with pgvector whose HNSW support has been checked; stopped and deleted after."""
    try:
        server = PostgresServer()
    except ServerError as error:
        pytest.fail(f"cannot prepare the PostgreSQL test server: {error}", pytrace=False)
    try:
        try:
            server.start()
        except ServerError as error:  # its message carries the server's log
            pytest.fail(f"the PostgreSQL test server did not start: {error}", pytrace=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.fail(f"the PostgreSQL test server did not start: {error}\n{server.log_text()}", pytrace=False)
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            version = connection.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            parts = tuple(int(part) for part in version.split(".")[:3])
            assert parts >= MIN_PGVECTOR, f"bundled pgvector {version} has no HNSW index (needs 0.5.0+)"
            # Prove HNSW with cosine distance really works in this build, not just that the version says so.
            connection.execute("CREATE TEMP TABLE hnsw_probe (v vector(3))")
            connection.execute("CREATE INDEX ON hnsw_probe USING hnsw (v vector_cosine_ops)")
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL to a brand-new empty database (no extension, no schema: the gallery must create them)."""
    name = f"gallery_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def gallery_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of a new, empty gallery of each store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gallery.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def gallery(gallery_url: str) -> Iterator[Gallery]:
    """An open, empty gallery of each store, closed after the test."""
    store = open_gallery(gallery_url)
    yield store
    store.close()


def _sqlite_rows(path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("people", "photos", "photo_blobs", "embeddings")
        }


def _postgres_rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        counts = {
            table: connection.execute(f"SELECT COUNT(*) FROM faceprint.{table}").fetchone()[0]
            for table in ("people", "photos", "photo_blobs")
        }
        tables = [f"embedding_{row[0]}" for row in connection.execute("SELECT id FROM faceprint.models").fetchall()]
        counts["embeddings"] = sum(
            connection.execute(f'SELECT COUNT(*) FROM faceprint."{table}"').fetchone()[0] for table in tables
        )
        return counts


@pytest.fixture
def raw_rows(gallery: Gallery) -> Callable[[], dict[str, int]]:
    """Counts rows straight from the database (people, photos, photo_blobs, embeddings), not through the API."""
    if isinstance(gallery, SQLiteGallery):
        return lambda: _sqlite_rows(gallery.path)
    url = gallery._conninfo  # the real URL; gallery.url hides passwords
    return lambda: _postgres_rows(url)
