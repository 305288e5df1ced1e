"""Errors a user can cause. Each carries a stable machine-readable ``code`` and a message a person can act on."""

from __future__ import annotations


class FaceprintError(Exception):
    """Base class of every error faceprint reports to a user (CLI: one line, exit 2; API: JSON 4xx)."""

    code = "faceprint_error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageError(FaceprintError):
    """The input is not a decodable image (empty, truncated, not an image, unsupported format)."""

    code = "invalid_image"


class ImageTooLargeError(ImageError):
    """The file or its pixel count exceeds the configured limits (e.g. a decompression bomb)."""

    code = "image_too_large"
    http_status = 413


class NoFaceError(FaceprintError):
    """No face was found where one was required."""

    code = "no_face"
    http_status = 422


class ModelUnavailableError(FaceprintError):
    """A model was asked for whose weights or runtime are not installed on this machine."""

    code = "model_unavailable"
    http_status = 503


class UnknownModelError(FaceprintError):
    """A model name that the registry does not know."""

    code = "unknown_model"


class DatasetError(FaceprintError):
    """A dataset file (e.g. an LFW pairs file) is missing or malformed."""

    code = "invalid_dataset"
