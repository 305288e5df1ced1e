"""Library fixtures: a gallery of each store (PostgreSQL from the same ``pgserver`` helper as the gallery tests),
a recognizer on the session's shared pipeline, and a small photo folder built from the datasets."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gallery"))
from postgres_server import PostgresServer, ServerError

LFW_PEOPLE = ("Ricardo_Lagos", "Paul_Wolfowitz", "Jennifer_Lopez", "Zhu_Rongji")


@pytest.fixture(scope="session")
def library_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server with pgvector for this test session; a failure to start fails the tests."""
    import psycopg

    try:
        server = PostgresServer()
        server.start()
    except (ServerError, OSError) as error:
        pytest.fail(f"the PostgreSQL test server did not start: {error}", pytrace=False)
    try:
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def gallery_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty gallery of each store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gallery.db'}"
        return
    import psycopg

    server = request.getfixturevalue("library_postgres")
    name = f"library_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield server.url(name)
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def recognizer(gallery_url: str, pipeline):
    from faceprint.recognizer import FaceRecognizer

    recognizer = FaceRecognizer(gallery=gallery_url, pipeline=pipeline)
    yield recognizer
    recognizer.gallery.close()


@pytest.fixture(scope="session")
def photo_folder(datasets: Path, tmp_path_factory) -> Path:
    """A small collection: four LFW people (7-8 photos each), Obama and Biden alone and together, group photos, a
    photo without faces, one in HEIC and one in PNG, and junk (a truncated JPEG, the celebrity collection's
    AppleDouble file)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    for person in LFW_PEOPLE:
        target = root / "lfw" / person
        target.mkdir(parents=True)
        for path in sorted((datasets / "lfw" / "images" / person).glob("*.jpg")):
            shutil.copy(path, target / path.name)
    people = datasets / "samples" / "people"
    (root / "family").mkdir()
    for name in ("obama.jpg", "obama1.jpg", "obama2.jpg"):
        shutil.copy(people / "obama" / name, root / "family" / name)
    for path in sorted((people / "biden").glob("*.jpg"))[:2]:
        shutil.copy(path, root / "family" / f"biden-{path.name}")
    shutil.copy(datasets / "samples" / "group" / "obama_and_biden_2.jpg", root / "family" / "together.jpg")
    shutil.copy(datasets / "samples" / "group" / "two_people_2.jpg", root / "family" / "two.jpg")
    shutil.copy(datasets / "samples" / "no-face" / "pilatus800.jpg", root / "family" / "mountain.jpg")
    from pillow_heif import register_heif_opener

    register_heif_opener()
    lopez = sorted((datasets / "lfw" / "images" / "Jennifer_Lopez").glob("*.jpg"))[0]
    Image.open(lopez).save(root / "phone.heic")
    Image.open(sorted((people / "biden").glob("*.jpg"))[-1]).save(root / "family" / "biden-scan.png")
    data = (people / "obama" / "obama.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(data[: len(data) // 3][:2000])
    junk = datasets / "celebrity-faces-31" / "train" / "Kashyap" / "._Kashyap_25_face1.jpg"
    shutil.copy(junk, root / junk.name)
    return root


@pytest.fixture
def photos(photo_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the collection, which a test may change."""
    return Path(shutil.copytree(photo_folder, tmp_path / "photos"))
