"""``faceprint index --engine ray`` on a local Ray cluster (2 CPUs, started once for the module) gives the local
engine's answers on the same folder: the same photos, faces, boxes, landmarks, embeddings (float tolerance) and
names; corrupt files are reported, not fatal; a stopped run goes on where it stopped; later runs are incremental;
photos are read through ``file://`` URLs. Also: the local engine never imports Ray, and Ray's options without the
Ray engine are refused."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from faceprint.cli import main
from faceprint.errors import FaceprintError
from faceprint.library.library import PhotoLibrary
from faceprint.recognizer import FaceRecognizer

ray = pytest.importorskip("ray", reason="the Ray engine's tests need the extra: pip install 'faceprint[ray]'")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local Ray cluster for the module's tests (start-up costs seconds)."""
    from faceprint.library.ray_engine import start_local_ray

    start_local_ray(ray, 2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def small_folder(datasets: Path, tmp_path_factory) -> Path:
    """A few real photos (one face, two people, no face) and two files that are not photos: a truncated JPEG and
    the celebrity collection's AppleDouble junk."""
    root = tmp_path_factory.mktemp("ray-photos")
    people, group = datasets / "samples" / "people", datasets / "samples" / "group"
    for path in sorted((datasets / "lfw" / "images" / "Zhu_Rongji").glob("*.jpg"))[:3]:
        shutil.copy(path, root / path.name)
    (root / "family").mkdir()
    shutil.copy(people / "obama" / "obama2.jpg", root / "family" / "obama2.jpg")
    shutil.copy(group / "obama_and_biden_2.jpg", root / "family" / "together.jpg")
    shutil.copy(datasets / "samples" / "no-face" / "pilatus800.jpg", root / "family" / "mountain.jpg")
    data = (people / "obama" / "obama.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(data[:2000])
    junk = datasets / "celebrity-faces-31" / "train" / "Kashyap" / "._Kashyap_25_face1.jpg"
    shutil.copy(junk, root / junk.name)
    return root


class Interrupted(Exception):
    """Stops an index run from its progress callback, as Ctrl-C would."""


def stored_faces(library: PhotoLibrary) -> dict[str, list[dict]]:
    """Every indexed photo's faces (box, geometry, person id, embeddings), by path, in detection order."""
    models = library.recognizer.models
    ids, vectors, _ = library.store.vectors(models, "1 = 1")
    by_id = {int(i): {m: vectors[m][n] for m in models} for n, i in enumerate(ids)}
    result: dict[str, list[dict]] = {}
    with library.store.engine.read() as tx:
        for path in [row[0] for row in tx.all("SELECT path FROM library_photos")]:
            result[path] = []
    for face in library.store.faces(list(by_id)):
        result[face["photo"]].append({**face, "vectors": by_id[face["id"]]})
    for faces in result.values():
        faces.sort(key=lambda f: f["id"])
    return result


def enrolled_recognizer(url: str, pipeline, samples: Path) -> FaceRecognizer:
    recognizer = FaceRecognizer(gallery=url, pipeline=pipeline)
    recognizer.enroll("Barack Obama", [samples / "people" / "obama" / n for n in ("obama.jpg", "obama1.jpg")])
    return recognizer


@pytest.mark.slow
def test_ray_engine_stores_what_the_local_engine_stores(ray_cluster, small_folder, pipeline, samples, tmp_path):
    from faceprint.library.ray_engine import index_with_ray

    local = PhotoLibrary(enrolled_recognizer(f"sqlite:///{tmp_path / 'local.db'}", pipeline, samples), batch_size=4)
    expected = local.index([small_folder])
    distributed = PhotoLibrary(enrolled_recognizer(f"sqlite:///{tmp_path / 'ray.db'}", pipeline, samples), batch_size=4)

    summary = index_with_ray(distributed, [small_folder.as_uri()])

    assert {Path(e["path"]).name for e in summary.errors} == {"broken.jpg", "._Kashyap_25_face1.jpg"}
    assert sorted(summary.errors, key=lambda e: e["path"]) == sorted(expected.errors, key=lambda e: e["path"])
    counts = ("photos_added", "faces", "named")
    assert [getattr(summary, c) for c in counts] == [getattr(expected, c) for c in counts]
    assert summary.photos_added == 6 and summary.faces >= 6 and summary.named >= 2

    want, got = stored_faces(local), stored_faces(distributed)
    assert set(got) == set(want) and str(small_folder / "family" / "together.jpg") in got  # local paths recorded
    for path, faces in want.items():
        assert len(got[path]) == len(faces), path
        for mine, theirs in zip(got[path], faces):
            assert mine["person_id"] == theirs["person_id"], path  # Obama is person 1 in both galleries
            np.testing.assert_allclose(mine["box"], theirs["box"], atol=0.5)
            np.testing.assert_allclose(mine["face"]["landmarks"], theirs["face"]["landmarks"], atol=0.5)
            for model, vector in theirs["vectors"].items():
                assert float(np.dot(mine["vectors"][model], vector)) > 0.9999, (path, model)

    # Stopped after a stored batch, then run again: it goes on from there. Its batches differ from the local
    # engine's, and MTCNN detects the photos of a batch together, so boxes may move by a pixel.
    resumed = PhotoLibrary(enrolled_recognizer(f"sqlite:///{tmp_path / 'resumed.db'}", pipeline, samples), batch_size=2)

    def stop_after_first_batch(done: int, total: int) -> None:
        if done:
            raise Interrupted

    with pytest.raises(Interrupted):  # 4 batches, of which one writer stores at most 3 (those handed over finish)
        index_with_ray(resumed, [small_folder.as_uri()], stop_after_first_batch, writers=1)
    first = len(stored_faces(resumed))
    assert 0 < first < 8
    rest = index_with_ray(resumed, [small_folder.as_uri()])
    assert rest.photos_unchanged == first and 0 < rest.photos_added < 6
    assert sorted(rest.errors, key=lambda e: e["path"]) == sorted(expected.errors, key=lambda e: e["path"])
    after = stored_faces(resumed)
    assert {p: len(f) for p, f in after.items()} == {p: len(f) for p, f in want.items()}
    for path, faces in want.items():
        for mine, theirs in zip(after[path], faces):
            np.testing.assert_allclose(mine["box"], theirs["box"], atol=2)

    # A second run reads nothing new; one moved and one deleted photo are found as the local engine finds them.
    (small_folder / "family" / "obama2.jpg").rename(small_folder / "obama-moved.jpg")
    (small_folder / "family" / "mountain.jpg").unlink()
    again = index_with_ray(distributed, [small_folder.as_uri()])
    assert (again.photos_added, again.photos_moved, again.photos_removed, again.faces) == (0, 1, 1, 0)
    assert again.photos_unchanged == 4 + 2 and len(again.errors) == 2  # junk is reported again, not re-read
    moved = stored_faces(distributed)
    assert moved[str(small_folder / "obama-moved.jpg")][0]["person_id"] == 1
    assert sum(map(len, moved.values())) == expected.faces - len(want[str(small_folder / "family" / "mountain.jpg")])


def test_local_engine_does_not_import_ray():
    code = (
        "import sys; import faceprint.cli, faceprint.library.cli, faceprint.library.library;"
        "assert 'ray' not in sys.modules, 'imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ray_engine_without_ray_says_what_to_install(monkeypatch):
    from faceprint.library.ray_engine import _ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(FaceprintError, match=r"pip install 'faceprint\[ray\]'"):
        _ray()


def test_ray_options_and_urls_need_the_ray_engine(capsys, tmp_path):
    gallery = f"sqlite:///{tmp_path / 'g.db'}"
    assert main(["index", str(tmp_path), "--ray-address", "127.0.0.1:6379", "--gallery", gallery]) != 0
    assert "--engine ray" in capsys.readouterr().err
    assert main(["index", tmp_path.as_uri(), "--gallery", gallery]) != 0
    assert "--engine ray" in capsys.readouterr().err


def test_index_command_with_the_ray_engine(ray_cluster, capsys, datasets, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted((datasets / "lfw" / "images" / "Zhu_Rongji").glob("*.jpg"))[:2]:
        shutil.copy(path, folder / path.name)
    gallery = f"sqlite:///{tmp_path / 'g.db'}"
    assert main(["index", str(folder), "--engine", "ray", "--gallery", gallery, "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["photos_added"] == 2 and summary["faces"] >= 2 and summary["errors"] == []


def test_unreachable_ray_cluster_is_a_clear_error(capsys, tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    gallery = f"sqlite:///{tmp_path / 'g.db'}"
    assert main(["index", str(tmp_path), "--engine", "ray", "--ray-address", address, "--gallery", gallery]) != 0
    assert f"no Ray cluster answers at {address}" in capsys.readouterr().err
