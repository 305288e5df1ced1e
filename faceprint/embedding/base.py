"""The ``Embedder`` protocol: aligned face crops in, L2-normalised float32 vectors out."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from faceprint.alignment import AlignmentTemplate


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


def with_flip(embed_batch, faces: np.ndarray) -> np.ndarray:
    """Test-time augmentation: sum the embeddings of each face and its mirror image, then renormalise."""
    faces = np.asarray(faces)
    both = embed_batch(np.concatenate([faces, faces[:, :, ::-1, :]], axis=0))
    count = len(faces)
    return l2_normalise(both[:count] + both[count:])
