"""Safe image decoding: any common format to an RGB uint8 array, with size limits and clear errors."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceprint.errors import ImageError, ImageTooLargeError

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray
"""Anything faceprint accepts as an image: a path, the file's bytes, or an RGB/grayscale array."""

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "PPM", "GIF", "TIFF")
"""The formats decoded (Pillow's names): JPEG (with cameras' multi-picture JPEGs), PNG, WebP, BMP, PGM/PPM, GIF
and TIFF. Anything else is refused before a decoder runs, which keeps rarely used decoders out of reach."""
MEGABYTE = 1024 * 1024

# Pillow has its own (warning-only) bomb check; ours is stricter and raises, so silence Pillow's.
Image.MAX_IMAGE_PIXELS = None


def register_decoders(head: bytes = b"") -> None:
    """Register the Pillow decoders an image starting with ``head`` needs: Pillow's common five (JPEG, PNG, GIF,
    BMP, PGM/PPM), plus TIFF or WebP when ``head`` is one. Importing every Pillow plugin up front (``Image.init``)
    costs more than a one-photo command should pay; cheap after the first call."""
    Image.preinit()
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        from PIL import TiffImagePlugin  # noqa: F401
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        from PIL import WebPImagePlugin  # noqa: F401


@dataclass(frozen=True)
class ImageLimits:
    """Refuse inputs above these sizes before decoding them."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


def describe(source: ImageSource) -> str:
    """A short name for an image source, used in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, np.ndarray):
        return f"array {source.shape}"
    return f"uploaded image ({len(source)} bytes)"


def read_bytes(source: str | os.PathLike, limits: ImageLimits = ImageLimits()) -> bytes:
    """Read a file, refusing missing files, directories and files above the byte limit."""
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ImageTooLargeError(
            f"{path}: file is {size / MEGABYTE:.1f} MB, above the {limits.max_bytes / MEGABYTE:.0f} MB limit"
        )
    return path.read_bytes()


def read_source(
    source: str | os.PathLike | bytes | bytearray | memoryview, limits: ImageLimits = ImageLimits()
) -> bytes:
    """The encoded bytes of a path or bytes-like source, refusing anything above the byte limit."""
    if isinstance(source, (str, os.PathLike)):
        return read_bytes(source, limits)
    data = bytes(source)
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"{describe(data)}: above the {limits.max_bytes / MEGABYTE:.0f} MB limit")
    return data


def load_image(source: ImageSource, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Decode ``source`` to an HxWx3 RGB uint8 array (EXIF orientation applied, first frame of animations)."""
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, describe(source), limits)
    return decode_bytes(read_source(source, limits), describe(source), limits)


def decode_bytes(data: bytes, name: str, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Decode encoded image bytes; ``name`` identifies the input in error messages."""
    if not data:
        raise ImageError(f"{name}: file is empty")
    register_decoders(data[:12])
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageTooLargeError(
                    f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
                    f"above the {limits.max_pixels / 1e6:.0f} megapixel limit"
                )
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image)
            return _pil_to_rgb(image)
    except UnidentifiedImageError:
        raise ImageError(
            f"{name}: not an image file, or a format faceprint does not read (JPEG, PNG, WebP, BMP, PGM/PPM, GIF, TIFF)"
        ) from None
    except ImageTooLargeError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{name}: damaged or truncated image ({exc})") from None


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit samples (PNG/TIFF "I;16", PGM/PPM "I", which Pillow scales to 0..65535) keep their brightness;
        # other ranges (32-bit integers, floats) are stretched to their own peak.
        in_16bit_range = image.mode != "F" and values.min(initial=0) >= 0 and values.max(initial=0) <= 65535
        peak = 65535.0 if in_16bit_range else (values.max() or 1.0)
        gray = np.clip(values / peak * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # Transparent pixels become white, as most viewers show them.
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _array_to_rgb(array: np.ndarray, name: str, limits: ImageLimits) -> np.ndarray:
    """Validate an in-memory image and return a new RGB uint8 array (alpha composited on white, like files)."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or min(array.shape[:2]) < 1:
        raise ImageError(f"{name}: expected an HxW, HxWx3 or HxWx4 image array")
    if array.shape[0] * array.shape[1] > limits.max_pixels:
        raise ImageTooLargeError(f"{name}: above the {limits.max_pixels / 1e6:.0f} megapixel limit")
    values = array.astype(np.float32)
    if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
        values *= 255.0
    values = np.clip(values, 0, 255)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.shape[2] == 4:
        alpha = values[:, :, 3:] / 255.0
        values = values[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
    rgb = np.broadcast_to(values, (*values.shape[:2], 3)) if values.shape[2] == 1 else values
    return np.ascontiguousarray(np.rint(rgb) if array.dtype != np.uint8 else rgb, dtype=np.uint8)
