"""``faceprint index``, ``photos`` and ``clusters`` as a user runs them, and an index run killed with SIGKILL then
run again, which must end with the same faces as a run never interrupted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from faceprint.cache import default_cache_dir
from faceprint.cli import main
from faceprint.library.library import PhotoLibrary


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return code, json.loads(captured.out) if captured.out.strip() else {}


def test_index_photos_and_clusters_commands(capsys, photos: Path, tmp_path: Path, samples: Path):
    gallery = f"sqlite:///{tmp_path / 'g.db'}"
    obama = [str(samples / "people" / "obama" / n) for n in ("obama.jpg", "obama1.jpg")]
    assert main(["enroll", "Obama", *obama, "--gallery", gallery, "--quiet"]) == 0
    capsys.readouterr()
    code, summary = run(capsys, "index", str(photos), "--gallery", gallery, "--json", "--quiet")
    assert code == 0 and summary["photos_added"] == 41 and summary["photos_removed"] == 0
    assert {Path(e["path"]).name for e in summary["errors"]} == {"broken.jpg", "._Kashyap_25_face1.jpg"}
    assert summary["faces"] >= 40 and summary["photos_unchanged"] == 0
    code, found = run(capsys, "photos", "Obama", "--gallery", gallery, "--json")
    assert code == 0 and any(p["photo"].endswith("together.jpg") for p in found["photos"])
    assert all(set(p) == {"photo", "box", "similarity"} for p in found["photos"])
    code, listed = run(capsys, "clusters", "--gallery", gallery, "--json")
    assert code == 0 and listed["clusters"] and all(c["size"] == len(c["faces"]) >= 2 for c in listed["clusters"])
    first = listed["clusters"][0]
    code, named = run(capsys, "clusters", "name", str(first["id"]), "Someone", "--gallery", gallery, "--json")
    assert code == 0 and named["faces"] == first["size"]
    code, found = run(capsys, "photos", "Someone", "--gallery", gallery, "--json")
    assert {p["photo"] for p in found["photos"]} == {f["photo"] for f in first["faces"]}
    assert main(["clusters", "ignore", "999999", "--gallery", gallery]) == 2  # a clear error, exit code 2
    assert "no cluster 999999" in capsys.readouterr().err
    code, again = run(capsys, "index", str(photos), "--gallery", gallery, "--json", "--quiet")
    assert again["photos_added"] == 0 and again["photos_unchanged"] == 43


def _faces(url: str, root: Path) -> list[tuple[str, tuple[int, ...]]]:
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT ph.path, f.face FROM library_faces f JOIN library_photos ph ON ph.id = f.photo_id"
        ).fetchall()
    return sorted((str(Path(p).relative_to(root)), tuple(round(v) for v in json.loads(f)["box"])) for p, f in rows)


def test_killed_index_run_resumes_without_duplicates(photos: Path, tmp_path: Path, recognizer, gallery_url: str):
    if not gallery_url.startswith("sqlite"):
        return  # the CLI run below is the SQLite one; both stores share the batch-per-transaction code
    folder = photos / "lfw"
    PhotoLibrary(recognizer, batch_size=4).index([folder])
    reference = _faces(gallery_url, folder)
    killed = f"sqlite:///{tmp_path / 'killed.db'}"
    env = {**os.environ, "FACEPRINT_CACHE_DIR": str(tmp_path / "cache")}
    # A cache of its own, but with the networks this session has prepared: preparing them afresh in the child
    # (minutes on a busy machine) would outlast the wait below before anything is stored.
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "onnx").symlink_to(default_cache_dir() / "onnx", target_is_directory=True)
    command = [sys.executable, "-m", "faceprint.cli", "index", str(folder), "--gallery", killed, "--batch", "2"]
    process = subprocess.Popen([*command, "--no-cache", "--quiet"], env=env, stderr=subprocess.DEVNULL)
    deadline, stored = time.monotonic() + 180, 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(tmp_path / "killed.db", timeout=1) as connection:
                stored = connection.execute("SELECT COUNT(*) FROM library_photos").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if stored >= 6:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 6 <= stored < 31, f"the run was not interrupted in the middle ({stored} photos stored)"
    subprocess.run([*command, "--quiet"], env=env, check=True, timeout=300)
    resumed = _faces(killed, folder)
    # The same photos with the same number of faces (nothing lost, nothing twice), at the same places (batches of
    # other sizes may move a box by a pixel: the detector runs its pyramid on each batch together).
    assert [path for path, _ in resumed] == [path for path, _ in reference]
    for (_, box), (_, expected) in zip(resumed, reference):
        assert max(abs(a - b) for a, b in zip(box, expected)) <= 2, (box, expected)
