"""Helpers shared by the benchmark scripts: dataset location, timing with medians, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("FACEPRINT_DATASETS", REPO.parent / "shared" / "datasets"))
RESULTS = REPO / "benchmarks" / "results"


def timed(function: Callable[[], object], repeat: int, warmup: int = 2) -> dict:
    """Median and p95 wall time in milliseconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000.0)
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(float(np.percentile(samples, 95)), 2),
        "runs": repeat,
    }


def timed_interleaved(functions: dict[str, Callable[[], object]], repeat: int, warmup: int = 2) -> dict:
    """Like ``timed`` for several variants, run in turn within each repetition so that load from other processes
    hits them alike; adds each variant's median time relative to the first one's."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append((time.perf_counter() - start) * 1000.0)
    baseline = statistics.median(next(iter(samples.values())))
    return {
        name: {
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(float(np.percentile(values, 95)), 2),
            "runs": repeat,
            "speedup_vs_first": round(baseline / statistics.median(values), 2),
        }
        for name, values in samples.items()
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor()}


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    return path


def photo_640x480(source: Path) -> np.ndarray:
    """A 640x480 RGB photo: the centre of ``source`` cropped to 4:3 and resized."""
    import cv2

    from faceprint.imaging import load_image

    image = load_image(source)
    height, width = image.shape[:2]
    if width / height > 4 / 3:
        side = int(height * 4 / 3)
        image = image[:, (width - side) // 2 : (width + side) // 2]
    else:
        side = int(width * 3 / 4)
        image = image[(height - side) // 2 : (height + side) // 2]
    return cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
