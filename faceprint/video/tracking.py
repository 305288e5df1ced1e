"""Face tracks between detections: ByteTrack-style association of detected faces with tracks by box overlap.

Confident detections are matched first (IoU against each track's box moved on by its velocity, solved as an
assignment problem), then doubtful ones, which may extend a track but never start one. Each track keeps its boxes
and a few of its best faces (small crops, spread in time), which are the only ones embedded later."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from faceprint.types import Face

CROP_MARGIN = 0.6
"""Context kept around a face box in a stored crop (fraction of the box side): alignment needs some border."""


@dataclass
class FaceSample:
    """One detected face of a track, kept for embedding: a crop around it, its landmarks in the crop, its quality
    measures (on the analysed frame) and when and where it was seen (source pixels)."""

    time: float
    crop: np.ndarray
    landmarks: np.ndarray
    measures: dict
    box: tuple[float, float, float, float]
    rank: float


def face_rank(measures: dict) -> float:
    """How useful a face is for recognition: larger, sharper, more confident and more frontal is better (the score's
    own quality inputs are size and sharpness; a turned head is penalised as the enrollment gate does)."""
    size = math.log2(min(max(measures.get("size", 12.0), 12.0), 160.0))
    sharp = 0.5 * math.log(min(max(measures.get("sharpness", 1.0), 1.0), 400.0))
    turned = 4.0 * max(0.0, measures.get("yaw", 0.0) - 0.15)
    return size + sharp - turned + math.log(max(measures.get("score", 0.5), 1e-3))


@dataclass
class Track:
    """One face followed through the video."""

    id: int
    box: np.ndarray
    """Last box [x, y, w, h] in analysed-frame pixels."""
    last_time: float
    boxes: list[list[float]] = field(default_factory=list)
    """[t, x, y, w, h] at every detection, in source pixels."""
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    """Change of the box per second."""
    hits: int = 1
    samples: list[FaceSample] = field(default_factory=list)

    def predicted(self, time: float) -> np.ndarray:
        box = self.box + self.velocity * (time - self.last_time)
        box[2:] = np.maximum(box[2:], 4.0)
        return box

    @property
    def start(self) -> float:
        return self.boxes[0][0]

    @property
    def end(self) -> float:
        return self.boxes[-1][0]

    def keep(self, sample: FaceSample, limit: int, spacing: float) -> None:
        """Keep the ``limit`` best faces, one per ``spacing`` seconds (neighbouring frames repeat each other)."""
        near = [s for s in self.samples if abs(s.time - sample.time) < spacing]
        if near:
            if all(sample.rank <= s.rank for s in near):
                return
            self.samples = [s for s in self.samples if s not in near]
        self.samples.append(sample)
        self.samples.sort(key=lambda s: -s.rank)
        del self.samples[limit:]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (N x 4, x y w h) with every box of ``b`` (M x 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0][:, None], b[:, 0][None]), 0, None)
    h = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1][:, None], b[:, 1][None]), 0, None)
    inter = w * h
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _assign(tracks: list[Track], boxes: np.ndarray, time: float, min_iou: float) -> list[tuple[int, int]]:
    if not tracks or len(boxes) == 0:
        return []
    overlap = iou_matrix(np.stack([t.predicted(time) for t in tracks]), boxes)
    rows, cols = linear_sum_assignment(-overlap)
    return [(r, c) for r, c in zip(rows, cols) if overlap[r, c] >= min_iou]


class FaceTracker:
    """Associates each analysed frame's faces with tracks; tracks unseen for ``max_age`` seconds end."""

    def __init__(
        self,
        high_score: float = 0.95,
        min_iou: float = 0.2,
        max_age: float = 1.0,
        samples: int = 5,
        spacing: float = 0.3,
    ) -> None:
        self.high_score = high_score
        self.min_iou = min_iou
        self.max_age = max_age
        self.samples = samples
        self.spacing = spacing
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self._next_id = 1
        self.last_new = 0
        """Tracks started by the last update (a reason to look again soon)."""

    def update(self, time: float, pixels: np.ndarray, scale: float, faces: list[Face], measures: list[dict]) -> None:
        """One analysed frame (``pixels`` at ``scale`` of the source) and the faces found in it."""
        self._expire(time)
        boxes = np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
        confident = [i for i, f in enumerate(faces) if f.score >= self.high_score]
        doubtful = [i for i, f in enumerate(faces) if f.score < self.high_score]
        unmatched = list(range(len(self.active)))
        matched: list[tuple[Track, int]] = []
        for group in (confident, doubtful):
            pool = [self.active[i] for i in unmatched]
            pairs = _assign(pool, boxes[group], time, self.min_iou)
            for row, col in pairs:
                matched.append((pool[row], group[col]))
            taken = {id(pool[row]) for row, _ in pairs}
            unmatched = [i for i in unmatched if id(self.active[i]) not in taken]
            if group is confident:
                fresh = [group[c] for c in range(len(group)) if c not in {col for _, col in pairs}]
        for track, index in matched:
            elapsed = max(time - track.last_time, 1e-3)
            moved = (boxes[index] - track.box) / elapsed
            track.velocity = 0.5 * track.velocity + 0.5 * moved if track.hits > 1 else moved
            track.box, track.last_time = boxes[index], time
            track.hits += 1
            self._record(track, time, pixels, scale, faces[index], measures[index])
        self.last_new = 0
        for index in fresh:
            track = Track(self._next_id, boxes[index], time)
            self._next_id += 1
            self.active.append(track)
            self.last_new += 1
            self._record(track, time, pixels, scale, faces[index], measures[index])

    def moving_fast(self, fraction: float = 0.5) -> bool:
        """Whether some track moves more than ``fraction`` of its width per ``0.2`` s (look more often)."""
        return any(float(np.abs(t.velocity[:2]).max()) * 0.2 > fraction * t.box[2] for t in self.active)

    def _record(self, track: Track, time: float, pixels: np.ndarray, scale: float, face: Face, measures: dict):
        x, y, w, h = face.box
        track.boxes.append([round(time, 3), *(round(v / scale, 1) for v in (x, y, w, h))])
        margin = CROP_MARGIN * max(w, h)
        height, width = pixels.shape[:2]
        left, top = max(0, int(x - margin)), max(0, int(y - margin))
        right, bottom = min(width, int(x + w + margin) + 1), min(height, int(y + h + margin) + 1)
        if right - left < 4 or bottom - top < 4:
            return
        sample = FaceSample(
            time=time,
            crop=np.ascontiguousarray(pixels[top:bottom, left:right]),
            landmarks=face.landmarks - np.array([left, top], dtype=np.float64),
            measures=measures,
            box=tuple(round(v / scale, 1) for v in face.box),
            rank=face_rank(measures),
        )
        track.keep(sample, self.samples, self.spacing)

    def _expire(self, time: float) -> None:
        still = []
        for track in self.active:
            (still if time - track.last_time <= self.max_age else self.finished).append(track)
        self.active = still

    def finish(self) -> list[Track]:
        """Every track, in order of appearance (ends the active ones)."""
        self.finished.extend(self.active)
        self.active = []
        return sorted(self.finished, key=lambda t: (t.start, t.id))
