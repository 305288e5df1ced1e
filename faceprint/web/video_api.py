"""``POST /api/v1/video``: who appears when in a short clip, answered as ``faceprint video --json`` answers.

Clips are bounded (the upload limit in bytes, ``FACEPRINT_MAX_VIDEO_SECONDS`` of video, 60 by default) and run as
one heavy request under the inference scheduler; longer recordings belong to ``faceprint video``."""

from __future__ import annotations

import os
import tempfile

from flask import Response, current_app, jsonify
from marshmallow import Schema, fields

from faceprint.errors import FaceprintError
from faceprint.web.api import api
from faceprint.web.errorhandlers import ApiError
from faceprint.web.limits import expensive
from faceprint.web.openapi import operation
from faceprint.web.runtime import get_recognizer, inference
from faceprint.web.schemas import BASE64, BINARY, Candidate, RequestBody
from faceprint.web.uploads import _ABSENT, image_field, number, parameter

DEFAULT_MAX_VIDEO_SECONDS = 60.0
VIDEO_COST_MEGAPIXELS = 100.0
"""What a clip counts for in the scheduler: always a heavy request (it never takes every place)."""


class VideoTrack(Schema):
    id = fields.Integer(required=True)
    identity = fields.String(required=True, allow_none=True, metadata={"description": "null means unknown"})
    similarity = fields.Float(
        required=True, allow_none=True, metadata={"description": "mean similarity (0-100) of the track's best faces"}
    )
    start = fields.Float(required=True, metadata={"description": "seconds from the start of the video"})
    end = fields.Float(required=True)
    faces = fields.Integer(required=True, metadata={"description": "detections of this face"})
    votes = fields.Integer(required=True, metadata={"description": "best faces whose top candidate is the identity"})
    candidates = fields.List(fields.Nested(Candidate), required=True)
    boxes = fields.List(fields.List(fields.Float()), required=True, metadata={"description": "[t, x, y, w, h]"})
    thumbnail = fields.String(metadata={"description": "the best face, a data: URL of a 96 px JPEG"})


class VideoResponse(Schema):
    tracks = fields.List(fields.Nested(VideoTrack), required=True)
    fps = fields.Float(required=True)
    duration = fields.Float(required=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    threshold = fields.Float(required=True, allow_none=True)
    analysed_frames = fields.Integer(required=True)
    processing_seconds = fields.Float(required=True)
    warnings = fields.List(fields.String())


THRESHOLD = {"description": "similarity (0-100) from which a track is named (default: the photo identification one)"}
THUMBNAILS = {"description": "add each track's best face as a data: URL (default true)"}


class VideoForm(RequestBody):
    video = fields.Raw(required=True, metadata=BINARY)
    threshold = fields.Float(metadata={**THRESHOLD, "minimum": 0, "maximum": 100})
    thumbnails = fields.Boolean(metadata=THUMBNAILS)


class VideoJson(RequestBody):
    video = fields.String(required=True, metadata=BASE64)
    threshold = fields.Float(metadata={**THRESHOLD, "minimum": 0, "maximum": 100})
    thumbnails = fields.Boolean(metadata=THUMBNAILS)


def max_video_seconds() -> float:
    """The longest clip this app takes (``FACEPRINT_MAX_VIDEO_SECONDS``)."""
    return float(current_app.config.get("FACEPRINT_MAX_VIDEO_SECONDS") or DEFAULT_MAX_VIDEO_SECONDS)


def _flag(name: str, default: bool) -> bool:
    value = parameter(name)
    if value is _ABSENT:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ApiError(f"'{name}' must be true or false")


@api.post("/video")
@expensive
@operation(response=VideoResponse, form=VideoForm, json=VideoJson)
def video() -> Response:
    """Who appears when in a short video clip: one track per face, named by a vote over its best faces on the photo
    similarity scale (identity null = unknown)."""
    from faceprint.video import VideoSettings, analyse_video
    from faceprint.video.decode import VideoReader

    upload = image_field("video")
    threshold = number("threshold", 0.0, 100.0)
    thumbnails = _flag("thumbnails", True)
    if not upload.data:
        raise ApiError("the video is empty", code="invalid_video", http_status=422)
    limit = max_video_seconds()
    settings = VideoSettings(max_duration=limit, thumbnails=thumbnails, reconnects=0, timeout=5.0)
    handle, path = tempfile.mkstemp(prefix="faceprint-clip-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(upload.data)
        with VideoReader(path) as reader:
            length = reader.info.duration
        if length is not None and length > limit + 0.5:
            raise ApiError(
                f"the clip lasts {length:.0f} s, longer than the {limit:g} s this endpoint takes; "
                "use 'faceprint video' for long recordings",
                code="video_too_long",
                http_status=413,
            )
        with inference(VIDEO_COST_MEGAPIXELS):
            result = analyse_video(path, get_recognizer(), settings, threshold=threshold)
    except FaceprintError as error:
        error.message = error.message.replace(path, upload.label)
        raise
    finally:
        os.unlink(path)
    return jsonify(result.to_dict())
