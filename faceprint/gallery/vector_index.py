"""Nearest-neighbour search over one model's vectors, kept in memory and updated in place.

Small galleries are searched exactly with numpy (one matrix product). From ``ANN_THRESHOLD`` vectors on, the
vectors move into an HNSW graph (the ``usearch`` library, cosine metric) that stores them as 8-bit integers:
a search visits a few thousand of them instead of all, then the best ``RERANK`` candidates are re-scored with
their exact float32 vectors, fetched from the store by key. So the similarities returned are exact, the ranking
errors of 8-bit storage are repaired, and the index takes about a quarter of the memory float32 would (0.6 GB
instead of 2.3 GB for a million 512-d vectors). Both forms take additions and removals by key (the photo id)
without a rebuild; the graph can be saved to a file and loaded again, so that a process need not rebuild it
(many minutes at a million vectors) every time it starts."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Below this many vectors an exact search is fast enough (512-d, one core: median 6.5 ms / p95 9 ms at 20,000,
# p95 20 ms at 50,000; see benchmarks/SEARCH.md); from it on the HNSW graph is used (about 1-2 ms). Falling
# below half of it goes back to exact search.
ANN_THRESHOLD = 20_000
HNSW_CONNECTIVITY = 16  # neighbours per node (M)
HNSW_EXPANSION_ADD = 128  # ef_construction: 64 builds twice as fast but loses recall that no ef_search regains
# ef_search, measured on 1M face-like 512-d vectors (benchmarks/SEARCH.md): 256 gives recall@1 0.991, p95
# 4.3 ms; 512 gives recall@1 0.994 / recall@10 0.992, p95 6.3 ms. Raised to the shortlist when k is larger.
HNSW_EXPANSION_SEARCH = 512
HNSW_DTYPE = "i8"  # how the graph stores vectors; exact float32 vectors come from the store for re-ranking
RERANK = 32  # candidates re-scored exactly per query (at least k)
# keys -> (the keys found, their float32 vectors): where exact vectors come from (the database).
VectorSource = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
FILE_FORMAT = 1
_MAGIC = "faceprint-vector-index"


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def _usearch():
    try:
        from usearch.index import Index
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ImportError(f"large galleries need the usearch package ({error}): pip install usearch") from None
    return Index


class VectorIndex:
    """One model's unit vectors keyed by photo id: exact below ``ann_threshold`` vectors, HNSW from it on."""

    def __init__(
        self,
        dim: int,
        source: VectorSource,
        ann_threshold: int = ANN_THRESHOLD,
        ef_search: int = HNSW_EXPANSION_SEARCH,
        threads: int = 0,
    ) -> None:
        """``source`` gives the exact vectors of keys (for re-ranking, and for going back to exact search)."""
        self.dim = int(dim)
        self.source = source
        self.ann_threshold = max(1, int(ann_threshold))
        self.ef_search = int(ef_search)
        self.threads = threads  # for building and batch searches; 0 = every core
        self._keys = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._size = 0
        self._hnsw: Any = None

    # --- state ---------------------------------------------------------------------------------------------

    @property
    def approximate(self) -> bool:
        """Whether searches go through the HNSW graph."""
        return self._hnsw is not None

    def __len__(self) -> int:
        return len(self._hnsw) if self._hnsw is not None else self._size

    def keys(self) -> np.ndarray:
        """Every stored key (photo id), in no particular order."""
        if self._hnsw is not None:
            return np.asarray(self._hnsw.keys, dtype=np.int64)
        return self._keys[: self._size].copy()

    def memory_bytes(self) -> int:
        """Memory held by the vectors and, if any, the graph."""
        if self._hnsw is not None:
            return int(self._hnsw.memory_usage)
        return int(self._keys.nbytes + self._vectors.nbytes)

    # --- changes -------------------------------------------------------------------------------------------

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new keys; keys already present are skipped (their vector cannot have changed)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if keys.size == 0:
            return
        vectors = unit_rows(np.asarray(vectors).reshape(keys.size, self.dim))
        keys, first = np.unique(keys, return_index=True)
        vectors = vectors[first]
        if self._hnsw is not None:
            fresh = ~np.asarray(self._hnsw.contains(keys.astype(np.uint64)), dtype=bool).reshape(-1)
            if fresh.any():
                self._hnsw.add(keys[fresh].astype(np.uint64), vectors[fresh], threads=self.threads)
        else:
            fresh = ~np.isin(keys, self._keys[: self._size])
            self._append(keys[fresh], vectors[fresh])
        self._rebalance()

    def remove(self, keys: np.ndarray) -> None:
        """Remove the vectors of these keys (absent keys are ignored)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if keys.size == 0:
            return
        if self._hnsw is not None:
            present = np.asarray(self._hnsw.contains(keys.astype(np.uint64)), dtype=bool).reshape(-1)
            if present.any():
                self._hnsw.remove(keys[present].astype(np.uint64))
        elif self._size:
            keep = ~np.isin(self._keys[: self._size], keys)
            if not keep.all():
                count = int(keep.sum())
                self._keys[:count] = self._keys[: self._size][keep]
                self._vectors[:count] = self._vectors[: self._size][keep]
                self._size = count
        self._rebalance()

    def _append(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        needed = self._size + len(keys)
        if needed > len(self._keys):  # grow geometrically, so adding one at a time stays cheap
            capacity = max(needed, 2 * len(self._keys), 64)
            grown_keys = np.zeros(capacity, dtype=np.int64)
            grown_vectors = np.zeros((capacity, self.dim), dtype=np.float32)
            grown_keys[: self._size] = self._keys[: self._size]
            grown_vectors[: self._size] = self._vectors[: self._size]
            self._keys, self._vectors = grown_keys, grown_vectors
        self._keys[self._size : needed] = keys
        self._vectors[self._size : needed] = vectors
        self._size = needed

    def _rebalance(self) -> None:
        """Move to the graph at ``ann_threshold`` vectors, back to exact search below half of it."""
        if self._hnsw is None and self._size >= self.ann_threshold:
            keys, vectors = self._keys[: self._size], self._vectors[: self._size]
            log.info("building an HNSW index of %d %d-d vectors", len(keys), self.dim)
            self._hnsw = self._new_hnsw()
            self._hnsw.add(keys.astype(np.uint64), vectors, threads=self.threads)
            self._keys = np.zeros(0, dtype=np.int64)
            self._vectors = np.zeros((0, self.dim), dtype=np.float32)
            self._size = 0
        elif self._hnsw is not None and len(self._hnsw) < self.ann_threshold // 2:
            keys, vectors = self.source(self.keys())  # the graph holds only 8-bit copies
            self._hnsw = None
            self._append(keys, unit_rows(vectors) if len(keys) else np.zeros((0, self.dim), np.float32))

    def _new_hnsw(self):
        return _usearch()(
            ndim=self.dim,
            metric="cos",
            dtype=HNSW_DTYPE,
            connectivity=HNSW_CONNECTIVITY,
            expansion_add=HNSW_EXPANSION_ADD,
            expansion_search=self.ef_search,
        )

    # --- search --------------------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each unit query row, the keys and exact cosine similarities of its ``k`` nearest vectors, best
        first (ties broken by the smaller key, as the other store does)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        size = len(self)
        if size == 0:
            return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in range(len(queries))]
        k = min(int(k), size)
        if self._hnsw is None:
            return self._exact(queries, k)
        shortlist = min(max(k, RERANK), size)
        ef = max(self.ef_search, shortlist)
        if self._hnsw.expansion_search != ef:
            self._hnsw.expansion_search = ef
        # Asking for a large share of the gallery: a pass over every vector is both exact and no slower.
        exact = 4 * shortlist >= size
        matches = self._hnsw.search(queries, shortlist, exact=exact, threads=self.threads if len(queries) > 1 else 1)
        if hasattr(matches, "counts"):  # BatchMatches
            keys = np.asarray(matches.keys).reshape(len(queries), -1)
            counts = np.asarray(matches.counts).reshape(-1)
        else:  # one query gives a flat Matches
            keys = np.asarray(matches.keys).reshape(1, -1)
            counts = np.array([keys.shape[1]])
        found = [keys[row, : counts[row]].astype(np.int64) for row in range(len(queries))]
        # Re-score every candidate with its exact vector (one fetch for all queries); keys the store no
        # longer has (removed since) drop out.
        stored_keys, stored_vectors = self.source(np.unique(np.concatenate(found)))
        rows = {int(key): row for row, key in enumerate(stored_keys)}
        stored_vectors = unit_rows(stored_vectors) if len(stored_keys) else stored_vectors
        results = []
        for query, candidates in zip(queries, found):
            present = [rows[key] for key in candidates.tolist() if key in rows]
            candidate_keys = stored_keys[present].astype(np.int64)
            similarities = np.clip(stored_vectors[present] @ query, -1.0, 1.0).astype(np.float32)
            order = np.lexsort((candidate_keys, -similarities))[:k]
            results.append((candidate_keys[order], similarities[order]))
        return results

    def _exact(self, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        keys = self._keys[: self._size]
        scores = queries @ self._vectors[: self._size].T
        results = []
        for row in scores:
            top = np.argpartition(-row, k - 1)[:k] if k < row.size else np.arange(row.size)
            order = np.lexsort((keys[top], -row[top]))
            top = top[order]
            results.append((keys[top].copy(), np.clip(row[top], -1.0, 1.0).astype(np.float32)))
        return results

    # --- files ---------------------------------------------------------------------------------------------

    def save(self, pointer: Path, meta: Mapping[str, Any]) -> None:
        """Write the graph to a new data file, then atomically point ``pointer`` (a small JSON file) at it.

        Readers always see a complete pair: the pointer is replaced only after its data file is written. Older
        data files are deleted once no pointer names them (after a grace period, for a reader still opening one)."""
        if self._hnsw is None:
            return
        pointer = Path(pointer)
        token = uuid.uuid4().hex[:12]
        data = pointer.with_name(f"{pointer.name}.{token}.usearch")
        temporary = pointer.with_name(f"{pointer.name}.{token}.tmp")
        try:
            self._hnsw.save(str(data))
            body = {
                "magic": _MAGIC,
                "format": FILE_FORMAT,
                "data": data.name,
                "dim": self.dim,
                "dtype": HNSW_DTYPE,
                "size": len(self._hnsw),
                **meta,
            }
            temporary.write_text(json.dumps(body, sort_keys=True))
            os.replace(temporary, pointer)
        except OSError as error:
            log.warning("could not save the vector index %s: %s", pointer, error)
            for path in (data, temporary):
                with contextlib.suppress(OSError):
                    path.unlink()
            return
        _remove_old_data_files(pointer, keep=data.name)

    @classmethod
    def load(
        cls,
        pointer: Path,
        expect: Mapping[str, Any],
        source: VectorSource,
        ann_threshold: int = ANN_THRESHOLD,
        ef_search: int = HNSW_EXPANSION_SEARCH,
        threads: int = 0,
    ) -> tuple[VectorIndex, dict] | None:
        """The saved graph and its metadata if ``pointer`` exists and its metadata matches ``expect``, else
        ``None`` (missing, from another gallery or model, damaged: the caller then builds a new one)."""
        try:
            meta = json.loads(Path(pointer).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring the unreadable vector index %s: %s", pointer, error)
            return None
        if not isinstance(meta, dict) or meta.get("magic") != _MAGIC or meta.get("format") != FILE_FORMAT:
            log.warning("ignoring %s: not a vector index this faceprint writes", pointer)
            return None
        mismatched = [key for key, value in expect.items() if meta.get(key) != value]
        if mismatched:
            log.info("ignoring the vector index %s: it was made for another %s", pointer, ", ".join(mismatched))
            return None
        data = Path(pointer).with_name(str(meta.get("data", "")))
        if data.parent != Path(pointer).parent or not data.name.startswith(Path(pointer).name + "."):
            return None
        try:
            hnsw = _usearch().restore(str(data))
        except (OSError, RuntimeError, ValueError) as error:
            log.warning("ignoring the vector index %s: %s", data, error)
            return None
        if hnsw is None or hnsw.ndim != meta.get("dim") or len(hnsw) != meta.get("size") or _dtype(hnsw) != HNSW_DTYPE:
            log.warning("ignoring the vector index %s: its data file does not match its description", data)
            return None
        index = cls(int(meta["dim"]), source, ann_threshold=ann_threshold, ef_search=ef_search, threads=threads)
        hnsw.expansion_search = index.ef_search
        index._hnsw = hnsw
        return index, meta


def _dtype(hnsw: Any) -> str:
    """usearch's scalar kind as its short name (``ScalarKind.I8`` -> ``i8``)."""
    return str(hnsw.dtype).rsplit(".", 1)[-1].lower()


def _remove_old_data_files(pointer: Path, keep: str, grace_s: float = 120.0) -> None:
    """Delete data files of ``pointer`` other than ``keep`` that are older than ``grace_s`` seconds."""
    import time

    now = time.time()
    for path in pointer.parent.glob(f"{pointer.name}.*"):
        if path.name == keep or not path.name.endswith((".usearch", ".tmp")):
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > grace_s:
                path.unlink()


def remove_index_files(pointer: Path) -> None:
    """Delete a saved index: its pointer and every data file."""
    pointer = Path(pointer)
    for path in [pointer, *pointer.parent.glob(f"{pointer.name}.*")]:
        with contextlib.suppress(OSError):
            path.unlink()
