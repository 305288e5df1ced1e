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


class GalleryError(FaceprintError):
    """The gallery cannot be opened or reached (bad URL, database down, schema from a newer faceprint)."""

    code = "gallery_unavailable"
    http_status = 503


class GalleryFileError(FaceprintError):
    """A gallery export file is damaged, not a faceprint export, or from a newer faceprint."""

    code = "invalid_gallery_file"


class UnknownPersonError(FaceprintError):
    """No person of that name is enrolled in the gallery."""

    code = "unknown_person"
    http_status = 404


class PersonExistsError(FaceprintError):
    """A person of that name is already enrolled (e.g. the target of a rename)."""

    code = "person_exists"
    http_status = 409


class UnknownPhotoError(FaceprintError):
    """The person has no photo with that id."""

    code = "unknown_photo"
    http_status = 404


class InvalidNameError(FaceprintError):
    """A person's name is empty, longer than 100 characters or contains control characters."""

    code = "invalid_name"


class InvalidEmbeddingError(FaceprintError):
    """An embedding is not a finite, non-zero 1-D vector, or its size differs from the model's stored vectors."""

    code = "invalid_embedding"


class InvalidCollectionError(FaceprintError):
    """A collection name that is not lowercase letters, digits, '-' and '_' (1-40 characters)."""

    code = "invalid_collection"


class UnknownCollectionError(FaceprintError):
    """No collection of that name exists in the gallery (read-only requests never create one)."""

    code = "unknown_collection"
    http_status = 404
