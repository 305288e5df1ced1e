"""What is particular to each store: choosing one by URL, SQLite's modes, pgvector's index."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest
from gallery_workers import unit

from faceprint.errors import GalleryError
from faceprint.gallery import default_gallery_url, open_gallery, sqlite_path
from faceprint.gallery.postgres import PostgresGallery, display_url
from faceprint.gallery.schema import STEPS
from faceprint.gallery.sqlite import SQLiteGallery

# --- choosing a store ---------------------------------------------------------------------------------------


def test_default_url_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEPRINT_GALLERY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_gallery_url() == f"sqlite:///{tmp_path}/data/faceprint/gallery.db"
    store = open_gallery()
    try:
        assert isinstance(store, SQLiteGallery)
        assert store.path == tmp_path / "data" / "faceprint" / "gallery.db" and store.path.exists()
    finally:
        store.close()
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_gallery_url() == f"sqlite:///{Path.home()}/.local/share/faceprint/gallery.db"
    monkeypatch.setenv("FACEPRINT_GALLERY", f"sqlite:///{tmp_path}/env.db")
    store = open_gallery(None)
    try:
        assert store.path == tmp_path / "env.db"
    finally:
        store.close()


def test_sqlite_urls():
    assert sqlite_path("sqlite:////abs/dir/g.db") == Path("/abs/dir/g.db")
    assert sqlite_path("sqlite:///relative/g.db") == Path("relative/g.db")
    with pytest.raises(GalleryError):
        sqlite_path("sqlite://somehost/g.db")
    with pytest.raises(GalleryError):
        sqlite_path("sqlite:///")


@pytest.mark.parametrize("url", ["mysql://user@host/db", "faces.db", "redis://x", ""])
def test_unknown_schemes_are_refused_clearly(url, monkeypatch):
    monkeypatch.setenv("FACEPRINT_GALLERY", "nonsense://")  # "" falls back to the environment
    with pytest.raises(GalleryError, match="sqlite:///") as caught:
        open_gallery(url)
    assert caught.value.http_status == 503


def test_passwords_stay_out_of_messages():
    assert display_url("postgresql://ann:secret@db:5432/faces") == "postgresql://ann:***@db:5432/faces"
    assert display_url("postgresql://ann@db/faces") == "postgresql://ann@db/faces"


def test_unreachable_postgres_is_a_gallery_error():
    with pytest.raises(GalleryError, match=r"cannot connect.*\*\*\*"):
        open_gallery("postgresql://ann:secret@127.0.0.1:1/faces?connect_timeout=3")


# --- SQLite ------------------------------------------------------------------------------------------------


def test_sqlite_uses_wal_and_records_its_schema_version(tmp_path):
    store = SQLiteGallery(tmp_path / "g.db")
    try:
        assert store.schema_version() == len(STEPS) >= 3
        connection = store._connection()
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        store.close()


def test_sqlite_refuses_a_gallery_from_a_newer_release(tmp_path):
    path = tmp_path / "g.db"
    SQLiteGallery(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(GalleryError, match="upgrade faceprint"):
        SQLiteGallery(path)


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "not.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError, match="not a database"):
        SQLiteGallery(path)


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def test_postgres_creates_an_hnsw_cosine_index_per_model(postgres_url):
    store = open_gallery(postgres_url + "?ef_search=64")
    try:
        assert isinstance(store, PostgresGallery) and store.ef_search == 64
        rng = np.random.default_rng(10)
        store.add_photo("Ann", "a", {"facenet": unit(rng, 512), "dlib": unit(rng, 128)})
        assert store.schema_version() == len(STEPS)
        with psycopg.connect(postgres_url) as connection:
            models = dict(connection.execute("SELECT name, dim FROM faceprint.models").fetchall())
            rows = connection.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'faceprint'").fetchall()
            indexes = [row[0] for row in rows]
            types = connection.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'faceprint.embedding_1'::regclass AND attname = 'embedding'"
            ).fetchone()
        assert models == {"facenet": 512, "dlib": 128}
        hnsw = [index for index in indexes if "USING hnsw" in index]
        assert len(hnsw) == 2 and all("vector_cosine_ops" in index for index in hnsw)
        assert types[0] in ("vector(512)", "vector(128)")
    finally:
        store.close()


def test_postgres_ef_search_is_validated(postgres_url):
    with pytest.raises(GalleryError, match="ef_search"):
        open_gallery(postgres_url + "?ef_search=0")
    with pytest.raises(GalleryError, match="ef_search"):
        open_gallery(postgres_url + "?ef_search=lots")


def test_postgres_servers_starting_together_do_not_race(postgres_url):
    """Several app servers opening a brand-new database at once: the advisory lock serialises schema creation."""
    stores, errors = [], []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait(30)
        try:
            stores.append(PostgresGallery(postgres_url))
        except Exception as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == [] and len(stores) == 4
        assert {store.schema_version() for store in stores} == {len(STEPS)}
        with psycopg.connect(postgres_url) as connection:
            assert connection.execute("SELECT COUNT(*) FROM faceprint.schema_version").fetchone()[0] == 1
    finally:
        for store in stores:
            store.close()


def test_postgres_refuses_a_schema_from_a_newer_release(postgres_url):
    PostgresGallery(postgres_url).close()
    with psycopg.connect(postgres_url) as connection:
        connection.execute("UPDATE faceprint.schema_version SET version = 99")
    with pytest.raises(GalleryError, match="upgrade faceprint"):
        PostgresGallery(postgres_url)


def test_postgres_large_k_falls_back_to_an_exact_search(postgres_url):
    store = PostgresGallery(postgres_url, ef_search=10)
    try:
        rng = np.random.default_rng(11)
        for index in range(30):
            store.add_photo(f"P{index}", str(index), {"facenet": unit(rng, 16)})
        assert len(store.search("facenet", unit(rng, 16), k=1001)[0]) == 30
        assert len(store.search("facenet", unit(rng, 16), k=25)[0]) == 25  # ef_search is raised to k
    finally:
        store.close()
