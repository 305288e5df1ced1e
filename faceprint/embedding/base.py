"""The ``Embedder`` protocol (aligned face crops in, L2-normalised float32 vectors out) and the post-processing
every network shares: mirror test-time augmentation and centring on a reference mean."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Protocol

import numpy as np

from faceprint.alignment import AlignmentTemplate

CENTRES_FILE = "embedding_centres.json"


class Embedder(Protocol):
    """A face-embedding network with its own input size, alignment template and preprocessing."""

    name: str
    dimension: int
    template: AlignmentTemplate
    version: str
    """Changes whenever preprocessing or weights change, so cached embeddings are never reused across them."""

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """Embed a batch of aligned uint8 crops (N x size x size x 3 RGB) to N x dimension unit vectors."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@cache
def shipped_centres() -> dict[str, np.ndarray]:
    """Mean embedding per model over LFW DevTrain faces (see the file's provenance), shipped in the package."""
    data = json.loads(resources.files("faceprint").joinpath("data", CENTRES_FILE).read_text())
    return {name: np.asarray(values, dtype=np.float32) for name, values in data["centres"].items()}


class NetworkEmbedder:
    """Shared post-processing: optional mirror augmentation (sum of the embeddings of a face and its mirror
    image) and optional centring (subtract a reference mean embedding, as FaceNet's evaluation does), each
    followed by L2 normalisation. Subclasses implement ``_embed_raw``."""

    name: str
    dimension: int
    template: AlignmentTemplate
    base_version: str

    def __init__(self, flip: bool = True, centre: np.ndarray | None = None) -> None:
        self.flip = flip
        self.centre = None if centre is None else np.asarray(centre, dtype=np.float32)
        centre_tag = "none" if centre is None else hashlib.sha1(self.centre.tobytes()).hexdigest()[:10]
        self.version = f"{self.base_version}/flip={int(flip)}/centre={centre_tag}"
        self.cache_version = self.version
        """What cached embeddings are keyed by: ``version``, plus how the network runs where that changes its output."""

    def _embed_raw(self, faces: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed(self, faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        if len(faces) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.flip:
            both = self._embed_raw(np.concatenate([faces, faces[:, :, ::-1, :]], axis=0))
            vectors = l2_normalise(both[: len(faces)] + both[len(faces) :])
        else:
            vectors = self._embed_raw(faces)
        if self.centre is not None:
            vectors = l2_normalise(vectors - self.centre)
        return vectors
