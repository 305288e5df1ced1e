"""mtcnn 1.0.0's three networks run as compiled TensorFlow graphs instead of layer by layer in eager mode.

The package calls each Keras network eagerly, once per pyramid scale, and converts the whole image to a tensor
again for every scale; on a 640x480 photo that Python overhead costs several times the arithmetic. Here each
stage network is wrapped once in a ``tf.function`` whose input signature leaves the sizes open (one trace serves
every image size), the image becomes a tensor once, and everything else (proposal decoding, non-maximum
suppression, box refinement, the package's post-processing) is the package's own numpy code, in the package's
order, so boxes, scores and landmarks are those of ``mtcnn.MTCNN.detect_faces`` up to float rounding.

With ``engine="onnxruntime"`` (the default) the three networks run in ONNX Runtime instead, converted once from
the same graphs and cached (``faceprint.onnx_engine``), and OpenCV resizes the pyramid (same pixels to ~3e-5)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from mtcnn.utils.bboxes import (
    adjust_bboxes,
    fix_bboxes_offsets,
    generate_bounding_box,
    limit_bboxes,
    pick_matches,
    replace_confidence,
    resize_to_square,
    smart_nms_from_bboxes,
    upscale_bboxes,
)
from mtcnn.utils.images import build_scale_pyramid, extract_patches, pad_stack_np
from mtcnn.utils.landmarks import adjust_landmarks

from faceprint._tf import tensorflow
from faceprint.onnx_engine import default_engine, files_digest, onnx_network, tf_function_to_onnx

# mtcnn 1.0.0's defaults (``MTCNN.detect_faces`` keyword arguments), which faceprint never changes.
SCALE_FACTOR = 0.709
THRESHOLDS = {"pnet": 0.6, "rnet": 0.7, "onet": 0.8}
NMS = {"pnet_scale": 0.5, "pnet_all": 0.7, "rnet": 0.7, "onet": 0.7}

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _scale_pool() -> ThreadPoolExecutor:
    """Threads for the pyramid scales: each scale's graph is too small to keep two cores busy on its own, and
    TensorFlow releases the GIL while it runs, so scales run side by side (1.3-1.4x faster on two cores)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceprint-mtcnn")
        return _pool


class _HostArray(np.ndarray):
    """A numpy array that answers ``.numpy()`` as an eager tensor does: the package's post-processing calls it."""

    def numpy(self) -> np.ndarray:
        return self.view(np.ndarray)


def area_resize(images: np.ndarray, size) -> np.ndarray:
    """Each float32 image of a batch resized to ``size`` (rows, columns) by pixel-area averaging: OpenCV's
    ``INTER_AREA``, which matches ``tf.image.resize(..., method="area")`` to ~3e-5 on [-1, 1] images, several
    times faster, and releases the GIL so the pyramid's scales resize side by side."""
    rows, columns = int(size[0]), int(size[1])
    images = np.asarray(images, dtype=np.float32)  # also takes an eager tensor
    return np.stack([cv2.resize(image, (columns, rows), interpolation=cv2.INTER_AREA) for image in images])


class CompiledMTCNN:
    """Face boxes and landmarks from an ``mtcnn.MTCNN``'s networks, each network call one compiled graph."""

    def __init__(self, reference, engine: str | None = None) -> None:
        tf = tensorflow()
        self.reference = reference
        self.engine = engine or default_engine()
        pnet, rnet, onet = (stage.model for stage in reference.stages)
        image_spec = tf.TensorSpec([None, None, None, 3], tf.float32)

        @tf.function(input_signature=[image_spec, tf.TensorSpec([2], tf.int32)])
        def proposals(images, size):
            # The package resizes the [-1, 1] images with area interpolation, then runs PNet on each scale.
            return pnet(tf.image.resize(images, size, method=tf.image.ResizeMethod.AREA), training=False)

        self._pnet = proposals
        self._rnet = tf.function(
            lambda x: rnet(x, training=False), input_signature=[tf.TensorSpec([None, 24, 24, 3], tf.float32)]
        )
        self._onet = tf.function(
            lambda x: onet(x, training=False), input_signature=[tf.TensorSpec([None, 48, 48, 3], tf.float32)]
        )
        if self.engine == "onnxruntime":
            self._use_onnxruntime(pnet, rnet, onet, image_spec)

    def _use_onnxruntime(self, pnet, rnet, onet, image_spec) -> None:
        """Replace the three network calls by ONNX Runtime sessions of the same networks."""
        tf = tensorflow()
        import mtcnn

        weights = sorted((Path(mtcnn.__file__).parent / "assets" / "weights").glob("*.lz4"))
        digest = files_digest(weights)
        networks = []
        for name, model, side in (("pnet", pnet, None), ("rnet", rnet, 24), ("onet", onet, 48)):
            spec = tf.TensorSpec([None, side, side, 3], tf.float32)
            function = tf.function(lambda x, model=model: model(x, training=False), input_signature=[spec])
            networks.append(
                onnx_network(f"mtcnn-{name}", digest, lambda f=function, s=spec: tf_function_to_onnx(f, [s]))
            )
        pnet_onnx, rnet_onnx, onet_onnx = networks

        def host(outputs: list[np.ndarray]) -> list[_HostArray]:
            return [output.view(_HostArray) for output in outputs]

        self._pnet = lambda images, size: host(pnet_onnx.run(area_resize(images, size)))
        self._rnet = lambda patches: host(rnet_onnx.run(np.asarray(patches)))
        self._onet = lambda patches: host(onet_onnx.run(np.asarray(patches)))

    def detect_faces(self, images: list[np.ndarray], min_face_size: int = 20) -> np.ndarray:
        """Rows of ``[image index, x1, y1, x2, y2, score, 5 landmark x, 5 landmark y]`` for a list of RGB images,
        as ``mtcnn.MTCNN.detect_faces(images, output_type="numpy", box_format="xyxy")`` returns them."""
        tf = tensorflow()
        padded, shapes, pad_param = pad_stack_np(images, justification="center")
        # (x - 127.5) / 128 is exact in float32 for uint8 pixels, as the package's float64 version is.
        host = (padded.astype(np.float32) - 127.5) / 128.0
        normalized = tf.constant(host)
        boxes = self._propose(host if self.engine == "onnxruntime" else normalized, shapes, min_face_size)
        if len(boxes):
            boxes = self._refine(normalized, boxes)
        if len(boxes):
            boxes = self._output(normalized, boxes)
        if not len(boxes):
            return np.empty((0, 16))
        boxes = fix_bboxes_offsets(boxes, pad_param)
        return limit_bboxes(boxes, images_shapes=shapes, limit_landmarks=False)

    def _propose(self, normalized, shapes: np.ndarray, min_face_size: int) -> np.ndarray:
        """PNet over the image pyramid (StagePNet)."""
        pyramids = [
            build_scale_pyramid(s[1], s[0], min_face_size=min_face_size, scale_factor=SCALE_FACTOR) for s in shapes
        ]
        scales = pyramids[int(np.argmax([len(p) for p in pyramids]))]
        batch = int(normalized.shape[0])
        size = np.asarray(normalized.shape[1:3])

        def one_scale(scale: float) -> np.ndarray:
            # tf.image.resize truncates a float size to int32, as the package's call does.
            regression, classes = self._pnet(normalized, (size * scale).astype(np.int32))
            found = generate_bounding_box(regression, classes, THRESHOLDS["pnet"])
            found = upscale_bboxes(found, np.asarray([scale] * batch))
            return smart_nms_from_bboxes(found, threshold=NMS["pnet_scale"], method="union", initial_sort=False)

        per_scale = list(_scale_pool().map(one_scale, scales))  # in scale order, as the package concatenates them
        boxes = np.concatenate(per_scale, axis=0) if per_scale else np.empty((0, 6))
        if not len(boxes):
            return boxes
        boxes = smart_nms_from_bboxes(boxes, threshold=NMS["pnet_all"], method="union", initial_sort=True)
        return resize_to_square(boxes)

    def _refine(self, normalized, boxes: np.ndarray) -> np.ndarray:
        """RNet on 24x24 crops of the proposals (StageRNet)."""
        offsets, scores = self._rnet(extract_patches(normalized, boxes, expected_size=(24, 24)))
        boxes = adjust_bboxes(replace_confidence(boxes, scores), offsets)
        boxes = pick_matches(boxes, score_threshold=THRESHOLDS["rnet"])
        if not len(boxes):
            return boxes
        boxes = smart_nms_from_bboxes(boxes, threshold=NMS["rnet"], method="union", initial_sort=True)
        return resize_to_square(boxes)

    def _output(self, normalized, boxes: np.ndarray) -> np.ndarray:
        """ONet on 48x48 crops: final boxes, scores and landmarks (StageONet)."""
        offsets, landmarks, scores = self._onet(extract_patches(normalized, boxes, expected_size=(48, 48)))
        landmarks = adjust_landmarks(landmarks, boxes)
        boxes = adjust_bboxes(replace_confidence(boxes, scores), offsets)
        boxes = pick_matches(
            np.concatenate([boxes, landmarks], axis=-1), scores_column=5, score_threshold=THRESHOLDS["onet"]
        )
        if not len(boxes):
            return boxes
        return smart_nms_from_bboxes(boxes, threshold=NMS["onet"], method="min", initial_sort=True)
