"""The trained celebrity model: load it from a directory (the shipped one by default) and turn face embeddings
into calibrated probabilities over the celebrities.

A model directory holds ``model.json`` (what kind of model, which embedding models it needs, its temperature),
``labels.json``, ``level0.npz`` (per-embedding-model logistic regressions as plain coefficient arrays, loaded
without pickle), optionally ``meta.keras`` (the Keras network, native format, loaded in safe mode) with, when the
network is affine, ``meta.affine.npz`` (that network as one matrix product, tied to the Keras file by its SHA-256,
so predicting needs neither TensorFlow nor Keras), and the model card (``model_card.json``, ``MODEL_CARD.md``).
Nothing in it executes code when loaded."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError, ModelUnavailableError

FORMAT = "faceprint-celebrity-model/1"
KINDS = ("stacking", "concat_mlp", "concat_logistic", "soft_vote", "logistic")
LOG_FLOOR = 1e-6
"""Probabilities below this are clipped before taking logs (stacking features, soft-vote logits)."""
DISPLAY_NAMES = {"Courtney Cox": "Courteney Cox", "Ellen Degeneres": "Ellen DeGeneres"}
"""How people read the collection's misspelt folder names; the labels stay the folder names trained on."""
PRIVATE_PEOPLE = frozenset({"Kashyap", "Marmik"})
"""People of the collection known by one given name: private persons photographed for it, not public figures."""


def display_name(label: str) -> str:
    """The name a person reads for the model label ``label``."""
    return DISPLAY_NAMES.get(label, label)


class CelebrityModelError(FaceprintError):
    """A celebrity model directory is missing, incomplete or of an unknown format."""

    code = "invalid_celebrity_model"


def shipped_model_dir() -> Path:
    """The model directory inside the package."""
    return Path(str(resources.files("faceprint").joinpath("data", "celebrity")))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class LinearSoftmax:
    """A multinomial logistic regression as coefficients: probabilities = softmax(x @ coef.T + intercept)."""

    coef: np.ndarray
    intercept: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))

    @classmethod
    def from_sklearn(cls, classifier, classes: int) -> LinearSoftmax:
        """Coefficients of a fitted scikit-learn LogisticRegression, expanded to all ``classes`` (a class the
        classifier never saw gets a very negative intercept, i.e. probability ~0)."""
        coef = np.zeros((classes, classifier.coef_.shape[1]))
        intercept = np.full(classes, -30.0)
        seen = np.asarray(classifier.classes_, dtype=int)
        if len(seen) == 2 and classifier.coef_.shape[0] == 1:  # binary: sklearn keeps one row
            coef[seen[1]], intercept[seen[1]] = classifier.coef_[0] / 2, classifier.intercept_[0] / 2
            coef[seen[0]], intercept[seen[0]] = -classifier.coef_[0] / 2, -classifier.intercept_[0] / 2
        else:
            coef[seen], intercept[seen] = classifier.coef_, classifier.intercept_
        return cls(coef, intercept)


def stacking_features(level0: Mapping[str, LinearSoftmax], vectors: Mapping[str, np.ndarray], members) -> np.ndarray:
    """The meta-learner's input: each member's level-0 log-probabilities, side by side."""
    parts = [np.log(np.clip(level0[name].predict_proba(vectors[name]), LOG_FLOOR, 1.0)) for name in members]
    return np.concatenate(parts, axis=1).astype(np.float32)


AFFINE_LAYERS = ("InputLayer", "Dense", "Add")
AFFINE_FILE = "meta.affine.npz"


def affine_map(network) -> LinearSoftmax | None:
    """The network as one matrix product when it is affine (only Dense layers without activation, and Add): read
    off its outputs at zero and at the unit vectors, so predicting skips a Keras call (a few ms per photo).
    None for any other network."""
    for layer in network.layers:
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if type(layer).__name__ not in AFFINE_LAYERS or activation != "linear":
            return None
    inputs = int(network.input_shape[1])
    probes = np.vstack([np.zeros((1, inputs)), np.eye(inputs)]).astype(np.float32)
    outputs = np.asarray(network(probes, training=False), dtype=np.float64)
    return LinearSoftmax(coef=(outputs[1:] - outputs[0]).T, intercept=outputs[0])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class KerasFile:
    """A saved Keras network that loads on first use: importing TensorFlow and Keras costs seconds and hundreds of
    MB, and an affine network predicts from its saved matrix product without them. Calls and attributes go to the
    loaded network."""

    def __init__(self, path: Path, affine: LinearSoftmax | None = None) -> None:
        self.path = path
        self.affine = affine
        self._network = None
        self._lock = threading.Lock()

    def load(self):
        """The Keras network (loaded once, in safe mode)."""
        with self._lock:
            if self._network is None:
                from faceprint._tf import tensorflow

                keras = tensorflow().keras
                self._network = keras.models.load_model(self.path, compile=False, safe_mode=True)
        return self._network

    @property
    def loaded(self) -> bool:
        return self._network is not None

    def __call__(self, *args, **kwargs):
        return self.load()(*args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.load(), name)


def saved_affine(folder: Path, network_file: str) -> LinearSoftmax | None:
    """The affine map saved next to ``network_file``, if it was derived from that very file (same SHA-256)."""
    path = folder / AFFINE_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        if str(arrays["source_sha256"]) != _sha256(folder / network_file):
            return None
        return LinearSoftmax(arrays["coef"], arrays["intercept"])


@dataclass
class CelebrityModel:
    """Which celebrity a face is (or most resembles): calibrated probabilities from face embeddings.

    ``kind`` is 'stacking' (level-0 logistic regressions + Keras meta-learner), 'concat_mlp' (Keras MLP on the
    concatenated embeddings), 'concat_logistic', 'soft_vote' (mean of level-0 probabilities) or 'logistic'
    (one member's logistic regression). ``temperature`` divides the logits (fitted on validation data)."""

    labels: list[str]
    members: tuple[str, ...]
    kind: str
    level0: dict[str, LinearSoftmax] = field(default_factory=dict)
    network: object | None = None
    temperature: float = 1.0
    card: dict = field(default_factory=dict)
    path: Path | None = None
    _affine: LinearSoftmax | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.network, KerasFile) and self.network.affine is not None:
            self._affine = self.network.affine
        else:
            self._affine = None if self.network is None else affine_map(self.network)

    @classmethod
    def load(cls, path: Path | str | None = None) -> CelebrityModel:
        """Load a model directory (default: the model shipped with faceprint)."""
        path = Path(path) if path is not None else shipped_model_dir()
        if not (path / "model.json").is_file():
            raise CelebrityModelError(f"{path}: not a celebrity model directory (no model.json)")
        config = json.loads((path / "model.json").read_text())
        if config.get("format") != FORMAT:
            raise CelebrityModelError(f"{path}: unknown model format {config.get('format')!r}; expected {FORMAT}")
        labels = json.loads((path / "labels.json").read_text())
        level0 = {}
        if (path / "level0.npz").is_file():
            with np.load(path / "level0.npz", allow_pickle=False) as arrays:
                for name in config["level0"]:
                    level0[name] = LinearSoftmax(arrays[f"{name}/coef"], arrays[f"{name}/intercept"])
        network = None
        if config.get("network"):
            network = KerasFile(path / config["network"], saved_affine(path, config["network"]))
        card = json.loads((path / "model_card.json").read_text()) if (path / "model_card.json").is_file() else {}
        return cls(
            labels=list(labels),
            members=tuple(config["members"]),
            kind=config["kind"],
            level0=level0,
            network=network,
            temperature=float(config.get("temperature", 1.0)),
            card=card,
            path=path,
        )

    def save(self, path: Path | str) -> None:
        """Write the model directory (the card is written by whoever trained the model, see ``training``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name, linear in self.level0.items():
            arrays[f"{name}/coef"] = linear.coef.astype(np.float32)
            arrays[f"{name}/intercept"] = linear.intercept.astype(np.float32)
        if arrays:
            np.savez_compressed(path / "level0.npz", **arrays)
            # float32 on disk: use exactly what was saved, so a loaded model predicts what this one predicts
            self.level0 = {
                name: LinearSoftmax(arrays[f"{name}/coef"], arrays[f"{name}/intercept"]) for name in self.level0
            }
        network_file = None
        (path / AFFINE_FILE).unlink(missing_ok=True)
        if self.network is not None:
            network_file = "meta.keras"
            if isinstance(self.network, KerasFile) and not self.network.loaded:
                if self.network.path.resolve() != (path / network_file).resolve():
                    shutil.copyfile(self.network.path, path / network_file)
            else:
                self.network.save(path / network_file)
            if self._affine is not None:
                np.savez(
                    path / AFFINE_FILE,
                    coef=self._affine.coef,
                    intercept=self._affine.intercept,
                    source_sha256=np.asarray(_sha256(path / network_file)),
                )
        config = {
            "format": FORMAT,
            "kind": self.kind,
            "members": list(self.members),
            "level0": list(self.level0),
            "network": network_file,
            "temperature": self.temperature,
        }
        (path / "model.json").write_text(json.dumps(config, indent=2) + "\n")
        (path / "labels.json").write_text(json.dumps(self.labels, indent=2, ensure_ascii=False) + "\n")
        self.path = path

    def _inputs(self, vectors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [name for name in self.members if name not in vectors]
        if missing:
            raise ModelUnavailableError(
                f"the celebrity model needs embeddings from {', '.join(self.members)}; missing {', '.join(missing)}"
            )
        return {name: np.atleast_2d(np.asarray(vectors[name], dtype=np.float32)) for name in self.members}

    def logits(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """Uncalibrated scores (N x classes) before the temperature."""
        inputs = self._inputs(vectors)
        if self.kind == "stacking":
            return self._run_network(stacking_features(self.level0, inputs, self.members))
        if self.kind == "concat_mlp":
            return self._run_network(np.concatenate([inputs[name] for name in self.members], axis=1))
        if self.kind == "concat_logistic":
            return self.level0["concat"].logits(np.concatenate([inputs[name] for name in self.members], axis=1))
        if self.kind == "soft_vote":
            mean = np.mean([self.level0[name].predict_proba(inputs[name]) for name in self.members], axis=0)
            return np.log(np.clip(mean, LOG_FLOOR, 1.0))
        if self.kind == "logistic":
            return self.level0[self.members[0]].logits(inputs[self.members[0]])
        raise CelebrityModelError(f"unknown celebrity model kind '{self.kind}'")

    def _run_network(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros((0, len(self.labels)))
        if self._affine is not None:
            return self._affine.logits(features)
        return np.asarray(self.network(features.astype(np.float32), training=False), dtype=np.float64)

    def predict(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """Calibrated probabilities (N x classes, columns in ``labels`` order) for N faces, given each member's
        embeddings as an N x dimension array (or one vector for one face)."""
        return softmax(self.logits(vectors) / self.temperature)

    def top(self, probabilities: np.ndarray, k: int = 5) -> list[list[dict]]:
        """The ``k`` most probable celebrities of each row: [{"name", "probability"}, ...] best first."""
        result = []
        for row in np.atleast_2d(probabilities):
            best = np.argsort(-row, kind="stable")[:k]
            result.append(
                [{"name": display_name(self.labels[i]), "probability": round(float(row[i]), 4)} for i in best]
            )
        return result
