"""Reading images and parameters from requests: multipart files or base64 JSON, kept in memory only, named by a
sanitised base name, checked against the pixel limit before they are decoded."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from dataclasses import dataclass
from typing import IO, Any

from flask import Request, current_app, g, request
from PIL import Image, UnidentifiedImageError

from faceprint.errors import FaceprintError, ImageError, ImageTooLargeError
from faceprint.imaging import ACCEPTED_FORMATS, describe
from faceprint.web.errorhandlers import ApiError

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_PHOTOS_PER_REQUEST = 20
MAX_JSON_DEPTH = 20
MAX_DIGITS = 12
"""Longest whole number accepted in a parameter (more is never meaningful, and Python refuses 4,300+ digits)."""
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._\- ]+")
_DATA_URL = re.compile(r"^data:[\w/+.\-]*(;[\w=\-]+)*;base64,", re.IGNORECASE)
_ORIENTATION_TAG = 0x0112


class InMemoryRequest(Request):
    """A request whose uploaded files stay in memory (bounded by MAX_CONTENT_LENGTH), never in temporary files."""

    def _load_form_data(self) -> None:
        """Parse the form; a body within the size limit that the parser still refuses has too many parts or too
        long a text field, and is told so (not blamed on its size)."""
        from werkzeug.exceptions import RequestEntityTooLarge

        try:
            super()._load_form_data()
        except RequestEntityTooLarge:
            limit = self.max_content_length
            if limit is not None and (self.content_length is None or self.content_length > limit):
                raise
            raise ApiError(
                f"the form has too many parts (at most {self.max_form_parts} fields and files) or a text field "
                f"above {(self.max_form_memory_size or 0) // 1000} KB",
                code="too_many_parts",
                http_status=413,
            ) from None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()


@dataclass(frozen=True)
class Upload:
    """One uploaded image: a label safe to show (never a client path) and its encoded bytes."""

    label: str
    data: bytes


def safe_label(filename: str | None, fallback: str) -> str:
    """The base name of a client file name with anything but letters, digits, ``._-`` and spaces removed."""
    base = re.split(r"[/\\]", filename or "")[-1]
    cleaned = _UNSAFE_NAME_CHARS.sub("", base).strip(" .")[:100]
    return cleaned or fallback


def check_body_size() -> None:
    """Refuse a body above MAX_CONTENT_LENGTH from its Content-Length header, before reading a byte of it."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is not None and request.content_length > limit:
        from werkzeug.exceptions import RequestEntityTooLarge

        raise RequestEntityTooLarge()


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def json_body() -> dict:
    """The JSON object of the request; 400 if the body is not a JSON object, is nested too deeply or holds a number
    Python cannot read."""
    if "faceprint_json" in g:
        return g.faceprint_json
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("the JSON body must be UTF-8 text") from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise ApiError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        body = None
    if isinstance(body, (list, dict)) and _depth(body) > MAX_JSON_DEPTH:
        raise ApiError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(body, dict):
        raise ApiError('the body must be a JSON object, e.g. {"image": "<base64>"}')
    g.faceprint_json = body
    return body


def body_kind() -> str:
    """``form`` or ``json``; 415 for any other content type."""
    if request.mimetype in FORM_TYPES:
        return "form"
    if request.is_json:
        return "json"
    raise ApiError(
        f"send multipart/form-data or application/json, not {request.mimetype or 'a body without a content type'}",
        code="unsupported_media_type",
        http_status=415,
    )


def decode_base64(value: Any, label: str) -> bytes:
    """Bytes of a base64 string or ``data:`` URL."""
    if not isinstance(value, str):
        raise ApiError(f"{label} must be a base64 string or a data: URL")
    text = _DATA_URL.sub("", value.strip(), count=1)
    text = re.sub(r"\s+", "", text)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{label}: not valid base64 (send the file's bytes base64-encoded, or a data: URL)") from None


def image_field(field: str) -> Upload:
    """The image sent in ``field`` (a multipart file, or a base64 JSON member)."""
    if body_kind() == "json":
        body = json_body()
        if field not in body:
            raise ApiError(f"the JSON body has no '{field}' member (a base64 image)")
        return Upload(field, decode_base64(body[field], field))
    upload = request.files.get(field)
    if upload is None:
        hint = f"; got {', '.join(sorted(request.files))}" if request.files else ""
        if field in request.form:
            hint = "; it was sent as text, send it as a file"
        raise ApiError(f"no image file in the form field '{field}'{hint}")
    return Upload(safe_label(upload.filename, field), upload.read())


def image_list(field: str = "images") -> list[Upload]:
    """Every image sent in ``field``: repeated multipart files, or a JSON list of base64 strings."""
    if body_kind() == "json":
        values = json_body().get(field)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values:
            raise ApiError(f"'{field}' must be a non-empty list of base64 images")
        uploads = [Upload(f"image {i}", decode_base64(v, f"image {i}")) for i, v in enumerate(values, 1)]
    else:
        files = request.files.getlist(field) or request.files.getlist("image")
        if not files:
            raise ApiError(f"no image files in the form field '{field}'")
        uploads = [Upload(safe_label(f.filename, f"image {i}"), f.read()) for i, f in enumerate(files, 1)]
    if len(uploads) > MAX_PHOTOS_PER_REQUEST:
        raise ApiError(f"at most {MAX_PHOTOS_PER_REQUEST} photos per request (got {len(uploads)})")
    return uploads


_ABSENT = object()


def _shown(value: Any) -> str:
    """A parameter's value for an error message, cut short (an int of any length, or a long text)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_DIGITS:
        return "a number that is too long"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parameter(name: str) -> Any:
    """A non-image parameter from the form or the JSON body (``_ABSENT`` when not sent; an empty or null value
    is sent, and wrong)."""
    if body_kind() == "json":
        return json_body().get(name, _ABSENT)
    return request.form.get(name, _ABSENT)


def number(name: str, low: float, high: float) -> float | None:
    value = parameter(name)
    if value is _ABSENT:
        return None
    try:
        too_long = isinstance(value, str) and len(value) > 64
        result = float(value) if not isinstance(value, bool) and not too_long else math.nan
    except (TypeError, ValueError, OverflowError):
        result = math.nan
    if not (math.isfinite(result) and low <= result <= high):
        raise ApiError(f"'{name}' must be a number from {low:g} to {high:g} (got {_shown(value)})")
    return result


def whole_number(name: str, low: int, high: int, default: int) -> int:
    value = parameter(name)
    if value is _ABSENT:
        return default
    if isinstance(value, str) and re.fullmatch(rf"\s*\d{{1,{MAX_DIGITS}}}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(f"'{name}' must be a whole number from {low} to {high} (got {_shown(value)})")
    return value


def face_choice() -> int | list[float] | None:
    """``face``: which face to enroll in photos with several: its number (1 = largest, as /detect lists them
    and the pages number them) or a box x,y,w,h."""
    value = parameter("face")
    if value is _ABSENT:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        value = parts[0] if len(parts) == 1 else parts
        if isinstance(value, str) and re.fullmatch(rf"\d{{1,{MAX_DIGITS}}}", value):
            return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000:
        return value
    if isinstance(value, list) and len(value) == 4:
        try:
            box = [float(v) for v in value if not isinstance(v, bool) and len(str(v)) <= 64]
        except (TypeError, ValueError, OverflowError):
            box = []
        if len(box) == 4 and all(math.isfinite(v) for v in box) and box[2] > 0 and box[3] > 0:
            return box
    raise ApiError(f"'face' must be a face number (1 = the largest) or a box x,y,w,h (got {_shown(value)})")


def image_size(upload: Upload) -> tuple[int, int]:
    """Width and height (after EXIF rotation) from the image header; refuses empty, unreadable and too large
    images before anything is decoded."""
    if not upload.data:
        raise ImageError(f"{upload.label}: file is empty")
    limits = current_app.extensions["faceprint.recognizer"].pipeline.limits
    if len(upload.data) > limits.max_bytes:
        raise ImageTooLargeError(f"{upload.label}: above the {limits.max_bytes / 2**20:.0f} MB limit")
    try:
        with Image.open(io.BytesIO(upload.data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except UnidentifiedImageError:
        raise ImageError(
            f"{upload.label}: not an image file, or a format faceprint does not read "
            "(JPEG, PNG, WebP, BMP, PGM/PPM, GIF, TIFF)"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{upload.label}: damaged or truncated image ({error})") from None
    max_pixels = min(current_app.config["FACEPRINT_MAX_PIXELS"], limits.max_pixels)
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{upload.label}: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
            f"above the {max_pixels / 1e6:.0f} megapixel limit"
        )
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def pixel_count(upload: Upload) -> int:
    """Pixels of an upload from its header; 0 when it cannot be read (decoding then refuses it with a reason)."""
    try:
        with Image.open(io.BytesIO(upload.data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
    except Exception:  # anything unreadable is refused, with its reason, when it is decoded
        return 0
    return width * height


def work_of(uploads: list[Upload]) -> float:
    """The megapixels a request asks to compute; 413 above the per-request budget ``FACEPRINT_REQUEST_MEGAPIXELS``."""
    megapixels = sum(pixel_count(upload) for upload in uploads) / 1e6
    budget = current_app.config["FACEPRINT_REQUEST_MEGAPIXELS"]
    if megapixels > budget:
        raise ApiError(
            f"the photos of this request total {megapixels:.0f} megapixels, above the {budget:g} megapixel budget of "
            "one request; send fewer or smaller photos",
            code="too_much_work",
            http_status=413,
        )
    return megapixels


def relabel(text: str, uploads: list[Upload]) -> str:
    """Replace the recognizer's generic names of uploads ("uploaded image (N bytes)") by their labels."""
    for upload in uploads:
        text = text.replace(describe(upload.data), upload.label)
    return text


def relabelled(error: FaceprintError, uploads: list[Upload]) -> FaceprintError:
    error.message = relabel(error.message, uploads)
    error.args = (error.message,)
    return error
