"""Finding the one face of a face crop or photo, robustly and in batches: what every caller that needs "the face
of this image" uses (the celebrity data and model, and anything that takes tight face crops).

Tight face crops defeat MTCNN about once in 200 images, and crops of many sizes cannot share detection batches. So
each image is first resized (longest side ``CANVAS_LONGEST``) and padded by edge replication into one square
``CANVAS_SIZE`` canvas: detection batches, and the padding gives the detector the context a tight crop lacks.
Faces are mapped back to the original pixels, so alignment and embedding use the full resolution. Images with no
face on the canvas are detected again at their own size (raw photos with small faces), and images with no face at
all can fall back to the whole crop."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from faceprint.alignment import central_landmarks
from faceprint.detection import central_face
from faceprint.pipeline import FacePipeline, LoadedImage
from faceprint.types import Face

CANVAS_SIZE = 256
CANVAS_LONGEST = 192
CANVAS_RECIPE = f"canvas/v1/{CANVAS_SIZE}/{CANVAS_LONGEST}/replicate"
FALLBACK_FRACTION = 0.9
"""With no face found, the face is assumed to fill the central 90% of the (tight) crop."""


@dataclass
class LocatedFace:
    """The face chosen in one image: landmarks in the image's own pixels, and how they were found.

    ``method`` is 'canvas' or 'original' (which detection pass found it) or 'fallback' (no face: the central
    region of the crop is used); ``faces`` is the number of faces detected."""

    face: Face | None
    landmarks: np.ndarray
    method: str
    faces: int

    @property
    def detected(self) -> bool:
        return self.face is not None


def detection_canvas(image: LoadedImage) -> tuple[LoadedImage, float, tuple[int, int]]:
    """The image resized and edge-padded into the square detection canvas, the scale used and the (x, y) offset.
    The canvas's digest derives from the image's content hash and the recipe, so cached detections stay valid."""
    height, width = image.pixels.shape[:2]
    scale = CANVAS_LONGEST / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image.pixels, (new_w, new_h), interpolation=interpolation)
    top, left = (CANVAS_SIZE - new_h) // 2, (CANVAS_SIZE - new_w) // 2
    canvas = cv2.copyMakeBorder(
        resized, top, CANVAS_SIZE - new_h - top, left, CANVAS_SIZE - new_w - left, cv2.BORDER_REPLICATE
    )
    digest = hashlib.sha256(f"{image.digest}/{CANVAS_RECIPE}".encode()).hexdigest()
    return LoadedImage(f"{image.name} [canvas]", canvas, digest), scale, (left, top)


def _from_canvas(face: Face, scale: float, offset: tuple[int, int]) -> Face:
    shift = np.asarray(offset, dtype=np.float64)
    x, y, w, h = face.box
    box = (float((x - shift[0]) / scale), float((y - shift[1]) / scale), float(w / scale), float(h / scale))
    landmarks = ((face.landmarks.astype(np.float64) - shift) / scale).astype(np.float32)
    return Face(box=box, score=face.score, landmarks=landmarks)


def locate_faces(
    pipeline: FacePipeline,
    images: Sequence[LoadedImage],
    order: Sequence[str] = ("canvas", "original"),
    fallback: bool = True,
    subject: bool = False,
) -> list[LocatedFace]:
    """The largest face of each image, or with ``subject`` the face the photo is about (large and near the centre:
    in a frame with bystanders, the largest face may be one of them). Detection passes run in ``order``
    ('canvas', 'original') on the images still without a face; with ``fallback`` the rest get landmarks for the
    central region of the crop."""
    found: list[tuple[list[Face], str] | None] = [None] * len(images)
    for method in order:
        todo = [i for i, item in enumerate(found) if item is None]
        if not todo:
            break
        if method == "canvas":
            canvases = [detection_canvas(images[i]) for i in todo]
            detected = pipeline.detect_many([c[0] for c in canvases])
            detected = [[_from_canvas(f, c[1], c[2]) for f in faces] for faces, c in zip(detected, canvases)]
        elif method == "original":
            detected = pipeline.detect_many([images[i] for i in todo])
        else:
            raise ValueError(f"unknown detection pass '{method}'")
        for index, faces in zip(todo, detected):
            if faces:
                found[index] = (faces, method)
    template = pipeline.embedder(pipeline.models[0]).template
    located = []
    for image, item in zip(images, found):
        if item is not None:
            faces, method = item
            face = central_face(faces, image.pixels.shape) if subject else faces[0]
            located.append(LocatedFace(face, face.landmarks, method, len(faces)))
        elif fallback:
            landmarks = central_landmarks(image.pixels.shape, template, FALLBACK_FRACTION)
            located.append(LocatedFace(None, landmarks, "fallback", 0))
        else:
            located.append(LocatedFace(None, np.zeros((5, 2), np.float32), "none", 0))
    return located


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
