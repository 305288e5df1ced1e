"""Reading ``.npy`` bytes without ``ast``: the same arrays as numpy, damage refused, safe across threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from faceprint.npy_bytes import load_npy_bytes


def _npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(512, dtype=np.float32),
        np.arange(12, dtype=np.int8).reshape(3, 4),
        np.asfortranarray(np.arange(24, dtype=">f8").reshape(2, 3, 4)),
        np.float32(3.5).reshape(()),
        np.zeros((0, 128), dtype=np.float32),
        np.array([True, False]),
    ],
)
def test_reads_what_numpy_writes(array):
    loaded = load_npy_bytes(_npy(array))
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    loaded[...] = 0  # a writable copy, not a view of the bytes


def test_reads_format_version_two_and_structured_arrays_through_numpy():
    array = np.arange(6, dtype=np.int64)
    np.testing.assert_array_equal(load_npy_bytes(_npy(array, version=(2, 0))), array)
    records = np.zeros(3, dtype=[("x", "<f4"), ("n", "<i4")])
    assert load_npy_bytes(_npy(records)).dtype == records.dtype


def test_damaged_bytes_raise_value_error():
    data = _npy(np.arange(10, dtype=np.float32))
    with pytest.raises(ValueError):
        load_npy_bytes(data[:-4])
    with pytest.raises(ValueError):
        load_npy_bytes(b"not an array at all")


def test_many_threads_read_at_once():
    arrays = [np.full(512, index, dtype=np.float32) for index in range(64)]
    blobs = [_npy(array) for array in arrays]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            loaded = list(pool.map(load_npy_bytes, blobs))
            assert all(np.array_equal(a, b) for a, b in zip(loaded, arrays, strict=True))
