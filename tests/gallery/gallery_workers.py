"""Code that concurrency tests run in child processes (a small module, so spawning a child stays cheap)."""

from __future__ import annotations

import numpy as np

from faceprint.gallery import open_gallery


def unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A random unit vector."""
    vector = rng.normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def add_many(url: str, worker: int, count: int, barrier) -> None:
    """Open the gallery, wait for every worker, then add ``count`` photos: half to a shared person, half to our own."""
    gallery = open_gallery(url)
    rng = np.random.default_rng(worker)
    barrier.wait(120)
    try:
        for i in range(count):
            person = "Everyone" if i % 2 else f"Worker {worker}"
            record, created = gallery.add_photo(
                person, f"w{worker}-{i}", {"facenet": unit(rng, 64), "dlib": unit(rng, 32)}, thumbnail=b"t"
            )
            assert created and record.person == person
    finally:
        gallery.close()


def add_forever(url: str, worker: int, ready) -> None:
    """Add photos in a tight loop until killed (used to kill a writer in the middle of a transaction)."""
    gallery = open_gallery(url)
    rng = np.random.default_rng(worker)
    i = 0
    while True:
        gallery.add_photo(f"Person {i % 7}", f"k{worker}-{i}", {"facenet": unit(rng, 64), "dlib": unit(rng, 32)})
        i += 1
        if i == 20:
            ready.set()


def enroll_real(url: str, name: str, photos: list[str], barrier, results) -> None:
    """Enroll real photos through the FaceRecognizer (real models) once every worker is ready."""
    from faceprint import FaceRecognizer

    recognizer = FaceRecognizer(gallery=url)
    recognizer.detect(photos[0])  # load the models before the race starts
    barrier.wait(300)
    results.put(recognizer.enroll(name, photos).accepted)
