"""Videos made from face photos, for tests and benchmarks: photos move and change size over a background, with
optional blur and a passing occluder, encoded with PyAV. Every frame is known, so are every face's whereabouts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Actor:
    """One face photo on screen from ``start`` to ``end`` seconds, moving from ``origin`` to ``target`` (top-left
    corner, fractions of the frame) while its height goes from ``height`` to ``end_height`` pixels; ``blur`` is a
    (from, to) time span in which the photo is blurred; ``cover`` a span in which its lower half is covered."""

    photo: str | Path
    start: float
    end: float
    origin: tuple[float, float]
    target: tuple[float, float]
    height: int
    end_height: int | None = None
    blur: tuple[float, float] | None = None
    cover: tuple[float, float] | None = None


def load_photo(photo: str | Path, longest: int = 400) -> np.ndarray:
    """A photo as the videos use it (RGB, at most ``longest`` pixels on its longest side)."""
    image = Image.open(photo).convert("RGB")
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return np.asarray(image)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A soft, face-free backdrop: smooth colour gradients with a little texture."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [90 + 60 * np.sin(xs / width * 3 + c) * np.cos(ys / height * 2 + c) for c in rng.uniform(0, 6, 3)], -1
    )
    noise = cv2.GaussianBlur(rng.normal(0, 20, (height, width, 3)).astype(np.float32), (0, 0), 3)
    return np.clip(base + noise + 40, 0, 255).astype(np.uint8)


def placement(
    actor: Actor, photo_shape: tuple[int, ...], size: tuple[int, int], seconds: float
) -> tuple[int, int, int, int]:
    """Where ``actor``'s photo (of ``photo_shape``, as loaded) lies at ``seconds`` in a frame of ``size``: x, y
    (top-left, may be off the frame), width and height in pixels."""
    progress = (seconds - actor.start) / max(actor.end - actor.start, 1e-6)
    size_h = round(actor.height + ((actor.end_height or actor.height) - actor.height) * progress)
    size_w = max(2, round(photo_shape[1] * size_h / photo_shape[0]))
    x = round((actor.origin[0] + (actor.target[0] - actor.origin[0]) * progress) * size[0])
    y = round((actor.origin[1] + (actor.target[1] - actor.origin[1]) * progress) * size[1])
    return x, y, size_w, size_h


def render_frame(backdrop: np.ndarray, actors: Sequence[Actor], photos: dict, seconds: float) -> np.ndarray:
    """The frame at ``seconds``: every actor on screen, placed, scaled, blurred or covered as its plan says."""
    frame = backdrop.copy()
    height, width = frame.shape[:2]
    for actor in actors:
        if not actor.start <= seconds < actor.end:
            continue
        photo = photos[str(actor.photo)]
        x, y, size_w, size_h = placement(actor, photo.shape, (width, height), seconds)
        picture = cv2.resize(photo, (size_w, size_h), interpolation=cv2.INTER_AREA)
        if actor.blur and actor.blur[0] <= seconds < actor.blur[1]:
            picture = cv2.GaussianBlur(picture, (0, 0), max(1.5, size_h / 60))
        if actor.cover and actor.cover[0] <= seconds < actor.cover[1]:
            picture = picture.copy()
            picture[size_h // 2 :] = (70, 70, 80)
        left, top = max(0, x), max(0, y)
        right, bottom = min(width, x + size_w), min(height, y + size_h)
        if right > left and bottom > top:
            frame[top:bottom, left:right] = picture[top - y : bottom - y, left - x : right - x]
    return frame


def make_video(
    path: str | Path,
    actors: Sequence[Actor],
    duration: float,
    size: tuple[int, int] = (640, 480),
    fps: int = 25,
    codec: str = "libx264",
    seed: int = 0,
) -> Path:
    """Write an H.264 MP4 (or ``codec``) of ``duration`` seconds in which ``actors`` appear."""
    import av

    path = Path(path)
    photos = {str(a.photo): load_photo(a.photo) for a in actors}
    backdrop = background(size[0], size[1], seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "20"}
        for index in range(round(duration * fps)):
            pixels = render_frame(backdrop, actors, photos, index / fps)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
