"""OpenFace nn4.small2.v1 (128-d, published LFW 92.92%), an optional ensemble member.

No package registry ships its weights: they are published only as a Torch7 file. ``faceprint models fetch openface``
downloads it (or takes a local copy), checks its MD5, converts it once to a Keras weights file in the model cache and
records where it came from. Without that file, asking for OpenFace fails with a message saying how to get it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from faceprint.alignment import AlignmentTemplate
from faceprint.embedding.base import NetworkEmbedder, l2_normalise
from faceprint.embedding.download import ChecksumError, download, file_md5
from faceprint.embedding.weights import (
    OPENFACE_MD5,
    OPENFACE_PROVENANCE,
    OPENFACE_T7,
    OPENFACE_URL,
    OPENFACE_WEIGHTS,
    how_to_get,
    models_dir,
    openface_weights_path,
)
from faceprint.errors import ModelUnavailableError

OUTER_EYES_AND_NOSE = (36, 45, 33)
"""dlib 68-point indices OpenFace aligns with (``AlignDlib.OUTER_EYES_AND_NOSE``): outer eye corners, nose base."""
OUTER_EYES_AND_NOSE_POINTS = ((18.639, 16.250), (75.730, 15.184), (47.515, 49.386))
"""Where OpenFace's affine alignment puts those three points in its 96x96 input (its mean-shape template)."""

# Mean MTCNN landmark positions in OpenFace's own aligned 96x96 crops (dlib HOG face, 68 landmarks, outer eyes and
# nose mapped to the points above), measured on 295 LFW faces by tools/derive_openface_template.py.
OPENFACE_TEMPLATE = AlignmentTemplate(
    size=96,
    points=((27.1, 14.1), (68.9, 14.1), (48.0, 40.1), (29.5, 64.0), (66.5, 64.0)),
)


def _verified(t7: Path) -> Path:
    digest = file_md5(t7)
    if digest != OPENFACE_MD5:
        raise ChecksumError(
            f"{t7} has md5 {digest}, not {OPENFACE_MD5}: it is not the published nn4.small2.v1.t7 "
            "(damaged or a different network)"
        )
    return t7


_KERAS_CLASS = {"Convolution": "Conv2D", "BatchNormalization": "BatchNormalization", "Linear": "Dense"}


def convert_t7(t7: Path, out: Path) -> int:
    """Read an nn4.small2 Torch7 file, load every layer and batch-norm statistic into the Keras network, and save
    its weights to ``out`` (a ``.weights.h5`` file, written atomically). Returns the number of layers mapped."""
    from faceprint.embedding.openface_net import build_nn4_small2
    from faceprint.embedding.torch7 import Torch7FormatError, keras_weights, parameter_layers, read_t7

    model, order = build_nn4_small2()
    torch_layers = parameter_layers(read_t7(t7))
    if len(torch_layers) != len(order):
        raise Torch7FormatError(
            f"{t7}: {len(torch_layers)} parametrised layers, nn4.small2 has {len(order)}: not an nn4.small2 network"
        )
    for name, torch_layer in zip(order, torch_layers):
        layer = model.get_layer(name)
        arrays = keras_weights(torch_layer, getattr(layer, "epsilon", 1e-3))
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected or type(layer).__name__ != _KERAS_CLASS[torch_layer.kind]:
            raise Torch7FormatError(
                f"{t7}: layer {name} ({torch_layer.typename}, {[a.shape for a in arrays]}) does not fit nn4.small2's "
                f"{type(layer).__name__} {expected}"
            )
        layer.set_weights(arrays)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{os.getpid()}.{out.name}")
    with warnings.catch_warnings():  # Keras' own numpy 2 copy= notice while writing, nothing a user can act on
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save_weights(partial)
    os.replace(partial, out)
    return len(order)


def install_openface(
    weights: Path | None = None, url: str = OPENFACE_URL, progress: bool = True, directory: Path | None = None
) -> dict:
    """Download (or take ``weights``, a local copy of) the official ``.t7``, check its MD5, convert it and write
    the provenance record next to the converted file. Returns that record."""
    from importlib import metadata

    from faceprint._tf import tensorflow
    from faceprint.embedding.torch7 import require_torchfile
    from faceprint.version import __version__

    require_torchfile()  # before a 31 MB download that could not be converted
    directory = directory or models_dir()
    if weights is None:
        t7 = download(url, directory / OPENFACE_T7, OPENFACE_MD5, progress, hint=f"Offline: {how_to_get()}.")
    else:
        t7 = _verified(Path(weights).expanduser())
    out = directory / OPENFACE_WEIGHTS
    layers = convert_t7(t7, out)
    record = {
        "model": "openface",
        "network": "nn4.small2.v1",
        "source": url if weights is None else "local copy",
        "published_at": OPENFACE_URL,
        "source_file": t7.name,
        "source_md5": OPENFACE_MD5,
        "licence": "Apache 2.0 (OpenFace, Carnegie Mellon University)",
        "converted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "converter": {
            "faceprint": __version__,
            "torchfile": metadata.version("torchfile"),
            "tensorflow": tensorflow().__version__,
        },
        "layers_mapped": layers,
        "weights_file": out.name,
        "weights_sha256": _sha256(out),
    }
    (directory / OPENFACE_PROVENANCE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def keras_weights_file(path: Path) -> Path:
    """A converted weights file for ``path``: itself if converted already, else the cache's conversion of the
    official ``.t7`` (made now, once, after checking its MD5)."""
    if path.suffix != ".t7":
        return path
    out = models_dir() / OPENFACE_WEIGHTS
    provenance = models_dir() / OPENFACE_PROVENANCE
    if out.is_file() and provenance.is_file():
        return out
    install_openface(path, progress=False)
    return out


class OpenFaceEmbedder(NetworkEmbedder):
    """nn4.small2.v1 on 96x96 RGB crops scaled to [0, 1], as OpenFace feeds its network."""

    name = "openface"
    dimension = 128
    template = OPENFACE_TEMPLATE

    def __init__(
        self, weights: Path | None = None, flip: bool = True, centre: np.ndarray | None = None, batch_size: int = 64
    ) -> None:
        self.weights = Path(weights) if weights else openface_weights_path()
        self.base_version = f"openface-nn4.small2.v1/{_sha256(self.weights)[:10]}/t1"
        self.batch_size = batch_size
        super().__init__(flip, centre)
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                from faceprint.embedding.openface_net import INPUT_SIZE, build_nn4_small2, tf

                path = keras_weights_file(self.weights)
                model, _ = build_nn4_small2()
                try:
                    model.load_weights(path)
                except (ValueError, OSError, KeyError) as exc:
                    raise ModelUnavailableError(
                        f"OpenFace: {path} is not a converted nn4.small2 weights file ({exc}); {how_to_get()}"
                    ) from None
                # one traced graph for every batch size: eager calls cost ~20x more on a single face
                signature = [tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)]
                self._model = tf.function(lambda x: model(x, training=False), input_signature=signature)
        return self._model

    def _embed_raw(self, faces: np.ndarray) -> np.ndarray:
        function = self._load()
        out = [
            function(faces[i : i + self.batch_size].astype(np.float32) / 255.0).numpy()
            for i in range(0, len(faces), self.batch_size)
        ]
        return l2_normalise(np.concatenate(out, axis=0))
