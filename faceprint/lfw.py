"""Labeled Faces in the Wild: read pairs files (View 1 and View 2) and measure verification accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceprint.errors import DatasetError
from faceprint.pipeline import FacePipeline
from faceprint.quality import face_measures
from faceprint.scoring import pair_quality, quality_features, scorer_for
from faceprint.verification import Calibration, best_accuracy_threshold, fit_fusion


@dataclass(frozen=True)
class Pair:
    """Two LFW images, by person name and image number."""

    name_a: str
    index_a: int
    name_b: str
    index_b: int

    @property
    def same(self) -> bool:
        return self.name_a == self.name_b


@dataclass(frozen=True)
class PairsFile:
    """A pairs file: one fold (View 1) or ten folds (View 2) of pairs."""

    folds: tuple[tuple[Pair, ...], ...]

    @property
    def pairs(self) -> list[Pair]:
        return [pair for fold in self.folds for pair in fold]


def read_pairs(path: Path) -> PairsFile:
    """Parse a pairs file: header 'N' (View 1) or 'FOLDS N' (View 2), then 'name i j' or 'name1 i name2 j' lines."""
    try:
        lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read pairs file ({exc.strerror})") from None
    if not lines or not all(part.isdigit() for part in lines[0]) or len(lines[0]) not in (1, 2):
        raise DatasetError(f"{path}: first line must be 'N' or 'FOLDS N'")
    folds_count, per_class = (1, int(lines[0][0])) if len(lines[0]) == 1 else map(int, lines[0])
    pairs = []
    for number, parts in enumerate(lines[1:], start=2):
        try:
            if len(parts) == 3:
                pairs.append(Pair(parts[0], int(parts[1]), parts[0], int(parts[2])))
            elif len(parts) == 4:
                pairs.append(Pair(parts[0], int(parts[1]), parts[2], int(parts[3])))
            else:
                raise ValueError
        except ValueError:
            raise DatasetError(f"{path}, line {number}: expected 'name i j' or 'name1 i name2 j'") from None
    fold_size = len(pairs) // folds_count
    if fold_size * folds_count != len(pairs) or len(pairs) != 2 * per_class * folds_count:
        raise DatasetError(f"{path}: header promises {folds_count} x {per_class} pairs per class, found {len(pairs)}")
    return PairsFile(tuple(tuple(pairs[i * fold_size : (i + 1) * fold_size]) for i in range(folds_count)))


def image_path(images: Path, name: str, index: int) -> Path:
    return Path(images) / name / f"{name}_{index:04d}.jpg"


@dataclass
class PairScores:
    """Per-model cosine similarities of every pair, whether each pair is a match, and how many images had no face."""

    similarities: dict[str, np.ndarray]
    same: np.ndarray
    no_face: int
    images: int
    vectors: dict[Path, dict[str, np.ndarray]] = field(default_factory=dict)
    """Each image's embeddings (the folder name is the person)."""
    quality: np.ndarray | None = None
    """Pair quality (pairs x 2, ``faceprint.scoring.pair_quality``) for the quality-aware score."""


def score_pairs(
    pipeline: FacePipeline,
    pairs: Sequence[Pair],
    images: Path,
    models: Sequence[str],
    batch: int = 64,
    progress: bool = True,
) -> PairScores:
    """Embed every image the pairs use (central face, or the central region when no face is found) and score pairs."""
    paths = sorted(
        {image_path(images, p.name_a, p.index_a) for p in pairs}
        | {image_path(images, p.name_b, p.index_b) for p in pairs}
    )
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} images named by the pairs are missing, e.g. {missing[0]}")
    vectors: dict[Path, dict[str, np.ndarray]] = {}
    measures: dict[Path, dict | None] = {}
    no_face = 0
    with tqdm(total=len(paths), desc="embedding", unit="img", disable=not progress) as bar:
        for start in range(0, len(paths), batch):
            chunk = paths[start : start + batch]
            loaded = [pipeline.load(path) for path in chunk]
            results = pipeline.embed_central(loaded, models)
            for path, image, result in zip(chunk, loaded, results):
                vectors[path] = result.vectors
                measures[path] = face_measures(image.pixels, result.face) if result.face is not None else None
                no_face += result.face is None
            bar.update(len(chunk))
    similarities = {
        name: np.array(
            [
                float(
                    vectors[image_path(images, p.name_a, p.index_a)][name]
                    @ vectors[image_path(images, p.name_b, p.index_b)][name]
                )
                for p in pairs
            ]
        )
        for name in models
    }
    quality = np.stack(
        [
            pair_quality(
                quality_features(measures[image_path(images, p.name_a, p.index_a)]),
                quality_features(measures[image_path(images, p.name_b, p.index_b)]),
            )
            for p in pairs
        ]
    )
    return PairScores(similarities, np.array([p.same for p in pairs]), no_face, len(paths), vectors, quality)


def accuracy_with_calibration(scores: PairScores, calibration: Calibration, models: Sequence[str], scorer=None) -> dict:
    """View 1 style: accuracy of each model, of the LFW fusion and of ``scorer`` (the one similarity scale; default:
    the shipped one for these models) at their shipped thresholds."""
    per_model = {
        name: float(np.mean((scores.similarities[name] >= calibration.per_model_thresholds[name]) == scores.same))
        for name in models
    }
    fusion = calibration.fusion(models)
    fused = fusion.score(np.stack([scores.similarities[name] for name in fusion.models], axis=1))
    fusion_accuracy = float(np.mean((fused >= fusion.threshold) == scores.same))
    scorer = scorer or scorer_for(models)
    cosines = np.stack([scores.similarities[name] for name in scorer.models], axis=1)
    similarity = scorer.similarity(cosines, scores.quality)
    accuracy = float(np.mean((similarity >= scorer.verify_threshold) == scores.same))
    return {
        "accuracy": accuracy,
        "std": None,
        "folds": 1,
        "per_model": per_model,
        "threshold": scorer.verify_threshold,
        "fusion_accuracy": fusion_accuracy,
    }


def accuracy_ten_fold(scores: PairScores, folds: int, models: Sequence[str]) -> dict:
    """View 2 style: for each fold, fit fusion and threshold on the other folds, test on it; mean and std."""
    fold_of = np.repeat(np.arange(folds), len(scores.same) // folds)
    matrix = np.stack([scores.similarities[name] for name in models], axis=1)
    fused_acc, model_acc = [], {name: [] for name in models}
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        fusion = fit_fusion(matrix[train], scores.same[train], models, fars=())
        fused_acc.append(np.mean((fusion.score(matrix[test]) >= fusion.threshold) == scores.same[test]))
        for column, name in enumerate(models):
            threshold, _ = best_accuracy_threshold(matrix[train, column], scores.same[train])
            model_acc[name].append(np.mean((matrix[test, column] >= threshold) == scores.same[test]))
    return {
        "accuracy": float(np.mean(fused_acc)),
        "std": float(np.std(fused_acc)),
        "folds": folds,
        "per_model": {name: float(np.mean(values)) for name, values in model_acc.items()},
        "per_model_std": {name: float(np.std(values)) for name, values in model_acc.items()},
    }
