"""A fake webcam for Chromium: a real photo written as a YUV4MPEG2 (.y4m) video that
``--use-file-for-fake-video-capture`` plays in a loop to ``getUserMedia``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """One I420 frame (Y plane, then U and V at half resolution) in BT.601 studio range."""
    pixels = rgb.astype(np.float32)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean(axis=(1, 3))

    planes = (y, half(u), half(v))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def photo_to_y4m(photo: Path, target: Path, size: tuple[int, int] = (640, 480), frames: int = 10) -> Path:
    """Write ``photo``, fitted into ``size`` on a grey background, as a ``frames``-frame 10 fps y4m video."""
    width, height = size
    image = ImageOps.exif_transpose(Image.open(photo)).convert("RGB")
    image.thumbnail(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, (96, 96, 96))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    frame = rgb_to_i420(np.asarray(canvas))
    with target.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + frame)
    return target
