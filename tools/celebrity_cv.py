"""Pooled cross-validation of the celebrity candidates: a less noisy comparison than the 235-image validation split.

Pools the original (not augmented) train and validation images of a prepared collection, never the test split,
and runs 5 outer folds (StratifiedGroupKFold over duplicate groups). In each fold every candidate is refitted on
the other four folds from scratch, the stacking meta-learner on level-0 out-of-fold probabilities computed inside
that training part, with 15% of its groups held out for early stopping. Prints errors, accuracy and log loss.

Usage: .venv/bin/python tools/celebrity_cv.py celeb-data   (embeddings come from the cache `faceprint train` fills)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from faceprint.cache import ArrayCache
from faceprint.celebrity.dataset import PreparedDataset
from faceprint.celebrity.model import LOG_FLOOR, softmax
from faceprint.celebrity.training import TrainConfig, _logits, embed_crops, fit_level0, out_of_fold, train_network
from faceprint.pipeline import FacePipeline

MEMBERS = ("facenet", "dlib")


def main(data: Path) -> dict:
    dataset = PreparedDataset.load(data)
    rows = pd.concat([dataset.rows("train", ("ok",)), dataset.rows("validation", ("ok",))], ignore_index=True)
    labels = sorted(rows["person"].unique())
    y = rows["person"].map({name: i for i, name in enumerate(labels)}).to_numpy()
    groups = rows["group"].to_numpy()
    classes = len(labels)
    x = embed_crops(FacePipeline(cache=ArrayCache()), dataset, rows, MEMBERS, progress=True)
    config = TrainConfig()
    names = (
        "logistic facenet",
        "logistic dlib",
        "soft vote",
        "logistic concatenated",
        "stacking",
        "stacking 64 hidden",
        "stacking 16 hidden",
    )
    predictions = {name: np.zeros((len(y), classes)) for name in names}
    concatenated = np.concatenate([x[m] for m in MEMBERS], axis=1)
    base = np.tile(np.eye(classes), (len(MEMBERS), 1)) / len(MEMBERS)
    outer = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=11)
    for fold, (train, test) in enumerate(outer.split(concatenated, y, groups)):
        start = time.time()
        level0 = {m: fit_level0(x[m][train], y[train], classes, config.level0_c, None) for m in MEMBERS}
        probabilities = {m: level0[m].predict_proba(x[m][test]) for m in MEMBERS}
        predictions["logistic facenet"][test] = probabilities["facenet"]
        predictions["logistic dlib"][test] = probabilities["dlib"]
        predictions["soft vote"][test] = np.mean(list(probabilities.values()), axis=0)
        predictions["logistic concatenated"][test] = fit_level0(
            concatenated[train], y[train], classes, config.level0_c, None
        ).predict_proba(concatenated[test])
        oof = {m: out_of_fold(x[m][train], y[train], groups[train], classes, config, None, 5) for m in MEMBERS}
        features = np.concatenate([np.log(np.clip(oof[m], LOG_FLOOR, 1)) for m in MEMBERS], axis=1)
        features_test = np.concatenate([np.log(np.clip(probabilities[m], LOG_FLOOR, 1)) for m in MEMBERS], axis=1)
        rng = np.random.default_rng(fold)
        train_groups = np.unique(groups[train])
        stop = np.isin(groups[train], rng.choice(train_groups, int(0.15 * len(train_groups)), replace=False))
        for name, hidden, l2, dropout in (
            ("stacking", config.meta_hidden, config.meta_l2, config.meta_dropout),
            ("stacking 64 hidden", 64, 1e-3, 0.3),
            ("stacking 16 hidden", 16, 1e-2, 0.5),
        ):
            network, _ = train_network(
                features[~stop], y[train][~stop], features[stop], y[train][stop], classes, hidden, l2, dropout, config,
                None, base=base,
            )  # fmt: skip
            predictions[name][test] = softmax(_logits(network, features_test))
        errors = {k: int((v[test].argmax(1) != y[test]).sum()) for k, v in predictions.items()}
        print(f"fold {fold}: {time.time() - start:.0f} s, errors {errors}", flush=True)
    results = {
        name: {
            "errors": int((p.argmax(1) != y).sum()),
            "accuracy": round(float((p.argmax(1) == y).mean()), 4),
            "log_loss": round(float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean()), 4),
            "wrong": [str(rows.at[i, "source"]) for i in np.flatnonzero(p.argmax(1) != y)],
        }
        for name, p in predictions.items()
    }
    print(json.dumps({"images": len(y), "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main(Path(sys.argv[1]))
