"""The group-photo scenario: people enrolled from 3 photos each, recognised small in group photos among strangers.

  .venv/bin/python -m benchmarks.group_scenario [--trials 20] [--seed 0]

Each trial takes 6 people of the ``benchmark`` pool (LFW View 1 DevTest people and the celebrity collection's
``validation`` folder, with 5 or more photos), enrolls 3 of them from 3 of their photos, and composes 2 group photos
(1280x720, a face-free background) in which all 6 appear through other photos, their faces 28-64 px wide, as in a
photo of a team or a family. Reported: enrolled faces named correctly, enrolled faces named as someone else,
strangers named as someone (should be none), faces not detected, at the default threshold. Writes
benchmarks/results/group_scenario.json."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import DATASETS, write_result
from benchmarks.degraded import pool

BACKGROUND = "samples/no-face/compreface_017_0.jpg"


def face_crop(pixels: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.6) -> np.ndarray:
    """The face with ``margin`` of its size around it (the head and some hair, as a face looks in a photo)."""
    x, y, w, h = box
    cx, cy, side = x + w / 2, y + h / 2, max(w, h) * (1 + margin)
    top, left = int(max(0, cy - side / 2)), int(max(0, cx - side / 2))
    return pixels[top : int(cy + side / 2), left : int(cx + side / 2)]


def compose(crops: list[tuple[np.ndarray, float]], background: np.ndarray, rng: np.random.Generator):
    """Paste each (crop, face width in it) into a 1280x720 copy of ``background`` in a row with some jitter, each
    face scaled to 28-64 px; returns the image and the pasted face boxes [x, y, w, h]."""
    canvas = cv2.resize(background, (1280, 720), interpolation=cv2.INTER_AREA).copy()
    slot = 1280 // len(crops)
    boxes = []
    for index, (crop, face_width) in enumerate(crops):
        target = float(rng.uniform(28, 64))
        scale = target / face_width
        small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        x = int(index * slot + (slot - w) / 2 + rng.uniform(-slot * 0.15, slot * 0.15))
        y = int(rng.uniform(150, 720 - 150 - h))
        x = min(max(x, 0), 1280 - w)
        canvas[y : y + h, x : x + w] = small
        boxes.append([x + (w - target) / 2, y + (h - target) / 2, target, target])
    return canvas, boxes


def people_with_photos(minimum: int = 5) -> dict[str, list[Path]]:
    people: dict[str, list[Path]] = {}
    for source in pool("benchmark"):
        if source.collection != "orl":
            people.setdefault(source.identity.replace("/", ": "), []).append(source.path)
    return {name: sorted(paths) for name, paths in sorted(people.items()) if len(paths) >= minimum}


def run_trial(recognizer, people: dict[str, list[Path]], rng: np.random.Generator, work: Path) -> dict:
    """One trial: enroll 3 of 6 people, recognise them in 2 composed group photos."""
    from faceprint.detection import central_face
    from faceprint.imaging import load_image

    names = list(rng.choice(sorted(people), 6, replace=False))
    enrolled = names[:3]
    counts = {"enrolled_faces": 0, "named_right": 0, "named_wrong": 0, "strangers": 0, "strangers_named": 0}
    counts["not_detected"] = 0
    used: dict[str, list[Path]] = {}
    for name in enrolled:
        photos = list(rng.permutation(people[name]))
        result = recognizer.enroll(name, photos[:3])
        used[name] = photos[3:]
        if result.accepted < 3:
            counts.setdefault("enrollment_refused", 0)
            counts["enrollment_refused"] += 3 - result.accepted
    for name in names[3:]:
        used[name] = list(rng.permutation(people[name]))
    background = load_image(DATASETS / BACKGROUND)
    for group in range(2):
        crops, truth = [], []
        for name in names:
            path = used[name][group % len(used[name])]
            pixels = load_image(path)
            face = central_face(recognizer.pipeline.detect(recognizer.pipeline.load(path)), pixels.shape)
            if face is None:
                continue
            crops.append((face_crop(pixels, face.box), face.box[2]))
            truth.append(name)
        image, boxes = compose(crops, background, rng)
        target = work / f"group-{group}.png"
        cv2.imwrite(str(target), image[..., ::-1])
        answers = recognizer.recognize(str(target))
        for name, box in zip(truth, boxes):
            found = max(answers, key=lambda a: _overlap(a["box"], box), default=None)
            if found is None or _overlap(found["box"], box) < 0.3:
                counts["not_detected"] += 1
                counts["enrolled_faces" if name in enrolled else "strangers"] += 1
                continue
            if name in enrolled:
                counts["enrolled_faces"] += 1
                counts["named_right"] += found["identity"] == name
                counts["named_wrong"] += found["identity"] not in (None, name)
            else:
                counts["strangers"] += 1
                counts["strangers_named"] += found["identity"] is not None
    for name in enrolled:
        recognizer.delete(name)
    return counts


def _overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from faceprint import FaceRecognizer
    from faceprint.cache import ArrayCache
    from faceprint.pipeline import FacePipeline

    people = people_with_photos()
    totals: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        recognizer = FaceRecognizer(gallery=f"sqlite:///{work / 'g.db'}", pipeline=FacePipeline(cache=ArrayCache()))
        for trial in range(args.trials):
            counts = run_trial(recognizer, people, np.random.default_rng(args.seed + trial), work)
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    result = {
        "trials": args.trials,
        **totals,
        "identification_rate": round(totals["named_right"] / max(1, totals["enrolled_faces"]), 4),
        "strangers_named_rate": round(totals["strangers_named"] / max(1, totals["strangers"]), 4),
    }
    write_result("group_scenario", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
