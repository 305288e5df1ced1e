"""The celebrity model: which of 31 celebrities a face is (or most resembles).

``dataset`` prepares a folder-per-person collection (detect, align, split, augment), ``training`` stacks
per-embedding-model classifiers under a Keras meta-learner (its parts: ``config``, ``learners``, ``balance``,
``candidates``, ``card``), ``model`` loads and runs a trained model (the shipped one by default), ``predict`` runs
the full pipeline on photos, ``evaluation`` writes reports, ``cli`` adds the ``prepare``, ``train``, ``evaluate``
and ``celebrity`` commands."""

from faceprint.celebrity.model import CelebrityModel, shipped_model_dir

__all__ = ["CelebrityModel", "shipped_model_dir"]
