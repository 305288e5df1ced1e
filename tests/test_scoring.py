"""The one similarity scale: the shipped quality-aware score, its thresholds, and the same number for the same pair
in verification and recognition (real models, real photos, some made small as users' photos are)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faceprint import FaceRecognizer
from faceprint.errors import FaceprintError
from faceprint.imaging import load_image
from faceprint.scoring import (
    FPIR_RANGE,
    MIN_GALLERY,
    FusionScore,
    QualityScore,
    llr_from_similarity,
    quality_features,
    scorer_for,
    shipped_scoring,
    similarity_from_llr,
)
from faceprint.verification import shipped_calibration
from faceprint.verifier import verify


def test_the_scale_is_fifty_plus_five_per_decade_of_evidence():
    assert similarity_from_llr(0.0) == 50.0
    assert similarity_from_llr(math.log(1e3)) == pytest.approx(65.0)
    assert similarity_from_llr(-math.log(1e4)) == pytest.approx(30.0)
    assert similarity_from_llr(1e6) == 100.0 and similarity_from_llr(-1e6) == 0.0
    assert llr_from_similarity(similarity_from_llr(2.5)) == pytest.approx(2.5)


def test_shipped_score_says_how_it_was_made_and_round_trips():
    scoring = shipped_scoring()
    assert set(scoring.models) == {"facenet", "dlib"}
    assert scoring.provenance["command"].startswith("tools/calibrate_quality.py")
    assert 45.0 <= scoring.verify_threshold < scoring.identify_threshold < 100.0 and scoring.identify_fpir == 0.01
    assert QualityScore.from_dict(scoring.to_dict()) == scoring


def test_higher_cosines_mean_higher_similarity_at_every_quality():
    scoring = shipped_scoring()
    for size in (24, 48, 112, 200):
        quality = np.tile(quality_features({"size": size, "sharpness": 100.0}), (3, 1))
        cosines = np.array([[0.80, 0.10], [0.92, 0.45], [0.97, 0.75]])
        values = scoring.similarity(cosines, quality)
        assert np.all(np.diff(values) > 0), (size, values)


def test_identification_threshold_keeps_the_fpir_as_the_gallery_grows():
    scoring = shipped_scoring()
    assert scoring.identification_threshold(1) == scoring.identification_threshold(MIN_GALLERY)
    assert scoring.identification_threshold(scoring.identify_gallery) == scoring.identify_threshold
    sizes = [MIN_GALLERY, 30, 100, 1000, 10000]
    thresholds = [scoring.identification_threshold(n) for n in sizes]
    assert thresholds == sorted(thresholds) and thresholds[0] < thresholds[-1]
    for size, threshold in zip(sizes, thresholds):
        rate = scoring.impostor_tail[f"{threshold:g}"]
        assert rate * size <= scoring.identify_fpir or threshold == 100.0


def test_a_chosen_fpir_sets_the_threshold_from_the_same_tail():
    """A stricter rate gives a higher threshold and a looser one a lower threshold, each read off the same measured
    stranger tail as the default; rates outside FPIR_RANGE and model sets without a tail are refused."""
    scoring = shipped_scoring()
    assert scoring.identification_threshold(100, fpir=scoring.identify_fpir) == scoring.identification_threshold(100)
    rates = [0.001, 0.005, 0.01, 0.05, 0.2]
    thresholds = [scoring.identification_threshold(100, fpir=rate) for rate in rates]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] > thresholds[-1], thresholds
    for rate, threshold in zip(rates, thresholds):
        assert scoring.impostor_tail[f"{threshold:g}"] * 100 <= rate or threshold == 100.0
        below = f"{threshold - 1:g}"
        assert below not in scoring.impostor_tail or scoring.impostor_tail[below] * 100 > rate
    assert scoring.identification_threshold(100, 3.0, fpir=0.05) == pytest.approx(thresholds[3] + 3.0)
    for bad in (0.0, FPIR_RANGE[0] / 2, FPIR_RANGE[1] * 1.5, math.nan, -0.01):
        with pytest.raises(FaceprintError, match="false-positive identification rate"):
            scoring.identification_threshold(100, fpir=bad)
    with pytest.raises(FaceprintError, match="give a threshold"):
        scorer_for(["facenet"]).identification_threshold(100, fpir=0.01)


def test_model_sets_without_a_quality_score_use_the_lfw_fusion_on_the_same_scale():
    scorer = scorer_for(["facenet"])
    assert isinstance(scorer, FusionScore)
    assert 0.0 < scorer.verify_threshold < scorer.identification_threshold(10) <= 100.0
    assert scorer_for(["dlib", "facenet"]) is shipped_scoring()
    assert isinstance(scorer_for(["dlib", "facenet"], shipped_calibration()), FusionScore)


def _small(pipeline, path, face_width: int, tmp_path) -> str:
    """A copy of a photo scaled so that its largest face is ``face_width`` px wide, placed in a 640x480 frame as a
    distant face in an ordinary photo, saved as a JPEG of middling quality."""
    pixels = load_image(path)
    face = pipeline.detect(pipeline.load(path))[0]
    scale = face_width / face.box[2]
    small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:480, :640]
    frame = np.full((480, 640, 3), 128, np.uint8)
    top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    out = tmp_path / f"{path.stem}-{face_width}.jpg"
    cv2.imwrite(str(out), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    return str(out)


@pytest.fixture(scope="module")
def gallery_of_two(pipeline, samples, tmp_path_factory):
    recognizer = FaceRecognizer(gallery=f"sqlite:///{tmp_path_factory.mktemp('scoring') / 'g.db'}", pipeline=pipeline)
    obama = samples / "people" / "obama"
    assert recognizer.enroll(
        "Barack Obama", [obama / "obama.jpg", obama / "obama-720p.jpg", obama / "obama1.jpg"]
    ).accepted
    assert recognizer.enroll("Joe Biden", [samples / "people" / "biden" / "biden.jpg"]).accepted
    return recognizer


def test_same_pair_same_number_in_verify_and_recognize(pipeline, samples, tmp_path):
    enrolled, probe = samples / "people" / "obama" / "obama.jpg", samples / "people" / "obama" / "obama2.jpg"
    recognizer = FaceRecognizer(gallery=f"sqlite:///{tmp_path / 'one.db'}", pipeline=pipeline)
    assert recognizer.enroll("Barack Obama", enrolled).accepted == 1
    verified = verify(pipeline, enrolled, probe, recognizer.models)
    recognised = recognizer.recognize(probe)[0]
    assert recognised["similarity"] == verified["similarity"]
    assert recognised["candidates"][0] == {"name": "Barack Obama", "similarity": verified["similarity"]}
    assert 0.0 <= verified["similarity"] <= 100.0 and verified["threshold"] == shipped_scoring().verify_threshold
    assert "likelihood ratio" in verified["operating_point"]
    assert all(set(face["quality"]) >= {"size", "sharpness", "score", "yaw", "roll"} for face in verified["faces"])


def test_every_recognised_face_carries_its_quality(gallery_of_two, samples):
    for face in gallery_of_two.recognize(samples / "group" / "obama_and_biden_2.jpg"):
        assert set(face["quality"]) >= {"size", "sharpness", "score", "yaw", "roll"}
        assert 0.0 <= face["similarity"] <= 100.0


def test_a_small_soft_face_of_an_enrolled_person_is_named(gallery_of_two, pipeline, samples, tmp_path):
    probe = _small(pipeline, samples / "people" / "obama" / "obama-480p.jpg", 36, tmp_path)
    faces = gallery_of_two.recognize(probe)
    assert faces and faces[0]["quality"]["size"] < 60, faces
    assert faces[0]["identity"] == "Barack Obama", faces
    assert faces[0]["threshold"] == gallery_of_two.default_threshold(face_size=faces[0]["quality"]["size"])


def test_large_faces_get_a_stricter_operating_point_than_small_ones():
    """The default's 1% of strangers is spent where it buys recognitions: a band's threshold comes from its own
    stranger tail at its own target, and a chosen FPIR applies to every face alike."""
    scoring = shipped_scoring()
    bands = scoring.size_bands
    cut, small, large = bands["cut"], bands["small"], bands["large"]
    assert 24.0 < cut < 112.0 and large["fpir"] < scoring.identify_fpir < small["fpir"]
    for people in (10, 37, 100, 1000):
        low = scoring.identification_threshold(people, face_size=cut - 1)
        high = scoring.identification_threshold(people, face_size=cut)
        assert low < high, people
        for threshold, band in ((low, small), (high, large)):
            assert band["tail"][f"{threshold:g}"] * people <= band["fpir"] or threshold == 100.0
        chosen = scoring.identification_threshold(people, fpir=0.01)
        assert chosen == scoring.identification_threshold(people, fpir=0.01, face_size=cut - 1)
        assert chosen == scoring.identification_threshold(people, fpir=0.01, face_size=cut)
    assert scoring.identification_threshold(37, 2.0, face_size=30.0) == pytest.approx(
        scoring.identification_threshold(37, face_size=30.0) + 2.0
    )


def test_small_faces_of_strangers_stay_unknown(gallery_of_two, pipeline, samples, tmp_path):
    for path in (samples / "people" / "rose_leslie" / "img1.jpg", samples / "people" / "kit_harington" / "john1.jpeg"):
        for width in (32, 48):
            faces = gallery_of_two.recognize(_small(pipeline, path, width, tmp_path))
            assert all(face["identity"] is None for face in faces), (path.name, width, faces)


def test_an_unknown_face_close_to_someone_shows_the_closest_person_and_a_hint(gallery_of_two, samples):
    face = gallery_of_two.recognize(samples / "people" / "obama" / "obama2.jpg", threshold=100.0)[0]
    if face["similarity"] >= 100.0 - 15.0:
        assert face["identity"] is None and face["closest"] == "Barack Obama"
        assert "Barack Obama" in face["hint"]
    far = gallery_of_two.recognize(samples / "people" / "rose_leslie" / "img1.jpg")[0]
    assert far["identity"] is None and ("closest" not in far or far["similarity"] >= far["threshold"] - 15.0)


def test_recognize_at_a_chosen_fpir(gallery_of_two, pipeline, samples, tmp_path):
    """The operating point can be chosen by the share of strangers named: the threshold each face reports is the
    gallery's threshold at that rate, and a threshold and a rate together are refused."""
    probe = samples / "people" / "obama" / "obama2.jpg"
    default = gallery_of_two.recognize(probe)[0]
    strict = gallery_of_two.recognize(probe, fpir=0.001)[0]
    loose = gallery_of_two.recognize(probe, fpir=0.1)[0]
    assert strict["threshold"] == gallery_of_two.default_threshold(0.001) > default["threshold"]
    assert loose["threshold"] == gallery_of_two.default_threshold(0.1) < default["threshold"]
    assert strict["similarity"] == default["similarity"] == loose["similarity"]
    assert loose["identity"] == "Barack Obama"
    with pytest.raises(FaceprintError, match="not both"):
        gallery_of_two.recognize(probe, threshold=60.0, fpir=0.01)
    with pytest.raises(FaceprintError, match="false-positive identification rate"):
        gallery_of_two.recognize(probe, fpir=0.9)


def test_people_enrolled_from_three_photos_are_named_in_group_photos_and_no_one_else(pipeline, tmp_path):
    """The group-photo scenario of benchmarks/group_scenario.py (6 people, 3 enrolled, faces 28-64 px), twice."""
    from benchmarks.group_scenario import people_with_photos, run_trial

    recognizer = FaceRecognizer(gallery=f"sqlite:///{tmp_path / 'g.db'}", pipeline=pipeline)
    people = people_with_photos()
    for seed in (0, 1):
        counts = run_trial(recognizer, people, np.random.default_rng(seed), tmp_path)
        assert counts["not_detected"] == 0, counts
        assert counts["named_right"] == counts["enrolled_faces"] == 6, counts
        assert counts["named_wrong"] == counts["strangers_named"] == 0, counts


def test_gallery_shift_raises_the_threshold_only_for_galleries_of_look_alikes():
    scoring = shipped_scoring()
    reference = scoring.gallery_reference
    assert 40.0 < reference < 60.0
    assert scoring.gallery_shift(np.full(500, reference - 5.0)) == 0.0
    assert scoring.gallery_shift(np.full(500, reference + 4.0)) == pytest.approx(4.0)
    assert scoring.gallery_shift(np.full(5, reference + 4.0)) == 0.0  # too few pairs to tell
    assert scoring.gallery_shift(np.full(500, 95.0)) == 6.0  # one person under several names: bounded
    base = scoring.identification_threshold(20)
    assert scoring.identification_threshold(20, 4.0) == pytest.approx(base + 4.0)


def test_a_gallery_of_people_photographed_alike_gets_a_higher_threshold(pipeline, datasets, tmp_path):
    """ORL's 40 people were photographed against one background in one light: their faces look more alike than
    strangers' photos do, and such a gallery's threshold rises (from ORL s21-s28, which no calibration saw)."""
    recognizer = FaceRecognizer(gallery=f"sqlite:///{tmp_path / 'orl.db'}", pipeline=pipeline)
    for number in range(21, 29):
        folder = datasets / "orl-faces" / f"s{number}"
        recognizer.enroll(f"s{number}", [folder / f"{i}.pgm" for i in (1, 2, 3)], check_quality=False)
    scoring = recognizer.scoring
    assert recognizer.default_threshold() > scoring.identification_threshold(len(recognizer.people()))
