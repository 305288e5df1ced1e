"""dlib's ResNet face descriptor (128-d), with weights from PyPI ``face-recognition-models``."""

from __future__ import annotations

import threading

import numpy as np

from faceprint.alignment import AlignmentTemplate
from faceprint.embedding.base import NetworkEmbedder, l2_normalise
from faceprint.embedding.weights import dlib_weights_path
from faceprint.errors import ModelUnavailableError
from faceprint.onnx_engine import ENGINES, default_engine

# Mean MTCNN landmark positions in dlib's own 150x150 face chips (5-point shape predictor, padding 0.25),
# measured on LFW by tools/derive_templates.py.
DLIB_TEMPLATE = AlignmentTemplate(
    size=150,
    points=((47.8, 44.4), (102.2, 44.4), (75.0, 77.0), (51.0, 104.8), (99.0, 104.8)),
)


class DlibEmbedder(NetworkEmbedder):
    """dlib ResNet on aligned 150x150 chips. dlib's weights run as a TensorFlow graph (``dlib_graph``: same
    descriptors up to float rounding, ~10x faster than the BLAS-less ``dlib-bin``), executed by ONNX Runtime
    (``engine="onnxruntime"``, the default: converted once and cached, ~2.5x faster again) or by TensorFlow
    (``engine="tensorflow"``); ``engine="dlib"`` calls ``dlib.face_recognition_model_v1`` itself."""

    name = "dlib"
    dimension = 128
    template = DLIB_TEMPLATE
    # All engines give the same descriptors (max abs difference ~1e-7), so they share cached embeddings.
    base_version = "dlib-resnet-v1/t1"

    def __init__(
        self, flip: bool = True, centre: np.ndarray | None = None, engine: str | None = None, batch_size: int = 32
    ) -> None:
        engine = engine or default_engine()
        if engine not in (*ENGINES, "dlib"):
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, dlib")
        super().__init__(flip, centre)
        self.engine = engine
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None and self.engine == "onnxruntime":
                from faceprint.embedding.dlib_graph import dlib_onnx

                network = dlib_onnx(dlib_weights_path())
                self._model = lambda chips: network.run(chips)[0]
            elif self._model is None and self.engine == "tensorflow":
                from faceprint._tf import tensorflow
                from faceprint.embedding.dlib_graph import build_dlib_function, read_dlib_weights

                function = build_dlib_function(read_dlib_weights(dlib_weights_path()))
                self._model = lambda chips: function(tensorflow().constant(chips)).numpy()
            elif self._model is None:
                try:
                    import dlib
                except ImportError:
                    raise ModelUnavailableError("The dlib model needs 'dlib-bin': pip install dlib-bin") from None
                self._model = dlib.face_recognition_model_v1(str(dlib_weights_path()))
        return self._model

    def _embed_raw(self, faces: np.ndarray) -> np.ndarray:
        model = self._load()
        if self.engine != "dlib":
            batches = [faces[i : i + self.batch_size] for i in range(0, len(faces), self.batch_size)]
            out = [model(np.ascontiguousarray(batch, dtype=np.uint8)) for batch in batches]
            return l2_normalise(np.concatenate(out, axis=0))
        chips = [np.ascontiguousarray(face) for face in faces]
        return l2_normalise(np.asarray(model.compute_face_descriptor(chips), dtype=np.float32))
