"""One photo, one command, a fresh process each time: faceprint's CLI against face_recognition's, side by side.

What a user pays for one question asked from the shell: start-up, model loading and the work. Each pair runs in
turn (A B A B ...) after one warm-up run of each, timed and measured by ``/usr/bin/time -v`` (wall clock and peak
resident memory); the figures are medians. faceprint runs with ``--no-cache`` (face_recognition has no cache) and
the networks prepared as on any machine after its first run.

- ``recognize``: ``faceprint recognize`` of a 2-face photo (obama_and_biden_2.jpg, 1000 px wide) against a gallery
  of two people enrolled from one photo each, vs ``face_recognition KNOWN_DIR PHOTO`` with the same two photos.
- ``verify``: ``faceprint verify A B`` vs ``face_recognition`` with A as the only known photo.
- ``detect``: ``faceprint detect`` vs ``face_detection`` (HOG) on the 2-face photo.
- ``celebrity``: ``faceprint celebrity`` of one photo vs ``face_recognition`` with one photo of each of the 31
  celebrities as known people (its only way to ask "who of these does this face resemble").

Needs ``pip install --no-deps face-recognition==1.3.0`` for the face_recognition side.
Usage: .venv/bin/python -m benchmarks.whole_process [--repeat 5] [--tasks recognize,verify,detect,celebrity]
Writes benchmarks/results/whole_process.json."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from benchmarks.common import DATASETS, write_result

TASKS = ("recognize", "verify", "detect", "celebrity")
BIN = Path(sys.executable).parent
SAMPLES = DATASETS / "samples"


def measured(command: list[str], env: dict[str, str]) -> dict:
    """Wall seconds, CPU seconds and peak resident MB of one run of ``command``, from ``/usr/bin/time -v``."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        result = subprocess.run(
            ["/usr/bin/time", "-v", "-o", report.name, *command], env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-500:]}")
        text = Path(report.name).read_text()

    def field(name: str) -> str:
        return re.search(rf"{re.escape(name)}: (.+)", text).group(1).strip()

    clock = [float(part) for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(value * 60**power for power, value in enumerate(reversed(clock)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": int(field("Maximum resident set size (kbytes)")) / 1024}


def first_readable(paths: list[Path]) -> Path:
    """The first of ``paths`` that Pillow can decode (the collection holds a few files that are not images)."""
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
            return path
        except OSError:
            continue
    raise SystemExit(f"no readable image among {len(paths)} files in {paths[0].parent if paths else '?'}")


def paired(commands: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict:
    """Each command once as a warm-up, then ``repeat`` rounds of all of them in turn; medians and ratios."""
    for command in commands.values():
        measured(command, env)
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(measured(command, env))
    summary = {
        name: {key: round(statistics.median(run[key] for run in values), 2) for key in values[0]}
        for name, values in runs.items()
    }
    summary["command"] = {
        name: " ".join(Path(part).name if "/" in part else part for part in command)
        for name, command in commands.items()
    }
    names = list(commands)
    if len(names) == 2:
        first, second = names
        summary["wall_ratio_median"] = round(
            statistics.median(a["wall_s"] / b["wall_s"] for a, b in zip(runs[first], runs[second])), 2
        )
    summary["runs"] = repeat
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    args = parser.parse_args()
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    if unknown := set(tasks) - set(TASKS):
        parser.error(f"unknown tasks: {', '.join(sorted(unknown))}")
    for tool in ("face_recognition", "face_detection"):
        if not (BIN / tool).is_file():
            parser.error(f"{tool} is missing: pip install --no-deps face-recognition==1.3.0")

    work = Path(tempfile.mkdtemp(prefix="faceprint-whole-"))
    try:
        group = Image.open(SAMPLES / "group" / "obama_and_biden_2.jpg").convert("RGB")
        photo = work / "two_faces.jpg"
        group.resize((1000, round(1000 * group.height / group.width)), Image.LANCZOS).save(photo, quality=92)
        people = {
            "obama": SAMPLES / "people" / "obama" / "obama.jpg",
            "biden": SAMPLES / "people" / "biden" / "biden.jpg",
        }
        known = work / "known"
        known.mkdir()
        for name, source in people.items():
            shutil.copy(source, known / f"{name}.jpg")
        one_known = work / "one_known"
        one_known.mkdir()
        shutil.copy(people["obama"], one_known / "obama.jpg")
        celebrities = work / "celebrities"
        celebrities.mkdir()
        for folder in sorted((DATASETS / "celebrity-faces-31" / "train").iterdir()):
            shutil.copy(first_readable(sorted(folder.glob("*.jpg"))), celebrities / f"{folder.name}.jpg")
        celebrity_photo = sorted((DATASETS / "celebrity-faces-31" / "validation" / "Brad Pitt").glob("*.jpg"))[0]

        env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{work / 'gallery.db'}"}
        faceprint = [str(BIN / "faceprint")]
        for name, source in people.items():
            subprocess.run(
                [*faceprint, "enroll", name, str(source), "--quiet"], env=env, check=True, capture_output=True
            )

        pairs = {
            "recognize": {
                "faceprint": [*faceprint, "recognize", "--no-cache", str(photo)],
                "face_recognition": [str(BIN / "face_recognition"), str(known), str(photo)],
            },
            "verify": {
                "faceprint": [
                    *faceprint,
                    "verify",
                    "--no-cache",
                    str(people["obama"]),
                    str(SAMPLES / "people" / "obama" / "obama1.jpg"),
                ],
                "face_recognition": [
                    str(BIN / "face_recognition"),
                    str(one_known),
                    str(SAMPLES / "people" / "obama" / "obama1.jpg"),
                ],
            },
            "detect": {
                "faceprint": [*faceprint, "detect", "--no-cache", str(photo)],
                "face_recognition": [str(BIN / "face_detection"), str(photo)],
            },
            "celebrity": {
                "faceprint": [*faceprint, "celebrity", "--no-cache", str(celebrity_photo)],
                "face_recognition": [str(BIN / "face_recognition"), str(celebrities), str(celebrity_photo)],
            },
        }
        results = {}
        for task in tasks:
            results[task] = paired(pairs[task], env, args.repeat)
            row = results[task]
            print(
                f"{task:10s} faceprint {row['faceprint']['wall_s']} s {row['faceprint']['peak_mb']:.0f} MB | "
                f"face_recognition {row['face_recognition']['wall_s']} s {row['face_recognition']['peak_mb']:.0f} MB"
                f" | ratio {row.get('wall_ratio_median')}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"-> {write_result('whole_process', results)}")


if __name__ == "__main__":
    main()
