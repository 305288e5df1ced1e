"""The learners every candidate is built from: multinomial logistic regressions (level 0), small Keras networks
(the stacking meta-learner and the MLP), out-of-fold probabilities and temperature scaling."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from faceprint.celebrity.config import TrainConfig
from faceprint.celebrity.model import LinearSoftmax
from faceprint.errors import DatasetError

log = logging.getLogger(__name__)

TEMPERATURE_PRIOR_SIGMA = 1.0


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
    """A Keras network's logits for ``x``, in float64."""
    return np.asarray(network(x.astype(np.float32), training=False), dtype=np.float64)


def fold_count(y: np.ndarray, groups: np.ndarray, wanted: int) -> int:
    """``wanted`` folds, or as many as the person with the fewest duplicate groups allows (at least 2)."""
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
