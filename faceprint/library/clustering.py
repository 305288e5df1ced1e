"""Clusters of unknown faces, precision first and incremental.

Distances are the calibrated similarity of ``faceprint.scoring`` (both networks' cosines and the poorer face's
quality, 0-100 on a log-likelihood-ratio scale), the same number ``verify`` and ``recognize`` show. Each new face
looks up its nearest faces (cosine of the smallest model, exact, in blocks); candidate pairs are scored, and pairs
at or above the link threshold are taken strongest first. Two groups merge only when their **average** similarity
(over up to ``SAMPLE`` members of each) still reaches the threshold, so one look-alike pair cannot chain two
people together (single linkage's failure), and two clusters that already existed are never merged automatically:
that is the user's call (``clusters merge``). A later run only searches from its new faces: they join existing
clusters, bring unclustered faces with them, or form new clusters; nothing else is recomputed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from faceprint.scoring import pair_quality, quality_features

LINK_MARGIN = 12.0
"""The link threshold is the verification threshold plus this many points (see ``link_threshold``)."""
NEIGHBOURS = 12
SAMPLE = 48
BLOCK = 256
EXACT_LIMIT = 20_000
"""Up to this many faces the neighbour search is exact; above it, an inverted-file index (see ``nearest``)."""
PROBES = 16
PAIRS = 16_384


def link_threshold(scoring) -> float:
    """Similarity from which two faces may be grouped: a little above ``verify``'s same-person point, since a wrong
    merge costs more than a split. Measured on the clustering benchmark (``benchmarks/clustering.py``)."""
    return float(scoring.verify_threshold) + LINK_MARGIN


@dataclass
class Faces:
    """Faces to cluster: unit vectors per model (rows aligned), quality features (N x 2), current labels (cluster
    id, or -1 for none) and which are new to the clustering."""

    vectors: Mapping[str, np.ndarray]
    quality: np.ndarray
    labels: np.ndarray
    new: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def quality_matrix(measures: Sequence[Mapping | None]) -> np.ndarray:
    return np.stack([quality_features(m) for m in measures]) if len(measures) else np.zeros((0, 2))


def nearest(table: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """For each of ``rows``, the ``k`` other rows of ``table`` most cosine-similar to it: exact (in blocks) up to
    ``EXACT_LIMIT`` rows, else from an inverted-file index (``_nearest_ivf``). Rows with fewer neighbours found
    are padded with -1."""
    k = min(k, len(table) - 1)
    if len(table) > EXACT_LIMIT:
        return _nearest_ivf(table, rows, k)
    result = np.zeros((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), BLOCK):
        chunk = rows[start : start + BLOCK]
        sims = table[chunk] @ table.T
        sims[np.arange(len(chunk)), chunk] = -np.inf
        result[start : start + len(chunk)] = np.argpartition(sims, -k, axis=1)[:, -k:]
    return result


def _spherical_kmeans(sample: np.ndarray, lists: int, rng: np.random.Generator, rounds: int = 6) -> np.ndarray:
    centres = sample[rng.choice(len(sample), lists, replace=False)].copy()
    for _ in range(rounds):
        owner = np.argmax(sample @ centres.T, axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, owner, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        sums[empty] = sample[rng.choice(len(sample), int(empty.sum()), replace=False)]
        centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return centres


def _nearest_ivf(table: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Approximate nearest neighbours on many faces: the rows are split into about sqrt(N) cells by spherical
    k-means, and each query compares itself only with the rows of its ``PROBES`` closest cells. Faces of one person
    sit together, so this finds nearly all of what the exact search finds at a few percent of its cost."""
    rng = np.random.default_rng(0)
    lists = max(16, int(np.sqrt(len(table))))
    sample = table[rng.choice(len(table), min(len(table), lists * 32), replace=False)]
    centres = _spherical_kmeans(sample, lists, rng)
    cell = np.concatenate([np.argmax(table[s : s + 8192] @ centres.T, axis=1) for s in range(0, len(table), 8192)])
    probes = min(PROBES, lists)
    query_cells = np.argpartition(table[rows] @ centres.T, -probes, axis=1)[:, -probes:]
    members = [np.flatnonzero(cell == c) for c in range(lists)]
    found_q, found_i, found_s = [], [], []
    for c in range(lists):
        queries = np.flatnonzero((query_cells == c).any(axis=1))
        if not len(queries) or not len(members[c]):
            continue
        sims = table[rows[queries]] @ table[members[c]].T
        sims[rows[queries][:, None] == members[c][None, :]] = -np.inf
        take = min(k, sims.shape[1])
        best = np.argpartition(sims, -take, axis=1)[:, -take:]
        found_q.append(np.repeat(queries, take))
        found_i.append(members[c][best].reshape(-1))
        found_s.append(np.take_along_axis(sims, best, axis=1).reshape(-1))
    result = np.full((len(rows), k), -1, dtype=np.int64)
    if not found_q:
        return result
    q, i, sim = np.concatenate(found_q), np.concatenate(found_i), np.concatenate(found_s)
    keep = np.isfinite(sim)
    q, i, sim = q[keep], i[keep], sim[keep]
    order = np.lexsort((-sim, q))
    q, i = q[order], i[order]
    starts = np.searchsorted(q, q, side="left")
    rank = np.arange(len(q)) - starts
    chosen = rank < k
    result[q[chosen], rank[chosen]] = i[chosen]
    return result


class Clusterer:
    """Groups faces with the calibrated score (see the module docstring)."""

    def __init__(self, scoring, threshold: float | None = None, neighbours: int = NEIGHBOURS) -> None:
        self.scoring = scoring
        self.models = tuple(scoring.models)
        self.threshold = link_threshold(scoring) if threshold is None else float(threshold)
        self.neighbours = neighbours

    def similarity(self, faces: Faces, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The calibrated similarity of face pairs (index arrays), in blocks of ``PAIRS`` (bounded memory)."""
        parts = [np.zeros(0)]
        for start in range(0, len(left), PAIRS):
            a, b = left[start : start + PAIRS], right[start : start + PAIRS]
            cosines = [np.einsum("nd,nd->n", faces.vectors[m][a], faces.vectors[m][b]) for m in self.models]
            quality = pair_quality(faces.quality[a], faces.quality[b])
            parts.append(np.atleast_1d(self.scoring.similarity(np.stack(cosines, axis=1), quality)))
        return np.concatenate(parts)

    def _average(self, faces: Faces, a: list[int], b: list[int], rng: np.random.Generator) -> float:
        """Mean similarity of every face of group ``a`` with every face of group ``b`` (up to ``SAMPLE`` each)."""
        a = a if len(a) <= SAMPLE else list(rng.choice(a, SAMPLE, replace=False))
        b = b if len(b) <= SAMPLE else list(rng.choice(b, SAMPLE, replace=False))
        cosines = np.stack([(faces.vectors[m][a] @ faces.vectors[m][b].T).reshape(-1) for m in self.models], axis=1)
        quality = pair_quality(faces.quality[a][:, None, :], faces.quality[b][None, :, :]).reshape(-1, 2)
        return float(np.mean(self.scoring.similarity(cosines, quality)))

    def cluster(self, faces: Faces) -> np.ndarray:
        """New labels: existing labels kept, new groups numbered -2, -3, ... (-1 stays "no cluster")."""
        count = len(faces)
        labels = faces.labels.copy()
        new_rows = np.flatnonzero(faces.new)
        if count < 2 or not len(new_rows):
            return labels
        search_model = min(self.models, key=lambda m: faces.vectors[m].shape[1])
        table = faces.vectors[search_model]
        neighbours = nearest(table, new_rows, self.neighbours)
        left = np.repeat(new_rows, neighbours.shape[1])
        right = neighbours.reshape(-1)
        found = right >= 0
        left, right = left[found], right[found]
        scores = self.similarity(faces, left, right)
        strong = scores >= self.threshold
        left, right, scores = left[strong], right[strong], scores[strong]
        order = np.argsort(-scores, kind="stable")
        # Groups: each existing cluster is one group (frozen against merging with another existing one).
        group = np.arange(count)
        members: dict[int, list[int]] = {}
        frozen: set[int] = set()
        for label in np.unique(labels[labels >= 0]):
            rows = np.flatnonzero(labels == label)
            group[rows] = rows[0]
            members[int(rows[0])] = [int(r) for r in rows]
            frozen.add(int(rows[0]))
        for row in range(count):
            members.setdefault(int(group[row]), [row])
        rng = np.random.default_rng(0)
        refused: dict[tuple[int, int], tuple[int, int]] = {}
        for i, j in zip(left[order], right[order]):
            a, b = sorted((int(group[i]), int(group[j])))
            if a == b or (a in frozen and b in frozen):
                continue
            singles = len(members[a]) == 1 and len(members[b]) == 1  # their average is this pair's own score
            sizes = (len(members[a]), len(members[b]))
            if not singles:
                if sizes[0] <= SAMPLE and sizes[1] <= SAMPLE and refused.get((a, b)) == sizes:
                    continue  # the same two small groups as last time: the same answer
                if self._average(faces, members[a], members[b], rng) < self.threshold:
                    refused[(a, b)] = sizes
                    continue
            if len(members[a]) < len(members[b]) or b in frozen:
                a, b = b, a
            group[members[b]] = a
            members[a] += members.pop(b)
            if b in frozen:
                frozen.add(a)
        next_label = -2
        for root, rows in members.items():
            if root in frozen:
                labels[rows] = labels[root] if labels[root] >= 0 else labels[next(r for r in rows if labels[r] >= 0)]
            elif len(rows) >= 2:
                labels[rows] = next_label
                next_label -= 1
        return labels
