"""faceprint: face recognition with an ensemble of pretrained embedding networks.

``from faceprint import FaceRecognizer`` is the entry point; heavy modules load only when first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceprint.version import __version__

__all__ = ["FaceRecognizer", "FaceprintError", "__version__"]

from faceprint.errors import FaceprintError

if TYPE_CHECKING:
    from faceprint.recognizer import FaceRecognizer


def __getattr__(name: str):
    if name == "FaceRecognizer":
        from faceprint.recognizer import FaceRecognizer

        return FaceRecognizer
    raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
