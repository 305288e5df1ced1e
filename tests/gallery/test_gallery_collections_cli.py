"""``--collection NAME`` on the commands that use a gallery, on SQLite and PostgreSQL: separate sets of people,
unknown collections refused to commands that only read, bad names refused before anything is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceprint.cli import main
from faceprint.gallery import list_collections


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_collections_on_the_command_line(capsys, samples: Path, gallery_url: str, tmp_path: Path):
    people, group = samples / "people", str(samples / "group" / "obama_and_biden_2.jpg")
    gallery = ["--gallery", gallery_url]
    staff = [*gallery, "--collection", "staff"]
    code, out, _ = run(capsys, "enroll", "Obama", str(people / "obama" / "obama.jpg"), *staff)
    assert code == 0 and "1 of 1 photo(s) added" in out
    code, _, _ = run(capsys, "enroll", "Biden", str(people / "biden" / "biden.jpg"), *gallery)
    assert code == 0

    code, out, err = run(capsys, "recognize", group, "--json", *staff)
    assert code == 0, err
    named = {face["identity"] for face in json.loads(out)["images"][0]["faces"]} - {None}
    assert code == 0 and named == {"Obama"}
    code, out, _ = run(capsys, "recognize", group, "--json", *gallery, "--collection", "default")
    assert {face["identity"] for face in json.loads(out)["images"][0]["faces"]} - {None} == {"Biden"}

    code, out, _ = run(capsys, "people", "list", "--json", *staff)
    assert code == 0 and [p["name"] for p in json.loads(out)["people"]] == ["Obama"]
    code, out, _ = run(capsys, "people", "rename", "Obama", "Barack Obama", *staff)
    assert code == 0
    code, out, _ = run(capsys, "people", "list", "--json", *gallery)
    assert [p["name"] for p in json.loads(out)["people"]] == ["Biden"]
    code, out, _ = run(capsys, "gallery", "collections", "--json", *gallery)
    assert code == 0 and json.loads(out) == {"collections": ["default", "staff"]}
    code, out, _ = run(capsys, "gallery", "info", "--json", *staff)
    assert code == 0 and json.loads(out)["people"] == 1

    export = tmp_path / "staff.zip"
    assert run(capsys, "gallery", "export", str(export), *staff)[0] == 0
    assert run(capsys, "gallery", "import", str(export), *gallery, "--collection", "copy")[0] == 0
    code, out, _ = run(capsys, "people", "list", "--json", *gallery, "--collection", "copy")
    assert [p["name"] for p in json.loads(out)["people"]] == ["Barack Obama"]


def test_an_unknown_collection_is_an_error_for_commands_that_only_read(capsys, samples: Path, gallery_url: str):
    gallery = ["--gallery", gallery_url]
    assert run(capsys, "enroll", "Obama", str(samples / "people" / "obama" / "obama.jpg"), *gallery)[0] == 0
    photo = str(samples / "group" / "obama_and_biden_2.jpg")
    for command in (
        ["people", "list"],
        ["people", "delete", "Obama"],
        ["recognize", photo],
        ["gallery", "info"],
        ["gallery", "export", "out.zip"],
        ["video", "clip.mp4"],
    ):
        code, out, err = run(capsys, *command, *gallery, "--collection", "visitors")
        assert code == 2 and out == "", command
        assert "no collection named 'visitors' in the gallery (collections: default): check --collection" in err
    assert list_collections(gallery_url) == ["default"]


@pytest.mark.parametrize("name", ["Staff", "../staff", "a b", "x" * 41])
def test_a_bad_collection_name_is_one_clear_line_and_creates_nothing(capsys, samples: Path, gallery_url: str, name):
    photo = str(samples / "people" / "obama" / "obama.jpg")
    for command in (["enroll", "Obama", photo], ["people", "list"], ["recognize", photo]):
        code, out, err = run(capsys, *command, "--gallery", gallery_url, "--collection", name)
        assert code == 2 and out == "" and "is not a collection name: use 1 to 40 lowercase letters" in err, command
        assert "Traceback" not in err
    assert list_collections(gallery_url) == ([] if gallery_url.startswith("sqlite") else ["default"])


def test_known_people_and_a_collection_do_not_mix(capsys, samples: Path, tmp_path: Path):
    code, _, err = run(
        capsys, "recognize", str(samples / "people"), "--known", str(samples / "people"), "--collection", "staff"
    )
    assert code == 2 and "either --gallery/--collection or --known" in err
