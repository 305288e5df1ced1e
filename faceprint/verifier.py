"""One-to-one verification of two photos on the one similarity scale (``faceprint.scoring``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from faceprint.errors import NoFaceError
from faceprint.imaging import ImageSource
from faceprint.pipeline import FacePipeline
from faceprint.quality import face_measures
from faceprint.scoring import scorer_for
from faceprint.types import FaceEmbeddings
from faceprint.verification import Calibration, cosine

VERIFY_OPERATING_POINT = (
    "verification: same person from similarity {threshold:g}, where the evidence favours it (the best accuracy on "
    "LFW's pairs, near a likelihood ratio of 1); recognition against a gallery names a face only from a stricter "
    "threshold that keeps strangers out"
)


@dataclass
class MeasuredFace:
    """The largest face of an image: its embeddings, quality measures and how many faces the image has."""

    face: FaceEmbeddings
    quality: dict
    faces_in_image: int


def largest_face(pipeline: FacePipeline, source: ImageSource, models: Sequence[str]) -> MeasuredFace:
    """The largest face of an image with its embeddings and quality."""
    image = pipeline.load(source)
    faces = pipeline.detect(image)
    if not faces:
        raise NoFaceError(f"{image.name}: no face found")
    vectors = pipeline.embed_faces([image], [faces[0].landmarks], models)[0]
    return MeasuredFace(FaceEmbeddings(faces[0], vectors), face_measures(image.pixels, faces[0]), len(faces))


def verify(
    pipeline: FacePipeline,
    image_a: ImageSource,
    image_b: ImageSource,
    models: Sequence[str],
    calibration: Calibration | None = None,
) -> dict:
    """Compare the largest face of each image: the 0-100 similarity (quality-aware for the default models), the
    verification threshold, per-model cosines and each face with its quality."""
    scorer = scorer_for(models, calibration)
    pipeline.load_models(models, wait=False)  # the networks load while the photos are decoded and detected
    a, b = largest_face(pipeline, image_a, models), largest_face(pipeline, image_b, models)
    similarity = round(scorer.pair(a.face.vectors, b.face.vectors, a.quality, b.quality), 1)
    threshold = round(scorer.verify_threshold, 1)
    return {
        "same_person": bool(similarity >= threshold),
        "similarity": similarity,
        "threshold": threshold,
        "operating_point": VERIFY_OPERATING_POINT.format(threshold=threshold),
        "models": list(models),
        "per_model": {
            name: {"cosine": round(cosine(a.face.vectors[name], b.face.vectors[name]), 4)} for name in models
        },
        "faces": [{**m.face.face.to_dict(), "quality": m.quality, "faces_in_image": m.faces_in_image} for m in (a, b)],
    }
