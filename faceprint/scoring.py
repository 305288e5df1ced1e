"""One similarity scale for every interface: a quality-aware, calibrated likelihood ratio shown as 0-100.

Two faces' per-model cosine similarities and the quality of the poorer face (its size in pixels and its
sharpness) go into one logistic model learned on faces made harder (``tools/calibrate_quality.py``). Its output,
less the training prior, is the log-likelihood ratio ``LLR`` of "same person" against "different people": small
or blurred faces get lower weights on their cosines, so their genuine pairs are not rejected wholesale while their
impostors are not accepted either. The readable score is

    similarity = 50 + 5 * log10(likelihood ratio), clipped to 0..100

so 50 means "no evidence either way" and every 5 points is ten times more evidence. Verification (1:1) and
identification (1:N) then differ only in their operating point: the identification threshold is the similarity at
which a stranger is named as someone (false-positive identification rate, FPIR) at most 1% of the time for the
gallery's size, measured on degraded faces, and it rises with larger galleries so that this rate holds. The 1% is
spent where it buys recognitions: a large face (from ``size_bands["cut"]`` px) carries more evidence, so its
threshold aims at a lower rate (0.5%) and a small face's at a higher one (2.5%), chosen on the calibration trials
so that the whole stays at 1% while unaltered photos stay at 0.5%."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError

SCORING_FILE = "scoring.json"
MAX_GALLERY_SHIFT = 6.0
"""The most a gallery's look-alikes raise its threshold (ORL's uniformly photographed people need 4.6): one person
enrolled under two names would otherwise look like a gallery of twins and shut everyone out."""
MIN_CROSS_PAIRS = 20
"""Fewest pairs of enrolled photos of different people from which a gallery's own look-alike level is estimated."""
MIN_GALLERY = 10
"""The identification threshold of a gallery smaller than this is that of a gallery of this size: with one to nine
people a stranger has few chances, and a lower threshold would name near misses."""
FPIR_RANGE = (0.0001, 0.5)
"""The false-positive identification rates a caller may choose (``--fpir``, the API's ``fpir``): 1 in 10,000 to
one half. Below it the measured stranger tail is too thin to say where the threshold lies."""
QUALITY_DEFAULTS = {"size": 112.0, "sharpness": 200.0, "score": 1.0, "yaw": 0.0, "roll": 0.0}
"""Quality assumed for a face whose measures are unknown (an ordinary, frontal, sharp 112 px face)."""


def quality_features(measures: Mapping[str, float] | None) -> np.ndarray:
    """The quality inputs of the score for one face: log2 of its size in px and log of its sharpness."""
    values = {**QUALITY_DEFAULTS, **{k: v for k, v in (measures or {}).items() if v is not None}}
    size = float(np.clip(values["size"], 12.0, 256.0))
    sharpness = float(np.clip(values["sharpness"], 1.0, 5000.0))
    return np.array([math.log2(size), math.log(sharpness)], dtype=np.float64)


def pair_quality(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The quality of a pair is that of its poorer face, feature by feature (arrays of shape (..., 2))."""
    return np.minimum(a, b)


def similarity_from_llr(llr: np.ndarray | float) -> np.ndarray | float:
    """The 0-100 score of a natural-log likelihood ratio: 50 + 5 * log10(LR), clipped."""
    value = np.clip(50.0 + 5.0 * np.asarray(llr, dtype=np.float64) / math.log(10.0), 0.0, 100.0)
    return float(value) if np.ndim(value) == 0 else value


def check_fpir(fpir: float) -> float:
    """``fpir`` if it is a rate a caller may choose (``FPIR_RANGE``), else a clear error."""
    low, high = FPIR_RANGE
    if not (isinstance(fpir, int | float) and math.isfinite(fpir) and low <= fpir <= high):
        raise FaceprintError(f"the false-positive identification rate must be between {low:g} and {high:g}, not {fpir}")
    return float(fpir)


def llr_from_similarity(similarity: float) -> float:
    return (float(similarity) - 50.0) / 5.0 * math.log(10.0)


@dataclass(frozen=True)
class QualityScore:
    """Logistic model of "same person" on cosines, pair quality and their products; ``prior_logit`` is the log of
    genuine to impostor pairs in training, removed so the output is a likelihood ratio, not a posterior."""

    models: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    prior_logit: float
    quality_centre: tuple[float, ...]
    verify_threshold: float
    """Similarity from which two faces are called the same person (best accuracy on LFW DevTrain pairs)."""
    identify_threshold: float
    """Similarity from which a face is named: FPIR <= ``identify_fpir`` for a gallery of ``identify_gallery``."""
    identify_fpir: float
    identify_gallery: int
    impostor_tail: dict[str, float] = field(default_factory=dict)
    """Rate at which a stranger's face reaches each whole similarity against one enrolled person (3 photos)."""
    size_bands: dict = field(default_factory=dict)
    """Operating points by the probe face's size: ``{"cut": px, "small": {"fpir", "tail"}, "large": {"fpir",
    "tail"}}``, each tail measured on strangers' faces of that band (empty: one tail for every face)."""
    gallery_reference: float = 0.0
    """The 99th percentile of similarities between enrolled photos of different people in the calibration trials'
    galleries. A gallery whose people look more alike than that (one photographer, one light, one age group) has a
    heavier stranger tail too, and its threshold rises by the difference (``gallery_shift``)."""
    provenance: dict = field(default_factory=dict)

    def features(self, cosines: np.ndarray, quality: np.ndarray) -> np.ndarray:
        """Design matrix: cosines (N x models), centred pair quality (N x 2), and cosine x quality products."""
        cosines = np.atleast_2d(np.asarray(cosines, dtype=np.float64))
        centred = np.atleast_2d(np.asarray(quality, dtype=np.float64)) - np.asarray(self.quality_centre)
        products = [cosines * centred[:, [j]] for j in range(centred.shape[1])]
        return np.concatenate([cosines, centred, *products], axis=1)

    def llr(self, cosines: np.ndarray, quality: np.ndarray) -> np.ndarray:
        """Natural-log likelihood ratios of N pairs (cosines N x models, pair quality N x 2)."""
        logit = self.features(cosines, quality) @ np.asarray(self.weights) + self.intercept
        return logit - self.prior_logit

    def similarity(self, cosines: np.ndarray, quality: np.ndarray) -> np.ndarray:
        return similarity_from_llr(self.llr(cosines, quality))

    def pair(self, vectors_a: Mapping[str, np.ndarray], vectors_b: Mapping[str, np.ndarray], quality_a, quality_b):
        """Similarity of two faces from their embeddings and quality measures."""
        cosines = np.array([[float(np.dot(vectors_a[m], vectors_b[m])) for m in self.models]])
        quality = pair_quality(quality_features(quality_a), quality_features(quality_b))[None, :]
        return float(self.similarity(cosines, quality)[0])

    def gallery_shift(self, cross_similarities: np.ndarray) -> float:
        """How much a gallery's own look-alikes raise its threshold: the 99th percentile of the similarities between
        its enrolled photos of different people, less the calibration galleries' (0 when lower, or with fewer than
        ``MIN_CROSS_PAIRS`` such pairs)."""
        values = np.asarray(cross_similarities, dtype=np.float64)
        if len(values) < MIN_CROSS_PAIRS or not self.gallery_reference:
            return 0.0
        excess = float(np.quantile(values, 0.99)) - self.gallery_reference
        return round(min(MAX_GALLERY_SHIFT, max(0.0, excess)), 1)

    def cross_person_similarities(
        self, vectors: Mapping[str, np.ndarray], quality: np.ndarray, owners: Sequence[str]
    ) -> np.ndarray:
        """Similarities between every two photos of different people (rows of ``vectors[model]`` and ``quality``,
        ``owners`` naming each row's person): what ``gallery_shift`` measures a gallery by."""
        owners = np.asarray(owners)
        left, right = np.triu_indices(len(owners), 1)
        different = owners[left] != owners[right]
        left, right = left[different], right[different]
        cosines = np.stack([np.einsum("nd,nd->n", vectors[m][left], vectors[m][right]) for m in self.models], 1)
        return np.atleast_1d(self.similarity(cosines, pair_quality(quality[left], quality[right])))

    def identification_threshold(
        self, gallery_people: int, shift: float = 0.0, fpir: float | None = None, face_size: float | None = None
    ) -> float:
        """The threshold for a gallery of ``gallery_people``: the lowest similarity at which (people x the measured
        rate at which a stranger's face reaches it against one enrolled person) is at most the target FPIR, so that
        the FPIR holds whatever the gallery's size; plus the gallery's own ``shift`` (``gallery_shift``). Galleries
        under ``MIN_GALLERY`` people count as that many.

        The target and the tail: a chosen ``fpir`` applies to every face with the whole tail; otherwise a face of
        known ``face_size`` gets its size band's target and tail (``size_bands``), and a face of unknown size the
        shipped ``identify_fpir`` with the whole tail."""
        if fpir is not None:
            check_fpir(fpir)
        tail, target = self.impostor_tail, self.identify_fpir if fpir is None else fpir
        if fpir is None and face_size is not None and self.size_bands:
            band = self.size_bands["small" if face_size < self.size_bands["cut"] else "large"]
            tail, target = band["tail"], band["fpir"]
        if not tail:
            if fpir is not None:
                raise FaceprintError("this scoring file holds no stranger tail, so it cannot set a chosen FPIR")
            return self.identify_threshold
        return threshold_from_tail(tail, target, gallery_people, shift)

    def to_dict(self) -> dict:
        return {
            "models": list(self.models),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "prior_logit": self.prior_logit,
            "quality_centre": list(self.quality_centre),
            "verify_threshold": self.verify_threshold,
            "identify_threshold": self.identify_threshold,
            "identify_fpir": self.identify_fpir,
            "identify_gallery": self.identify_gallery,
            "impostor_tail": self.impostor_tail,
            "size_bands": self.size_bands,
            "gallery_reference": self.gallery_reference,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict) -> QualityScore:
        return cls(
            models=tuple(data["models"]),
            weights=tuple(float(w) for w in data["weights"]),
            intercept=float(data["intercept"]),
            prior_logit=float(data["prior_logit"]),
            quality_centre=tuple(float(c) for c in data["quality_centre"]),
            verify_threshold=float(data["verify_threshold"]),
            identify_threshold=float(data["identify_threshold"]),
            identify_fpir=float(data["identify_fpir"]),
            identify_gallery=int(data["identify_gallery"]),
            impostor_tail={str(k): float(v) for k, v in data.get("impostor_tail", {}).items()},
            size_bands=_size_bands(data.get("size_bands") or {}),
            gallery_reference=float(data.get("gallery_reference", 0.0)),
            provenance=data.get("provenance", {}),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> QualityScore:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except OSError as exc:
            raise FaceprintError(f"cannot read scoring file {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:
            message = f"{path} is not a scoring file written by tools/calibrate_quality.py ({exc})"
            raise FaceprintError(message) from None


def threshold_from_tail(tail: Mapping[str, float], fpir: float, gallery_people: int, shift: float = 0.0) -> float:
    """The lowest similarity of ``tail`` (similarity -> rate at which a stranger's face reaches it against one
    enrolled person) at which people x rate is at most ``fpir``, plus ``shift``; galleries under ``MIN_GALLERY``
    people count as that many."""
    rate = fpir / max(gallery_people, MIN_GALLERY)
    points = sorted((float(s), r) for s, r in tail.items())
    base = next((similarity for similarity, r in points if r <= rate), points[-1][0])
    return round(min(100.0, base + shift), 1)


def _size_bands(data: dict) -> dict:
    """``size_bands`` as read from a scoring file, with numbers as numbers (empty stays empty)."""
    if not data:
        return {}
    bands = {"cut": float(data["cut"])}
    for band in ("small", "large"):
        tail = {str(k): float(v) for k, v in data[band]["tail"].items()}
        bands[band] = {"fpir": float(data[band]["fpir"]), "tail": tail}
    return bands


def fit_quality_score(
    cosines: np.ndarray, quality: np.ndarray, same: np.ndarray, models: Sequence[str], regularisation: float = 1.0
) -> QualityScore:
    """Fit the logistic model on pairs (cosines N x models, pair quality N x 2, same-person flags); thresholds are
    filled in by the caller once they are measured."""
    from sklearn.linear_model import LogisticRegression

    centre = tuple(float(c) for c in np.median(quality, axis=0))
    draft = QualityScore(tuple(models), (0.0,), 0.0, 0.0, centre, 50.0, 50.0, 0.01, 100)
    design = draft.features(cosines, quality)
    mean, spread = design.mean(axis=0), design.std(axis=0) + 1e-12
    regression = LogisticRegression(C=regularisation, max_iter=5000).fit((design - mean) / spread, same.astype(int))
    coef = regression.coef_[0] / spread
    intercept = float(regression.intercept_[0] - coef @ mean)
    prior = float(np.log(same.sum() / (~same.astype(bool)).sum()))
    return QualityScore(tuple(models), tuple(float(c) for c in coef), intercept, prior, centre, 50.0, 50.0, 0.01, 100)


@cache
def shipped_scoring() -> QualityScore:
    """The quality-aware score that ships inside the package (its ``provenance`` names the command)."""
    text = resources.files("faceprint").joinpath("data", SCORING_FILE).read_text()
    return QualityScore.from_dict(json.loads(text))


@dataclass(frozen=True)
class FusionScore:
    """The same 0-100 scale for model sets without a quality-aware score (e.g. one model alone, or OpenFace): the
    LFW-learned fusion's log-odds (LFW's pairs are half matches, so they are likelihood ratios), quality-blind."""

    fusion: object
    """A ``faceprint.verification.Fusion``."""
    identify_far: str = "1e-05"

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.fusion.models)

    def llr(self, cosines: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
        cosines = np.atleast_2d(np.asarray(cosines, dtype=np.float64))
        return cosines @ np.asarray(self.fusion.weights) + self.fusion.intercept

    def similarity(self, cosines: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
        return similarity_from_llr(self.llr(cosines, quality))

    def pair(self, vectors_a, vectors_b, quality_a=None, quality_b=None) -> float:
        cosines = np.array([[float(np.dot(vectors_a[m], vectors_b[m])) for m in self.models]])
        return float(self.similarity(cosines)[0])

    @property
    def verify_threshold(self) -> float:
        return _probability_to_similarity(self.fusion.threshold)

    def gallery_shift(self, cross_similarities) -> float:
        return 0.0

    def identification_threshold(
        self, gallery_people: int, shift: float = 0.0, fpir: float | None = None, face_size: float | None = None
    ) -> float:
        if fpir is not None:
            raise FaceprintError(
                "a chosen FPIR needs the quality-aware score of the default models (facenet and dlib); "
                "give a threshold instead"
            )
        return _probability_to_similarity(self.fusion.far_thresholds[self.identify_far])


def _probability_to_similarity(probability: float) -> float:
    probability = min(max(probability, 1e-12), 1 - 1e-12)
    return round(float(similarity_from_llr(math.log(probability / (1 - probability)))), 1)


def scorer_for(models: Sequence[str], calibration=None) -> QualityScore | FusionScore:
    """The score for a set of models: the shipped quality-aware one when it covers exactly these models, else the
    LFW fusion of ``calibration`` (default: shipped) on the same scale."""
    scoring = shipped_scoring()
    if calibration is None and sorted(models) == sorted(scoring.models):
        return scoring
    from faceprint.verification import shipped_calibration

    return FusionScore((calibration or shipped_calibration()).fusion(models))
