"""Video: who appears when. Decoding (PyAV), face tracking between detections, a vote per track on the photo
similarity scale, annotated copies; ``faceprint video`` and ``POST /api/v1/video``."""

from faceprint.video.analyse import VideoResult, VideoSettings, analyse_video
from faceprint.video.decode import VideoError

__all__ = ["VideoError", "VideoResult", "VideoSettings", "analyse_video"]
