"""Class imbalance: which training set (the original photos, or with their augmented copies) and which weighting
(none, or every class alike) give the best level-0 models on the validation split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceprint.celebrity.config import TrainConfig
from faceprint.celebrity.evaluation import brief, classification_metrics
from faceprint.celebrity.learners import class_weights, fit_level0, fit_temperature
from faceprint.celebrity.model import softmax
from faceprint.errors import DatasetError


def training_rows(balance: str, augmented: np.ndarray) -> np.ndarray:
    """Which training rows a balance variant learns from: all of them with 'augment...', else the original photos."""
    return np.ones(len(augmented), bool) if balance.startswith("augment") else ~augmented


def choose_balance(
    x_all: dict[str, np.ndarray],
    y_all: np.ndarray,
    augmented: np.ndarray,
    x_val: dict[str, np.ndarray],
    y_val: np.ndarray,
    members: Sequence[str],
    labels: list[str],
    config: TrainConfig,
) -> tuple[str, dict[str, dict]]:
    """The class-imbalance variant to train with (``config.balance``, or with 'auto' the best of those the data
    allows) and every variant's level-0 figures on validation, mean over members and per member."""
    classes = len(labels)
    variants = ["none", "weights"] + (["augment", "augment+weights"] if augmented.any() else [])
    if config.balance != "auto":
        if config.balance.startswith("augment") and not augmented.any():
            raise DatasetError(f"--balance {config.balance}: the dataset has no augmented images (prepare --augment)")
        variants = [config.balance]
    balance_table = {}
    for variant in variants:
        rows = training_rows(variant, augmented)
        weights = class_weights(y_all[rows], classes) if variant.endswith("weights") else None
        scores = {}
        for name in members:
            linear = fit_level0(x_all[name][rows], y_all[rows], classes, config.level0_c, weights)
            logits = linear.logits(x_val[name])
            temperature = fit_temperature(logits, y_val)
            scores[name] = {
                **brief(classification_metrics(y_val, softmax(logits), labels)),
                "calibrated_log_loss": classification_metrics(y_val, softmax(logits / temperature), labels)["log_loss"],
            }
        balance_table[variant] = {
            "train_images": int(rows.sum()),
            **{
                key: round(float(np.mean([s[key] for s in scores.values()])), 4)
                for key in ("accuracy", "macro_f1", "log_loss", "calibrated_log_loss")
            },
            "per_model": scores,
        }
    # keep a change from the plain training set only if it measurably helps: higher mean validation accuracy or
    # macro-F1, or both equal and a lower mean log loss after temperature scaling (which discounts mere confidence)
    balance = max(
        variants,
        key=lambda v: (
            balance_table[v]["accuracy"],
            balance_table[v]["macro_f1"],
            -balance_table[v]["calibrated_log_loss"],
        ),
    )
    return balance, balance_table
