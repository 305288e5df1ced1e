"""The celebrity model: which of 31 celebrities a face is (or most resembles).

``dataset`` prepares a folder-per-person collection (detect, align, split, augment), ``training`` stacks
per-embedding-model classifiers under a Keras meta-learner (its parts: ``config``, ``learners``, ``balance``,
``candidates``, ``card``), ``model`` loads and runs a trained model (the shipped one by default), ``predict`` runs
the full pipeline on photos, ``evaluation`` writes reports, ``cli`` adds the ``prepare``, ``train``, ``evaluate``
and ``celebrity`` commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceprint.celebrity.model import CelebrityModel, shipped_model_dir

__all__ = ["CelebrityModel", "shipped_model_dir"]


def __getattr__(name: str) -> Any:
    """The model loads on first use: the command-line parser imports ``celebrity.cli`` without NumPy."""
    if name in __all__:
        from faceprint.celebrity import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
