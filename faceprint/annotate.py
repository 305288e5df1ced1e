"""Photos with their faces drawn on: a numbered box per face and its label (a name, "unknown", a celebrity)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faceprint.errors import FaceprintError

KNOWN = (22, 163, 74)
UNKNOWN = (234, 88, 12)


def draw_faces(pixels: np.ndarray, faces: Sequence[dict], labels: Sequence[str], known: Sequence[bool]) -> Image.Image:
    """The image with a box, its 1-based number and its label on every face (labels above the box, or inside it
    when the box touches the top)."""
    image = Image.fromarray(pixels).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(2, round(min(width, height) / 300))
    font = ImageFont.load_default(size=max(12, round(min(width, height) / 40)))
    for number, (face, label, is_known) in enumerate(zip(faces, labels, known, strict=True), start=1):
        x, y, w, h = face["box"]
        colour = KNOWN if is_known else UNKNOWN
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=line)
        text = f"{number} {label}".strip()
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_h = bottom - top + 2 * line
        text_y = y - text_h if y - text_h >= 0 else y
        draw.rectangle([x, text_y, x + (right - left) + 2 * line, text_y + text_h], fill=colour)
        draw.text((x + line, text_y + line - top), text, fill=(255, 255, 255), font=font)
    return image


def annotation_path(target: str | Path, source: str, several: bool) -> Path:
    """Where the annotated copy of ``source`` goes: ``target`` itself for one photo, unless it is a folder (or ends
    with a slash, or there are several photos), in which case ``target/<name>.annotated.jpg``."""
    target = Path(target)
    if several or target.is_dir() or str(target).endswith(("/", "\\")):
        target.mkdir(parents=True, exist_ok=True)
        return target / f"{Path(source).stem}.annotated.jpg"
    if target.parent and not target.parent.exists():
        raise FaceprintError(f"--annotate: the folder {target.parent} does not exist")
    return target


def save_annotated(image: Image.Image, path: Path) -> None:
    """Write the picture (JPEG unless the name says PNG or WebP); a clear error when it cannot be written."""
    suffix = path.suffix.lower()
    kind = {".png": "PNG", ".webp": "WEBP"}.get(suffix, "JPEG")
    try:
        image.save(path, format=kind, quality=90) if kind != "PNG" else image.save(path, format=kind)
    except OSError as exc:
        raise FaceprintError(f"--annotate: cannot write {path}: {exc.strerror or exc}") from None
