"""The face pipeline: decode -> detect -> align -> embed, with every model, batched and cached."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from faceprint.alignment import align_face, central_landmarks
from faceprint.cache import ArrayCache, array_key, content_hash
from faceprint.detection import Detector, MTCNNDetector, central_face
from faceprint.embedding import DEFAULT_MODELS, Embedder, get_embedder
from faceprint.imaging import ImageLimits, ImageSource, decode_bytes, describe, load_image, read_source
from faceprint.types import Face, FaceEmbeddings

log = logging.getLogger(__name__)


@dataclass
class LoadedImage:
    """A decoded image with a name for messages and a content hash for caching."""

    name: str
    pixels: np.ndarray
    digest: str


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    """Threads that run the models of one request side by side (TensorFlow releases the GIL while it computes)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceprint-embed")
        return _pool


def _face_to_row(face: Face) -> np.ndarray:
    return np.concatenate([np.asarray(face.box), [face.score], face.landmarks.reshape(-1)]).astype(np.float64)


def _row_to_face(row: np.ndarray) -> Face:
    return Face(box=tuple(float(v) for v in row[:4]), score=float(row[4]), landmarks=row[5:15].reshape(5, 2))


class FacePipeline:
    """Detects faces and embeds them with each requested model; results are cached by content when a cache is given."""

    def __init__(
        self,
        detector: Detector | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        cache: ArrayCache | None = None,
        limits: ImageLimits = ImageLimits(),
        embedders: Mapping[str, Embedder] | None = None,
        concurrent_models: bool = True,
    ) -> None:
        self.detector = detector or MTCNNDetector()
        self.models = tuple(models)
        self.concurrent_models = concurrent_models
        """Embed with the models at the same time (same results; faster on several cores)."""
        self.cache = cache
        self.limits = limits
        self._embedders = dict(embedders or {})

    def load_models(self, models: Sequence[str] | None = None, wait: bool = True) -> list[Future]:
        """Load the detector and the embedding ``models`` (default: the pipeline's) now, side by side: each loads
        once per process from its prepared file. ``wait=False`` returns at once, so that a caller can decode and
        detect while the embedding networks load (their first use waits for the load)."""
        jobs = [getattr(self.detector, "_load", None)]
        jobs += [getattr(self.embedder(name), "_load", None) for name in models or self.models]
        futures = [_shared_pool().submit(job) for job in jobs if job is not None]
        if wait:
            for future in futures:
                future.result()
        return futures

    def embedder(self, name: str) -> Embedder:
        """The embedder used for model ``name``: one given to the constructor, else the shared registry instance."""
        return self._embedders.get(name) or get_embedder(name)

    def load(self, source: ImageSource) -> LoadedImage:
        """Decode any accepted image source; raises ImageError subclasses for bad input."""
        name = describe(source)
        if isinstance(source, np.ndarray):
            pixels = load_image(source, self.limits)
            return LoadedImage(name, pixels, content_hash(pixels))
        data = read_source(source, self.limits)
        return LoadedImage(name, decode_bytes(data, name, self.limits), content_hash(data))

    def _detector_key(self) -> str:
        keys = ("runtime", "min_face_size", "min_score", "max_side", "pad_misses")
        settings = (getattr(self.detector, key, "") for key in keys)
        return f"detect/{self.detector.name}/{'/'.join(map(str, settings))}/v2"

    def detect(self, image: LoadedImage) -> list[Face]:
        """Every face in the image, largest first (cached by content)."""
        return self.detect_many([image])[0]

    def detect_many(self, images: Sequence[LoadedImage]) -> list[list[Face]]:
        """Faces of several images; uncached ones are detected together in one batch where the detector can."""
        keys = [array_key(image.digest, self._detector_key()) for image in images]
        found: list[list[Face] | None] = [None] * len(images)
        if self.cache is not None:
            for index, key in enumerate(keys):
                if (rows := self.cache.get(key)) is not None:
                    found[index] = [_row_to_face(row) for row in rows.reshape(-1, 15)]
        missing = [i for i, faces in enumerate(found) if faces is None]
        if missing:
            pixels = [images[i].pixels for i in missing]
            batch = getattr(self.detector, "detect_batch", None)
            detected = batch(pixels) if batch else [self.detector.detect(p) for p in pixels]
            for index, faces in zip(missing, detected):
                found[index] = faces
                if self.cache is not None:
                    rows = np.stack([_face_to_row(f) for f in faces]) if faces else np.zeros((0, 15))
                    self.cache.put(keys[index], rows)
        return found  # type: ignore[return-value]

    def embed_faces(
        self, images: Sequence[LoadedImage], landmarks: Sequence[np.ndarray], models: Sequence[str] | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Embed face ``i`` (given by its landmarks in ``images[i]``) with every model, in one batch per model."""
        results: list[dict[str, np.ndarray]] = [{} for _ in images]
        names = list(models or self.models)
        if self.concurrent_models and len(names) > 1 and images:
            outputs = list(_shared_pool().map(lambda name: self._embed_model(name, images, landmarks), names))
        else:
            outputs = [self._embed_model(name, images, landmarks) for name in names]
        for name, vectors in zip(names, outputs, strict=True):
            for index, vector in enumerate(vectors):
                results[index][name] = vector
        return results

    def _embed_model(
        self, name: str, images: Sequence[LoadedImage], landmarks: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Every face's embedding by model ``name``: from the cache where present, the rest in one batch."""
        embedder = self.embedder(name)
        keys = [array_key(image.digest, embedder.cache_version, points) for image, points in zip(images, landmarks)]
        vectors: list[np.ndarray | None] = [self.cache.get(key) if self.cache is not None else None for key in keys]
        missing = [index for index, vector in enumerate(vectors) if vector is None]
        if missing:
            crops = np.stack([align_face(images[i].pixels, landmarks[i], embedder.template) for i in missing])
            for index, vector in zip(missing, embedder.embed(crops)):
                vectors[index] = vector
                if self.cache is not None:
                    self.cache.put(keys[index], vector)
        return vectors  # type: ignore[return-value]

    def embed_image(self, source: ImageSource, models: Sequence[str] | None = None) -> list[FaceEmbeddings]:
        """Every face in one image with its embeddings, largest face first."""
        image = self.load(source)
        faces = self.detect(image)
        vectors = self.embed_faces([image] * len(faces), [f.landmarks for f in faces], models)
        return [FaceEmbeddings(face, v) for face, v in zip(faces, vectors)]

    def embed_central(self, images: Iterable[LoadedImage], models: Sequence[str] | None = None) -> list[FaceEmbeddings]:
        """For single-subject photos: embed the central face of each image, or, when no face is found, the
        central region of the image (``face`` is then None)."""
        images = list(images)
        chosen = [central_face(faces, image.pixels.shape) for faces, image in zip(self.detect_many(images), images)]
        fallback = self.embedder((models or self.models)[0]).template
        landmarks = [
            face.landmarks if face is not None else central_landmarks(image.pixels.shape, fallback)
            for face, image in zip(chosen, images)
        ]
        vectors = self.embed_faces(images, landmarks, models)
        return [FaceEmbeddings(face, v) for face, v in zip(chosen, vectors)]
