"""faceprint train and evaluate on a small real subset: the model learns, saves and loads exactly, and the
evaluation report holds every file with numbers that scikit-learn reproduces."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from celebrity_subset import PEOPLE
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from faceprint.celebrity.candidates import paired_with_reference, select_best
from faceprint.celebrity.config import TrainConfig
from faceprint.celebrity.dataset import PreparedDataset
from faceprint.celebrity.evaluation import REPORT_FILES, classification_metrics, mcnemar
from faceprint.celebrity.faces import locate_faces
from faceprint.celebrity.learners import class_weights, fit_temperature
from faceprint.celebrity.model import CelebrityModel, affine_map, softmax
from faceprint.celebrity.predict import evaluate_collection
from faceprint.celebrity.training import embed_crops, train_model

pytestmark = pytest.mark.slow


def test_training_writes_a_complete_model_directory(trained):
    out, result = trained
    for name in ("model.json", "labels.json", "level0.npz", "model_card.json", "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    assert set(card["validation"]) >= {"stacking", "concat_mlp", "logistic:facenet", "logistic:dlib"}
    assert card["chosen"] in card["validation"]
    assert card["data"]["content_sha256"] and card["command"] == "pytest"
    assert json.loads((out / "labels.json").read_text()) == sorted(PEOPLE)
    if result.model.network is not None:
        assert (out / "meta.keras").is_file()
    assert "## Candidates on the validation split" in (out / "MODEL_CARD.md").read_text()


def test_model_learns_well_above_chance_on_held_back_images(trained, prepared, pipeline):
    out, _ = trained
    model = CelebrityModel.load(out)
    metrics = evaluate_collection(prepared[0], model, pipeline, split="test", progress=False)["metrics"]
    held_back = PreparedDataset.load(prepared[0]).rows("test", ("ok", "no_face"))
    assert metrics["images"] == len(held_back) >= len(PEOPLE) and set(held_back["person"]) == set(PEOPLE)
    assert metrics["accuracy"] >= 0.8, metrics["accuracy"]  # chance is 1/6


@pytest.mark.parametrize("kind", ["stacking", "concat_mlp", "soft_vote", "concat_logistic", "logistic:dlib"])
def test_saved_and_loaded_models_predict_identically(trained, prepared, pipeline, tmp_path, kind):
    _, result = trained
    model = result.candidates[kind]
    dataset = PreparedDataset.load(prepared[0])
    vectors = embed_crops(pipeline, dataset, dataset.rows("validation"), model.members, progress=False)
    model.save(tmp_path / "model")
    before = model.predict(vectors)
    loaded = CelebrityModel.load(tmp_path / "model")
    after = loaded.predict(vectors)
    assert (loaded.kind, loaded.labels, loaded.members) == (model.kind, model.labels, model.members)
    assert loaded.temperature == model.temperature
    assert (loaded.network is not None) == (kind in ("stacking", "concat_mlp"))
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)
    assert np.array_equal(after.argmax(axis=1), before.argmax(axis=1))
    np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-5)


def test_linear_meta_learner_runs_as_one_matrix_product_with_the_networks_outputs(trained):
    _, result = trained
    stacking, mlp = result.candidates["stacking"], result.candidates["concat_mlp"]
    inputs = stacking.network.input_shape[1]
    features = np.random.default_rng(0).uniform(np.log(1e-6), 0.0, (40, inputs)).astype(np.float32)
    keras_logits = np.asarray(stacking.network(features, training=False), dtype=np.float64)
    affine = affine_map(stacking.network)
    assert affine is not None
    np.testing.assert_allclose(affine.logits(features), keras_logits, rtol=0, atol=1e-4)
    np.testing.assert_allclose(stacking._run_network(features), keras_logits, rtol=0, atol=1e-4)
    assert affine_map(mlp.network) is None  # ReLU hidden layer: not affine


def test_evaluate_writes_every_file_and_numbers_agree_with_sklearn(trained, prepared, pipeline, tmp_path):
    out, _ = trained
    model = CelebrityModel.load(out)
    report = tmp_path / "report"
    outcome = evaluate_collection(prepared[0], model, pipeline, split="test", report=report, progress=False)
    for name in REPORT_FILES:
        assert (report / name).is_file() and (report / name).stat().st_size > 0, name
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["images"] == outcome["metrics"]["images"] and metrics["no_face"] == 0

    # Independently: the test split's original files through the public pieces, then scikit-learn's metrics.
    dataset = PreparedDataset.load(prepared[0])
    rows = dataset.rows("test", ("ok", "no_face"))
    images = [pipeline.load(dataset.info["source"] + "/" + source) for source in rows["source"]]
    landmarks = [found.landmarks for found in locate_faces(pipeline, images)]
    embedded = pipeline.embed_faces(images, landmarks, model.members)
    probabilities = model.predict({name: np.stack([e[name] for e in embedded]) for name in model.members})
    y_true = rows["person"].tolist()
    y_pred = [model.labels[i] for i in probabilities.argmax(axis=1)]
    predictions = pd.read_csv(report / "predictions.csv")
    assert predictions["true"].tolist() == y_true and predictions["predicted"].tolist() == y_pred
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert metrics["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    _, _, f, s = precision_recall_fscore_support(y_true, y_pred, labels=sorted(set(y_true)), zero_division=0)
    for i, name in enumerate(sorted(set(y_true))):
        assert metrics["per_class"][name]["f1"] == pytest.approx(f[i]) and metrics["per_class"][name]["support"] == s[i]
    ranks = np.argsort(-probabilities, axis=1)[:, :3]
    top3 = np.mean([model.labels.index(t) in r for t, r in zip(y_true, ranks)])
    assert metrics["top3_accuracy"] == pytest.approx(top3)
    assert "macro avg" in (report / "classification_report.txt").read_text()


def test_selection_by_pooled_cross_validation(prepared, pipeline, tmp_path):
    config = TrainConfig(seed=1, folds=2, epochs=40, patience=5, select="cv")
    card = train_model(prepared[0], tmp_path / "model", pipeline, config, progress=False).card
    table = card["cross_validation"]
    assert card["selection"] == "cv" and set(table) == set(card["validation"])
    dataset = PreparedDataset.load(prepared[0])
    pooled = len(dataset.rows("train", ("ok",))) + len(dataset.rows("validation", ("ok",)))
    for name, row in table.items():
        assert row["images"] == pooled, name  # every original face scored once, by a model that never saw it
        assert row["errors"] == round((1 - row["accuracy"]) * pooled), name
    assert table["logistic:dlib"]["accuracy"] >= 0.8 and table["stacking"]["accuracy"] >= 0.8
    for name, row in table.items():  # paired with the stack on the same images: the counts must add up
        if name != "stacking":
            paired = row["vs_stacking"]
            assert paired["only_this_right"] - paired["only_other_right"] == table["stacking"]["errors"] - row["errors"]
    assert "vs_stacking" not in table["stacking"]
    assert card["chosen"] == select_best(table)
    assert "pooled cross-validation" in (tmp_path / "model" / "MODEL_CARD.md").read_text()


def test_mcnemar_counts_discordant_images_and_gives_the_exact_p_value():
    stack = np.array([True] * 90 + [False] * 10)
    other = np.array([True] * 90 + [True] * 7 + [False] * 3)
    assert mcnemar(other, stack) == {"only_this_right": 7, "only_other_right": 0, "p_value": 0.0156}  # 2 / 2**7
    assert mcnemar(stack, stack)["p_value"] == 1.0


def test_selection_keeps_the_stack_unless_a_candidate_is_significantly_better():
    truth_right = np.ones(200, bool)

    def table(stack_errors: int, lr_errors: int) -> dict:
        stack, lr = truth_right.copy(), truth_right.copy()
        stack[:stack_errors] = False
        lr[100 : 100 + lr_errors] = False
        correct = {"stacking": stack, "logistic:facenet": lr}
        paired = paired_with_reference(correct)
        return {
            key: {"accuracy": right.mean(), "macro_f1": right.mean(), "calibrated_log_loss": 0.1, **paired.get(key, {})}
            for key, right in correct.items()
        }

    assert select_best(table(stack_errors=4, lr_errors=1)) == "stacking"  # 4 vs 1 discordant: p = 0.38
    assert select_best(table(stack_errors=12, lr_errors=1)) == "logistic:facenet"  # 12 vs 1: p = 0.003
    assert select_best(table(stack_errors=1, lr_errors=4)) == "stacking"
    plain = {"a": {"accuracy": 0.9, "macro_f1": 0.9, "calibrated_log_loss": 0.1}}
    assert select_best(plain) == "a"  # no stack among the candidates: simply the best one


def test_metrics_match_sklearn_on_synthetic_predictions():
    rng = np.random.default_rng(0)
    labels = [f"person {i}" for i in range(5)]
    y = rng.integers(0, 5, 300)
    logits = rng.normal(size=(300, 5)) + 2.5 * np.eye(5)[y]
    probabilities = softmax(logits)
    metrics = classification_metrics(y, probabilities, labels)
    y_pred = probabilities.argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, y_pred))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, y_pred, average="macro"))
    assert sum(b["count"] for b in metrics["reliability"]) == 300


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3.0, size=(4000, 8))
    y = np.array([rng.choice(8, p=p) for p in softmax(logits / 2.0)])
    assert fit_temperature(logits, y) == pytest.approx(2.0, rel=0.1)
    # a perfectly separated set cannot drive the temperature to zero
    confident = np.eye(8)[np.arange(40) % 8] * 5.0
    assert fit_temperature(confident, np.arange(40) % 8) > 0.2


def test_class_weights_balance_the_classes():
    y = np.array([0] * 30 + [1] * 10)
    weights = class_weights(y, 2)
    assert weights[y == 0].sum() == pytest.approx(weights[y == 1].sum())


def test_training_refuses_a_dataset_without_validation(prepared, pipeline, tmp_path):
    import shutil

    from faceprint.errors import DatasetError

    copy = tmp_path / "data"
    shutil.copytree(prepared[0], copy)
    manifest = pd.read_csv(copy / "manifest.csv")
    manifest.loc[manifest["split"] == "validation", "split"] = "train"
    manifest.to_csv(copy / "manifest.csv", index=False)
    with pytest.raises(DatasetError, match="validation split is empty"):
        train_model(copy, tmp_path / "model", pipeline, progress=False)


def test_evaluation_scores_the_face_a_photo_is_about_not_a_larger_bystander(pipeline, celebrity_source, tmp_path):
    import cv2

    def crop(person: str, side: int) -> np.ndarray:
        path = sorted(p for p in (celebrity_source / "train" / person).glob("*.jpg") if not p.name.startswith("._"))[0]
        return cv2.resize(cv2.imread(str(path)), (side, side), interpolation=cv2.INTER_AREA)

    photo = np.full((480, 640, 3), 128, np.uint8)
    photo[110:370, 0:260] = crop("Brad Pitt", 260)  # a large bystander at the edge of the frame
    photo[155:325, 235:405] = crop("Roger Federer", 170)  # the subject, smaller, in the middle
    (tmp_path / "Roger Federer").mkdir()
    cv2.imwrite(str(tmp_path / "Roger Federer" / "with bystander.png"), photo)

    image = pipeline.load(photo[..., ::-1].copy())
    largest = locate_faces(pipeline, [image])[0]
    about = locate_faces(pipeline, [image], subject=True)[0]
    assert largest.faces == about.faces == 2
    assert largest.face.box[0] < 130 < 235 < about.face.box[0] + about.face.box[2] / 2 < 405

    outcome = evaluate_collection(tmp_path, CelebrityModel.load(), pipeline, progress=False)
    assert outcome["metrics"]["images"] == 1 and outcome["metrics"]["accuracy"] == 1.0
