"""Deciding whether two faces are the same person: cosine similarity per model, fused into one calibrated
score by logistic regression, with thresholds learned from data and shipped in ``faceprint/data``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError

CALIBRATION_FILE = "verification.json"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (unit vectors, so a plain dot product)."""
    return float(np.dot(a, b))


def subset_key(models: Sequence[str]) -> str:
    """The canonical name of a set of models, e.g. 'dlib+facenet'."""
    return "+".join(sorted(models))


@dataclass(frozen=True)
class Fusion:
    """Logistic regression on per-model cosine similarities: P(same person) = sigmoid(w . s + b)."""

    models: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    threshold: float
    """Decision threshold on the fused probability, chosen for the best accuracy on the calibration pairs."""
    far_thresholds: dict[str, float] = field(default_factory=dict)
    """Thresholds on the fused probability for target false-accept rates, e.g. {'0.001': 0.93}."""

    def score(self, similarities: Mapping[str, float] | np.ndarray) -> np.ndarray | float:
        """Fused probability from per-model cosine similarities (a mapping, or an N x models array)."""
        if isinstance(similarities, Mapping):
            values = np.array([similarities[name] for name in self.models], dtype=np.float64)
            return float(_sigmoid(values @ np.asarray(self.weights) + self.intercept))
        return _sigmoid(np.asarray(similarities, dtype=np.float64) @ np.asarray(self.weights) + self.intercept)

    def to_dict(self) -> dict:
        return {
            "models": list(self.models),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "far_thresholds": self.far_thresholds,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Fusion:
        return cls(
            models=tuple(data["models"]),
            weights=tuple(float(w) for w in data["weights"]),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            far_thresholds={k: float(v) for k, v in data.get("far_thresholds", {}).items()},
        )


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold (midway between neighbouring scores) that maximises accuracy, and that accuracy."""
    order = np.argsort(scores)
    sorted_scores, sorted_same = scores[order], same[order].astype(bool)
    # Predict "same" for scores >= t. Candidate t: below all scores, and midway between neighbours.
    candidates = np.concatenate([[sorted_scores[0] - 1e-6], (sorted_scores[:-1] + sorted_scores[1:]) / 2])
    # Accuracy if the first k sorted pairs are called "different": mismatches among them + matches after.
    different_below = np.concatenate([[0], np.cumsum(~sorted_same)[:-1]])
    same_above = sorted_same.sum() - np.concatenate([[0], np.cumsum(sorted_same)[:-1]])
    correct = different_below + same_above
    best = int(np.argmax(correct))
    return float(candidates[best]), float(correct[best] / len(scores))


def far_threshold(impostor_scores: np.ndarray, far: float) -> float:
    """The lowest threshold at which at most ``far`` of impostor scores are accepted (score >= threshold)."""
    ranked = np.sort(np.asarray(impostor_scores))[::-1]
    allowed = int(np.floor(far * len(ranked)))
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(np.nextafter(ranked[allowed], np.inf))


def fit_fusion(
    similarities: np.ndarray, same: np.ndarray, models: Sequence[str], fars: Sequence[float] = (0.01, 0.001)
) -> Fusion:
    """Fit fusion weights on calibration pairs (N x models similarities, N booleans) and pick its thresholds."""
    from sklearn.linear_model import LogisticRegression

    # Standardise first: models' cosine similarities live on very different scales (dlib's spread is a quarter
    # of FaceNet's), and the regulariser should not favour the model with the wider spread. The scaling is
    # folded back into the weights, so scoring needs only raw similarities.
    mean, spread = similarities.mean(axis=0), similarities.std(axis=0) + 1e-12
    regression = LogisticRegression(C=10.0, max_iter=1000).fit((similarities - mean) / spread, same.astype(int))
    coef = regression.coef_[0] / spread
    weights = tuple(float(w) for w in coef)
    intercept = float(regression.intercept_[0] - coef @ mean)
    fused = _sigmoid(similarities @ np.asarray(weights) + intercept)
    threshold, _ = best_accuracy_threshold(fused, same)
    impostors = fused[~same.astype(bool)]
    return Fusion(
        models=tuple(models),
        weights=weights,
        intercept=intercept,
        threshold=threshold,
        far_thresholds={str(far): far_threshold(impostors, far) for far in fars},
    )


@dataclass(frozen=True)
class Calibration:
    """Everything learned from the calibration pairs: per-model cosine thresholds and a fusion per model subset."""

    per_model_thresholds: dict[str, float]
    fusions: dict[str, Fusion]
    provenance: dict

    def fusion(self, models: Sequence[str]) -> Fusion:
        key = subset_key(models)
        if key not in self.fusions:
            raise FaceprintError(
                f"no calibrated threshold for models {key} (calibrated: {', '.join(self.fusions)}); make one with "
                f"'faceprint calibrate --pairs pairsDevTrain.txt --images LFW_DIR --model {','.join(sorted(models))} "
                "--out FILE' and pass it with --calibration FILE"
            )
        return self.fusions[key]

    def to_dict(self) -> dict:
        return {
            "provenance": self.provenance,
            "per_model_thresholds": self.per_model_thresholds,
            "fusions": {key: fusion.to_dict() for key, fusion in self.fusions.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(
            per_model_thresholds={k: float(v) for k, v in data["per_model_thresholds"].items()},
            fusions={key: Fusion.from_dict(value) for key, value in data["fusions"].items()},
            provenance=data.get("provenance", {}),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> Calibration:
        """A calibration written by ``faceprint calibrate``; a clear error for a missing or foreign file."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except OSError as exc:
            raise FaceprintError(f"cannot read calibration {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FaceprintError(f"{path} is not a calibration written by 'faceprint calibrate' ({exc})") from None


@cache
def shipped_calibration() -> Calibration:
    """The calibration that ships inside the package (see its ``provenance`` for the command that made it)."""
    text = resources.files("faceprint").joinpath("data", CALIBRATION_FILE).read_text()
    return Calibration.from_dict(json.loads(text))


def calibrate(similarities: Mapping[str, np.ndarray], same: np.ndarray, provenance: dict) -> Calibration:
    """Learn per-model thresholds and a fusion for every non-empty subset of the given models."""
    from itertools import combinations

    names = sorted(similarities)
    per_model = {name: best_accuracy_threshold(similarities[name], same)[0] for name in names}
    fusions = {}
    for size in range(1, len(names) + 1):
        for subset in combinations(names, size):
            matrix = np.stack([similarities[name] for name in subset], axis=1)
            fusions[subset_key(subset)] = fit_fusion(matrix, same, subset)
    return Calibration(per_model_thresholds=per_model, fusions=fusions, provenance=provenance)


IDENTIFICATION_FARS = (1e-3, 1e-4, 1e-5, 1e-6)


def cross_identity_far_thresholds(
    calibration: Calibration, vectors: Mapping[str, np.ndarray], identities: Sequence[str], fars=IDENTIFICATION_FARS
) -> Calibration:
    """Replace each fusion's false-accept thresholds by ones estimated from every pair of images of different
    people (millions of impostor comparisons instead of the pairs file's hundreds), so that rates as low as
    one in a million, which open-set identification against a large gallery needs, can be estimated."""
    import dataclasses

    identities = np.asarray(identities)
    upper = np.triu_indices(len(identities), 1)
    impostor = identities[upper[0]] != identities[upper[1]]
    fusions = {}
    for key, fusion in calibration.fusions.items():
        logits = sum(w * (vectors[m] @ vectors[m].T)[upper][impostor] for w, m in zip(fusion.weights, fusion.models))
        scores = _sigmoid(logits + fusion.intercept)
        fusions[key] = dataclasses.replace(
            fusion, far_thresholds={f"{far:g}": far_threshold(scores, far) for far in fars}
        )
    provenance = {**calibration.provenance, "impostor_comparisons_for_far": int(impostor.sum())}
    return dataclasses.replace(calibration, fusions=fusions, provenance=provenance)
