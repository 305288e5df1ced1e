"""Face-embedding networks behind one ``Embedder`` protocol, and the registry that knows them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceprint.embedding.registry import DEFAULT_MODELS, ModelSpec, get_embedder, model_spec, resolve_models

if TYPE_CHECKING:
    from faceprint.embedding.base import Embedder, l2_normalise

__all__ = ["DEFAULT_MODELS", "Embedder", "ModelSpec", "get_embedder", "l2_normalise", "model_spec", "resolve_models"]


def __getattr__(name: str) -> Any:
    """The protocol loads on first use (it needs NumPy): the registry alone answers ``faceprint models list``."""
    if name in ("Embedder", "l2_normalise"):
        from faceprint.embedding import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
