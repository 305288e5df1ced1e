"""Verification: same-person pairs score above different-person pairs; thresholds come from data."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.errors import NoFaceError
from faceprint.verification import (
    Calibration,
    best_accuracy_threshold,
    calibrate,
    far_threshold,
    shipped_calibration,
)
from faceprint.verifier import verify

MODELS = ("facenet", "dlib")


@pytest.fixture(scope="session")
def people(samples):
    return samples / "people"


def test_same_person_scores_above_different_people(pipeline, people):
    same = [
        verify(pipeline, people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", MODELS),
        verify(pipeline, people / "biden" / "biden.jpg", people / "biden" / "biden2.jpg", MODELS),
        verify(pipeline, people / "rose_leslie" / "img1.jpg", people / "rose_leslie" / "img2.jpg", MODELS),
    ]
    different = [
        verify(pipeline, people / "obama" / "obama.jpg", people / "biden" / "biden.jpg", MODELS),
        verify(pipeline, people / "rose_leslie" / "img1.jpg", people / "kit_harington" / "john1.jpeg", MODELS),
        verify(pipeline, people / "alex_lacamoire" / "img1.jpg", people / "biden" / "biden2.jpg", MODELS),
    ]
    assert all(result["same_person"] for result in same)
    assert not any(result["same_person"] for result in different)
    assert min(r["similarity"] for r in same) > max(r["similarity"] for r in different)
    for name in MODELS:
        assert min(r["per_model"][name]["cosine"] for r in same) > max(
            r["per_model"][name]["cosine"] for r in different
        )


def test_verify_reports_every_field(pipeline, people):
    result = verify(pipeline, people / "obama" / "obama.jpg", people / "obama" / "obama-480p.jpg", MODELS)
    assert set(result) >= {"same_person", "similarity", "threshold", "operating_point", "per_model", "faces"}
    assert 0.0 <= result["similarity"] <= 100.0 and 45.0 <= result["threshold"] <= 60.0
    assert set(result["per_model"]) == set(MODELS)


def test_verify_without_a_face_is_a_clear_error(pipeline, people, samples):
    with pytest.raises(NoFaceError, match="no face found"):
        verify(pipeline, people / "obama" / "obama.jpg", samples / "no-face" / "pilatus800.jpg", MODELS)


def test_best_accuracy_threshold_separates_perfectly_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    threshold, accuracy = best_accuracy_threshold(scores, same)
    assert accuracy == 1.0 and 0.3 < threshold < 0.7


def test_far_threshold_accepts_at_most_the_target_share_of_impostors():
    impostors = np.linspace(0, 1, 1000)
    threshold = far_threshold(impostors, 0.01)
    assert np.mean(impostors >= threshold) <= 0.01
    assert np.mean(impostors >= threshold - 0.002) > 0.009


def test_calibration_round_trips_and_fuses_every_subset(tmp_path):
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 200)
    sims = {
        "facenet": np.where(same, 0.7, 0.1) + rng.normal(0, 0.1, 400),
        "dlib": np.where(same, 0.9, 0.6) + rng.normal(0, 0.05, 400),
    }
    calibration = calibrate(sims, same, {"command": "test"})
    assert set(calibration.fusions) == {"facenet", "dlib", "dlib+facenet"}
    path = tmp_path / "calibration.json"
    calibration.save(path)
    import json

    loaded = Calibration.from_dict(json.loads(path.read_text()))
    fused = loaded.fusion(["facenet", "dlib"])
    assert fused.score({"facenet": 0.8, "dlib": 0.95}) > fused.threshold > fused.score({"facenet": 0.0, "dlib": 0.5})


def test_shipped_calibration_is_learned_from_lfw_devtrain():
    calibration = shipped_calibration()
    assert "pairsDevTrain.txt" in calibration.provenance["command"]
    assert calibration.provenance["pairs"] == 2200
    fusion = calibration.fusion(MODELS)
    assert all(weight > 0 for weight in fusion.weights)
    assert 0.0 < fusion.threshold < 1.0
    assert fusion.far_thresholds["0.001"] >= fusion.threshold
