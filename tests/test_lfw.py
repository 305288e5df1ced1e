"""LFW pairs files and a verification accuracy floor on real LFW View 1 DevTest pairs."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.errors import DatasetError
from faceprint.lfw import PairScores, accuracy_ten_fold, accuracy_with_calibration, read_pairs, score_pairs
from faceprint.verification import shipped_calibration

MODELS = ("facenet", "dlib")


def test_reads_view1_files(datasets):
    pairs = read_pairs(datasets / "lfw" / "pairsDevTest.txt")
    assert len(pairs.folds) == 1 and len(pairs.pairs) == 1000
    assert sum(p.same for p in pairs.pairs) == 500
    first = pairs.pairs[0]
    assert (first.name_a, first.index_a, first.index_b) == ("Abdullah_Gul", 13, 14)


def test_reads_view2_files(tmp_path):
    lines = ["2 2"]
    for fold in range(2):
        lines += [f"A_{fold}\t1\t2", f"B_{fold}\t1\t3", f"A_{fold}\t1\tB_{fold}\t1", f"C_{fold}\t2\tD_{fold}\t4"]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    pairs = read_pairs(path)
    assert len(pairs.folds) == 2 and all(len(fold) == 4 for fold in pairs.folds)
    assert [p.same for p in pairs.folds[1]] == [True, True, False, False]


@pytest.mark.parametrize(
    "content, message",
    [("", "first line"), ("two\n", "first line"), ("1\nA\t1\n", "expected"), ("2\nA\t1\t2\nB\t1\tC\t1\n", "header")],
)
def test_malformed_pairs_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "pairs.txt"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_pairs(path)


def test_missing_pairs_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        read_pairs(tmp_path / "nope.txt")


def test_ten_fold_protocol_on_synthetic_scores():
    rng = np.random.default_rng(1)
    same = np.tile(np.repeat([True, False], 30), 10)
    sims = {
        "facenet": np.where(same, 0.6, 0.1) + rng.normal(0, 0.1, 600),
        "dlib": np.where(same, 0.9, 0.5) + rng.normal(0, 0.1, 600),
    }
    result = accuracy_ten_fold(PairScores(sims, same, 0, 0), 10, MODELS)
    assert result["folds"] == 10 and result["std"] is not None
    assert result["accuracy"] >= max(result["per_model"].values()) - 0.01


@pytest.mark.slow
def test_lfw_devtest_accuracy_floor(pipeline, datasets):
    """A regression floor on 240 real DevTest pairs (120 matched, 120 mismatched) with the shipped thresholds."""
    pairs = read_pairs(datasets / "lfw" / "pairsDevTest.txt").pairs
    subset = pairs[:120] + pairs[500:620]
    scores = score_pairs(pipeline, subset, datasets / "lfw" / "images", MODELS, progress=False)
    result = accuracy_with_calibration(scores, shipped_calibration(), MODELS)
    assert result["accuracy"] >= 0.98
    assert result["per_model"]["facenet"] >= 0.96 and result["per_model"]["dlib"] >= 0.96
    assert scores.no_face <= 2
