"""MTCNN face detector (PyPI ``mtcnn``'s networks, run in ONNX Runtime by default), with five landmarks per face."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from faceprint.detection.base import sort_by_size
from faceprint.types import Face

# mtcnn 1.0.0 builds its image pyramid from ``min_face_size``; above 20 the pyramid becomes too small and it
# silently finds nothing. We therefore always run it at 20 and drop smaller faces afterwards.
_MTCNN_PYRAMID_MIN_FACE = 20


@dataclass
class MTCNNDetector:
    """MTCNN with a configurable minimum face size (pixels), minimum detection score, and the longest image side
    it works at: larger photos are downscaled for detection (MTCNN's landmark network sees 48x48 crops anyway)
    and the boxes and landmarks are scaled back to the original pixels."""

    min_face_size: int = 20
    min_score: float = 0.90
    max_side: int | None = 1280
    pad_misses: float = 0.25
    """Border (fraction of the longest side) for the second try on images where no face was found; 0 = none."""
    compiled: bool = True
    """Run the networks as compiled graphs (same faces, several times faster); False = mtcnn's own eager code."""
    engine: str | None = None
    """What runs the compiled networks: ``onnxruntime`` or ``tensorflow``; None = ``$FACEPRINT_ENGINE`` or
    ``onnxruntime``. Same faces up to float rounding."""
    name: str = "mtcnn"

    def __post_init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    @property
    def runtime(self) -> str:
        """What computes the networks ('onnxruntime', 'tensorflow' or 'eager'). Part of the detection cache key:
        runtimes agree only up to float rounding, and a cache must not mix them (re-runs stay reproducible)."""
        if not self.compiled:
            return "eager"
        from faceprint.onnx_engine import default_engine

        return self.engine or default_engine()

    def _load(self):
        with self._lock:
            if self._model is None:
                if self.compiled:
                    from faceprint.detection.mtcnn_graph import CompiledMTCNN

                    self._model = CompiledMTCNN(self.engine)
                else:
                    from faceprint._tf import tensorflow

                    tensorflow()
                    from mtcnn import MTCNN

                    self._model = MTCNN()
        return self._model

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in ``image`` (RGB uint8) whose size and score pass the limits, largest first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect in several images at once: images of one shape share network calls, which is much faster.
        Images where nothing is found are tried once more with a border added: MTCNN misses some faces that
        fill the whole picture (tight crops, passport-style photos)."""
        scaled, scales = zip(*(self._bounded(image) for image in images)) if images else ((), ())
        results = self._run(list(scaled), [(scale, 0, 0) for scale in scales])
        if self.pad_misses:
            misses = [i for i, faces in enumerate(results) if not faces and min(scaled[i].shape[:2]) >= 12]
            padded, placements = [], []
            import cv2  # OpenCV loads when a photo is detected, not when the pipeline is built

            for i in misses:
                border = round(self.pad_misses * max(scaled[i].shape[:2]))
                padded.append(cv2.copyMakeBorder(scaled[i], border, border, border, border, cv2.BORDER_REPLICATE))
                placements.append((scales[i], border, border))
            for i, faces in zip(misses, self._run(padded, placements)):
                results[i] = faces
        return [sort_by_size(faces) for faces in results]

    def _run(self, images: list[np.ndarray], placements: list[tuple[float, int, int]]) -> list[list[Face]]:
        """One MTCNN pass; ``placements`` map each image back to the original: (scale, x offset, y offset)."""
        results: list[list[Face]] = [[] for _ in images]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(images):
            if min(image.shape[:2]) >= 12:
                by_shape.setdefault(image.shape, []).append(index)
        model = self._load() if by_shape else None
        for indices in by_shape.values():
            batch = [images[i] for i in indices]
            pyramid_min_face = min(self.min_face_size, _MTCNN_PYRAMID_MIN_FACE)
            if self.compiled:
                rows = model.detect_faces(batch, min_face_size=pyramid_min_face)
            else:
                rows = model.detect_faces(batch, output_type="numpy", box_format="xyxy", min_face_size=pyramid_min_face)
            for row in np.asarray(rows, dtype=np.float64).reshape(-1, 16):
                index = indices[int(row[0])]
                scale, dx, dy = placements[index]
                row[[1, 3, 6, 7, 8, 9, 10]] -= dx
                row[[2, 4, 11, 12, 13, 14, 15]] -= dy
                row[1:5] /= scale
                row[6:16] /= scale
                face = self._to_face(row)
                if face is not None:
                    results[index].append(face)
        return results

    def _bounded(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The image downscaled so its longest side is at most ``max_side``, and the scale factor used."""
        longest = max(image.shape[:2])
        if not self.max_side or longest <= self.max_side:
            return image, 1.0
        scale = self.max_side / longest
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        import cv2

        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale

    def _to_face(self, row: np.ndarray) -> Face | None:
        x1, y1, x2, y2, score = row[1:6]
        if score < self.min_score or max(x2 - x1, y2 - y1) < self.min_face_size:
            return None
        # mtcnn's numpy rows hold the five x coordinates, then the five y coordinates.
        landmarks = np.stack([row[6:11], row[11:16]], axis=1).astype(np.float32)
        return Face(box=(float(x1), float(y1), float(x2 - x1), float(y2 - y1)), score=float(score), landmarks=landmarks)
