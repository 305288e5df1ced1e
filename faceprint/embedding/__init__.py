"""Face-embedding networks behind one ``Embedder`` protocol, and the registry that knows them."""

from faceprint.embedding.base import Embedder, l2_normalise
from faceprint.embedding.registry import DEFAULT_MODELS, ModelSpec, get_embedder, model_spec, resolve_models

__all__ = ["DEFAULT_MODELS", "Embedder", "ModelSpec", "get_embedder", "l2_normalise", "model_spec", "resolve_models"]
