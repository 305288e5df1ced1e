"""Marshmallow schemas of the JSON API's requests and answers; the OpenAPI document is generated from them."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields

from faceprint.scoring import FPIR_RANGE

BINARY = {"type": "string", "format": "binary"}
BASE64 = {"description": "the image file, base64-encoded, or a data: URL"}


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True, metadata={"description": "what went wrong, for a person"})


class ErrorResponse(Schema):
    error = fields.Nested(ErrorDetail, required=True)


class Landmarks(Schema):
    left_eye = fields.List(fields.Float(), required=True)
    right_eye = fields.List(fields.Float(), required=True)
    nose = fields.List(fields.Float(), required=True)
    mouth_left = fields.List(fields.Float(), required=True)
    mouth_right = fields.List(fields.Float(), required=True)


DEFAULT_OPERATING_POINT = (
    "default: at most 1% of strangers named for the gallery's size; 0.5% for faces of 64 px and more, 2.5% below"
)
SIMILARITY = "0-100: 50 + 5 log10(likelihood ratio of same person), quality-aware; the same number everywhere"


class FaceQuality(Schema):
    size = fields.Float(required=True, metadata={"description": "shorter side of the face box, px"})
    sharpness = fields.Float(required=True, metadata={"description": "Laplacian variance at 112 px; lower is blurrier"})
    score = fields.Float(required=True, metadata={"description": "detection confidence"})
    yaw = fields.Float(required=True, metadata={"description": "nose offset from the eyes' midpoint / eye distance"})
    roll = fields.Float(required=True, metadata={"description": "tilt of the eye line, degrees"})


class DetectedFace(Schema):
    box = fields.List(fields.Float(), required=True, metadata={"description": "[x, y, w, h] in pixels"})
    score = fields.Float(required=True, metadata={"description": "detection confidence"})
    landmarks = fields.Nested(Landmarks, required=True)
    quality = fields.Nested(FaceQuality, metadata={"description": "the face's quality measures"})


class DetectResponse(Schema):
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    faces = fields.List(fields.Nested(DetectedFace), required=True)


class ModelSimilarity(Schema):
    cosine = fields.Float(required=True, metadata={"description": "cosine similarity of the model's embeddings"})


class VerifiedFace(DetectedFace):
    faces_in_image = fields.Integer(required=True)


class VerifyResponse(Schema):
    same_person = fields.Boolean(required=True)
    similarity = fields.Float(required=True, metadata={"description": SIMILARITY})
    threshold = fields.Float(
        required=True, metadata={"description": "verification threshold (best accuracy on LFW DevTrain pairs)"}
    )
    operating_point = fields.String(required=True)
    models = fields.List(fields.String(), required=True)
    per_model = fields.Dict(keys=fields.String(), values=fields.Nested(ModelSimilarity), required=True)
    faces = fields.List(fields.Nested(VerifiedFace), required=True)


class Candidate(Schema):
    name = fields.String(required=True)
    similarity = fields.Float(required=True)


class RecognizedFace(DetectedFace):
    identity = fields.String(required=True, allow_none=True, metadata={"description": "null means unknown"})
    similarity = fields.Float(required=True, allow_none=True, metadata={"description": SIMILARITY})
    threshold = fields.Float(
        required=True,
        metadata={"description": f"identification threshold used for this face ({DEFAULT_OPERATING_POINT})"},
    )
    candidates = fields.List(fields.Nested(Candidate), required=True)
    closest = fields.String(metadata={"description": "for an unknown face near someone: that person"})
    hint = fields.String(metadata={"description": "for an unknown face near someone: why, and what would settle it"})


class RecognizeResponse(Schema):
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    faces = fields.List(fields.Nested(RecognizedFace), required=True)


class CelebrityGuess(Schema):
    name = fields.String(required=True)
    probability = fields.Float(required=True)


class CelebrityFace(DetectedFace):
    name = fields.String(required=True, metadata={"description": "the celebrity the face most resembles"})
    confidence = fields.Float(required=True)
    top = fields.List(fields.Nested(CelebrityGuess), required=True)


class CelebrityResponse(Schema):
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    faces = fields.List(fields.Nested(CelebrityFace), required=True)
    notice = fields.String(required=True)


class HealthResponse(Schema):
    status = fields.String(required=True)
    models = fields.List(fields.String(), required=True)
    gallery = fields.String(required=True, metadata={"description": "the gallery store: sqlite or postgresql"})
    people = fields.Integer(metadata={"description": "how many people are enrolled; only for the admin"})


class Enrollment(Schema):
    strength = fields.String(required=True, metadata={"description": "strong, fair or weak"})
    photos = fields.Integer(required=True)
    good_photos = fields.Integer(required=True)
    hint = fields.String(required=True, allow_none=True, metadata={"description": "what to add, if anything"})


class PersonResponse(Schema):
    name = fields.String(required=True)
    photos = fields.Integer(required=True)
    enrollment = fields.Nested(Enrollment, metadata={"description": "how well the photos serve recognition"})
    created = fields.String(required=True, metadata={"format": "date-time"})
    updated = fields.String(required=True, metadata={"format": "date-time"})
    thumbnail_url = fields.String(required=True, allow_none=True)


class PeopleResponse(Schema):
    people = fields.List(fields.Nested(PersonResponse), required=True)


class PhotoResponse(Schema):
    photo_id = fields.Integer(required=True)
    created = fields.String(required=True, metadata={"format": "date-time"})
    quality = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    thumbnail_url = fields.String(required=True)


class PhotosResponse(Schema):
    name = fields.String(required=True)
    photos = fields.List(fields.Nested(PhotoResponse), required=True)


class PhotoOutcome(Schema):
    source = fields.String(required=True, metadata={"description": "sanitised base name of the upload"})
    accepted = fields.Boolean(required=True)
    reason = fields.String(required=True, allow_none=True)
    photo_id = fields.Integer(required=True, allow_none=True)
    created = fields.Boolean(metadata={"description": "false when this photo was already enrolled"})
    face = fields.Nested(DetectedFace)
    quality = fields.Dict(keys=fields.String(), values=fields.Float())


class EnrollResponse(Schema):
    name = fields.String(required=True)
    accepted = fields.Integer(required=True)
    photos = fields.List(fields.Nested(PhotoOutcome), required=True)


class EnrollRefusedResponse(EnrollResponse):
    error = fields.Nested(ErrorDetail, required=True)


class DeletedPersonResponse(Schema):
    deleted = fields.String(required=True)


class DeletedPhotoResponse(Schema):
    deleted = fields.Integer(required=True)
    name = fields.String(required=True)
    person_deleted = fields.Boolean(required=True)


# -- request bodies: every image endpoint takes multipart/form-data or JSON with base64 images ----------------


class RequestBody(Schema):
    """Request bodies may carry fields the API does not know; they are ignored."""

    class Meta:
        unknown = INCLUDE


class ImageForm(RequestBody):
    image = fields.Raw(required=True, metadata=BINARY)


class ImageJson(RequestBody):
    image = fields.String(required=True, metadata=BASE64)


class VerifyForm(RequestBody):
    image_a = fields.Raw(required=True, metadata=BINARY)
    image_b = fields.Raw(required=True, metadata=BINARY)


class VerifyJson(RequestBody):
    image_a = fields.String(required=True, metadata=BASE64)
    image_b = fields.String(required=True, metadata=BASE64)


THRESHOLD = {"description": f"similarity (0-100) from which a face is named ({DEFAULT_OPERATING_POINT})"}
FPIR = {
    "description": "instead of a threshold: the share of strangers that may be named as someone, for the gallery's "
    "size and every face size alike"
}
TOP = {"description": "how many candidates per face"}


class RecognizeForm(ImageForm):
    threshold = fields.Float(metadata={**THRESHOLD, "minimum": 0, "maximum": 100})
    fpir = fields.Float(metadata={**FPIR, "minimum": FPIR_RANGE[0], "maximum": FPIR_RANGE[1]})
    top = fields.Integer(metadata={**TOP, "minimum": 1, "maximum": 50})


class RecognizeJson(ImageJson):
    threshold = fields.Float(metadata={**THRESHOLD, "minimum": 0, "maximum": 100})
    fpir = fields.Float(metadata={**FPIR, "minimum": FPIR_RANGE[0], "maximum": FPIR_RANGE[1]})
    top = fields.Integer(metadata={**TOP, "minimum": 1, "maximum": 50})


class CelebrityForm(ImageForm):
    top = fields.Integer(metadata={**TOP, "minimum": 1, "maximum": 31})


class CelebrityJson(ImageJson):
    top = fields.Integer(metadata={**TOP, "minimum": 1, "maximum": 31})


FACE = {
    "description": "which face in photos with several: its number, from 1 for the largest (the order of /detect's "
    "faces), or a box x,y,w,h"
}


class PhotosForm(RequestBody):
    images = fields.List(fields.Raw(metadata=BINARY), required=True)
    face = fields.String(metadata=FACE)


class PhotosJson(RequestBody):
    images = fields.List(fields.String(metadata=BASE64), required=True)
    face = fields.Raw(metadata=FACE)


class EnrollForm(PhotosForm):
    name = fields.String(required=True)


class EnrollJson(PhotosJson):
    name = fields.String(required=True)


class RenameJson(RequestBody):
    name = fields.String(required=True, metadata={"description": "the new name"})
