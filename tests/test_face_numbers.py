"""Faces are numbered from 1, largest first, wherever a person reads or gives a face's number: the rejection of a
photo with several faces, ``--face`` on the command line, ``face`` in the API."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "web"))
from web_settings import ISOLATED

from faceprint import FaceRecognizer
from faceprint.cli import main
from faceprint.web import create_app

SEVERAL = "2 faces found; choose one by its number (1 to 2, 1 is the largest) or by its box"


@pytest.fixture
def group(samples: Path) -> Path:
    return samples / "group" / "two_people_2.jpg"


@pytest.fixture
def recognizer(pipeline, tmp_path: Path) -> FaceRecognizer:
    return FaceRecognizer(gallery=f"sqlite:///{tmp_path / 'gallery.db'}", pipeline=pipeline)


def test_the_recognizer_counts_faces_from_one(recognizer, group):
    faces = recognizer.detect(group)
    refused = recognizer.enroll("Someone", group)
    assert refused.accepted == 0 and SEVERAL in refused.photos[0].reason
    assert "index" not in refused.photos[0].reason and "0 is" not in refused.photos[0].reason
    for number in (0, 3):
        outcome = recognizer.enroll("Someone", group, face=number).photos[0]
        assert not outcome.accepted and "faces are numbered from 1 (the largest) to 2" in outcome.reason
    first = recognizer.enroll("First", group, face=1).photos[0]
    second = recognizer.enroll("Second", group, face=2).photos[0]
    assert first.face["box"] == pytest.approx(list(faces[0].box), abs=0.1)
    assert second.face["box"] == pytest.approx(list(faces[1].box), abs=0.1)


def test_the_command_line_counts_faces_from_one(capsys, group, tmp_path):
    gallery = ["--gallery", f"sqlite:///{tmp_path / 'g.db'}"]
    assert main(["detect", str(group), "--json"]) == 0
    boxes = [face["box"] for face in json.loads(capsys.readouterr().out)["images"][0]["faces"]]
    assert main(["enroll", "Someone", str(group), *gallery]) == 2
    out = capsys.readouterr().out
    assert f"{SEVERAL} with --face (faceprint detect shows the numbers)" in out
    assert main(["enroll", "Someone", str(group), "--face", "2", "--json", *gallery]) == 0
    assert json.loads(capsys.readouterr().out)["people"][0]["photos"][0]["face"]["box"] == pytest.approx(boxes[1])
    assert main(["enroll", "Other", str(group), "--face", "0", *gallery]) == 2
    assert "faces are numbered from 1 (the largest) to 2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["enroll", "--help"])
    assert "1 = the largest" in capsys.readouterr().out


def test_the_api_counts_faces_from_one(recognizer, group):
    client = create_app({**ISOLATED, "RECOGNIZER": recognizer}).test_client()

    def photo() -> tuple[io.BytesIO, str]:
        return io.BytesIO(group.read_bytes()), group.name

    boxes = [face["box"] for face in client.post("/api/v1/detect", data={"image": photo()}).get_json()["faces"]]
    refused = client.post("/api/v1/people", data={"name": "Someone", "images": photo()})
    assert refused.status_code == 422 and SEVERAL in refused.get_json()["error"]["message"]
    chosen = client.post("/api/v1/people", data={"name": "Someone", "face": "2", "images": photo()})
    assert chosen.status_code == 201 and chosen.get_json()["photos"][0]["face"]["box"] == pytest.approx(boxes[1])
    encoded = base64.b64encode(group.read_bytes()).decode()
    zero = client.post("/api/v1/people", json={"name": "Other", "face": 0, "images": [encoded]})
    assert zero.status_code == 422
    assert "faces are numbered from 1 (the largest) to 2" in zero.get_json()["error"]["message"]
    bad = client.post("/api/v1/people", json={"name": "Other", "face": "left", "images": ["x"]})
    assert bad.status_code == 400 and "a face number (1 = the largest)" in bad.get_json()["error"]["message"]
    document = json.dumps(client.get("/api/v1/openapi.json").get_json())
    assert "from 1 for the largest" in document and "0 = largest" not in document
