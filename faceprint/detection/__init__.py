"""Face detection: the ``Detector`` protocol and its MTCNN implementation."""

from faceprint.detection.base import Detector, central_face
from faceprint.detection.mtcnn import MTCNNDetector

__all__ = ["Detector", "MTCNNDetector", "central_face"]
