"""Video: processing speed as a multiple of real time, and who is named per track against per single frame.

  .venv/bin/python -m benchmarks.video [--speed-seconds 12] [--repeat 3] [--videos 16] [--seed 0] [--only speed]

Speed: videos of 640x480 and 1920x1080 at 25 fps (H.264) in which up to 5 faces (celebrity photos, one face each)
move, enter and leave, analysed with the default settings against the gallery below (24 people); beside it, in the
same run and in turn, the settings before the speed work (5 faces embedded per track, looks every 0.2 s) and decoding
alone. The real-time multiple is the video's duration over the wall time of the analysis (decoding, detection,
tracking, embedding and naming; models loaded before timing); the CPU seconds per second of video (all threads of
the process) do not depend on what else the machine runs.

Accuracy: videos of 640x480 at 25 fps made from held-back photos (LFW people with 4+ photos and the celebrity
collection's validation photos): 3 faces at a time, each moving in its own third of the frame in one condition
(clear; blurred half the time; lower half covered half the time; small, about 30 px faces; shrinking to that size).
About half the faces belong to enrolled people (enrolled from other photos of them), the rest are strangers. Every
face's place is known in every frame, so each track and each face found in a single frame is checked against the
person shown. Compared: the track's name (the vote); every single frame recognised as a photo (``recognize``, 5
frames a second); and the single frame a one-look system would pick (the best face by size, sharpness, pose and
detector score). Right means the enrolled person's name, or no name for a stranger. The track figures are given for
the default settings and, on the same videos, for the settings before the speed work. Writes
benchmarks/results/video.json (``--only`` keeps the other part's figures from the last run)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, RESULTS, write_result
from faceprint.pipeline import FacePipeline
from faceprint.recognizer import FaceRecognizer
from faceprint.video import VideoSettings, analyse_video
from faceprint.video.decode import VideoReader
from faceprint.video.synthetic import Actor, load_photo, make_video, placement
from faceprint.video.tracking import face_rank

LFW = DATASETS / "lfw" / "images"
CELEBRITY = DATASETS / "celebrity-faces-31"
BEFORE = "before: 5 best faces embedded per track, looks every 0.2 s"
ACCURACY_VARIANTS = {"faceprint (default)": VideoSettings(), BEFORE: VideoSettings(first_samples=5, interval=0.2)}
FRAME_TIMES = {round(t, 2) for t in np.arange(0, 6.0, 0.2)}
"""Frames recognised one by one as photos (5 a second of the 6 s accuracy videos)."""
BACKGROUND = "background face"
CONDITIONS = ("clear", "blur", "cover", "small", "shrinking")


def lfw_people(least: int) -> dict[str, list[Path]]:
    people = {}
    for folder in sorted(p for p in LFW.iterdir() if p.is_dir()):
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= least:
            people[folder.name] = photos
    return people


def celebrity_people(split: str) -> dict[str, list[Path]]:
    return {
        folder.name: sorted(p for p in folder.glob("*.jpg") if not p.name.startswith("._"))
        for folder in sorted((CELEBRITY / split).iterdir())
        if folder.is_dir()
    }


def build_gallery(folder: Path, rng: np.random.Generator) -> tuple[FaceRecognizer, dict[str, list[Path]], list[Path]]:
    """Enroll 16 LFW people (2 photos each) and 8 celebrities (3 training photos); return the recognizer, each
    enrolled person's held-back photos, and stranger photos (people never enrolled)."""
    recognizer = FaceRecognizer(gallery=f"sqlite:///{folder / 'gallery.db'}", pipeline=FacePipeline())
    lfw = lfw_people(4)
    names = sorted(lfw)
    chosen = [names[i] for i in rng.choice(len(names), 16, replace=False)]
    held: dict[str, list[Path]] = {}
    for name in chosen:
        photos = list(lfw[name])
        rng.shuffle(photos)
        if recognizer.enroll(name, photos[:2]).accepted:
            held[name] = photos[2:]
    train, validation = celebrity_people("train"), celebrity_people("validation")
    stars = sorted(validation)
    famous = [stars[i] for i in rng.choice(len(stars), 8, replace=False)]
    for name in famous:
        photos = list(train[name])
        rng.shuffle(photos)
        if recognizer.enroll(name, photos[:3]).accepted:
            held[name] = list(validation[name])
    strangers = [photos[0] for name, photos in lfw_people(1).items() if name not in set(chosen)]
    strangers = [strangers[i] for i in rng.choice(len(strangers), 60, replace=False)]
    strangers += [p for name in stars if name not in set(famous) for p in validation[name][:3]]
    return recognizer, held, strangers


# --- speed -------------------------------------------------------------------------------------------------------


def speed_actors(photos: list[Path], duration: float, rng: np.random.Generator, size: tuple[int, int]) -> list[Actor]:
    """Up to 5 faces at a time: each face crosses its own band of the frame; faces leave and others enter."""
    actors = []
    height = round(size[1] * 0.3)
    for slot in range(5):
        start = 0.0 if slot < 3 else float(rng.uniform(0.5, 2.0))
        while start < duration:
            end = min(duration, start + float(rng.uniform(3.0, 7.0)))
            x = slot * 0.19 + 0.01
            y0, y1 = (0.05, 0.55) if slot % 2 else (0.55, 0.1)
            photo = photos[len(actors) % len(photos)]
            actors.append(Actor(photo, start, end, (x, y0), (x + 0.02, y1), height))
            start = end + float(rng.uniform(0.3, 1.0))
    return actors


def run_speed(recognizer: FaceRecognizer, folder: Path, seconds: float, repeat: int, sizes: list[str], rng) -> dict:
    photos = [ps[0] for ps in celebrity_people("validation").values()][:12]  # one face in each
    results = {}
    for label in sizes:
        size = tuple(int(v) for v in label.split("x"))
        actors = speed_actors(photos, seconds, rng, size)
        path = make_video(folder / f"speed-{label}.mp4", actors, seconds, size=size, fps=25)
        at_most = max(sum(a.start <= t < a.end for a in actors) for t in np.arange(0, seconds, 0.04))
        variants = {
            "faceprint (default)": VideoSettings(),
            BEFORE: VideoSettings(first_samples=5, interval=0.2),
            "decoding only": None,
        }
        analyse_video(path, recognizer, VideoSettings())  # warm-up: models loaded, caches primed
        walls: dict[str, list[float]] = defaultdict(list)
        cpus: dict[str, list[float]] = defaultdict(list)
        details: dict[str, dict] = {}
        for _ in range(repeat):
            for name, settings in variants.items():
                started, cpu = time.perf_counter(), time.process_time()
                if settings is None:
                    with VideoReader(path) as reader:
                        for _frame in reader.frames(lambda t: False):
                            pass
                else:
                    answer = analyse_video(path, recognizer, settings).to_dict()
                    details[name] = {
                        "tracks": len(answer["tracks"]),
                        "analysed_frames": answer["analysed_frames"],
                        "named": sorted({t["identity"] for t in answer["tracks"] if t["identity"]}),
                    }
                walls[name].append(time.perf_counter() - started)
                cpus[name].append(time.process_time() - cpu)
        results[label] = {
            "load_average_after": [round(v, 1) for v in os.getloadavg()],
            "nice": os.nice(0),
            "duration_s": seconds,
            "fps": 25,
            "faces_at_most": int(at_most),
            "appearances": len(actors),
            "variants": {
                name: {
                    "median_s": round(statistics.median(values), 2),
                    "times_real_time": round(seconds / statistics.median(values), 2),
                    "cpu_s_per_video_s": round(statistics.median(cpus[name]) / seconds, 2),
                    "runs": len(values),
                    **details.get(name, {}),
                }
                for name, values in walls.items()
            },
        }
        print(label, results[label])
    return results


# --- accuracy ----------------------------------------------------------------------------------------------------


def plan_video(rng, held: dict[str, list[Path]], strangers: list[Path], duration: float) -> list[tuple[Actor, str]]:
    """Three faces, one per third of the frame, each in a random condition; (actor, condition, who) with who the
    enrolled name or "" for a stranger."""
    plan = []
    for lane in range(3):
        condition = CONDITIONS[int(rng.integers(len(CONDITIONS)))]
        if rng.random() < 0.5:
            who = str(rng.choice(sorted(held)))
            photo = held[who][int(rng.integers(len(held[who])))]
        else:
            who, photo = "", strangers[int(rng.integers(len(strangers)))]
        start, end = float(rng.uniform(0.0, 1.5)), float(rng.uniform(duration - 1.5, duration))
        small = condition == "small"
        height = 70 if small else 170
        x0 = lane / 3 + (0.02 if not small else 0.08)
        y0, y1 = (0.05, 0.5) if rng.random() < 0.5 else (0.5, 0.08)
        span = (start + 0.25 * (end - start), start + 0.75 * (end - start))
        actor = Actor(
            photo,
            start,
            end,
            (x0, y0 if not small else y0 + 0.1),
            (x0 + 0.03, y1 if not small else y1 + 0.1),
            height,
            end_height=65 if condition == "shrinking" else None,
            blur=span if condition == "blur" else None,
            cover=span if condition == "cover" else None,
        )
        plan.append((actor, condition, who))
    return plan


def whose(plan, shapes: dict[str, tuple], box, seconds: float, size=(640, 480)) -> tuple[int, bool] | None:
    """The plan entry whose photo holds the centre of ``box`` (x y w h) at ``seconds``, and whether it is the photo's
    own face (centred: the photos are centred on their person) rather than someone in its background."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    for index, (actor, _condition, _who) in enumerate(plan):
        if not actor.start <= seconds < actor.end:
            continue
        x, y, w, h = placement(actor, shapes[str(actor.photo)], size, seconds)
        if x <= cx < x + w and y <= cy < y + h:
            return index, abs(cx - x - w / 2) < 0.2 * w and abs(cy - y - h / 2) < 0.2 * h
    return None


def right(identity: str | None, who: str) -> bool:
    return (identity or "") == who


def run_accuracy(recognizer, held, strangers, folder: Path, videos: int, rng) -> dict:
    duration = 6.0
    threshold = recognizer.default_threshold()
    rows = []  # one per face shown: condition, who, track answers, frame answers
    false_tracks = Counter()
    for number in range(videos):
        plan = plan_video(rng, held, strangers, duration)
        actors = [a for a, _c, _w in plan]
        shapes = {str(a.photo): load_photo(a.photo).shape for a in actors}
        path = make_video(folder / f"accuracy-{number}.mp4", actors, duration, seed=number)
        tracks: dict[str, dict[tuple, list[dict]]] = {}
        for variant, settings in ACCURACY_VARIANTS.items():
            tracks[variant] = defaultdict(list)
            for track in analyse_video(path, recognizer, settings).to_dict()["tracks"]:
                owners = Counter(whose(plan, shapes, box[1:], box[0]) for box in track["boxes"])
                owner, _count = owners.most_common(1)[0]
                if owner is None:
                    false_tracks[variant] += 1
                else:
                    tracks[variant][owner].append(track)
        frames: dict[tuple, list[tuple[float, str | None]]] = defaultdict(list)
        with VideoReader(path, max_side=640) as reader:
            for frame in reader.frames(lambda t: round(t, 2) in FRAME_TIMES):
                if frame.pixels is None:
                    continue
                for face in recognizer.recognize(frame.pixels, threshold=threshold):
                    owner = whose(plan, shapes, face["box"], frame.time)
                    if owner is not None:
                        frames[owner].append((face_rank(face["quality"]), face["identity"]))
        owners = sorted({key for v in tracks.values() for key in v} | set(frames))
        for index, main in [(i, True) for i in range(len(plan))] + [k for k in owners if not k[1]]:
            _actor, condition, who = plan[index]
            if not main:  # someone behind the person in a photo: never enrolled, a stranger
                condition, who = BACKGROUND, ""
            key = (index, main)
            found = frames.get(key)
            rows.append(
                {
                    "condition": condition,
                    "who": who,
                    "tracks": {v: [t["identity"] for t in tracks[v].get(key, [])] for v in ACCURACY_VARIANTS},
                    "frames": [identity for _rank, identity in found or []],
                    "best_frame": max(found, key=lambda pair: pair[0])[1] if found else "(not found)",
                }
            )
        shown = [(r["who"] or "stranger", r["condition"], list(r["tracks"].values())) for r in rows[-3:]]
        print(f"video {number + 1}/{videos}: {shown}")
    return {"threshold": round(threshold, 1), "false_tracks": dict(false_tracks), **summarise(rows), "faces": rows}


def summarise(rows: list[dict]) -> dict:
    """Right answers per track, per single frame and for the best single frame, overall and per condition; and
    how many strangers each way names."""

    def figures(selected: list[dict]) -> dict:
        main, before = ACCURACY_VARIANTS
        tracks = [(t, r["who"]) for r in selected for t in r["tracks"][main]]
        earlier = [(t, r["who"]) for r in selected for t in r["tracks"][before]]
        frames = [(f, r["who"]) for r in selected for f in r["frames"]]
        best = [(r["best_frame"], r["who"]) for r in selected if r["best_frame"] != "(not found)"]

        def rate(pairs):
            return round(sum(right(i, w) for i, w in pairs) / len(pairs), 3) if pairs else None

        def strangers_named(pairs):
            return sum(1 for i, w in pairs if not w and i)

        def wrong_person(pairs):
            return sum(1 for i, w in pairs if w and i and i != w)

        return {
            "faces_shown": len(selected),  # background faces: those detected at least once
            "faces_without_track": sum(1 for r in selected if not r["tracks"][main]),
            "faces_split": sum(1 for r in selected if len(r["tracks"][main]) > 1),
            "per_track": {
                "n": len(tracks),
                "right": rate(tracks),
                "strangers_named": strangers_named(tracks),
                "wrong_person": wrong_person(tracks),
            },
            "per_track_before": {
                "n": len(earlier),
                "right": rate(earlier),
                "strangers_named": strangers_named(earlier),
                "wrong_person": wrong_person(earlier),
            },
            "best_single_frame": {
                "n": len(best),
                "right": rate(best),
                "strangers_named": strangers_named(best),
                "wrong_person": wrong_person(best),
            },
            "every_single_frame": {
                "n": len(frames),
                "right": rate(frames),
                "strangers_named": strangers_named(frames),
                "wrong_person": wrong_person(frames),
            },
            "enrolled": {
                "per_track_named_right": rate([(i, w) for i, w in tracks if w]),
                "best_single_frame_named_right": rate([(i, w) for i, w in best if w]),
                "every_single_frame_named_right": rate([(i, w) for i, w in frames if w]),
            },
        }

    return {
        "overall": figures(rows),
        "by_condition": {c: figures([r for r in rows if r["condition"] == c]) for c in (*CONDITIONS, BACKGROUND)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-seconds", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1920x1080"])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("speed", "accuracy"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    answer: dict = {"seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="faceprint-video-bench-") as name:
        folder = Path(name)
        recognizer, held, strangers = build_gallery(folder, rng)
        threshold = round(recognizer.default_threshold(), 1)
        answer["gallery"] = {"people": len(held), "photos": recognizer.gallery.count(), "threshold": threshold}
        if args.only != "accuracy":
            answer["speed"] = run_speed(recognizer, folder, args.speed_seconds, args.repeat, args.sizes, rng)
        if args.only != "speed":
            answer["accuracy"] = run_accuracy(recognizer, held, strangers, folder, args.videos, rng)
            print({k: v for k, v in answer["accuracy"].items() if k != "faces"})
    earlier = RESULTS / "video.json"
    if args.only and earlier.exists():  # one part measured again: keep the other part's figures
        kept = json.loads(earlier.read_text())
        answer = {**{k: v for k, v in kept.items() if k in ("speed", "accuracy")}, **answer}
    print(write_result("video", answer))


if __name__ == "__main__":
    main()
