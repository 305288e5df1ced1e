"""The ``faceprint`` command: JSON output with the API's field names, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faceprint.cli import main

APPLEDOUBLE = Path("celebrity-faces-31") / "train" / "Kashyap" / "._Kashyap_25_face1.jpg"


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path_factory):
    # The same folder as conftest's session cache, so CLI runs reuse the embeddings other tests computed.
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_detect_json(capsys, samples):
    code, out, _ = run(capsys, "detect", "--json", str(samples / "group" / "two_people_2.jpg"))
    assert code == 0
    image = json.loads(out)["images"][0]
    assert len(image["faces"]) == 2
    assert set(image["faces"][0]) == {"box", "score", "landmarks", "quality"}
    assert len(image["faces"][0]["box"]) == 4 and set(image["faces"][0]["landmarks"]) >= {"left_eye", "nose"}


def test_embed_json(capsys, samples):
    code, out, _ = run(capsys, "embed", "--json", "--model", "facenet", str(samples / "people" / "obama" / "obama.jpg"))
    assert code == 0
    data = json.loads(out)
    assert data["models"] == ["facenet"]
    assert len(data["faces"][0]["embeddings"]["facenet"]) == 512


def test_verify_json(capsys, samples):
    people = samples / "people"
    code, out, _ = run(
        capsys, "verify", "--json", str(people / "obama" / "obama.jpg"), str(people / "obama" / "obama1.jpg")
    )
    assert code == 0
    data = json.loads(out)
    assert data["same_person"] is True
    assert data["similarity"] >= data["threshold"]
    assert set(data["per_model"]) == {"facenet", "dlib"}


def test_models_list_json(capsys):
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)["models"]}
    assert code == 0 and rows["facenet"]["available"] and rows["dlib"]["dimension"] == 128
    assert all(row["source"] and row["licence"] for row in rows.values())


def bad_inputs(datasets, tmp_path):
    real = datasets / "samples" / "people" / "obama" / "obama.jpg"
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    return {
        "appledouble": (datasets / APPLEDOUBLE, "not an image"),
        "truncated": (truncated, "truncated"),
        "empty": (empty, "empty"),
        "text": (text, "not an image"),
        "missing": (tmp_path / "missing.jpg", "no such file"),
    }


@pytest.mark.parametrize("kind", ["appledouble", "truncated", "empty", "text", "missing"])
def test_bad_input_is_one_clear_line(capsys, datasets, tmp_path, kind):
    path, message = bad_inputs(datasets, tmp_path)[kind]
    code, _, err = run(capsys, "detect", str(path))
    assert code == 1  # the file failed; the command itself ran
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]
    assert "Traceback" not in err


def test_verify_with_bad_input_fails_cleanly(capsys, datasets, tmp_path, samples):
    path, _ = bad_inputs(datasets, tmp_path)["truncated"]
    code, _, err = run(capsys, "verify", str(samples / "people" / "obama" / "obama.jpg"), str(path))
    assert code == 2 and "truncated" in err and "Traceback" not in err


def test_unknown_model_is_a_clear_error(capsys, samples):
    code, _, err = run(capsys, "embed", "--model", "arcface", str(samples / "people" / "obama" / "obama.jpg"))
    assert code == 2 and "unknown model 'arcface'" in err


def test_console_script_reports_bad_input_without_traceback(datasets):
    script = shutil.which("faceprint", path=str(Path(sys.executable).parent))
    assert script, "the faceprint console script must be installed"
    result = subprocess.run([script, "detect", str(datasets / APPLEDOUBLE)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not an image" in result.stderr and "Traceback" not in result.stderr


def test_enroll_recognize_and_manage_people(capsys, samples, tmp_path):
    gallery = ["--gallery", f"sqlite:///{tmp_path / 'g.db'}"]
    people = samples / "people"
    enroll_dir = tmp_path / "to-enroll"
    (enroll_dir / "Obama").mkdir(parents=True)
    (enroll_dir / "Biden").mkdir()
    (enroll_dir / "Obama" / "a.jpg").write_bytes((people / "obama" / "obama.jpg").read_bytes())
    (enroll_dir / "Obama" / "notes.txt").write_text("ignored: not an image suffix")
    (enroll_dir / "Biden" / "b.jpg").write_bytes((people / "biden" / "biden.jpg").read_bytes())
    (enroll_dir / "Biden" / "junk.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble junk")
    code, out, _ = run(capsys, "enroll", "--dir", str(enroll_dir), "--json", "--quiet", *gallery)
    summary = json.loads(out)
    assert code == 0 and summary["accepted"] == 2 and summary["rejected"] == 1
    code, out, _ = run(capsys, "recognize", "--json", str(samples / "group" / "obama_and_biden_2.jpg"), *gallery)
    faces = json.loads(out)["images"][0]["faces"]
    assert {"Obama", "Biden"} <= {face["identity"] for face in faces}
    assert set(faces[0]) >= {"box", "identity", "similarity", "threshold", "candidates"}
    code, out, _ = run(capsys, "recognize", "--json", "--fpir", "0.001", str(people / "obama" / "obama2.jpg"), *gallery)
    strict = json.loads(out)["images"][0]["faces"][0]
    assert code == 0 and strict["threshold"] > faces[0]["threshold"] and strict["identity"] in {"Obama", None}
    code, _, _ = run(capsys, "people", "rename", "Biden", "Joe Biden", *gallery)
    assert code == 0
    code, _, err = run(capsys, "people", "rename", "Nobody", "X", *gallery)
    assert code == 2 and "Nobody" in err
    code, out, _ = run(capsys, "people", "delete", "Obama", "--json", *gallery)
    assert [p["name"] for p in json.loads(out)["people"]] == ["Joe Biden"]


def test_recognize_refuses_an_fpir_out_of_range_or_with_a_threshold(capsys, samples, tmp_path):
    photo = str(samples / "people" / "obama" / "obama.jpg")
    code, _, err = run(capsys, "recognize", photo, "--fpir", "2", "--known", str(tmp_path))
    assert code == 2 and "false-positive identification rate must be between" in err
    with pytest.raises(SystemExit) as exited:
        main(["recognize", photo, "--fpir", "0.01", "--threshold", "60"])
    assert exited.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_enroll_needs_names_and_photos(capsys, tmp_path):
    code, _, err = run(capsys, "enroll", "--gallery", f"sqlite:///{tmp_path / 'g.db'}")
    assert code == 2 and "NAME" in err


@pytest.mark.slow
def test_lfw_view2_file_runs_the_ten_fold_protocol(capsys, datasets, tmp_path):
    """A View 2 style file ('10 12' header) made of real DevTest pairs: 10-fold accuracy with mean and std."""
    from faceprint.lfw import read_pairs

    pairs = read_pairs(datasets / "lfw" / "pairsDevTest.txt").pairs
    matched, mismatched = pairs[:120], pairs[500:620]
    lines = ["10\t12"]
    for fold in range(10):
        for p in matched[fold * 12 : (fold + 1) * 12]:
            lines.append(f"{p.name_a}\t{p.index_a}\t{p.index_b}")
        for p in mismatched[fold * 12 : (fold + 1) * 12]:
            lines.append(f"{p.name_a}\t{p.index_a}\t{p.name_b}\t{p.index_b}")
    view2 = tmp_path / "pairs.txt"
    view2.write_text("\n".join(lines) + "\n")
    code, out, _ = run(
        capsys, "lfw", "--json", "--quiet", "--pairs", str(view2), "--images", str(datasets / "lfw" / "images")
    )
    result = json.loads(out)
    assert code == 0 and result["folds"] == 10 and result["pairs"] == 240
    assert result["std"] is not None and result["accuracy"] >= 0.97
    assert set(result["per_model"]) == {"facenet", "dlib"} and result["no_face"] <= 2


def test_people_add_face_adds_a_confirmed_face_and_reports_enrollment_strength(capsys, samples, tmp_path):
    gallery = ["--gallery", f"sqlite:///{tmp_path / 'g.db'}"]
    obama = samples / "people" / "obama"
    code, _, _ = run(capsys, "enroll", "Barack Obama", str(obama / "obama.jpg"), "--quiet", *gallery)
    assert code == 0
    code, out, _ = run(capsys, "people", "list", "--json", *gallery)
    (person,) = json.loads(out)["people"]
    assert person["enrollment"]["strength"] != "strong" and "add" in person["enrollment"]["hint"]
    code, out, _ = run(capsys, "people", "add-face", "Barack Obama", str(obama / "obama-720p.jpg"), "--json", *gallery)
    added = json.loads(out)
    assert code == 0 and added["accepted"] and added["created"] and added["quality"]["size"] >= 60
    code, out, _ = run(capsys, "people", "add-face", "Barack Obama", str(obama / "obama-720p.jpg"), *gallery)
    assert code == 0 and "nothing changed" in out
    code, out, _ = run(capsys, "people", "list", "--json", *gallery)
    assert json.loads(out)["people"][0]["photos"] == 2
    code, _, err = run(capsys, "people", "add-face", "Nobody", str(obama / "obama.jpg"), *gallery)
    assert code == 2 and "Nobody" in err
    code, _, err = run(capsys, "people", "add-face", "Barack Obama", *gallery)
    assert code == 2 and "usage: faceprint people add-face NAME IMAGE" in err


def test_version(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("faceprint ")


def test_a_bad_path_in_a_batch_is_reported_in_its_place_and_the_rest_answered(capsys, samples, tmp_path):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "a.jpg").write_bytes((samples / "people" / "obama" / "obama.jpg").read_bytes())
    (folder / "junk.jpg").write_bytes(b"not a picture")
    missing = tmp_path / "missing.jpg"
    code, out, _ = run(
        capsys, "detect", "--json", str(samples / "group" / "two_people_2.jpg"), str(missing), str(folder)
    )
    images = json.loads(out)["images"]
    assert code == 1
    assert [Path(i["image"]).name for i in images] == ["two_people_2.jpg", "missing.jpg", "junk.jpg", "a.jpg"]
    assert len(images[0]["faces"]) == 2 and len(images[3]["faces"]) == 1
    assert "no such file" in images[1]["error"]["message"] and "not an image" in images[2]["error"]["message"]
    code, out, _ = run(capsys, "detect", "--jsonl", str(missing), str(folder / "nested"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 2 and "error" in lines[0] and len(lines[1]["faces"]) == 1


def test_only_missing_paths_fail_before_any_model_loads(capsys, tmp_path):
    code, _, err = run(capsys, "recognize", "--known", str(tmp_path), str(tmp_path / "nothing.jpg"))
    assert code == 2 and "no photos" in err  # --known checked first
    code, _, err = run(capsys, "detect", str(tmp_path / "nothing.jpg"), str(tmp_path))
    assert code == 1 and "no such file" in err and "no image files in this folder" in err


def test_recognize_against_a_folder_of_known_people_with_annotated_output(capsys, samples, tmp_path):
    known = tmp_path / "known"
    (known / "Joe Biden").mkdir(parents=True)
    (known / "Joe Biden" / "b.jpg").write_bytes((samples / "people" / "biden" / "biden.jpg").read_bytes())
    (known / "barack_obama.jpg").write_bytes((samples / "people" / "obama" / "obama.jpg").read_bytes())
    out_file = tmp_path / "named.jpg"
    group = samples / "group" / "obama_and_biden_2.jpg"
    code, out, _ = run(capsys, "recognize", "--known", str(known), str(group), "--annotate", str(out_file), "--json")
    result = json.loads(out)["images"][0]
    assert code == 0 and {"barack obama", "Joe Biden"} <= {f["identity"] for f in result["faces"]}
    assert result["annotated"] == str(out_file)
    from PIL import Image

    with Image.open(out_file) as picture:
        assert picture.size == Image.open(group).size
    code, out, _ = run(capsys, "recognize", "--known", str(known), str(group))
    assert code == 0 and "1. " in out and "Joe Biden" in out


def test_read_only_commands_do_not_create_a_gallery_from_a_mistyped_path(capsys, samples, tmp_path):
    typo = tmp_path / "galery.db"
    code, _, err = run(capsys, "people", "list", "--gallery", f"sqlite:///{typo}")
    assert code == 2 and "no gallery at" in err and not typo.exists()
    code, _, err = run(
        capsys, "recognize", str(samples / "people" / "obama" / "obama.jpg"), "--gallery", f"sqlite:///{typo}"
    )
    assert code == 2 and "no gallery at" in err and not typo.exists()


def test_re_enrolling_a_photo_says_nothing_changed(capsys, samples, tmp_path):
    gallery = ["--gallery", f"sqlite:///{tmp_path / 'g.db'}"]
    photo = str(samples / "people" / "obama" / "obama.jpg")
    code, out, _ = run(capsys, "enroll", "Barack Obama", photo, *gallery)
    assert code == 0 and "enrolled" in out and "photo 1" not in out
    code, out, _ = run(capsys, "enroll", "Barack Obama", photo, *gallery)
    assert code == 0 and "already enrolled (nothing changed)" in out and "0 of 1 photo(s) added" in out


def test_help_shows_examples_and_no_detection_options_where_they_do_nothing(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "examples:" in capsys.readouterr().out
    for command in (["people"], ["models"], ["gallery", "export"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = capsys.readouterr().out
        assert "--min-face-size" not in text and "--no-cache" not in text
    with pytest.raises(SystemExit):
        main(["people", "--help"])
    assert "rename OLD NEW" in capsys.readouterr().out


def test_json_is_compact_when_piped(datasets):
    script = shutil.which("faceprint", path=str(Path(sys.executable).parent))
    result = subprocess.run([script, "models", "list", "--json"], capture_output=True, text=True)
    assert result.returncode == 0 and len(result.stdout.strip().splitlines()) == 1
