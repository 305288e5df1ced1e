"""Behaviour of every gallery store (each test runs on SQLite and on a real PostgreSQL + pgvector server)."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gallery_workers import add_many, unit

from faceprint.errors import (
    FaceprintError,
    GalleryError,
    InvalidEmbeddingError,
    InvalidNameError,
    PersonExistsError,
    UnknownPersonError,
    UnknownPhotoError,
)
from faceprint.gallery import Candidate, Gallery, Person, PhotoRecord, open_gallery

DIM = 128


def faces(seed: int, people: int, photos: int, noise: float = 0.05) -> dict[str, list[np.ndarray]]:
    """Real-looking embeddings: one random unit direction per person, each photo that direction plus noise."""
    rng = np.random.default_rng(seed)
    result = {}
    for index in range(people):
        centre = unit(rng, DIM)
        shots = [centre + rng.normal(scale=noise, size=DIM).astype(np.float32) for _ in range(photos)]
        result[f"Person {index:02d}"] = [shot / np.linalg.norm(shot) for shot in shots]
    return result


def test_is_a_gallery(gallery):
    assert isinstance(gallery, Gallery)
    assert gallery.count() == 0 and gallery.people() == [] and gallery.models() == set()


def test_add_photo_creates_the_person_and_is_idempotent(gallery, raw_rows):
    rng = np.random.default_rng(0)
    vectors = {"facenet": unit(rng, DIM), "dlib": unit(rng, 64)}
    record, created = gallery.add_photo(
        "  Ada Lovelace ", "hash-1", vectors, quality={"score": 0.99, "sharpness": 12.5}, image=b"jpeg"
    )
    assert created
    assert isinstance(record, PhotoRecord)
    assert record.person == "Ada Lovelace" and record.content_hash == "hash-1"
    assert record.quality == {"score": 0.99, "sharpness": 12.5} and record.has_image
    assert record.created.tzinfo is not None

    again, created = gallery.add_photo("Ada Lovelace", "hash-1", vectors)
    assert not created and again == record
    assert gallery.count() == 1
    assert raw_rows() == {"people": 1, "photos": 1, "photo_blobs": 1, "embeddings": 2}
    assert gallery.photos("Ada Lovelace") == [record]
    assert gallery.models() == {"facenet", "dlib"}

    # Re-adding with a model the photo lacks back-fills that model only.
    _, created = gallery.add_photo("Ada Lovelace", "hash-1", {"facenet": vectors["facenet"], "hse": unit(rng, 16)})
    assert not created and gallery.count() == 1
    assert raw_rows()["embeddings"] == 3 and gallery.models() == {"facenet", "dlib", "hse"}

    # The same photo may show another person too: that is a separate record.
    other, created = gallery.add_photo("Charles Babbage", "hash-1", vectors)
    assert created and other.id != record.id and gallery.count() == 2


def test_people_are_sorted_with_counts_and_thumbnail(gallery):
    rng = np.random.default_rng(1)
    for name, photos in (("bob", 1), ("Alice", 2), ("Zoë", 1), ("carol", 3)):
        for index in range(photos):
            thumbnail = None if index == 0 else f"{name}-{index}".encode()
            gallery.add_photo(name, f"{name}-{index}", {"facenet": unit(rng, DIM)}, thumbnail=thumbnail)
    people = gallery.people()
    assert [p.name for p in people] == ["Alice", "bob", "carol", "Zoë"]
    assert [p.photos for p in people] == [2, 1, 3, 1]
    assert all(isinstance(p, Person) for p in people)
    carol = gallery.person("carol")
    assert carol.thumbnail == b"carol-1"  # the oldest photo that has a thumbnail
    assert gallery.person("bob").thumbnail is None
    assert carol.created <= carol.updated
    assert [p.content_hash for p in gallery.photos("carol")] == ["carol-0", "carol-1", "carol-2"]


def test_unknown_people_raise(gallery):
    gallery.add_photo("Known", "h", {"facenet": np.ones(4)})
    for call in (
        lambda: gallery.person("Nobody"),
        lambda: gallery.photos("Nobody"),
        lambda: gallery.delete("Nobody"),
        lambda: gallery.remove_photo("Nobody", 1),
        lambda: gallery.rename("Nobody", "Somebody"),
    ):
        with pytest.raises(UnknownPersonError, match="Nobody") as caught:
            call()
        assert caught.value.http_status == 404 and caught.value.code == "unknown_person"
    assert gallery.count() == 1


def test_rename(gallery):
    rng = np.random.default_rng(2)
    vector = unit(rng, DIM)
    gallery.add_photo("Old Name", "a", {"facenet": vector})
    gallery.add_photo("Other", "b", {"facenet": unit(rng, DIM)})
    assert gallery.search("facenet", vector, k=1)[0][0].person == "Old Name"  # warms any cache

    gallery.rename(" Old Name ", "New Name")
    assert [p.name for p in gallery.people()] == ["New Name", "Other"]
    assert gallery.photos("New Name")[0].person == "New Name"
    assert gallery.search("facenet", vector, k=1)[0][0].person == "New Name"
    with pytest.raises(UnknownPersonError):
        gallery.person("Old Name")

    with pytest.raises(PersonExistsError, match="Other") as caught:
        gallery.rename("New Name", "Other")
    assert caught.value.http_status == 409
    assert {p.name for p in gallery.people()} == {"New Name", "Other"}
    gallery.rename("Other", "Other")  # renaming to the same name changes nothing
    with pytest.raises(InvalidNameError):
        gallery.rename("Other", "")


def test_delete_removes_every_trace(gallery, raw_rows):
    rng = np.random.default_rng(3)
    target = unit(rng, DIM)
    for index in range(3):
        gallery.add_photo(
            "Forget Me",
            f"f{index}",
            {"facenet": target, "dlib": unit(rng, 64)},
            thumbnail=b"thumb",
            image=b"full image",
        )
    gallery.add_photo("Keep Me", "k0", {"facenet": unit(rng, DIM), "dlib": unit(rng, 64)}, thumbnail=b"t")
    assert raw_rows() == {"people": 2, "photos": 4, "photo_blobs": 4, "embeddings": 8}
    assert gallery.search("facenet", target, k=1)[0][0].person == "Forget Me"

    gallery.delete("Forget Me")
    assert raw_rows() == {"people": 1, "photos": 1, "photo_blobs": 1, "embeddings": 2}
    assert [p.name for p in gallery.people()] == ["Keep Me"]
    assert all(c.person == "Keep Me" for c in gallery.search("facenet", target, k=10)[0])
    assert gallery.count() == 1
    with pytest.raises(UnknownPersonError):
        gallery.photos("Forget Me")


def test_remove_photo(gallery, raw_rows):
    rng = np.random.default_rng(4)
    first, _ = gallery.add_photo("Ann", "a1", {"facenet": unit(rng, DIM)}, image=b"img")
    second, _ = gallery.add_photo("Ann", "a2", {"facenet": unit(rng, DIM)})
    bens, _ = gallery.add_photo("Ben", "b1", {"facenet": unit(rng, DIM)})

    with pytest.raises(UnknownPhotoError) as caught:
        gallery.remove_photo("Ann", bens.id)  # someone else's photo
    assert caught.value.http_status == 404
    with pytest.raises(UnknownPhotoError):
        gallery.remove_photo("Ann", 987654)

    gallery.remove_photo("Ann", first.id)
    assert [p.id for p in gallery.photos("Ann")] == [second.id]
    assert gallery.person("Ann").photos == 1
    assert raw_rows() == {"people": 2, "photos": 2, "photo_blobs": 0, "embeddings": 2}

    gallery.remove_photo("Ann", second.id)  # the last one: Ann goes too
    with pytest.raises(UnknownPersonError):
        gallery.person("Ann")
    assert [p.name for p in gallery.people()] == ["Ben"]
    assert raw_rows() == {"people": 1, "photos": 1, "photo_blobs": 0, "embeddings": 1}


def test_search_ranks_the_right_person_first(gallery):
    people = faces(seed=5, people=12, photos=4)
    for name, shots in people.items():
        for index, shot in enumerate(shots[:3]):  # the 4th photo of each person stays out of the gallery
            gallery.add_photo(name, f"{name}-{index}", {"facenet": shot})
    names = list(people)
    queries = np.stack([people[name][3] for name in names])

    results = gallery.search("facenet", queries, k=5)
    assert len(results) == len(names)
    for name, candidates in zip(names, results):
        assert len(candidates) == 5
        assert all(isinstance(c, Candidate) for c in candidates)
        assert [c.person for c in candidates[:3]] == [name] * 3, candidates
        similarities = [c.similarity for c in candidates]
        assert similarities == sorted(similarities, reverse=True)
        assert candidates[0].similarity > 0.6 > candidates[3].similarity
        assert len({c.photo_id for c in candidates}) == 5

    # An exact stored vector has similarity 1; one 1-D query gives one list; k larger than the gallery is fine.
    (best,) = gallery.search("facenet", people["Person 03"][1], k=1)
    assert best[0].person == "Person 03" and best[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert len(gallery.search("facenet", queries[:1], k=100)[0]) == 36
    assert gallery.search("no-such-model", queries[:2]) == [[], []]
    with pytest.raises(InvalidEmbeddingError, match="128"):
        gallery.search("facenet", np.ones(64))
    with pytest.raises(ValueError):
        gallery.search("facenet", queries, k=0)


def test_search_sees_writes_made_through_another_gallery_object(gallery, gallery_url):
    rng = np.random.default_rng(6)
    first = unit(rng, DIM)
    gallery.add_photo("First", "1", {"facenet": first})
    assert gallery.search("facenet", first, k=5)[0][0].person == "First"
    other = open_gallery(gallery_url)
    try:
        second = unit(rng, DIM)
        other.add_photo("Second", "2", {"facenet": second})
        assert gallery.search("facenet", second, k=5)[0][0].person == "Second"
        other.delete("First")
        assert [c.person for c in gallery.search("facenet", first, k=5)[0]] == ["Second"]
    finally:
        other.close()


def test_dimension_mismatch_writes_nothing(gallery, raw_rows):
    rng = np.random.default_rng(7)
    gallery.add_photo("Fixed", "f", {"facenet": unit(rng, DIM), "dlib": unit(rng, 64)})
    before = raw_rows()
    with pytest.raises(InvalidEmbeddingError, match="dlib") as caught:
        # The new model hse is registered (its table created) and facenet checked before dlib's wrong size is
        # found: all of it must be rolled back.
        gallery.add_photo("Newcomer", "n", {"hse": unit(rng, 16), "facenet": unit(rng, DIM), "dlib": unit(rng, 32)})
    assert caught.value.http_status == 400
    assert raw_rows() == before
    assert gallery.count() == 1 and [p.name for p in gallery.people()] == ["Fixed"]
    assert gallery.models() == {"facenet", "dlib"}
    # The failed add did not fix the new model's size either.
    gallery.add_photo("Newcomer", "n", {"hse": unit(rng, 8)})
    assert gallery.models() == {"facenet", "dlib", "hse"}


def test_a_failure_late_in_a_write_rolls_everything_back(gallery, raw_rows, monkeypatch):
    rng = np.random.default_rng(12)
    gallery.add_photo("Existing", "e", {"facenet": unit(rng, DIM)})
    before = raw_rows()

    def fail(row):
        raise RuntimeError("disk on fire")

    # Building the returned record is the last step inside the transaction, after every row was written.
    monkeypatch.setattr(gallery, "_photo", fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        gallery.add_photo("Late", "l", {"facenet": unit(rng, DIM), "new": unit(rng, 8)}, thumbnail=b"t", image=b"i")
    with pytest.raises(RuntimeError, match="disk on fire"):
        gallery.add_photo("Existing", "e2", {"facenet": unit(rng, DIM)})
    monkeypatch.undo()
    assert raw_rows() == before
    assert [(p.name, p.photos) for p in gallery.people()] == [("Existing", 1)]
    assert gallery.models() == {"facenet"}
    _, created = gallery.add_photo("Late", "l", {"facenet": unit(rng, DIM), "new": unit(rng, 4)})
    assert created and gallery.count() == 2


@pytest.mark.parametrize(
    "bad", [{}, {"facenet": np.array([1.0, np.nan])}, {"facenet": np.ones((2, 2))}, {"facenet": np.zeros(4)}]
)
def test_invalid_embeddings_write_nothing(gallery, bad):
    with pytest.raises(InvalidEmbeddingError):
        gallery.add_photo("Someone", "h", bad)
    assert gallery.count() == 0 and gallery.people() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "line\nbreak", "tab\there", "nul\x00", "bell\x07", 42, None])
def test_invalid_names(gallery, name):
    with pytest.raises(InvalidNameError) as caught:
        gallery.add_photo(name, "h", {"facenet": np.ones(4)})
    assert caught.value.http_status == 400 and caught.value.code == "invalid_name"
    assert isinstance(caught.value, FaceprintError)
    assert gallery.count() == 0
    with pytest.raises(InvalidNameError):
        gallery.person(name)


def test_names_are_stripped_and_may_be_long_or_unicode(gallery):
    gallery.add_photo("  Zoë Ólafsdóttir\t", "h1", {"facenet": np.ones(4)})
    gallery.add_photo("y" * 100, "h2", {"facenet": np.ones(4)})
    assert gallery.person("Zoë Ólafsdóttir").photos == 1
    assert gallery.person("Zoe\u0308 Ólafsdóttir").name == "Zoë Ólafsdóttir"  # NFC: the same person
    assert gallery.count() == 2


def test_processes_writing_at_once_lose_nothing(gallery, gallery_url):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=add_many, args=(gallery_url, w, 25, barrier)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(240)
    assert [process.exitcode for process in workers] == [0, 0, 0, 0]
    assert gallery.count() == 100
    people = {p.name: p.photos for p in gallery.people()}
    assert people == {"Everyone": 48, "Worker 0": 13, "Worker 1": 13, "Worker 2": 13, "Worker 3": 13}
    hashes = {p.content_hash for name in people for p in gallery.photos(name)}
    assert hashes == {f"w{w}-{i}" for w in range(4) for i in range(25)}
    assert gallery.models() == {"facenet", "dlib"}
    assert len(gallery.search("dlib", np.ones(32), k=1000)[0]) == 100


def test_threads_sharing_one_gallery_lose_nothing(gallery):
    rng = np.random.default_rng(8)
    probe = unit(rng, DIM)
    gallery.add_photo("Probe", "probe", {"facenet": probe})
    start = threading.Barrier(4)

    def work(worker: int) -> None:
        local = np.random.default_rng(100 + worker)
        start.wait(60)
        for i in range(25):
            gallery.add_photo(f"Thread {worker % 2}", f"t{worker}-{i}", {"facenet": unit(local, DIM)})
            if i % 5 == 0:  # searches interleaved with other threads' writes
                assert gallery.search("facenet", probe, k=1)[0][0].person == "Probe"

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert gallery.count() == 101
    assert {p.name: p.photos for p in gallery.people()} == {"Probe": 1, "Thread 0": 50, "Thread 1": 50}
    assert len(gallery.search("facenet", probe, k=500)[0]) == 101


def test_closed_gallery_refuses_work(gallery_url):
    store = open_gallery(gallery_url)
    store.close()
    with pytest.raises(GalleryError):
        store.count()


def test_error_classes_carry_codes_and_statuses():
    assert (UnknownPersonError.http_status, UnknownPhotoError.http_status) == (404, 404)
    assert (PersonExistsError.http_status, InvalidNameError.http_status, GalleryError.http_status) == (409, 400, 503)
    codes = [cls.code for cls in (UnknownPersonError, PersonExistsError, UnknownPhotoError, InvalidNameError)]
    assert len(set(codes)) == 4
    assert all(issubclass(cls, FaceprintError) for cls in (GalleryError, InvalidEmbeddingError))


def test_connections_of_ended_threads_are_closed(gallery):
    """A server that starts one thread per request must not pile up one open connection per request."""
    gallery.add_photo("Someone", "s", {"facenet": np.ones(8)})
    for _ in range(12):
        thread = threading.Thread(target=gallery.count)
        thread.start()
        thread.join()
    assert len(gallery._connections) <= 2  # this thread's and the last request thread's
    assert gallery.count() == 1


def test_vectors_returns_stored_embeddings_in_the_order_asked(gallery):
    rng = np.random.default_rng(7)
    first, second = (rng.normal(size=16).astype(np.float32) for _ in range(2))
    first /= np.linalg.norm(first)
    second /= np.linalg.norm(second)
    a, _ = gallery.add_photo("Ada", "a" * 64, {"m": first})
    b, _ = gallery.add_photo("Bob", "b" * 64, {"m": second})
    rows = gallery.vectors("m", [b.id, a.id, 999_999])
    np.testing.assert_allclose(rows[0], second, atol=1e-6)
    np.testing.assert_allclose(rows[1], first, atol=1e-6)
    assert not rows[2].any()
    assert gallery.vectors("unknown-model", [a.id]).shape == (1, 0)


def test_photo_thumbnail_is_that_photo_s(gallery):
    rng = np.random.default_rng(12)
    with_thumbnail, _ = gallery.add_photo("Ada", "a1", {"m": unit(rng, 16)}, thumbnail=b"first")
    without, _ = gallery.add_photo("Ada", "a2", {"m": unit(rng, 16)})
    other, _ = gallery.add_photo("Bob", "b1", {"m": unit(rng, 16)}, thumbnail=b"bob")
    assert gallery.photo_thumbnail("Ada", with_thumbnail.id) == b"first"
    assert gallery.photo_thumbnail("Ada", without.id) is None
    with pytest.raises(UnknownPhotoError):
        gallery.photo_thumbnail("Ada", other.id)  # Bob's photo, not Ada's
    with pytest.raises(UnknownPersonError):
        gallery.photo_thumbnail("Nobody", other.id)
