"""mtcnn 1.0.0's three networks run as whole graphs (ONNX Runtime by default, or TensorFlow), with the package's
box arithmetic in NumPy (``mtcnn_ops``) instead of its eager, layer-by-layer calls.

The package calls each Keras network eagerly, once per pyramid scale, and converts the whole image to a tensor
again for every scale; on a 640x480 photo that Python overhead costs several times the arithmetic. Here the
networks are converted once per machine from the package's own weights (``faceprint.onnx_engine``), OpenCV
resizes the pyramid (the package's area resize, same pixels to ~3e-5), and proposal decoding, non-maximum
suppression, box refinement and the 24/48 px crops are the package's steps in NumPy, in the package's order, so
boxes, scores and landmarks are those of ``mtcnn.MTCNN.detect_faces`` up to float rounding. With the prepared
files in place nothing here imports TensorFlow; ``engine="tensorflow"`` runs the same networks in TensorFlow."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from faceprint.detection import mtcnn_ops as ops
from faceprint.errors import ModelUnavailableError
from faceprint.onnx_engine import default_engine, files_digest, onnx_network

# mtcnn 1.0.0's defaults (``MTCNN.detect_faces`` keyword arguments), which faceprint never changes.
SCALE_FACTOR = 0.709
THRESHOLDS = {"pnet": 0.6, "rnet": 0.7, "onet": 0.8}
NMS = {"pnet_scale": 0.5, "pnet_all": 0.7, "rnet": 0.7, "onet": 0.7}
STAGES = {"pnet": None, "rnet": 24, "onet": 48}
"""Each network's input side (None: any size)."""

Network = Callable[[np.ndarray], list[np.ndarray]]

NORMALISED = (np.arange(256, dtype=np.float32) - np.float32(127.5)) / np.float32(128.0)
"""The package's input scaling ``(x - 127.5) / 128`` of every uint8 value, exact in float32: looked up in one pass
(``cv2.LUT``) instead of three NumPy passes over fresh arrays (0.8 vs 9 ms for a 640x480 photo)."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _scale_pool() -> ThreadPoolExecutor:
    """Threads for the pyramid scales: each scale's graph is too small to keep two cores busy on its own, and
    the runtimes release the GIL while they compute, so scales run side by side."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceprint-mtcnn")
        return _pool


def mtcnn_weights() -> list[Path]:
    """The weight files PyPI ``mtcnn`` ships, found without importing the package (its import loads TensorFlow)."""
    spec = importlib.util.find_spec("mtcnn")
    folder = Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights" if spec else None
    weights = sorted(folder.glob("*.lz4")) if folder is not None and folder.is_dir() else []
    if not weights:
        raise ModelUnavailableError("MTCNN needs the 'mtcnn' package: pip install mtcnn==1.0.0")
    return weights


@cache
def _keras_networks() -> dict:
    """The package's three Keras networks (TensorFlow): for converting them, and for the TensorFlow engine."""
    from faceprint._tf import tensorflow

    tensorflow()
    from mtcnn import MTCNN

    return dict(zip(STAGES, (stage.model for stage in MTCNN().stages), strict=True))


def _tf_function(name: str):
    from faceprint._tf import tensorflow

    tf = tensorflow()
    side = STAGES[name]
    spec = tf.TensorSpec([None, side, side, 3], tf.float32)
    model = _keras_networks()[name]
    return tf.function(lambda x: model(x, training=False), input_signature=[spec]), spec


def _convert(name: str) -> bytes:
    from faceprint.onnx_engine import tf_function_to_onnx

    function, spec = _tf_function(name)
    return tf_function_to_onnx(function, [spec])


CHUNK_PIXELS = 1 << 16
"""Most input pixels per network call: a batch of photos or crops is cut into calls of about this size (one photo
is never cut). Large calls are slower, not faster: their intermediate tensors (hundreds of MB for 128 LFW photos)
leave the caches and are page-faulted in afresh at every layer. Detecting 128 LFW photos at once took 3.9 s CPU in
P-net and 1.6 s in R-net as single calls, 1.4 and 0.9 s in calls of this size."""


def chunked(network: Network) -> Network:
    """``network`` called on slices of its input batch of at most ``CHUNK_PIXELS`` pixels each, outputs joined."""

    def run(batch: np.ndarray) -> list[np.ndarray]:
        step = max(1, CHUNK_PIXELS // int(np.prod(batch.shape[1:3])))
        if len(batch) <= step:
            return network(batch)
        parts = [network(batch[i : i + step]) for i in range(0, len(batch), step)]
        return [np.concatenate(outputs, axis=0) for outputs in zip(*parts, strict=True)]

    return run


def onnx_networks() -> dict[str, Network]:
    """The three networks in ONNX Runtime, from the files prepared on this machine (converted on first use)."""
    digest = files_digest(mtcnn_weights())
    networks = {}
    for name in STAGES:
        network = onnx_network(f"mtcnn-{name}", digest, lambda name=name: _convert(name))
        networks[name] = chunked(network.run)
    return networks


def tensorflow_networks() -> dict[str, Network]:
    """The three networks as TensorFlow graphs (the reference engine)."""
    networks = {}
    for name in STAGES:
        function, _ = _tf_function(name)
        networks[name] = lambda x, function=function: [output.numpy() for output in function(x)]
    return networks


def area_resize(images: np.ndarray, size) -> np.ndarray:
    """Each float32 image of a batch resized to ``size`` (rows, columns) by pixel-area averaging: OpenCV's
    ``INTER_AREA``, which matches ``tf.image.resize(..., method="area")`` to ~3e-5 on [-1, 1] images, several
    times faster, and releases the GIL so the pyramid's scales resize side by side."""
    rows, columns = int(size[0]), int(size[1])
    return np.stack([cv2.resize(image, (columns, rows), interpolation=cv2.INTER_AREA) for image in images])


class CompiledMTCNN:
    """Face boxes and landmarks from MTCNN's three networks, each network call one graph run."""

    def __init__(self, engine: str | None = None) -> None:
        self.engine = engine or default_engine()
        networks = onnx_networks() if self.engine == "onnxruntime" else tensorflow_networks()
        self._pnet, self._rnet, self._onet = (networks[name] for name in STAGES)

    def detect_faces(self, images: list[np.ndarray], min_face_size: int = 20) -> np.ndarray:
        """Rows of ``[image index, x1, y1, x2, y2, score, 5 landmark x, 5 landmark y]`` for RGB images of one
        shape, as ``mtcnn.MTCNN.detect_faces(images, output_type="numpy", box_format="xyxy")`` returns them."""
        if len({image.shape for image in images}) > 1:
            raise ValueError("detect_faces takes images of one shape")
        # (x - 127.5) / 128 is exact in float32 for uint8 pixels, as the package's float64 version is.
        stacked = np.stack(images)
        if stacked.dtype == np.uint8:
            normalized = cv2.LUT(stacked.reshape(-1, *stacked.shape[2:]), NORMALISED).reshape(stacked.shape)
        else:
            normalized = (stacked.astype(np.float32) - 127.5) / 128.0
        boxes = self._propose(normalized, min_face_size)
        if len(boxes):
            boxes = self._refine(normalized, boxes)
        if len(boxes):
            boxes = self._output(normalized, boxes)
        if not len(boxes):
            return np.empty((0, 16))
        return ops.clip_boxes(boxes, *normalized.shape[1:3])

    def _propose(self, normalized: np.ndarray, min_face_size: int) -> np.ndarray:
        """P-net over the image pyramid (StagePNet)."""
        height, width = normalized.shape[1:3]
        scales = ops.scale_pyramid(width, height, min_face_size, SCALE_FACTOR)
        size = np.asarray([height, width])

        def one_scale(scale: float) -> np.ndarray:
            # The package truncates the scaled size to whole pixels.
            regression, classes = self._pnet(area_resize(normalized, (size * scale).astype(np.int32)))
            found = ops.proposals(regression, classes, THRESHOLDS["pnet"])
            found[:, 1:5] /= scale
            return ops.nms(found, NMS["pnet_scale"], "union", initial_sort=False)

        per_scale = list(_scale_pool().map(one_scale, scales))  # in scale order, as the package concatenates them
        boxes = np.concatenate(per_scale, axis=0) if per_scale else np.empty((0, 6))
        if not len(boxes):
            return boxes
        return ops.square(ops.nms(boxes, NMS["pnet_all"], "union"))

    def _refine(self, normalized: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-net on 24x24 crops of the proposals (StageRNet)."""
        offsets, scores = self._rnet(ops.crop_and_resize(normalized, boxes, 24))
        boxes = ops.above(ops.refine(boxes, scores, offsets), THRESHOLDS["rnet"])
        if not len(boxes):
            return boxes
        return ops.square(ops.nms(boxes, NMS["rnet"], "union"))

    def _output(self, normalized: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """O-net on 48x48 crops: final boxes, scores and landmarks (StageONet)."""
        offsets, landmarks, scores = self._onet(ops.crop_and_resize(normalized, boxes, 48))
        landmarks = ops.place_landmarks(landmarks, boxes)
        boxes = ops.refine(boxes, scores, offsets)
        boxes = ops.above(np.concatenate([boxes, landmarks], axis=-1), THRESHOLDS["onet"])
        if not len(boxes):
            return boxes
        return ops.nms(boxes, NMS["onet"], "min")
