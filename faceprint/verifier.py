"""One-to-one verification of two photos with the shipped, data-derived thresholds."""

from __future__ import annotations

from collections.abc import Sequence

from faceprint.errors import NoFaceError
from faceprint.imaging import ImageSource, describe
from faceprint.pipeline import FacePipeline
from faceprint.types import FaceEmbeddings
from faceprint.verification import Calibration, cosine, shipped_calibration


def largest_face(pipeline: FacePipeline, source: ImageSource, models: Sequence[str]) -> tuple[FaceEmbeddings, int]:
    """The largest face of an image with its embeddings, and how many faces the image has."""
    faces = pipeline.embed_image(source, models)
    if not faces:
        raise NoFaceError(f"{describe(source)}: no face found")
    return faces[0], len(faces)


def verify(
    pipeline: FacePipeline,
    image_a: ImageSource,
    image_b: ImageSource,
    models: Sequence[str],
    calibration: Calibration | None = None,
) -> dict:
    """Compare the largest face of each image: per-model cosine and the fused same-person probability."""
    calibration = calibration or shipped_calibration()
    (a, count_a), (b, count_b) = largest_face(pipeline, image_a, models), largest_face(pipeline, image_b, models)
    similarities = {name: cosine(a.vectors[name], b.vectors[name]) for name in models}
    fusion = calibration.fusion(models)
    similarity = fusion.score(similarities)
    return {
        "same_person": bool(similarity >= fusion.threshold),
        "similarity": round(float(similarity), 4),
        "threshold": round(fusion.threshold, 4),
        "models": list(models),
        "per_model": {
            name: {"similarity": round(value, 4), "threshold": round(calibration.per_model_thresholds[name], 4)}
            for name, value in similarities.items()
        },
        "faces": [
            {**a.face.to_dict(), "faces_in_image": count_a},
            {**b.face.to_dict(), "faces_in_image": count_b},
        ],
    }
