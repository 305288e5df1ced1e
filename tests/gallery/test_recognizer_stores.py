"""The FaceRecognizer on both stores with the real models: the same answers from SQLite and PostgreSQL,
concurrent enrollment from several processes, and writers killed mid-transaction leave a consistent gallery."""

from __future__ import annotations

import multiprocessing
import signal
import time

import pytest
from gallery_workers import add_forever, enroll_real

from faceprint import FaceRecognizer
from faceprint.gallery import open_gallery


def test_enroll_recognise_delete_on_each_store(gallery_url, pipeline, samples):
    recognizer = FaceRecognizer(gallery=gallery_url, pipeline=pipeline)
    people = samples / "people"
    assert recognizer.enroll("Obama", [people / "obama" / "obama.jpg", people / "obama" / "obama1.jpg"]).accepted == 2
    assert recognizer.enroll("Biden", people / "biden" / "biden2.jpg").accepted == 1
    identities = {r["identity"] for r in recognizer.recognize(samples / "group" / "obama_and_biden_2.jpg")}
    assert {"Obama", "Biden"} <= identities
    assert all(r["identity"] is None for r in recognizer.recognize(people / "rose_leslie" / "img2.jpg"))
    recognizer.delete("Obama")
    assert [p["name"] for p in recognizer.people()] == ["Biden"]
    assert all(r["identity"] != "Obama" for r in recognizer.recognize(people / "obama" / "obama2.jpg"))
    recognizer.gallery.close()


@pytest.mark.slow
def test_concurrent_enrollment_from_processes_loses_nothing(tmp_path, samples):
    url = f"sqlite:///{tmp_path / 'gallery.db'}"
    people = samples / "people"
    jobs = [
        ("Obama", [str(people / "obama" / "obama.jpg"), str(people / "obama" / "obama-720p.jpg")]),
        ("Biden", [str(people / "biden" / "biden.jpg"), str(people / "biden" / "biden2.jpg")]),
    ]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(jobs)), context.Queue()
    workers = [context.Process(target=enroll_real, args=(url, name, photos, barrier, results)) for name, photos in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(600)
        assert worker.exitcode == 0
    assert sorted(results.get(timeout=5) for _ in jobs) == [2, 2]
    gallery = open_gallery(url)
    assert {p.name: p.photos for p in gallery.people()} == {"Biden": 2, "Obama": 2}
    gallery.close()


def test_writer_killed_mid_transaction_leaves_a_consistent_gallery(gallery_url):
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writer = context.Process(target=add_forever, args=(gallery_url, 1, ready))
    writer.start()
    assert ready.wait(120), "the writer never got going"
    time.sleep(0.3)
    writer.kill()  # SIGKILL: no cleanup, possibly in the middle of a transaction
    writer.join(30)
    assert writer.exitcode == -signal.SIGKILL
    gallery = open_gallery(gallery_url)
    try:
        photos = [record for person in gallery.people() for record in gallery.photos(person.name)]
        assert len(photos) == gallery.count() >= 20
        ids = [record.id for record in photos]
        # Every stored photo has its embeddings from both models: no half-written enrollment.
        assert (abs(gallery.vectors("facenet", ids)).sum(axis=1) > 0).all()
        assert (abs(gallery.vectors("dlib", ids)).sum(axis=1) > 0).all()
        # And the gallery still accepts writes.
        gallery.add_photo("After", "after-kill", {"facenet": gallery.vectors("facenet", ids[:1])[0]})
    finally:
        gallery.close()
