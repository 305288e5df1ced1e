"""Video fixtures: small clips made from the sample photos with PyAV, and a gallery of two enrolled people."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceprint import FaceRecognizer
from faceprint.video.synthetic import Actor, make_video


@pytest.fixture(scope="session")
def people(samples: Path) -> Path:
    return samples / "people"


def clip_actors(people: Path) -> list[Actor]:
    """Obama crosses the frame (blurred for a moment), Biden arrives later, a stranger is covered for a moment."""
    return [
        Actor(people / "obama" / "obama.jpg", 0.0, 3.0, (0.02, 0.05), (0.3, 0.1), 190, 160, blur=(1.0, 1.4)),
        Actor(people / "biden" / "biden.jpg", 0.8, 3.0, (0.62, 0.25), (0.55, 0.25), 170),
        Actor(people / "rose_leslie" / "img1.jpg", 0.3, 2.6, (0.3, 0.55), (0.05, 0.5), 150, cover=(1.5, 1.9)),
    ]


@pytest.fixture(scope="session")
def clip(tmp_path_factory, people: Path) -> Path:
    """3 s, 480x360, 25 fps: two enrolled people and a stranger."""
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", clip_actors(people), 3.0, size=(480, 360))


@pytest.fixture(scope="session")
def stream_clip(tmp_path_factory, people: Path) -> Path:
    """The same scene as an MPEG-TS file (a streaming format: readable from any cut)."""
    return make_video(tmp_path_factory.mktemp("video") / "clip.ts", clip_actors(people), 3.0, size=(480, 360))


@pytest.fixture(scope="session")
def empty_clip(tmp_path_factory) -> Path:
    """1 s of background, no face."""
    return make_video(tmp_path_factory.mktemp("video") / "empty.mp4", [], 1.0, size=(320, 240))


@pytest.fixture(scope="module")
def recognizer(pipeline, people: Path, tmp_path_factory) -> FaceRecognizer:
    """Obama and Biden enrolled (from photos other than those in the clips) in this module's own gallery."""
    url = f"sqlite:///{tmp_path_factory.mktemp('video-gallery') / 'gallery.db'}"
    recognizer = FaceRecognizer(gallery=url, pipeline=pipeline)
    assert recognizer.enroll("Obama", [people / "obama" / "obama1.jpg", people / "obama" / "obama2.jpg"]).accepted
    assert recognizer.enroll("Biden", [people / "biden" / "biden2.jpg"]).accepted
    return recognizer


@pytest.fixture(scope="module")
def gallery_url(recognizer: FaceRecognizer) -> str:
    return recognizer.gallery.url
