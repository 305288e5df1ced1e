"""Who appears when in a video: decode, detect on frames chosen adaptively, track, name each track by a vote.

Detection runs on a subset of frames: every ``idle_interval`` seconds while no face is followed, every
``interval`` while faces are followed, and every ``busy_interval`` just after a new face appears or while one moves
fast. Between detections nothing is computed, so a 60 fps or 4K input costs about what a 25 fps one does (frames are
also analysed at most ``max_side`` pixels on their longest side)."""

from __future__ import annotations

import base64
import io
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceprint.detection import MTCNNDetector
from faceprint.errors import FaceprintError
from faceprint.quality import face_measures
from faceprint.types import Face
from faceprint.video.decode import VideoInfo, VideoReader
from faceprint.video.identify import ScoredFace, combine, merge_fragments, score_faces
from faceprint.video.tracking import FaceTracker, Track, iou_matrix


@dataclass(frozen=True)
class VideoSettings:
    """How a video is analysed (defaults: real time or faster for 640x480 at 25 fps on 2 cores)."""

    interval: float = 0.3
    """Seconds between looks at the faces being followed (around each of them only: a small, cheap detection)."""
    busy_interval: float = 0.1
    """... just after a new face appeared or while one moves fast."""
    full_interval: float = 0.6
    """Seconds between detections on the whole frame while faces are followed (new faces entering)."""
    idle_interval: float = 0.4
    """Seconds between whole-frame detections while no face is followed."""
    max_side: int = 960
    min_face_size: int = 20
    min_score: float = 0.85
    min_hits: int = 2
    """Detections a track needs to be reported (one lone detection is more often a false alarm than a face)."""
    samples: int = 5
    """Best faces kept per track (spread in time), the most that are embedded and scored."""
    first_samples: int = 3
    """Best faces embedded first; the rest only for a track whose name is in doubt (near the threshold, or its
    faces disagree on the top candidate)."""
    max_duration: float | None = None
    """Stop after this many seconds of video (streams and webcams run until stopped otherwise)."""
    timeout: float = 10.0
    """Seconds to wait for a stream to open or to send data."""
    reconnects: int = 3
    thumbnails: bool = False
    """Add each track's best face as a base64 JPEG (``thumbnail``)."""


@dataclass
class VideoResult:
    """The tracks of one video and what reading it found."""

    info: VideoInfo
    tracks: list[Track]
    named: dict[int, dict]
    scored: dict[int, list[ScoredFace]]
    threshold: float | None
    analysed_frames: int
    seconds: float
    thumbnails: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON answer (CLI ``--json`` and ``POST /api/v1/video``)."""
        tracks = []
        for track in self.tracks:
            decision = self.named[track.id]
            entry = {
                "id": track.id,
                "identity": decision["identity"],
                "similarity": decision["similarity"],
                "start": round(track.start, 2),
                "end": round(track.end, 2),
                "faces": len(track.boxes),
                "votes": decision["votes"],
                "candidates": decision["candidates"],
                "boxes": sorted(track.boxes),
            }
            if track.id in self.thumbnails:
                entry["thumbnail"] = self.thumbnails[track.id]
            tracks.append(entry)
        answer = {
            "tracks": tracks,
            "fps": round(self.info.fps, 3),
            "duration": round(self.info.duration if self.info.duration else self.info.last_time, 2),
            "width": self.info.width,
            "height": self.info.height,
            "threshold": None if self.threshold is None else round(self.threshold, 1),
            "analysed_frames": self.analysed_frames,
            "processing_seconds": round(self.seconds, 2),
        }
        if self.info.warnings:
            answer["warnings"] = list(self.info.warnings)
        return answer


def video_detector(settings: VideoSettings) -> MTCNNDetector:
    """MTCNN for video frames: no second, padded try on frames without a face (most frames of most videos)."""
    return MTCNNDetector(
        min_face_size=settings.min_face_size, min_score=settings.min_score, max_side=None, pad_misses=0.0
    )


REGION_SIDE = 128
"""Side of the square a followed face's neighbourhood is resized to for detection (the face about 58 px)."""
REGION_SPAN = 2.2
"""The neighbourhood's side as a multiple of the face's."""


def region_detector(settings: VideoSettings) -> MTCNNDetector:
    """MTCNN for the neighbourhoods of followed faces, resized to ``REGION_SIDE`` (one batch for all of them)."""
    return MTCNNDetector(min_face_size=24, min_score=settings.min_score, max_side=None, pad_misses=0.0)


def detect_regions(detector: MTCNNDetector, pixels: np.ndarray, boxes: list[np.ndarray]) -> list[Face]:
    """Faces found near each of ``boxes`` (x y w h, in ``pixels``): each neighbourhood resized to one square size,
    all detected in one batch; a face found twice (neighbourhoods overlap) is kept once."""
    height, width = pixels.shape[:2]
    crops, places = [], []
    for x, y, w, h in boxes:
        side = max(w, h) * REGION_SPAN
        left, top = x + w / 2 - side / 2, y + h / 2 - side / 2
        scale = REGION_SIDE / side
        matrix = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], dtype=np.float64)
        crops.append(cv2.warpAffine(pixels, matrix, (REGION_SIDE, REGION_SIDE), flags=cv2.INTER_AREA))
        places.append((left, top, scale))
    found: list[Face] = []
    for (left, top, scale), faces in zip(places, detector.detect_batch(crops) if crops else []):
        for face in faces:
            x, y, w, h = face.box
            box = (left + x / scale, top + y / scale, w / scale, h / scale)
            moved = Face(box, face.score, face.landmarks / scale + np.array([left, top], dtype=np.float32))
            cut = x < -0.15 * w or y < -0.15 * h or x + 0.85 * w > REGION_SIDE or y + 0.85 * h > REGION_SIDE
            if cut or not _inside(moved, width, height):  # a neighbour's face cut by the edge, or off the frame
                continue
            if all(_overlap(moved.box, other.box) < 0.5 for other in found):
                found.append(moved)
    return found


def _inside(face: Face, width: int, height: int) -> bool:
    x, y, w, h = face.box
    return x >= -0.25 * w and y >= -0.25 * h and x + w <= width + 0.25 * w and y + h <= height + 0.25 * h


def _overlap(a, b) -> float:
    return float(iou_matrix(np.array([a]), np.array([b]))[0, 0])


def analyse_video(
    source: str | Path,
    recognizer,
    settings: VideoSettings = VideoSettings(),
    threshold: float | None = None,
    detector: MTCNNDetector | None = None,
    progress: Callable[[float], None] | None = None,
) -> VideoResult:
    """Track every face of a video (file, stream URL or capture device) and name each track from the gallery of
    ``recognizer`` (a ``FaceRecognizer``). ``VideoError`` for inputs that cannot be read."""
    started = clock.monotonic()
    detector = detector or video_detector(settings)
    regional = region_detector(settings)
    tracker = FaceTracker(samples=settings.samples)
    analysed = 0
    due = full_due = 0.0

    def want(seconds: float) -> bool:
        return seconds >= due - 1e-6

    reader = VideoReader(
        source,
        max_side=settings.max_side,
        timeout=settings.timeout,
        reconnects=settings.reconnects,
        max_duration=settings.max_duration,
    )
    with reader:
        for frame in reader.frames(want):
            if frame.pixels is None:
                continue
            if frame.time >= full_due - 1e-6 or not tracker.active:
                faces = detector.detect(frame.pixels)
                full_due = frame.time + (settings.full_interval if faces else settings.idle_interval)
            else:
                faces = detect_regions(regional, frame.pixels, [t.predicted(frame.time) for t in tracker.active])
            measures = [face_measures(frame.pixels, face) for face in faces]
            tracker.update(frame.time, frame.pixels, frame.scale, faces, measures)
            analysed += 1
            if not tracker.active:
                step = settings.idle_interval
            elif tracker.last_new or tracker.moving_fast() or any(t.hits < settings.min_hits for t in tracker.active):
                step = settings.busy_interval
            else:
                step = settings.interval
            due = min(frame.time + step, full_due)  # whole-frame looks keep their schedule (new faces)
            if progress is not None:
                progress(frame.time)
    if reader.info.frames == 0:
        raise FaceprintError(f"{reader.source}: the video has no frames")
    return _name_tracks(recognizer, reader.info, tracker.finish(), settings, threshold, analysed, started)


DOUBT_MARGIN = 8.0
"""A track whose similarity is this close to the threshold (either side) gets its other best faces scored too."""


def _in_doubt(decision: dict, limit: float | None, faces: int) -> bool:
    if limit is None or decision["similarity"] is None:
        return False
    return abs(decision["similarity"] - limit) < DOUBT_MARGIN or decision["votes"] < faces


def _name_tracks(
    recognizer, info: VideoInfo, tracks: list[Track], settings: VideoSettings, threshold, analysed: int, started
) -> VideoResult:
    tracks = [t for t in tracks if len(t.boxes) >= settings.min_hits and t.samples]
    first = max(1, min(settings.first_samples, settings.samples))
    scored = _score(recognizer, {t.id: t.samples[:first] for t in tracks})
    tracks = merge_fragments(recognizer, tracks, scored)
    limit = None
    if tracks and recognizer.gallery.count():
        limit = recognizer.default_threshold() if threshold is None else float(threshold)
    bar = limit if limit is not None else 101.0
    named = {t.id: combine(scored[t.id][: 2 * settings.samples], bar) for t in tracks}
    more = {}
    for track in tracks:
        seen = {id(face.sample) for face in scored[track.id]}
        rest = [s for s in track.samples if id(s) not in seen]
        if rest and _in_doubt(named[track.id], limit, len(scored[track.id])):
            more[track.id] = rest
    for key, faces in _score(recognizer, more).items():  # a second look for the tracks in doubt
        scored[key] = sorted(scored[key] + faces, key=lambda f: -f.sample.rank)
        named[key] = combine(scored[key][: 2 * settings.samples], bar)
    renamed, rescored = {}, {}
    for index, track in enumerate(tracks, start=1):  # ids in order of appearance, 1, 2, 3...
        renamed[index], rescored[index] = named[track.id], scored[track.id]
        track.id = index
    named, scored = renamed, rescored
    thumbnails = {t.id: thumbnail(t) for t in tracks} if settings.thumbnails else {}
    return VideoResult(info, tracks, named, scored, limit, analysed, clock.monotonic() - started, thumbnails)


def _score(recognizer, samples: dict[int, list]) -> dict[int, list[ScoredFace]]:
    """Each track's given faces scored, all embedded in one batch."""
    flat = [s for faces in samples.values() for s in faces]
    scored_list = score_faces(recognizer, flat) if flat else []
    scored, position = {}, 0
    for key, faces in samples.items():
        scored[key] = scored_list[position : position + len(faces)]
        position += len(faces)
    return scored


def thumbnail(track: Track, size: int = 96) -> str:
    """The track's best face as a square base64 JPEG (``data:`` URL)."""
    best = max(track.samples, key=lambda s: s.rank)
    x, y = best.landmarks.min(axis=0)
    x2, y2 = best.landmarks.max(axis=0)
    centre, side = np.array([(x + x2) / 2, (y + y2) / 2]), max(x2 - x, y2 - y) * 2.2 + 8
    left, top = (centre - side / 2).astype(int)
    image = Image.fromarray(best.crop).crop((left, top, left + int(side), top + int(side)))
    buffer = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
