"""Tracking and voting on their own: box association, track life, the vote that names a track."""

from __future__ import annotations

import numpy as np

from faceprint.types import Face
from faceprint.video.annotate import box_at
from faceprint.video.identify import ScoredFace, combine
from faceprint.video.tracking import FaceSample, FaceTracker, face_rank, iou_matrix

FRAME = np.zeros((240, 320, 3), dtype=np.uint8)
MEASURES = {"size": 40.0, "sharpness": 100.0, "score": 0.99, "yaw": 0.0, "roll": 0.0}


def face(x: float, y: float, side: float = 40.0, score: float = 0.99) -> Face:
    points = np.array([[x + 12, y + 15], [x + 28, y + 15], [x + 20, y + 24], [x + 14, y + 32], [x + 26, y + 32]])
    return Face((x, y, side, side), score, points.astype(np.float32))


def test_iou_of_boxes():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [100, 100, 5, 5]], dtype=float)
    overlap = iou_matrix(boxes, boxes)
    assert np.allclose(np.diag(overlap), 1.0)
    assert np.isclose(overlap[0, 1], 50 / 150) and overlap[0, 2] == 0.0


def test_two_faces_that_move_keep_their_tracks():
    tracker = FaceTracker()
    for step in range(10):
        t = step * 0.2
        faces = [face(10 + 8 * step, 50), face(250 - 8 * step, 120)]
        tracker.update(t, FRAME, 1.0, faces, [MEASURES, MEASURES])
    tracks = tracker.finish()
    assert len(tracks) == 2
    assert [len(t.boxes) for t in tracks] == [10, 10]
    assert tracks[0].boxes[-1][1] > tracks[0].boxes[0][1]  # the first moved right
    assert all(len(t.samples) <= 5 for t in tracks)


def test_a_track_ends_after_max_age_and_a_returning_face_starts_a_new_one():
    tracker = FaceTracker(max_age=0.5)
    tracker.update(0.0, FRAME, 1.0, [face(50, 50)], [MEASURES])
    tracker.update(0.2, FRAME, 1.0, [face(52, 50)], [MEASURES])
    tracker.update(1.5, FRAME, 1.0, [face(54, 50)], [MEASURES])
    assert [len(t.boxes) for t in tracker.finish()] == [2, 1]


def test_doubtful_detections_extend_tracks_but_never_start_them():
    tracker = FaceTracker(high_score=0.95)
    tracker.update(0.0, FRAME, 1.0, [face(50, 50)], [MEASURES])
    tracker.update(0.2, FRAME, 1.0, [face(53, 50, score=0.9), face(200, 100, score=0.9)], [MEASURES, MEASURES])
    tracks = tracker.finish()
    assert len(tracks) == 1 and len(tracks[0].boxes) == 2


def test_boxes_are_reported_in_source_pixels():
    tracker = FaceTracker()
    tracker.update(0.0, FRAME, 0.5, [face(50, 50)], [MEASURES])
    assert tracker.finish()[0].boxes[0] == [0.0, 100.0, 100.0, 80.0, 80.0]


def test_better_faces_rank_higher():
    small_blurred = {**MEASURES, "size": 24.0, "sharpness": 5.0}
    turned = {**MEASURES, "yaw": 0.6}
    assert face_rank(MEASURES) > face_rank(small_blurred)
    assert face_rank(MEASURES) > face_rank(turned)


def scored(candidates: dict[str, float]) -> ScoredFace:
    sample = FaceSample(0.0, FRAME[:8, :8], np.zeros((5, 2)), MEASURES, (0, 0, 8, 8), 1.0)
    return ScoredFace(sample, {}, candidates)


def test_the_vote_names_the_person_whose_mean_reaches_the_threshold():
    faces = [scored({"Ada": 75, "Bob": 30}), scored({"Ada": 58, "Bob": 35}), scored({"Ada": 66, "Bob": 31})]
    decision = combine(faces, 60.0)
    assert decision["identity"] == "Ada" and decision["similarity"] == 66.3 and decision["votes"] == 3


def test_one_lucky_frame_does_not_name_a_stranger():
    faces = [scored({"Ada": 63, "Bob": 30}), scored({"Ada": 45, "Bob": 40}), scored({"Ada": 41, "Bob": 38})]
    decision = combine(faces, 60.0)
    assert decision["identity"] is None and decision["similarity"] < 60


def test_a_tied_vote_is_unknown():
    faces = [scored({"Ada": 90, "Bob": 80}), scored({"Bob": 85, "Ada": 80})]
    assert combine(faces, 60.0)["identity"] is None


def test_an_empty_gallery_names_no_one():
    assert combine([scored({})], 60.0) == {"identity": None, "similarity": None, "votes": 0, "candidates": []}


def test_boxes_are_interpolated_between_detections():
    boxes = np.array([[0.0, 0, 0, 10, 10], [1.0, 10, 20, 10, 10], [5.0, 50, 50, 10, 10]])
    assert box_at(boxes, 0.5) == [5.0, 10.0, 10.0, 10.0]
    assert box_at(boxes, 3.0) is None  # a gap longer than MAX_GAP: not drawn
    assert box_at(boxes, 7.0) is None
