"""``faceprint train``: embeddings of a prepared dataset from every ensemble member, then a stacked ensemble.

Level 0: one multinomial logistic regression per embedding model. Their out-of-fold class probabilities on the
training split (stratified k-fold over duplicate groups, so copies and augmentations of one photo never sit on
both sides of a fold) train a Keras meta-learner, early-stopped on the validation split. On validation the
stack competes with each single model, with the mean of the level-0 probabilities, and with the concatenated
embeddings fed to one logistic regression and to one Keras MLP. The best is kept, its logits are temperature
scaled on validation, and it is saved with a model card. The test split is never read here.

This module runs those steps in order. Their parts: the hyper-parameters in ``config``, the learners in ``learners``,
the class-imbalance trial in ``balance``, the candidates and the choice among them in ``candidates``, the model card
in ``card``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from faceprint.celebrity.balance import choose_balance, training_rows
from faceprint.celebrity.candidates import (
    REFERENCE_CANDIDATE,
    compare_on_validation,
    cross_validate,
    fit_candidates,
    paired_with_reference,
    select_best,
)
from faceprint.celebrity.card import build_card, versus_reference, write_card
from faceprint.celebrity.config import BALANCE_CHOICES, SELECT_CHOICES, TrainConfig
from faceprint.celebrity.dataset import PreparedDataset
from faceprint.celebrity.faces import chunks
from faceprint.celebrity.learners import _logits, class_weights, fit_level0, fold_count, out_of_fold, train_network
from faceprint.celebrity.model import CelebrityModel
from faceprint.errors import DatasetError, ModelUnavailableError
from faceprint.pipeline import FacePipeline

# This module's own names, and those of the steps' modules that callers still import from here.
__all__ = [
    "BALANCE_CHOICES",
    "REFERENCE_CANDIDATE",
    "SELECT_CHOICES",
    "TrainConfig",
    "TrainResult",
    "_logits",
    "available_members",
    "cross_validate",
    "embed_crops",
    "fit_level0",
    "out_of_fold",
    "paired_with_reference",
    "select_best",
    "train_model",
    "train_network",
    "versus_reference",
    "write_card",
]

log = logging.getLogger(__name__)


def available_members(models: Sequence[str] | None = None) -> tuple[str, ...]:
    """The embedding models to use: ``models`` (each must be available), else every available default model plus
    the optional ones (OpenFace) that are installed here."""
    from faceprint.embedding.registry import DEFAULT_MODELS, OPTIONAL_MODELS, model_spec

    if models:
        for name in models:
            reason = model_spec(name).unavailable_reason()
            if reason is not None:
                raise ModelUnavailableError(f"embedding model '{name}' is not available on this machine: {reason}")
        return tuple(models)
    members = tuple(name for name in DEFAULT_MODELS + OPTIONAL_MODELS if model_spec(name).available())
    if not members:
        raise ModelUnavailableError("no embedding model is installed; see 'faceprint models'")
    return members


def embed_crops(
    pipeline: FacePipeline,
    dataset: PreparedDataset,
    rows: pd.DataFrame,
    members: Sequence[str],
    progress: bool = True,
    desc: str = "embed",
    batch: int = 32,
) -> dict[str, np.ndarray]:
    """Each member's embedding of the stored crops of ``rows`` (re-aligned from the crop landmarks; cached)."""
    landmarks = dataset.landmarks(rows)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in members}
    with tqdm(total=len(rows), desc=desc, unit="face", disable=not progress) as bar:
        for chunk in chunks(range(len(rows)), batch):
            images = [pipeline.load(dataset.root / rows.at[i, "crop"]) for i in chunk]
            for result in pipeline.embed_faces(images, [landmarks[i] for i in chunk], members):
                for name in members:
                    vectors[name].append(result[name])
            bar.update(len(chunk))
    return {
        name: np.stack(v) if v else np.zeros((0, pipeline.embedder(name).dimension), np.float32)
        for name, v in vectors.items()
    }


@dataclass
class TrainResult:
    """The trained model and what was learned along the way (all of it also goes into the model card)."""

    model: CelebrityModel
    card: dict
    candidates: dict[str, CelebrityModel] = field(default_factory=dict)
    """Every model compared on validation (each with its own temperature), by name."""


def train_model(
    data: Path,
    out: Path,
    pipeline: FacePipeline,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    command: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on a prepared dataset (see the module docstring) and save the model directory ``out``."""
    started = time.perf_counter()
    say = echo or (lambda text: None)
    if config.select not in SELECT_CHOICES:
        raise ValueError(f"select must be one of {', '.join(SELECT_CHOICES)}, not '{config.select}'")
    dataset = PreparedDataset.load(data)
    members = available_members(config.models)
    manifest = dataset.manifest
    skipped = manifest[(manifest["split"] == "train") & (manifest["status"] == "no_face")]
    if len(skipped):
        log.warning("skipped %d training image(s) with no face found", len(skipped))
    train_rows = dataset.rows("train", ("ok", "augmented"))
    val_rows = dataset.rows("validation", ("ok", "no_face"))
    labels = sorted(train_rows["person"].unique())
    if len(labels) < 2:
        raise DatasetError(f"{data}: the training split needs at least two people")
    if len(val_rows) == 0:
        raise DatasetError(f"{data}: the validation split is empty; prepare it with a validation fraction above 0")
    unknown = sorted(set(val_rows["person"]) - set(labels))
    if unknown:
        raise DatasetError(f"validation people without training images: {', '.join(unknown)}")
    index = {name: i for i, name in enumerate(labels)}
    y_all = train_rows["person"].map(index).to_numpy()
    y_val = val_rows["person"].map(index).to_numpy()
    classes = len(labels)

    clock = time.perf_counter()
    x_all = embed_crops(pipeline, dataset, train_rows, members, progress, "train: embed training faces")
    x_val = embed_crops(pipeline, dataset, val_rows, members, progress, "train: embed validation faces")
    embed_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    stages: dict[str, float] = {}

    # 1. Class imbalance: which training set and weighting gives the best level-0 models on validation?
    augmented = (train_rows["status"] == "augmented").to_numpy()
    balance, balance_table = choose_balance(x_all, y_all, augmented, x_val, y_val, members, labels, config)
    for variant, row in balance_table.items():
        say(f"balance {variant:16s} {json.dumps({k: v for k, v in row.items() if k != 'per_model'})}")
    say(f"balance chosen: {balance}")
    rows = training_rows(balance, augmented)
    x = {name: x_all[name][rows] for name in members}
    y = y_all[rows]
    groups = train_rows["group"].to_numpy()[rows]
    weights = class_weights(y, classes) if balance.endswith("weights") else None

    stages["imbalance_s"] = round(time.perf_counter() - clock, 1)
    # 2. Every candidate fitted on the training split, the Keras networks early-stopped on validation
    folds = fold_count(y, groups, config.folds)
    candidates = fit_candidates(x, y, groups, x_val, y_val, members, labels, config, weights, folds)
    stages["candidates_s"] = round(time.perf_counter() - clock - sum(stages.values()), 1)

    # 3. Compare on validation (after each candidate's own temperature scaling)
    table = compare_on_validation(candidates, x_val, y_val, labels)

    # 4. Optionally, the less noisy comparison: pooled cross-validation over training and validation images
    cv_table = None
    if config.select == "cv":
        val_groups = val_rows["group"].to_numpy()
        has_face = (val_rows["status"] == "ok").to_numpy()
        pooled = {name: np.concatenate([x[name], x_val[name][has_face]]) for name in members}
        scored = np.concatenate([~augmented[rows], np.ones(int(has_face.sum()), bool)])
        cv_table = cross_validate(
            pooled,
            np.concatenate([y, y_val[has_face]]),
            np.concatenate([groups, val_groups[has_face]]),
            scored,
            members,
            labels,
            config,
            class_weighted=weights is not None,
            progress=progress,
        )
        stages["cross_validation_s"] = round(time.perf_counter() - clock - sum(stages.values()), 1)
    best = select_best(cv_table if cv_table is not None else table)
    model = candidates[best]["model"]
    train_seconds = time.perf_counter() - clock

    card = build_card(
        dataset=dataset,
        config=config,
        pipeline=pipeline,
        members=members,
        model=model,
        chosen=best,
        balance=balance,
        balance_table=balance_table,
        folds=folds,
        validation=table,
        cross_validation=cv_table,
        command=command,
        counts={"train": int(rows.sum()), "train_augmented": int(augmented[rows].sum()), "validation": len(y_val)},
        timings={"embedding_s": round(embed_seconds, 1), "training_s": round(train_seconds, 1), **stages},
    )
    card["timings"]["total_s"] = round(time.perf_counter() - started, 1)
    model.card = card
    model.save(out)
    write_card(out, card)
    return TrainResult(model, card, {key: candidate["model"] for key, candidate in candidates.items()})
