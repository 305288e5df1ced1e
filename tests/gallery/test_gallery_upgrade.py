"""A gallery written by the previous release opens in place, upgraded, with the same people and answers.

The fixtures were written by that release's own code (``fixtures/make_previous_release.py``): a SQLite file, and
a SQL dump of the PostgreSQL schema it created, with the answers it gave for held-back probe photos."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fixtures.make_previous_release import PROBES, answers
from gallery_workers import unit

from faceprint import FaceRecognizer
from faceprint.cli import main
from faceprint.errors import GalleryError, InvalidEmbeddingError
from faceprint.gallery import open_gallery, store
from faceprint.gallery.schema import STEPS, AddColumn, Column, Sql, Step, Type
from faceprint.gallery.transfer import export_gallery, import_gallery

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


# --- the one list of upgrade steps, on both engines ---------------------------------------------------------

NICKNAMES = Step(
    "a stand-in for a future release's step: a new column, filled from the old ones",
    (AddColumn("people", Column("nickname", Type.TEXT, null=True)), Sql("UPDATE people SET nickname = lower(name)")),
)


def columns(gallery, table: str) -> list[str]:
    """The table's column names, read from the engine's own catalogue."""
    with gallery.engine.read() as tx:
        if gallery.engine.name == "sqlite":
            return [row[1] for row in tx.all(f"PRAGMA table_info({table})")]
        return [
            row[0]
            for row in tx.all(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'faceprint' "
                "AND table_name = ? ORDER BY ordinal_position",
                (table,),
            )
        ]


def test_a_new_step_upgrades_a_gallery_in_place_and_keeps_its_data(gallery_url, monkeypatch):
    rng = np.random.default_rng(9)
    vector = unit(rng, 64)
    old = open_gallery(gallery_url)
    old.add_photo("Grace Hopper", "g1", {"facenet": vector}, thumbnail=b"thumb")
    old.close()

    monkeypatch.setattr(store, "STEPS", (*STEPS, NICKNAMES))
    new = open_gallery(gallery_url)
    try:
        assert new.schema_version() == len(STEPS) + 1
        with new.engine.read() as tx:
            assert tx.all("SELECT nickname FROM people") == [("grace hopper",)]
        assert new.person("Grace Hopper").thumbnail == b"thumb"
        assert new.search("facenet", vector, k=1)[0][0].person == "Grace Hopper"
    finally:
        new.close()
    reopened = open_gallery(gallery_url)  # nothing left to upgrade
    try:
        assert reopened.schema_version() == len(STEPS) + 1 and reopened.count() == 1
    finally:
        reopened.close()


def test_a_failed_step_leaves_the_gallery_as_it_was(gallery_url, monkeypatch):
    open_gallery(gallery_url).add_photo("Kept", "k", {"facenet": np.ones(8)})
    broken = Step(
        "a step that fails half-way",
        (AddColumn("people", Column("half_done", Type.TEXT, null=True)), Sql("UPDATE no_such_table SET x = 1")),
    )
    monkeypatch.setattr(store, "STEPS", (*STEPS, broken))
    with pytest.raises((GalleryError, sqlite3.Error), match="no_such_table"):
        open_gallery(gallery_url)
    monkeypatch.undo()
    gallery = open_gallery(gallery_url)
    try:
        assert gallery.schema_version() == len(STEPS) and gallery.count() == 1
        assert "half_done" not in columns(gallery, "people")
    finally:
        gallery.close()


def test_an_upgraded_gallery_has_the_schema_of_a_new_one(previous_url, tmp_path, request):
    upgraded = open_gallery(previous_url)
    if store_of(previous_url) == "sqlite":
        fresh = open_gallery(f"sqlite:///{tmp_path / 'fresh.db'}")
    else:
        fresh = open_gallery(request.getfixturevalue("postgres_url"))
    try:
        for table in ("people", "photos", "photo_blobs", "models", "schema_version"):
            assert columns(upgraded, table) == columns(fresh, table), table
        assert upgraded.schema_version() == fresh.schema_version() == len(STEPS)
    finally:
        upgraded.close()
        fresh.close()


def test_a_gallery_from_a_newer_release_is_refused(previous_url):
    open_gallery(previous_url).close()
    with open_gallery(previous_url).engine.write() as tx:
        tx.run("UPDATE schema_version SET version = ?", (len(STEPS) + 1,))
    with pytest.raises(GalleryError, match=r"newer than this faceprint understands.*upgrade faceprint"):
        open_gallery(previous_url)


# --- model versions ---------------------------------------------------------------------------------------


def test_vectors_of_another_model_version_are_refused(gallery):
    rng = np.random.default_rng(3)
    gallery.add_photo("Ann", "a", {"facenet": unit(rng, 32)}, versions={"facenet": "facenet/int8"})
    assert gallery.model_versions() == {"facenet": "facenet/int8"}
    with pytest.raises(InvalidEmbeddingError, match=r"facenet/float32.*facenet/int8"):
        gallery.add_photo("Bob", "b", {"facenet": unit(rng, 32)}, versions={"facenet": "facenet/float32"})
    gallery.add_photo("Bob", "b", {"facenet": unit(rng, 32)}, versions={"facenet": "facenet/int8"})
    gallery.add_photo("Cy", "c", {"facenet": unit(rng, 32)})  # no version given: not checked
    assert gallery.count() == 3


def test_models_of_a_previous_release_have_no_recorded_version(previous_url):
    gallery = open_gallery(previous_url)
    try:
        assert gallery.model_versions() == {"dlib": None, "facenet": None}
        vectors = probes()["Joe Biden"]
        gallery.add_photo("Joe Biden", "new", vectors, versions={"facenet": "facenet/int8", "dlib": "dlib/v1"})
        assert gallery.model_versions() == {"dlib": None, "facenet": None}  # unknown stays unknown
    finally:
        gallery.close()


def test_queries_of_another_model_version_are_refused(gallery):
    rng = np.random.default_rng(4)
    vector = unit(rng, 32)
    gallery.add_photo("Ann", "a", {"facenet": vector}, versions={"facenet": "facenet/int8"})
    assert gallery.search("facenet", vector, k=1, version="facenet/int8")[0][0].person == "Ann"
    assert gallery.search("facenet", vector, k=1)[0][0].person == "Ann"
    with pytest.raises(InvalidEmbeddingError, match="cannot be compared"):
        gallery.search("facenet", vector, k=1, version="facenet/float32")


def test_an_import_records_the_file_versions_and_refuses_others(gallery, tmp_path):
    rng = np.random.default_rng(5)
    source = open_gallery(f"sqlite:///{tmp_path / 'source.db'}")
    try:
        source.add_photo("Ann", "a", {"facenet": unit(rng, 32)}, versions={"facenet": "facenet/int8"})
        export_gallery(source, tmp_path / "int8.zip")
        export_gallery(source, tmp_path / "float32.zip", model_versions={"facenet": "facenet/float32"})
    finally:
        source.close()
    import_gallery(gallery, tmp_path / "int8.zip")
    assert gallery.model_versions() == {"facenet": "facenet/int8"}
    with pytest.raises(InvalidEmbeddingError, match="cannot be compared"):
        import_gallery(gallery, tmp_path / "float32.zip")
    assert gallery.count() == 1


def test_the_recognizer_names_the_probes_as_the_previous_release_did(previous_url, pipeline, samples):
    """End to end with the real models: the probe photos get the identities and candidate order recorded."""
    recognizer = FaceRecognizer(gallery=previous_url, pipeline=pipeline)
    try:
        for name, path in PROBES.items():
            faces = recognizer.recognize(samples / "people" / path)
            recorded = RECORDED["recognized"][name]
            assert [face["identity"] for face in faces] == [face["identity"] for face in recorded] == [name]
            got = [[c["name"] for c in face["candidates"]] for face in faces]
            assert got == [[c["name"] for c in face["candidates"]] for face in recorded]
    finally:
        recognizer.gallery.close()


def test_cli_info_shows_the_schema_and_unrecorded_versions(tmp_path, capsys):
    url = previous_sqlite(tmp_path)
    assert main(["gallery", "info", "--gallery", url, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["schema_version"] == len(STEPS) and info["people"] == 4 and info["photos"] == 7
    assert info["models"] == [
        {"name": "dlib", "version": None, "has_vectors": True},
        {"name": "facenet", "version": None, "has_vectors": True},
    ]
    assert main(["gallery", "info", "--gallery", url]) == 0
    assert "model facenet: version not recorded" in capsys.readouterr().out


def test_servers_opening_an_old_gallery_together_upgrade_it_once(previous_url):
    """Four openers at once: the upgrade runs under the engine's exclusive lock, the others then find it done."""
    stores, errors = [], []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait(30)
        try:
            stores.append(open_gallery(previous_url))
        except Exception as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == [] and len(stores) == 4
        assert {store.schema_version() for store in stores} == {len(STEPS)}
        with stores[0].engine.read() as tx:
            assert tx.all("SELECT version FROM schema_version") == [(len(STEPS),)]
        assert_same_answers(answers(stores[0], probes()), RECORDED[store_of(previous_url)])
    finally:
        for store in stores:
            store.close()
