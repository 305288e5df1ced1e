"""What a training run is asked to do: ``TrainConfig``, every hyper-parameter of ``faceprint train``, and the choices
of ``faceprint prepare`` (kept here, free of heavy imports, so the command-line parser can name them)."""

from __future__ import annotations

from dataclasses import dataclass

BALANCE_CHOICES = ("auto", "none", "weights", "augment", "augment+weights")
SELECT_CHOICES = ("validation", "cv")
SPLITS = ("train", "validation", "test")
AUGMENTATIONS = ("flip", "rotate", "scale", "shift", "color", "blur")
NEAR_DUPLICATE_BITS = 44
"""Aligned faces whose 255-bit perceptual hashes differ in at most this many bits are treated as one photo. On the
celebrity collection, pairs up to ~46 bits apart were copies of one photo when inspected, and different people
never came closer than 50 bits; grouping two different photos of one person costs nothing, missing a copy leaks."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of ``train_model``; every one is recorded in the model card."""

    seed: int = 0
    folds: int = 5
    level0_c: float = 10.0
    meta_hidden: int = 0
    """0: the meta-learner is linear in the members' log-probabilities (pooled cross-validation: 3 errors in 2,086
    against 7 with a 64-unit hidden layer, see docs/model.md)."""
    meta_l2: float = 1e-2
    """L2 on the meta-learner's corrections to the plain ensemble: 1e-2 is the smallest at which it errs least on
    degraded validation images (20 of 1,645, as do 3e-2 to 1; 23 at 1e-3; see benchmarks/celebrity_shift.py)."""
    meta_dropout: float = 0.3
    mlp_hidden: int = 256
    mlp_l2: float = 1e-4
    mlp_dropout: float = 0.5
    epochs: int = 300
    patience: int = 15
    batch_size: int = 128
    learning_rate: float = 1e-3
    balance: str = "auto"
    """One of ``BALANCE_CHOICES``: 'auto' tries each and keeps a change from 'none' only if it measurably helps."""
    models: tuple[str, ...] | None = None
    select: str = "validation"
    """How the shipped candidate is chosen: 'validation' (the validation split) or 'cv' (pooled cross-validation
    over training and validation images: several times slower, far less noisy)."""
