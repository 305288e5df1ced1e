"""The neighbour search under the clustering: exact on small libraries, an inverted-file index on large ones that
finds what the exact search finds on faces with a person structure."""

from __future__ import annotations

import numpy as np

from faceprint.library.clustering import EXACT_LIMIT, nearest


def people_like(count: int, people: int, dim: int = 128, noise: float = 0.5, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``people`` centres (faces of a person are closer to each other than to anyone else)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    owners = rng.integers(0, people, count)
    faces = centres[owners] + rng.standard_normal((count, dim)).astype(np.float32) * noise / np.sqrt(dim)
    return faces / np.linalg.norm(faces, axis=1, keepdims=True)


def exact(table: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    sims = table[rows] @ table.T
    sims[np.arange(len(rows)), rows] = -np.inf
    return np.argsort(-sims, axis=1)[:, :k]


def test_small_libraries_get_the_exact_neighbours():
    table = people_like(3000, 200)
    rows = np.arange(0, 3000, 7)
    found = nearest(table, rows, 5)
    assert [set(r) for r in found] == [set(r) for r in exact(table, rows, 5)]
    assert not (found == rows[:, None]).any()  # never a face itself


def test_large_libraries_find_nearly_all_exact_neighbours():
    table = people_like(EXACT_LIMIT + 5000, 2500)
    rows = np.random.default_rng(1).choice(len(table), 2000, replace=False)
    found = nearest(table, rows, 12)
    truth = exact(table, rows, 12)
    # The neighbours that matter are faces of the same person (cosine about 0.8 here); beyond them the exact top 12
    # holds strangers at cosine about 0.2, which no link could use.
    close = [[j for j in t if table[i] @ table[j] > 0.5] for i, t in zip(rows, truth)]
    recall = sum(len(set(f) & set(c)) for f, c in zip(found, close)) / sum(len(c) for c in close)
    assert recall >= 0.98, recall
    assert not (found == rows[:, None]).any()
    assert ((found >= -1) & (found < len(table))).all()
