"""Naming a track: its best faces are embedded and scored against the gallery on the photo scale, then combined.

Each of a track's best faces (``FaceTracker`` keeps a few, spread in time) gets every enrolled person's similarity
(``faceprint.scoring``, the number photo recognition shows). A person's track similarity is the **mean** over those
faces, and the track is named only when that mean reaches the identification threshold and the person is the top
candidate of more faces than anyone else (ties are unknown). The mean of several looks is never above their
maximum, so a stranger is named no more often than from a single face, while a blurred or half-hidden frame is
outvoted by the good ones (BENCHMARKS: per-track vs per-frame figures)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from faceprint.cache import content_hash
from faceprint.pipeline import LoadedImage
from faceprint.video.tracking import FaceSample, Track

MERGE_SIMILARITY = 62.0
"""Two tracks that do not overlap in time, less than ``MERGE_GAP`` seconds apart, are one person's when their best
faces' mean similarity reaches this (a likelihood ratio above 10^2.4: a face lost behind an obstacle and found
again)."""
MERGE_GAP = 2.0


@dataclass
class ScoredFace:
    """A sample face with its embeddings and its candidates (name -> similarity) from the gallery."""

    sample: FaceSample
    vectors: dict[str, np.ndarray]
    candidates: dict[str, float] = field(default_factory=dict)


def embed_samples(recognizer, samples: Sequence[FaceSample]) -> list[dict[str, np.ndarray]]:
    """Embeddings of sample faces (every model of the recognizer), in one batch per model."""
    if not samples:
        return []
    images = [LoadedImage(f"frame at {s.time:.2f} s", s.crop, content_hash(s.crop)) for s in samples]
    return recognizer.pipeline.embed_faces(images, [s.landmarks for s in samples], recognizer.models)


def score_faces(recognizer, samples: Sequence[FaceSample], top: int = 10) -> list[ScoredFace]:
    """Embed sample faces and rank the gallery's people for each (the recognizer's own ranking and similarity)."""
    vectors = embed_samples(recognizer, samples)
    qualities: dict[int, dict] = {}
    scored = []
    empty = recognizer.gallery.count() == 0
    for sample, face_vectors in zip(samples, vectors):
        ranked = [] if empty else recognizer.rank_people(face_vectors, sample.measures, top, qualities)
        scored.append(ScoredFace(sample, face_vectors, {c["name"]: c["similarity"] for c in ranked}))
    return scored


def combine(faces: Sequence[ScoredFace], threshold: float) -> dict:
    """A track's identity from its scored faces: ``identity`` (or None), ``similarity`` (mean over the faces of the
    best person's similarity; a face where that person is not among its candidates counts its lowest candidate),
    ``votes`` (faces whose top candidate is that person) and ``candidates`` (the best three people)."""
    if not faces or not any(f.candidates for f in faces):
        return {"identity": None, "similarity": None, "votes": 0, "candidates": []}
    people = {name for f in faces for name in f.candidates}
    means = {}
    for person in people:
        values = [f.candidates.get(person, min(f.candidates.values(), default=0.0)) for f in faces]
        means[person] = float(np.mean(values))
    ranked = sorted(means.items(), key=lambda item: -item[1])
    best, similarity = ranked[0]
    tops = Counter(max(f.candidates, key=f.candidates.get) for f in faces if f.candidates)
    leaders = tops.most_common(2)
    votes = tops.get(best, 0)
    clear_vote = bool(leaders) and leaders[0][0] == best and (len(leaders) == 1 or leaders[0][1] > leaders[1][1])
    named = similarity >= threshold and clear_vote
    return {
        "identity": best if named else None,
        "similarity": round(similarity, 1),
        "votes": votes,
        "candidates": [{"name": n, "similarity": round(s, 1)} for n, s in ranked[:3]],
    }


def merge_fragments(recognizer, tracks: list[Track], scored: dict[int, list[ScoredFace]]) -> list[Track]:
    """Join tracks of one face broken by an occlusion or a missed detection: consecutive in time (no overlap, gap
    under ``MERGE_GAP`` s) and alike by embedding (mean similarity of their faces at least ``MERGE_SIMILARITY``)."""
    scoring = recognizer.scoring
    tracks = sorted(tracks, key=lambda t: t.start)
    merged: list[Track] = []
    for track in tracks:
        target = None
        for earlier in merged:
            gap = track.start - earlier.end
            if not 0 < gap <= MERGE_GAP or not scored.get(earlier.id) or not scored.get(track.id):
                continue
            pairs = [
                scoring.pair(a.vectors, b.vectors, a.sample.measures, b.sample.measures)
                for a in scored[earlier.id]
                for b in scored[track.id]
            ]
            if pairs and float(np.mean(pairs)) >= MERGE_SIMILARITY:
                target = earlier
                break
        if target is None:
            merged.append(track)
            continue
        target.boxes.extend(track.boxes)
        target.hits += track.hits
        target.samples = sorted(target.samples + track.samples, key=lambda s: -s.rank)
        scored[target.id] = sorted(scored[target.id] + scored.pop(track.id), key=lambda f: -f.sample.rank)
    return merged
