"""Detection recall and precision per face size: LFW faces pasted small into photos without faces.

Each LFW photo whose face the detector finds at full size (score >= 0.99) gives a face crop with a known box; the
crop is scaled so that the face box is S pixels wide and pasted at a random place into a 960x720 scene cut from
the sample photos without faces (random crop, scale and mirror), four faces per scene, for S from 16 to 80 px.
A pasted face counts as found when a detection overlaps its box by IoU >= 0.4; a detection that overlaps no
pasted face is a false alarm (the scenes hold no other face). Detector settings are compared on the same scenes:
the default (pyramid from 20 px faces), a pyramid from 12 px faces (``min_face_size=12``), and the photo
upscaled 1.5x before detecting. Also the sample group photos: faces found against the count in each file name.

Usage: .venv/bin/python -m benchmarks.detection_sizes [--faces 32] [--seed 0]
Writes benchmarks/results/detection_sizes.json."""

from __future__ import annotations

import argparse
import re
import time

import cv2
import numpy as np

from benchmarks.common import DATASETS, write_result
from faceprint.detection import MTCNNDetector
from faceprint.imaging import load_image
from faceprint.types import Face

SIZES = (16, 20, 24, 32, 40, 60)
CONDITIONS = ("clean", "dark", "blurred", "lower face covered")
SCENE = (720, 960)
PER_SCENE = 4


class Upscaled:
    """A detector run on the photo enlarged ``factor`` times, boxes mapped back."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.detector = MTCNNDetector(max_side=None)

    def detect(self, image: np.ndarray) -> list[Face]:
        big = cv2.resize(image, None, fx=self.factor, fy=self.factor, interpolation=cv2.INTER_LINEAR)
        return [
            Face(box=tuple(v / self.factor for v in f.box), score=f.score, landmarks=f.landmarks / self.factor)
            for f in self.detector.detect(big)
        ]


def iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter) if inter else 0.0


def face_crops(count: int, rng: np.random.Generator) -> list[tuple[np.ndarray, tuple]]:
    """``count`` LFW faces found clearly at full size: (the face with a margin, the face's box in that crop)."""
    detector = MTCNNDetector()
    paths = sorted((DATASETS / "lfw" / "images").glob("*/*.jpg"))
    crops = []
    for index in rng.permutation(len(paths)):
        image = load_image(paths[index])
        faces = detector.detect(image)
        if len(faces) == 1 and faces[0].score >= 0.99:
            # The face with a margin of 40% of its box on every side (less of the photo's own background).
            x, y, w, h = faces[0].box
            left, top = max(0, round(x - 0.4 * w)), max(0, round(y - 0.4 * h))
            right, bottom = min(image.shape[1], round(x + 1.4 * w)), min(image.shape[0], round(y + 1.4 * h))
            crops.append((image[top:bottom, left:right].copy(), (x - left, y - top, w, h)))
        if len(crops) == count:
            break
    return crops


def scenes(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` face-free 960x720 backgrounds cut from the sample photos without faces."""
    sources = [load_image(p) for p in sorted((DATASETS / "samples" / "no-face").glob("*.jpg"))]
    result = []
    for _ in range(count):
        source = sources[rng.integers(len(sources))]
        scale = max(SCENE[0] / source.shape[0], SCENE[1] / source.shape[1]) * rng.uniform(1.0, 1.6)
        big = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        y = rng.integers(big.shape[0] - SCENE[0] + 1)
        x = rng.integers(big.shape[1] - SCENE[1] + 1)
        scene = big[y : y + SCENE[0], x : x + SCENE[1]]
        result.append(np.ascontiguousarray(scene[:, ::-1] if rng.random() < 0.5 else scene))
    return result


def degrade(face: np.ndarray, box: tuple, condition: str) -> np.ndarray:
    """The pasted face as ``condition`` shows it: as is, under-exposed (30% of the light), blurred (half the
    resolution, then JPEG quality 30), or with the lower third of the face box covered (a mask or scarf)."""
    if condition == "dark":
        return (face.astype(np.float32) * 0.3).astype(np.uint8)
    if condition == "blurred":
        height, width = face.shape[:2]
        half = cv2.resize(face, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
        face = cv2.resize(half, (width, height), interpolation=cv2.INTER_LINEAR)
        ok, data = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 30])
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else face
    if condition == "lower face covered":
        face = face.copy()
        x, y, w, h = (round(v) for v in box)
        face[max(0, y + 2 * h // 3) : y + h, max(0, x) : x + w] = 128
    return face


def paste(
    scene: np.ndarray, photo: np.ndarray, box: tuple, size: int, rng: np.random.Generator, taken: list, condition: str
) -> tuple:
    """Paste ``photo`` scaled so the face box is ``size`` px wide at a free random place, as ``condition`` shows
    it; the pasted face's box."""
    factor = size / box[2]
    small = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    small = degrade(small, tuple(v * factor for v in box), condition)
    height, width = small.shape[:2]
    for _ in range(100):
        y, x = rng.integers(SCENE[0] - height + 1), rng.integers(SCENE[1] - width + 1)
        region = (float(x), float(y), float(width), float(height))
        if all(iou(region, other) == 0.0 for other in taken):
            break
    taken.append(region)
    scene[y : y + height, x : x + width] = small
    return (x + box[0] * factor, y + box[1] * factor, box[2] * factor, box[3] * factor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=32, help="pasted faces per size and condition")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    crops = face_crops(args.faces, rng)
    detectors = {
        "default (pyramid from 20 px)": MTCNNDetector(),
        "pyramid from 12 px": MTCNNDetector(min_face_size=12),
        "upscaled 1.5x": Upscaled(1.5),
    }
    results: dict = {"conditions": {}, "settings": list(detectors)}
    seconds = dict.fromkeys(detectors, 0.0)
    scenes_run = 0
    for condition in CONDITIONS:
        results["conditions"][condition] = {}
        for size in SIZES:
            row = {}
            backgrounds = scenes(-(-len(crops) // PER_SCENE), rng)
            canvases, truths = [], []
            for number, scene in enumerate(backgrounds):
                scene, taken, boxes = scene.copy(), [], []
                for photo, box in crops[number * PER_SCENE : (number + 1) * PER_SCENE]:
                    boxes.append(paste(scene, photo, box, size, rng, taken, condition))
                canvases.append(scene)
                truths.append(boxes)
            scenes_run += len(canvases)
            for name, detector in detectors.items():
                found = alarms = detections = 0
                start = time.perf_counter()
                for scene, boxes in zip(canvases, truths):
                    faces = detector.detect(scene)
                    detections += len(faces)
                    found += sum(any(iou(truth, f.box) >= 0.4 for f in faces) for truth in boxes)
                    alarms += sum(not any(iou(truth, f.box) >= 0.3 for truth in boxes) for f in faces)
                seconds[name] += time.perf_counter() - start
                row[name] = {
                    "faces": sum(map(len, truths)),
                    "found": found,
                    "recall": round(found / sum(map(len, truths)), 3),
                    "false_alarms": alarms,
                    "precision": round((detections - alarms) / detections, 3) if detections else None,
                }
            results["conditions"][condition][size] = row
            print(
                f"{condition:18s} {size:3d} px: "
                + "; ".join(f"{k} recall {v['recall']} ({v['false_alarms']} false)" for k, v in row.items())
            )
    results["ms_per_960x720_scene"] = {name: round(1000 * s / scenes_run, 1) for name, s in seconds.items()}
    groups = {}
    for photo in sorted((DATASETS / "samples" / "group").glob("*.jpg")):
        expected = int(re.search(r"_(\d+)\.jpg$", photo.name).group(1))
        image = load_image(photo)
        groups[photo.name] = {"expected": expected, **{n: len(d.detect(image)) for n, d in detectors.items()}}
    results["group_photos"] = groups
    print("ms per scene: " + ", ".join(f"{k} {v}" for k, v in results["ms_per_960x720_scene"].items()))
    for name, counts in groups.items():
        print(f"{name}: {counts}")
    print(f"-> {write_result('detection_sizes', results)}")


if __name__ == "__main__":
    main()
