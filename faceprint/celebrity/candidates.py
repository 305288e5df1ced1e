"""The candidate models and how one is kept: each member's logistic regression, their soft vote, the concatenated
embeddings in a logistic regression and in a Keras MLP, and the stack; compared on validation or in pooled
cross-validation, the stack kept unless another is significantly better on the same images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from faceprint.celebrity.config import TrainConfig
from faceprint.celebrity.evaluation import brief, classification_metrics, mcnemar
from faceprint.celebrity.learners import (
    class_weights,
    fit_level0,
    fit_temperature,
    fold_count,
    out_of_fold,
    train_network,
)
from faceprint.celebrity.model import LOG_FLOOR, CelebrityModel, softmax, stacking_features

REFERENCE_CANDIDATE = "stacking"
"""The design's model, kept unless another candidate is significantly better (see ``select_best``)."""
SIGNIFICANCE = 0.05


def fit_candidates(
    x: dict[str, np.ndarray],
    y: np.ndarray,
    groups: np.ndarray,
    x_stop: dict[str, np.ndarray],
    y_stop: np.ndarray,
    members: Sequence[str],
    labels: list[str],
    config: TrainConfig,
    weights: np.ndarray | None,
    folds: int,
) -> dict[str, dict]:
    """Every candidate model fitted on ``x``/``y``: each member's logistic regression, their soft vote, the
    concatenated embeddings in one logistic regression and in one Keras MLP, and the stack (Keras meta-learner on
    the level-0 out-of-fold log-probabilities). The Keras networks early-stop on ``x_stop``/``y_stop``.
    Returns name -> {"model", and "oof" (level-0 out-of-fold metrics) or "epochs" where they apply}."""
    classes = len(labels)
    oof = {name: out_of_fold(x[name], y, groups, classes, config, weights, folds) for name in members}
    level0 = {name: fit_level0(x[name], y, classes, config.level0_c, weights) for name in members}
    candidates: dict[str, dict] = {}
    for name in members:
        candidates[f"logistic:{name}"] = {
            "model": CelebrityModel(labels, (name,), "logistic", {name: level0[name]}),
            "oof": brief(classification_metrics(y, oof[name], labels)),
        }
    candidates["soft_vote"] = {
        "model": CelebrityModel(labels, tuple(members), "soft_vote", dict(level0)),
        "oof": brief(classification_metrics(y, np.mean(list(oof.values()), 0), labels)),
    }
    concat = np.concatenate([x[name] for name in members], axis=1)
    concat_stop = np.concatenate([x_stop[name] for name in members], axis=1)
    if len(members) > 1:
        concat_linear = fit_level0(concat, y, classes, config.level0_c, weights)
        candidates["concat_logistic"] = {
            "model": CelebrityModel(labels, tuple(members), "concat_logistic", {"concat": concat_linear})
        }
    features = np.concatenate([np.log(np.clip(oof[name], LOG_FLOOR, 1.0)) for name in members], axis=1)
    meta, meta_epochs = train_network(
        features,
        y,
        stacking_features(level0, x_stop, members),
        y_stop,
        classes,
        config.meta_hidden,
        config.meta_l2,
        config.meta_dropout,
        config,
        weights,
        base=np.tile(np.eye(classes), (len(members), 1)) / len(members),
    )
    candidates["stacking"] = {
        "model": CelebrityModel(labels, tuple(members), "stacking", dict(level0), meta),
        "epochs": meta_epochs,
    }
    mlp, mlp_epochs = train_network(
        concat, y, concat_stop, y_stop, classes, config.mlp_hidden, config.mlp_l2, config.mlp_dropout, config, weights
    )
    candidates["concat_mlp"] = {
        "model": CelebrityModel(labels, tuple(members), "concat_mlp", {}, mlp),
        "epochs": mlp_epochs,
    }
    return candidates


def compare_on_validation(
    candidates: dict[str, dict], x_val: dict[str, np.ndarray], y_val: np.ndarray, labels: list[str]
) -> dict[str, dict]:
    """Every candidate's figures on the validation split, before and after its own temperature (fitted here and
    set on its model), with its paired comparison with the stack."""
    table = {}
    val_logits = {key: candidate["model"].logits(x_val) for key, candidate in candidates.items()}
    paired = paired_with_reference({key: logits.argmax(axis=1) == y_val for key, logits in val_logits.items()})
    for key, candidate in candidates.items():
        model = candidate["model"]
        logits = val_logits[key]
        raw = brief(classification_metrics(y_val, softmax(logits), labels))
        model.temperature = fit_temperature(logits, y_val)
        calibrated = classification_metrics(y_val, model.predict(x_val), labels)
        table[key] = {
            **raw,
            "temperature": round(model.temperature, 4),
            "calibrated_log_loss": round(calibrated["log_loss"], 4),
            "calibrated_ece": round(calibrated["ece"], 4),
            **({"epochs": candidate["epochs"]} if "epochs" in candidate else {}),
            **({"train_oof": candidate["oof"]} if "oof" in candidate else {}),
            **paired.get(key, {}),
        }
    return table


def cross_validate(
    x: dict[str, np.ndarray],
    y: np.ndarray,
    groups: np.ndarray,
    scored: np.ndarray,
    members: Sequence[str],
    labels: list[str],
    config: TrainConfig,
    class_weighted: bool = False,
    outer_folds: int = 5,
    stop_fraction: float = 0.15,
    progress: bool = True,
) -> dict[str, dict]:
    """Pooled cross-validation of every candidate: ``outer_folds`` folds over the duplicate groups; in each, every
    candidate (stack included, with its own inner out-of-fold level 0) is refitted on the other folds, its Keras
    networks early-stopped on ``stop_fraction`` of their groups, and predicts the held-out fold. Rows where
    ``scored`` is False (augmented copies) are trained on but never scored; with ``class_weighted`` every fold's
    fits weight the classes alike, as the final model's do. Returns, per candidate, errors,
    accuracy, macro F1, log loss, and the log loss after one temperature fitted on all out-of-fold logits."""
    from sklearn.model_selection import StratifiedGroupKFold

    classes = len(labels)
    logits: dict[str, np.ndarray] = {}
    splitter = StratifiedGroupKFold(n_splits=fold_count(y, groups, outer_folds), shuffle=True, random_state=config.seed)
    splits = list(splitter.split(y.reshape(-1, 1), y, groups))
    for number, (fit_rows, held_rows) in enumerate(tqdm(splits, desc="train: cross-validate", disable=not progress)):
        rng = np.random.default_rng(config.seed + number)
        fit_groups = np.unique(groups[fit_rows])
        stop = np.isin(groups[fit_rows], rng.choice(fit_groups, int(stop_fraction * len(fit_groups)), replace=False))
        learn, early = fit_rows[~stop], fit_rows[stop]
        weights = class_weights(y[learn], classes) if class_weighted else None
        candidates = fit_candidates(
            {name: x[name][learn] for name in members},
            y[learn],
            groups[learn],
            {name: x[name][early] for name in members},
            y[early],
            members,
            labels,
            config,
            weights,
            fold_count(y[learn], groups[learn], config.folds),
        )
        for key, candidate in candidates.items():
            logits.setdefault(key, np.zeros((len(y), classes)))[held_rows] = candidate["model"].logits(
                {name: x[name][held_rows] for name in members}
            )
    truth = y[scored]
    paired = paired_with_reference({key: values[scored].argmax(axis=1) == truth for key, values in logits.items()})
    table = {}
    for key, values in logits.items():
        values = values[scored]
        metrics = classification_metrics(truth, softmax(values), labels)
        temperature = fit_temperature(values, truth)
        table[key] = {
            "images": int(scored.sum()),
            "errors": int((values.argmax(axis=1) != truth).sum()),
            **brief(metrics),
            "calibrated_log_loss": round(
                classification_metrics(truth, softmax(values / temperature), labels)["log_loss"], 4
            ),
            **paired.get(key, {}),
        }
    return table


def paired_with_reference(correct: dict[str, np.ndarray], reference: str = REFERENCE_CANDIDATE) -> dict[str, dict]:
    """For every candidate but ``reference``, judged on the same images (``correct``: which ones it gets right):
    ``{"vs_<reference>": {"only_this_right", "only_other_right", "p_value"}}`` (exact McNemar test)."""
    if reference not in correct:
        return {}
    return {
        key: {f"vs_{reference}": mcnemar(right, correct[reference])}
        for key, right in correct.items()
        if key != reference
    }


def select_best(table: dict[str, dict]) -> str:
    """The candidate to keep. The best by accuracy, then macro F1, then lowest log loss after temperature scaling -
    but the stack (``REFERENCE_CANDIDATE``) is kept unless that best candidate is significantly better than it on
    the same images (exact McNemar test, p < ``SIGNIFICANCE``). On clean held-out faces the candidates tie within
    noise; on degraded photos and photos from other sources the ensembles err far less than any single model
    (docs/model.md), so a difference of a few lucky images must not decide."""
    best = max(table, key=lambda k: (table[k]["accuracy"], table[k]["macro_f1"], -table[k]["calibrated_log_loss"]))
    paired = table[best].get(f"vs_{REFERENCE_CANDIDATE}")
    if paired is None:
        return best
    if paired["only_this_right"] > paired["only_other_right"] and paired["p_value"] < SIGNIFICANCE:
        return best
    return REFERENCE_CANDIDATE
