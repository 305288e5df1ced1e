"""Reading video with PyAV (FFmpeg's libraries): files, HTTP/RTSP streams and webcams, with bounded waits.

Every wait is bounded: opening and each read give up after ``timeout`` seconds; a live source that drops is reopened
a few times; a file that ends early (truncated) stops with a warning instead of an error. Frames are handed out
only when asked for (``want``), converted to RGB at most ``max_side`` pixels on their longest side, so 4K and
60 fps inputs cost little more than the frames that are analysed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError

log = logging.getLogger(__name__)

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
MAX_FRAME_PIXELS = 8192 * 8192
"""Frames larger than this are refused (a hostile header could otherwise ask for a huge picture)."""


class VideoError(FaceprintError):
    """The input is not a readable video: not a video at all, no video stream, unreachable or stalled stream."""

    code = "invalid_video"
    http_status = 422


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its time in seconds, its index among decoded frames and (when wanted) RGB pixels scaled
    by ``scale`` from the source's size."""

    time: float
    index: int
    pixels: np.ndarray | None
    scale: float


@dataclass
class VideoInfo:
    """What the container says about the video stream, and what reading it found."""

    source: str
    width: int
    height: int
    fps: float
    duration: float | None
    live: bool
    warnings: list[str] = field(default_factory=list)
    frames: int = 0
    last_time: float = 0.0


def is_live(source: str) -> bool:
    """Network streams and capture devices (read until stopped; reconnect when they drop)."""
    return source.lower().startswith(LIVE_PREFIXES) or source.startswith("/dev/video")


def _open(source: str | Path, timeout: float):
    import av

    text = str(source)
    options: dict[str, str] = {}
    kind = None
    if text.startswith("/dev/video"):
        kind = "v4l2"
    elif text.lower().startswith(("rtsp://", "rtsps://")):
        options["rtsp_transport"] = "tcp"
    elif not is_live(text) and not Path(text).is_file():
        if Path(text).exists():
            raise VideoError(f"{text}: not a file")
        raise VideoError(f"{text}: no such file")
    try:
        return av.open(text, format=kind, options=options, timeout=(timeout, timeout))
    except av.error.ExitError:
        raise VideoError(f"{text}: no answer within {timeout:g} s") from None
    except (av.error.InvalidDataError, av.error.EOFError):
        raise VideoError(f"{text}: not a video (FFmpeg cannot read its format)") from None
    except av.error.FFmpegError as exc:
        raise VideoError(f"{text}: cannot open ({_reason(exc)})") from None
    except OSError as exc:
        raise VideoError(f"{text}: cannot open ({exc.strerror or exc})") from None


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc).strip() or type(exc).__name__


class VideoReader:
    """Iterates over a video's frames in order. ``want(time)`` says whether a frame's pixels are needed (the
    others are decoded but never converted); ``max_duration`` stops after that many seconds of video."""

    def __init__(
        self,
        source: str | Path,
        max_side: int = 1280,
        timeout: float = 10.0,
        reconnects: int = 3,
        max_duration: float | None = None,
    ) -> None:
        self.source = str(source)
        self.max_side = max_side
        self.timeout = timeout
        self.reconnects = reconnects
        self.max_duration = max_duration
        self.live = is_live(self.source)
        self._container = _open(self.source, timeout)
        self.info = self._describe()

    def _describe(self) -> VideoInfo:
        streams = self._container.streams.video
        if not streams:
            self._container.close()
            raise VideoError(f"{self.source}: no video stream (audio only, or not a video)")
        stream = streams[0]
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if width * height > MAX_FRAME_PIXELS:
            self._container.close()
            raise VideoError(f"{self.source}: frames of {width}x{height} are larger than faceprint reads")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1_000_000
        stream.thread_type = "AUTO"
        return VideoInfo(self.source, width, height, fps if 0 < fps <= 1000 else 0.0, duration, self.live)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scale_for(self, width: int, height: int) -> float:
        longest = max(width, height)
        return min(1.0, self.max_side / longest) if longest else 1.0

    def frames(self, want: Callable[[float], bool] = lambda t: True) -> Iterator[VideoFrame]:
        """Frames in order; a live source that drops or stalls is reopened up to ``reconnects`` times, a file that
        ends in damaged data stops there with a warning in ``info.warnings``."""
        import av

        index, drops, offset, last = 0, 0, 0.0, -1.0
        step = 1.0 / (self.info.fps or 25.0)
        while True:
            first: float | None = None
            try:
                stream = self._container.streams.video[0]
                base = stream.time_base
                for frame in self._container.decode(stream):
                    stamp = float(frame.pts * base) if frame.pts is not None and base is not None else index * step
                    first = stamp if first is None else first
                    seconds = offset + stamp - first  # from the first frame (and across reconnections)
                    if seconds <= last:  # repeated or reordered stamps: keep time moving forwards
                        seconds = last + 1e-3
                    last = seconds
                    if self.max_duration is not None and seconds > self.max_duration:
                        return
                    pixels, scale = None, 1.0
                    if want(seconds):
                        scale = self._scale_for(frame.width, frame.height)
                        if frame.width * frame.height > MAX_FRAME_PIXELS:
                            raise VideoError(f"{self.source}: a frame of {frame.width}x{frame.height} is too large")
                        size = (max(2, round(frame.width * scale)), max(2, round(frame.height * scale)))
                        pixels = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                        scale = size[0] / frame.width
                    self.info.frames = index + 1
                    self.info.last_time = seconds
                    yield VideoFrame(seconds, index, pixels, scale)
                    index += 1
                return
            except VideoError:
                raise
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                reason = "no data within the timeout" if isinstance(exc, av.error.ExitError) else _reason(exc)
                if not self.live or drops >= self.reconnects:
                    if index == 0:
                        raise VideoError(f"{self.source}: cannot decode ({reason})") from None
                    note = f"reading stopped at {last:.1f} s: {reason}"
                    if self.live:
                        note += f" (after {drops} reconnection{'s' if drops != 1 else ''})"
                    self.info.warnings.append(note)
                    log.warning("%s: %s", self.source, note)
                    return
                drops += 1
                log.warning("%s: %s; reconnecting (%d of %d)", self.source, reason, drops, self.reconnects)
                self._container.close()
                time.sleep(min(2.0, 0.5 * drops))
                self._container = _open(self.source, self.timeout)
                offset = max(last, 0.0) + step
