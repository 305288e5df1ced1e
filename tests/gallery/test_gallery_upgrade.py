"""A gallery written by the previous release opens in place, upgraded, with the same people and answers.

The fixtures were written by that release's own code (``fixtures/make_previous_release.py``): a SQLite file, and
a SQL dump of the PostgreSQL schema it created, with the answers it gave for held-back probe photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fixtures.make_previous_release import answers

from faceprint.gallery import open_gallery

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = json.loads((FIXTURES / "previous.answers.json").read_text())


def probes() -> dict[str, dict[str, np.ndarray]]:
    result: dict[str, dict[str, np.ndarray]] = {}
    with np.load(FIXTURES / "previous.probes.npz") as stored:
        for key in stored.files:
            probe, model = key.split("/")
            result.setdefault(probe, {})[model] = stored[key]
    return result


def assert_same_answers(got: dict, recorded: dict) -> None:
    """People, photos, thumbnails and searches as recorded; similarities to float32 precision."""
    assert got["people"] == recorded["people"]
    assert got["models"] == recorded["models"] and got["count"] == recorded["count"]
    assert got["searches"].keys() == recorded["searches"].keys()
    for key, hits in recorded["searches"].items():
        assert [hit[:2] for hit in got["searches"][key]] == [hit[:2] for hit in hits], key
        assert np.allclose([hit[2] for hit in got["searches"][key]], [hit[2] for hit in hits], atol=1e-5), key


def previous_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "gallery.db"
    shutil.copyfile(FIXTURES / "previous.db", path)
    return f"sqlite:///{path}"


def previous_postgres(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        connection.execute((FIXTURES / "previous.postgres.sql").read_text())
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def previous_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a gallery written by the previous release, of each store."""
    if request.param == "sqlite":
        return previous_sqlite(tmp_path)
    return previous_postgres(request.getfixturevalue("postgres_url"))


def store_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def test_previous_release_gallery_opens_with_the_same_answers(previous_url):
    gallery = open_gallery(previous_url)
    try:
        assert_same_answers(answers(gallery, probes()), RECORDED[store_of(previous_url)])
    finally:
        gallery.close()
    reopened = open_gallery(previous_url)  # upgraded once; opening again changes nothing
    try:
        assert_same_answers(answers(reopened, probes()), RECORDED[store_of(previous_url)])
    finally:
        reopened.close()


def test_previous_release_gallery_takes_new_photos(previous_url):
    gallery = open_gallery(previous_url)
    try:
        vectors = probes()["Kit Harington"]
        record, created = gallery.add_photo("Kit Harington", "new-photo", vectors, quality={"score": 0.99})
        assert created and gallery.person("Kit Harington").photos == 3
        for model, vector in vectors.items():
            assert gallery.search(model, vector, k=1)[0][0].photo_id == record.id
        gallery.rename("Kit Harington", "Jon Snow")
        gallery.delete("Person A")
        assert [person.name for person in gallery.people()] == ["Barack Obama", "Joe Biden", "Jon Snow"]
    finally:
        gallery.close()
