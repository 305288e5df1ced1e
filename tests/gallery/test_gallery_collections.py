"""Collections: several independent galleries under one URL, on both stores; the default collection is the
gallery the URL names, so a gallery of the previous release keeps its people there."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from gallery_workers import unit
from test_gallery_upgrade import (
    RECORDED,
    answers,
    assert_same_answers,
    previous_postgres,
    previous_sqlite,
    probes,
    store_of,
)

from faceprint.errors import InvalidCollectionError, UnknownCollectionError
from faceprint.gallery import (
    collection_exists,
    collection_url,
    list_collections,
    open_gallery,
    require_collection,
    sqlite_path,
)


def add(gallery, name: str, seed: int) -> np.ndarray:
    vector = unit(np.random.default_rng(seed), 128)
    gallery.add_photo(name, f"hash-{name}-{seed}", {"facenet": vector})
    return vector


def test_collections_hold_their_own_people_and_searches_never_cross(gallery_url):
    default, staff = open_gallery(gallery_url), open_gallery(gallery_url, "staff")
    try:
        ada = add(default, "Ada", 1)
        grace = add(staff, "Grace", 2)
        add(staff, "Ada", 3)  # the same name in another collection is another person
        assert [p.name for p in default.people()] == ["Ada"]
        assert [p.name for p in staff.people()] == ["Ada", "Grace"]
        assert [hit.person for hit in default.search("facenet", grace, k=5)[0]] == ["Ada"]
        assert staff.search("facenet", grace, k=1)[0][0].person == "Grace"
        assert staff.search("facenet", ada, k=1)[0][0].similarity < 0.99  # default's Ada is not in staff
        staff.delete("Ada")
        assert [p.name for p in default.people()] == ["Ada"]
    finally:
        default.close()
        staff.close()
    assert list_collections(gallery_url) == ["default", "staff"]
    assert collection_exists(gallery_url, "staff") and not collection_exists(gallery_url, "visitors")
    reopened = open_gallery(gallery_url, "staff")
    try:
        assert [p.name for p in reopened.people()] == ["Grace"]
    finally:
        reopened.close()


def test_the_default_collection_is_the_gallery_the_url_names(gallery_url):
    assert collection_url(gallery_url, None) == collection_url(gallery_url, "default") == gallery_url.strip()
    with open_gallery(gallery_url, "default") as gallery:
        add(gallery, "Ada", 1)
    with open_gallery(gallery_url) as gallery:
        assert [p.name for p in gallery.people()] == ["Ada"]


@pytest.mark.parametrize("name", ["Staff", "", " staff", "a/b", "../x", "-x", "_x", "a b", "a" * 41, "staff\n", "é"])
def test_bad_collection_names_are_refused_before_anything_is_created(gallery_url, name, tmp_path):
    with pytest.raises(InvalidCollectionError, match=r"not a collection name|must be text"):
        open_gallery(gallery_url, name)
    with pytest.raises(InvalidCollectionError):
        require_collection(gallery_url, name)
    if gallery_url.startswith("sqlite"):
        assert list(tmp_path.iterdir()) == []
    else:
        assert list_collections(gallery_url) == ["default"]


def test_an_unknown_collection_is_an_error_for_readers_and_is_not_created(gallery_url, tmp_path):
    for name in ("default", "staff"):
        with open_gallery(gallery_url, name):
            pass
    expected = r"no collection named 'visitors' in the gallery \(collections: default, staff\): enroll someone"
    with pytest.raises(UnknownCollectionError, match=expected):
        require_collection(gallery_url, "visitors")
    assert require_collection(gallery_url, "staff") == "staff"
    assert list_collections(gallery_url) == ["default", "staff"]


def test_sqlite_collections_are_files_beside_the_gallery(tmp_path):
    url = f"sqlite:///{tmp_path / 'people.db'}?ef_search=64"
    assert list_collections(url) == []
    with open_gallery(url, "front-door") as gallery:
        add(gallery, "Ada", 1)
    assert sqlite_path(collection_url(url, "front-door")) == tmp_path / "people.collections" / "front-door.db"
    assert collection_url(url, "front-door").endswith("?ef_search=64")
    assert list_collections(url) == ["front-door"]  # the default collection's file was never created


def test_postgres_collections_are_schemas_beside_faceprint(postgres_url):
    with open_gallery(postgres_url, "front-door") as gallery:
        add(gallery, "Ada", 1)
    with psycopg.connect(postgres_url) as connection:
        names = connection.execute('SELECT name FROM "faceprint_collection_front-door".people').fetchall()
        schemas = {row[0] for row in connection.execute("SELECT nspname FROM pg_namespace").fetchall()}
    assert names == [("Ada",)] and "faceprint" not in schemas
    assert list_collections(postgres_url) == ["default", "front-door"]


@pytest.fixture(params=["sqlite", "postgres"])
def previous_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A gallery written by the previous release (before collections), of each store."""
    if request.param == "sqlite":
        return previous_sqlite(tmp_path)
    return previous_postgres(request.getfixturevalue("postgres_url"))


def test_a_previous_release_gallery_keeps_its_people_in_the_default_collection(previous_url):
    assert list_collections(previous_url)[0] == "default"
    with open_gallery(previous_url, "default") as gallery:
        assert_same_answers(answers(gallery, probes()), RECORDED[store_of(previous_url)])
    with open_gallery(previous_url, "new") as gallery:
        assert gallery.people() == [] and gallery.count() == 0
        add(gallery, "Barack Obama", 1)
    with open_gallery(previous_url) as gallery:
        assert_same_answers(answers(gallery, probes()), RECORDED[store_of(previous_url)])
    assert list_collections(previous_url) == ["default", "new"]
