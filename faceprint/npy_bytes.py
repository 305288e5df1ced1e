"""Read ``.npy`` bytes without ``ast``: safe to call from several threads at once.

``numpy.load`` parses the ``.npy`` header with ``ast.literal_eval``. On CPython 3.11 before 3.11.8 two threads
compiling to an AST at the same moment can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905), and faceprint embeds with several models side by side, each reading its cached vectors.
The header numpy writes is a fixed, simple dict, so a regular expression reads it; anything unusual falls back to
``numpy.load`` under a lock."""

from __future__ import annotations

import io
import re
import struct
import threading

import numpy as np

_MAGIC = b"\x93NUMPY"
_HEADER = re.compile(
    r"""^\{\s*'descr':\s*'(?P<descr>[<>|=]?[a-zA-Z]\d*)',\s*'fortran_order':\s*(?P<fortran>True|False),\s*"""
    r"""'shape':\s*\((?P<shape>[\d,\s]*)\),?\s*\}\s*$"""
)
_fallback_lock = threading.Lock()


def _fast_read(data: bytes) -> np.ndarray | None:
    if len(data) < 10 or not data.startswith(_MAGIC):
        return None
    major = data[6]
    if major == 1:
        (header_length,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3) and len(data) >= 12:
        (header_length,), start = struct.unpack("<I", data[8:12]), 12
    else:
        return None
    header = data[start : start + header_length].decode("latin1")
    match = _HEADER.match(header)
    if match is None:
        return None
    dtype = np.dtype(match["descr"])
    if dtype.hasobject:
        return None
    shape = tuple(int(part) for part in match["shape"].replace(" ", "").split(",") if part)
    count = int(np.prod(shape, dtype=np.int64))
    body = data[start + header_length :]
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"the array holds {len(body)} bytes, its header promises {count * dtype.itemsize}")
    array = np.frombuffer(body, dtype=dtype, count=count)
    order = "F" if match["fortran"] == "True" else "C"
    return array.reshape(shape, order=order).copy(order=order)


def load_npy_bytes(data: bytes) -> np.ndarray:
    """The array that ``numpy.save`` wrote as ``data`` (no pickles); raises ValueError when it is damaged."""
    array = _fast_read(data)
    if array is not None:
        return array
    with _fallback_lock:
        return np.load(io.BytesIO(data), allow_pickle=False)
