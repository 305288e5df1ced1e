"""The celebrity commands end to end, and the model shipped in the package."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceprint.celebrity.model import CelebrityModel, shipped_model_dir
from faceprint.celebrity.training import select_best
from faceprint.cli import main


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "celebrity-cli-cache"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_shipped_model_loads_small_and_complete():
    directory = shipped_model_dir()
    size = sum(f.stat().st_size for f in directory.iterdir())
    assert size < 2_000_000, "the shipped model must hold no embedding network"
    model = CelebrityModel.load()
    assert len(model.labels) == 31 and "Brad Pitt" in model.labels
    assert set(model.members) <= {"facenet", "dlib"}
    card = model.card
    assert card["validation"] and card["command"].startswith("faceprint train")
    chosen_on = card["cross_validation"] if card.get("selection") == "cv" else card["validation"]
    assert card["chosen"] == select_best(chosen_on) and card["kind"] == model.kind
    dims = {"facenet": 512, "dlib": 128}
    vectors = {name: np.ones((2, dims[name]), np.float32) / np.sqrt(dims[name]) for name in model.members}
    probabilities = model.predict(vectors)
    assert probabilities.shape == (2, 31)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_celebrity_command_names_every_face(capsys, celebrity_source, samples):
    photo = sorted((celebrity_source / "validation" / "Brad Pitt").glob("*.jpg"))[0]
    group = samples / "group" / "two_people_2.jpg"
    code, out, _ = run(capsys, "celebrity", "--json", photo, group)
    assert code == 0
    images = json.loads(out)["images"]
    face = images[0]["faces"][0]
    assert face["name"] == "Brad Pitt" and face["confidence"] > 0.5
    assert len(face["top"]) == 5 and face["top"][0]["name"] == "Brad Pitt"
    assert {"box", "score", "landmarks"} <= set(face)
    probabilities = [m["probability"] for m in face["top"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001
    assert len(images[1]["faces"]) == 2


@pytest.mark.slow
def test_celebrity_command_without_faces_or_with_junk(capsys, samples, celebrity_source):
    code, out, _ = run(capsys, "celebrity", "--json", samples / "no-face" / "pilatus800.jpg")
    assert code == 3 and json.loads(out)["images"][0]["faces"] == []
    junk = celebrity_source / "train" / "Kashyap" / "._Kashyap_25_face1.jpg"
    code, out, err = run(capsys, "celebrity", junk)
    assert code == 1 and "not an image" in err


@pytest.mark.slow
def test_evaluate_command_json(capsys, celebrity_source, tmp_path):
    collection = tmp_path / "collection"
    for person in ("Marmik", "Tom Cruise", "Virat Kohli"):
        (collection / person).mkdir(parents=True)
        for photo in sorted((celebrity_source / "validation" / person).glob("*.jpg"))[:2]:
            (collection / person / photo.name).symlink_to(photo)
    (collection / "Marmik" / "broken.jpg").write_bytes(b"not a jpeg")
    (collection / "Somebody Else").mkdir()
    (collection / "Somebody Else" / "x.jpg").symlink_to(
        sorted((celebrity_source / "validation" / "Marmik").iterdir())[0]
    )
    code, out, err = run(capsys, "evaluate", "--json", "--quiet", collection, "--report", tmp_path / "report")
    assert code == 0, err
    data = json.loads(out)
    assert {"accuracy", "macro_f1", "images", "no_face"} <= set(data)
    assert (data["images"], data["unreadable"], data["unknown_people"]) == (6, 1, 1)
    assert data["accuracy"] == 1.0 and data["no_face"] == 0
    assert (tmp_path / "report" / "confusion_matrix.png").is_file()


def test_errors_are_one_line_messages(capsys, tmp_path):
    code, _, err = run(capsys, "train", tmp_path, "--out", tmp_path / "model")
    assert code == 2 and "not a prepared dataset" in err
    code, _, err = run(capsys, "evaluate", tmp_path, "--model", tmp_path)
    assert code == 2 and "not a celebrity model directory" in err


def test_list_spells_names_as_people_do(capsys):
    code, out, _ = run(capsys, "celebrity", "--list", "--json")
    assert code == 0
    names = json.loads(out)["celebrities"]
    assert len(names) == 31 and names == sorted(names)
    assert {"Courteney Cox", "Ellen DeGeneres"} <= set(names)
    assert not {"Courtney Cox", "Ellen Degeneres"} & set(names)
    code, out, _ = run(capsys, "celebrity", "--list")
    assert "Kashyap (a private person of the collection, known by one name)" in out.splitlines()


def test_answers_use_the_readable_names():
    model = CelebrityModel.load()
    column = model.labels.index("Courtney Cox")
    probabilities = np.zeros((1, len(model.labels)))
    probabilities[0, column] = 1.0
    assert model.top(probabilities, k=1)[0][0]["name"] == "Courteney Cox"
