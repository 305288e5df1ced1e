"""The embedding cache: round trips arrays and survives several processes writing at once."""

from __future__ import annotations

import multiprocessing

import numpy as np

from faceprint.cache import ArrayCache, array_key, content_hash


def test_round_trip_and_miss(tmp_path):
    cache = ArrayCache(tmp_path / "c.sqlite")
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put("k", value)
    np.testing.assert_array_equal(cache.get("k"), value)
    assert cache.get("other") is None


def test_keys_depend_on_content_and_ignore_float_noise():
    landmarks = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert array_key("img", "v1", landmarks) == array_key("img", "v1", landmarks + 1e-4)
    assert array_key("img", "v1", landmarks) != array_key("img", "v2", landmarks)
    assert content_hash(b"abc") != content_hash(b"abd")


def _writer(path, worker):
    cache = ArrayCache(path)
    for i in range(50):
        cache.put(f"{worker}-{i}", np.full(8, worker * 100 + i, dtype=np.float32))


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    ArrayCache(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    cache = ArrayCache(path)
    for w in range(4):
        for i in range(50):
            assert cache.get(f"{w}-{i}")[0] == w * 100 + i
