"""Video: who appears when. Decoding (PyAV), face tracking between detections, a vote per track on the photo
similarity scale, annotated copies; ``faceprint video`` and ``POST /api/v1/video``.

The names below load on first use, so the command-line parser can import ``faceprint.video.cli`` without SciPy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceprint.video.analyse import VideoResult, VideoSettings, analyse_video
    from faceprint.video.decode import VideoError

__all__ = ["VideoError", "VideoResult", "VideoSettings", "analyse_video"]


def __getattr__(name: str) -> Any:
    if name == "VideoError":
        from faceprint.video.decode import VideoError

        return VideoError
    if name in __all__:
        from faceprint.video import analyse

        return getattr(analyse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
