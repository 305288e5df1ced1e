"""``faceprint train``: embeddings of a prepared dataset from every ensemble member, then a stacked ensemble.

Level 0: one multinomial logistic regression per embedding model. Their out-of-fold class probabilities on the
training split (stratified k-fold over duplicate groups, so copies and augmentations of one photo never sit on
both sides of a fold) train a Keras meta-learner, early-stopped on the validation split. On validation the
stack competes with each single model, with the mean of the level-0 probabilities, and with the concatenated
embeddings fed to one logistic regression and to one Keras MLP. The best is kept, its logits are temperature
scaled on validation, and it is saved with a model card. The test split is never read here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from faceprint.celebrity.dataset import PreparedDataset
from faceprint.celebrity.evaluation import brief, classification_metrics, mcnemar
from faceprint.celebrity.faces import chunks
from faceprint.celebrity.model import LOG_FLOOR, CelebrityModel, LinearSoftmax, softmax, stacking_features
from faceprint.errors import DatasetError, ModelUnavailableError
from faceprint.pipeline import FacePipeline

log = logging.getLogger(__name__)

TEMPERATURE_PRIOR_SIGMA = 1.0
BALANCE_CHOICES = ("auto", "none", "weights", "augment", "augment+weights")
SELECT_CHOICES = ("validation", "cv")
REFERENCE_CANDIDATE = "stacking"
"""The design's model, kept unless another candidate is significantly better (see ``select_best``)."""
SIGNIFICANCE = 0.05


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
    models: tuple[str, ...] | None = None
    select: str = "validation"
    """How the shipped candidate is chosen: 'validation' (the validation split) or 'cv' (pooled cross-validation
    over training and validation images: several times slower, far less noisy)."""


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


def fit_level0(x: np.ndarray, y: np.ndarray, classes: int, c: float, weights: np.ndarray | None) -> LinearSoftmax:
    """A multinomial logistic regression (L2, lbfgs) as plain coefficients."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(C=c, max_iter=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        classifier.fit(x, y, sample_weight=weights)
    return LinearSoftmax.from_sklearn(classifier, classes)


def class_weights(y: np.ndarray, classes: int) -> np.ndarray:
    """Per-sample weights that give every class the same total weight (scikit-learn's 'balanced')."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    per_class = len(y) / (classes * np.maximum(counts, 1))
    return per_class[y]


def fit_temperature(logits: np.ndarray, y: np.ndarray, prior_sigma: float = TEMPERATURE_PRIOR_SIGMA) -> float:
    """The temperature T of softmax(logits / T) that best explains the labels (Guo et al. 2017): the maximum of
    the mean log-likelihood plus a weak log-normal prior on T (median 1, ``prior_sigma`` in log T, weighted as one
    image in N), so that a validation split with few or no errors cannot drive T to zero."""
    if len(y) == 0:
        return 1.0
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))

    def objective(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        top = scaled.max(axis=1)
        log_z = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
        nll = float(np.mean(log_z - scaled[rows, y]))
        return nll + log_t**2 / (2 * prior_sigma**2 * len(y))

    # golden-section search over log T in [log 0.02, log 50]: the objective is smooth and unimodal there
    low, high = np.log(0.02), np.log(50.0)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = objective(a), objective(b)
    for _ in range(80):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = objective(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = objective(b)
    return float(np.exp((low + high) / 2.0))


def _keras():
    from faceprint._tf import tensorflow

    return tensorflow().keras


def train_network(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    classes: int,
    hidden: int,
    l2: float,
    dropout: float,
    config: TrainConfig,
    weights: np.ndarray | None = None,
    base: np.ndarray | None = None,
):
    """BatchNormalization -> Dense(ReLU, L2) -> Dropout -> Dense logits, trained with Adam on cross-entropy and
    early-stopped on validation loss with the best weights restored. Returns (network, epochs run). With
    ``hidden`` 0 the network is linear: one Dense layer with L2 (normalisation and dropout belong to the hidden
    layer and go with it).

    With ``base`` (an inputs x classes matrix), the network is residual: its logits are ``x @ base`` (a frozen
    Dense layer) plus the learned path, whose last layer starts at zero. The stacking meta-learner uses the mean
    of the members' log-probabilities as ``base``, so training starts from the plain ensemble and learns only
    corrections to it (per-model trust, class confusions) - which 1,800 out-of-fold rows can support."""
    keras = _keras()
    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input((x.shape[1],))
    h = inputs
    if hidden:
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Dense(hidden, activation="relu", kernel_regularizer=keras.regularizers.L2(l2))(h)
        h = keras.layers.Dropout(dropout, seed=config.seed)(h)
    if base is None:
        outputs = keras.layers.Dense(classes, kernel_regularizer=keras.regularizers.L2(l2), name="logits")(h)
    else:
        learned = keras.layers.Dense(
            classes, kernel_regularizer=keras.regularizers.L2(l2), kernel_initializer="zeros", name="correction"
        )(h)
        frozen = keras.layers.Dense(classes, use_bias=False, trainable=False, name="ensemble_mean")
        outputs = keras.layers.Add(name="logits")([frozen(inputs), learned])
        frozen.set_weights([base.astype(np.float32)])
    network = keras.Model(inputs, outputs)
    network.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    history = network.fit(
        x.astype(np.float32),
        y,
        sample_weight=weights,
        validation_data=(x_val.astype(np.float32), y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=[stop],
        shuffle=True,
        verbose=0,
    )
    return network, len(history.history["loss"])


def _logits(network, x: np.ndarray) -> np.ndarray:
    return np.asarray(network(x.astype(np.float32), training=False), dtype=np.float64)


def _fold_count(y: np.ndarray, groups: np.ndarray, wanted: int) -> int:
    per_class = pd.Series(groups).groupby(y).nunique()
    folds = min(wanted, int(per_class.min()))
    if folds < 2:
        raise DatasetError("every person needs at least 2 distinct training photos for out-of-fold stacking")
    if folds < wanted:
        log.warning("using %d folds instead of %d: a person has only %d training photos", folds, wanted, folds)
    return folds


def out_of_fold(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, classes: int, config: TrainConfig, weights, folds: int
) -> np.ndarray:
    """Class probabilities for every training row from a level-0 model that never saw its duplicate group."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    probabilities = np.zeros((len(y), classes))
    for fit_rows, held_rows in splitter.split(x, y, groups):
        w = None if weights is None else weights[fit_rows]
        probabilities[held_rows] = fit_level0(x[fit_rows], y[fit_rows], classes, config.level0_c, w).predict_proba(
            x[held_rows]
        )
    return probabilities


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
    splitter = StratifiedGroupKFold(
        n_splits=_fold_count(y, groups, outer_folds), shuffle=True, random_state=config.seed
    )
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
            _fold_count(y[learn], groups[learn], config.folds),
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


@dataclass
class TrainResult:
    """The trained model and what was learned along the way (all of it also goes into the model card)."""

    model: CelebrityModel
    card: dict
    candidates: dict[str, CelebrityModel] = dataclasses.field(default_factory=dict)
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
    variants = ["none", "weights"] + (["augment", "augment+weights"] if augmented.any() else [])
    if config.balance != "auto":
        if config.balance.startswith("augment") and not augmented.any():
            raise DatasetError(f"--balance {config.balance}: the dataset has no augmented images (prepare --augment)")
        variants = [config.balance]
    balance_table = {}
    for variant in variants:
        rows = np.ones(len(y_all), bool) if variant.startswith("augment") else ~augmented
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
    for variant in variants:
        say(
            f"balance {variant:16s} {json.dumps({k: v for k, v in balance_table[variant].items() if k != 'per_model'})}"
        )
    say(f"balance chosen: {balance}")
    rows = np.ones(len(y_all), bool) if balance.startswith("augment") else ~augmented
    x = {name: x_all[name][rows] for name in members}
    y = y_all[rows]
    groups = train_rows["group"].to_numpy()[rows]
    weights = class_weights(y, classes) if balance.endswith("weights") else None

    stages["imbalance_s"] = round(time.perf_counter() - clock, 1)
    # 2. Every candidate fitted on the training split, the Keras networks early-stopped on validation
    folds = _fold_count(y, groups, config.folds)
    candidates = fit_candidates(x, y, groups, x_val, y_val, members, labels, config, weights, folds)
    stages["candidates_s"] = round(time.perf_counter() - clock - sum(stages.values()), 1)

    # 3. Compare on validation (after each candidate's own temperature scaling)
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

    card = _card(
        dataset,
        config,
        members,
        pipeline,
        labels,
        balance_table,
        balance,
        folds,
        table,
        cv_table,
        best,
        model,
        command,
        counts={"train": int(rows.sum()), "train_augmented": int(augmented[rows].sum()), "validation": len(y_val)},
        timings={"embedding_s": round(embed_seconds, 1), "training_s": round(train_seconds, 1), **stages},
    )
    card["timings"]["total_s"] = round(time.perf_counter() - started, 1)
    model.card = card
    model.save(out)
    write_card(out, card)
    return TrainResult(model, card, {key: candidate["model"] for key, candidate in candidates.items()})


def _card(
    dataset,
    config,
    members,
    pipeline,
    labels,
    balance_table,
    balance,
    folds,
    table,
    cv_table,
    best,
    model,
    command,
    counts,
    timings,
):
    import sklearn

    from faceprint import __version__
    from faceprint._tf import tensorflow

    return {
        "name": "faceprint celebrity model",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "kind": model.kind,
        "chosen": best,
        "members": {name: pipeline.embedder(name).version for name in members},
        "labels": len(labels),
        "temperature": model.temperature,
        "data": {
            # Folder names only: the card ships inside the package, machine paths mean nothing elsewhere.
            "path": dataset.root.name,
            "source": Path(dataset.info.get("source") or "").name,
            "content_sha256": dataset.content_digest(),
            "split_seed": dataset.info.get("seed"),
            "split": dataset.info.get("split"),
            "augment": dataset.info.get("augment"),
            "prepare_counts": dataset.info.get("counts"),
            "used": counts,
        },
        "hyperparameters": {**dataclasses.asdict(config), "folds_used": folds},
        "imbalance": {"chosen": balance, "variants": balance_table},
        "selection": config.select,
        "validation": table,
        **({"cross_validation": cv_table} if cv_table is not None else {}),
        "evaluations": [],
        "timings": timings,
        "versions": {
            "faceprint": __version__,
            "tensorflow": tensorflow().__version__,
            "keras": _keras().__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }


def write_card(directory: Path, card: dict) -> None:
    """Write ``model_card.json`` and its readable twin ``MODEL_CARD.md``."""
    directory = Path(directory)
    (directory / "model_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (directory / "MODEL_CARD.md").write_text(render_card(card))


def versus_reference(row: dict) -> str:
    """A candidate's paired comparison with the stack as short text, e.g. '3 / 5 (p 0.73)': images only it gets
    right / images only the stack gets right; empty for the stack itself."""
    paired = row.get(f"vs_{REFERENCE_CANDIDATE}")
    if paired is None:
        return ""
    return f"{paired['only_this_right']} / {paired['only_other_right']} (p {paired['p_value']:.2f})"


def render_card(card: dict) -> str:
    """The model card as Markdown."""
    lines = [
        f"# {card['name']}",
        "",
        f"Chosen model: **{card['chosen']}** (kind `{card['kind']}`), {card['labels']} people, "
        f"temperature {card['temperature']:.3f}. Created {card['created']} by:",
        "",
        f"    {card['command']}",
        "",
        "## Embedding models (members)",
        "",
        *[f"- `{name}`: `{version}`" for name, version in card["members"].items()],
        "",
        "## Data",
        "",
        f"- prepared dataset: `{card['data']['path']}` from `{card['data']['source']}`",
        f"- content SHA-256 (persons, splits, file hashes, augmentations): `{card['data']['content_sha256']}`",
        f"- split {card['data']['split']} with seed {card['data']['split_seed']}; used: {card['data']['used']}",
        f"- preparation counts: {card['data']['prepare_counts']}",
        f"- augmentation at preparation: {card['data']['augment']}",
        "",
        "## Class imbalance (level-0 logistic regressions, mean over members, validation split)",
        "",
        "| variant | training images | accuracy | macro F1 | log loss | calibrated log loss |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {row['train_images']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} | "
            f"{row['log_loss']:.4f} | {row['calibrated_log_loss']:.4f} |"
            for name, row in card["imbalance"]["variants"].items()
        ],
        "",
        f"Kept: **{card['imbalance']['chosen']}** (a change from 'none' is kept only if it measurably helps).",
        "",
        "## Candidates on the validation split",
        "",
        "| candidate | accuracy | top-3 | macro F1 | log loss | T | calibrated log loss | calibrated ECE |"
        " train OOF accuracy | vs stacking: only this / only stack right |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in card["validation"].items():
        oof = f"{row['train_oof']['accuracy']:.4f}" if "train_oof" in row else ""
        mark = " **(chosen)**" if name == card["chosen"] else ""
        lines.append(
            f"| {name}{mark} | {row['accuracy']:.4f} | {row['top3_accuracy']:.4f} | {row['macro_f1']:.4f} | "
            f"{row['log_loss']:.4f} | {row['temperature']:.3f} | {row['calibrated_log_loss']:.4f} | "
            f"{row['calibrated_ece']:.4f} | {oof} | {versus_reference(row)} |"
        )
    if card.get("cross_validation"):
        lines += [
            "",
            "## Candidates in pooled cross-validation (training and validation images, 5 folds over duplicate groups)",
            "",
            "| candidate | images | errors | accuracy | macro F1 | log loss | calibrated log loss |"
            " vs stacking: only this / only stack right |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in card["cross_validation"].items():
            mark = " **(chosen)**" if name == card["chosen"] else ""
            lines.append(
                f"| {name}{mark} | {row['images']} | {row['errors']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} | "
                f"{row['log_loss']:.4f} | {row['calibrated_log_loss']:.4f} | {versus_reference(row)} |"
            )
    selection = card.get("selection", "validation")
    lines += [
        "",
        f"Chosen by: **{'pooled cross-validation' if selection == 'cv' else 'the validation split'}**: the stack, "
        "unless the best candidate (highest accuracy, then macro F1, then lowest calibrated log loss) is significantly "
        f"better than it on the same images (exact McNemar test, p < {SIGNIFICANCE}). The temperature is fitted on "
        "the validation split.",
    ]
    lines += ["", "## Evaluations", ""]
    if not card.get("evaluations"):
        lines.append("None recorded yet (`faceprint evaluate ... --record` adds one).")
    for item in card.get("evaluations", []):
        lines.append(
            f"- {item['date']}: `{item['data']}`: {item['images']} images, accuracy {item['accuracy']:.4f}, "
            f"macro F1 {item['macro_f1']:.4f}, top-3 {item['top3_accuracy']:.4f}, no face {item['no_face']}, "
            f"ECE {item['ece']:.4f}"
        )
    hyper = card["hyperparameters"]
    lines += [
        "",
        "## Hyper-parameters",
        "",
        *[f"- {key}: {value}" for key, value in hyper.items()],
        "",
        "## Timings and versions",
        "",
        f"- {card['timings']}",
        f"- {card['versions']}",
        "",
    ]
    return "\n".join(lines)
