"""Start-up time: how long the CLI takes to answer, and how long a fresh process takes from nothing to its first
face embedded (import, loading MTCNN, FaceNet and dlib, first photo), for each engine; plus the one-off ONNX
conversion a new machine pays on its first run.

Every measurement is a fresh Python process (what a user or a web worker pays), repeated and interleaved.
Usage: .venv/bin/python -m benchmarks.startup [--repeat 5] [--conversion]
Writes benchmarks/results/startup.json. ``--conversion`` also times a first run with an empty ONNX cache."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import DATASETS, REPO, write_result

PHOTO = DATASETS / "samples" / "people" / "obama" / "obama1.jpg"

FIRST_FACE = """
import json, time
start = time.perf_counter()
from faceprint.pipeline import FacePipeline
imported = time.perf_counter()
from faceprint._tf import tensorflow
tensorflow()
tensorflow_imported = time.perf_counter()
pipeline = FacePipeline()
pipeline.detector._load()
for name in pipeline.models:
    pipeline.embedder(name)._load()
loaded = time.perf_counter()
faces = pipeline.embed_image({photo!r})
done = time.perf_counter()
assert len(faces) == 1
print(json.dumps({{"import_s": imported - start, "import_tensorflow_s": tensorflow_imported - imported,
                  "load_models_s": loaded - tensorflow_imported, "first_photo_s": done - loaded,
                  "total_s": done - start}}))
"""


def run_first_face(engine: str, cache_dir: Path | None = None) -> dict:
    env = {**os.environ, "FACEPRINT_ENGINE": engine}
    if cache_dir is not None:
        env["FACEPRINT_CACHE_DIR"] = str(cache_dir)
    code = FIRST_FACE.format(photo=str(PHOTO))
    output = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def timed_cli(repeat: int) -> float:
    faceprint = Path(sys.executable).with_name("faceprint")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(faceprint), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def summarise(runs: list[dict]) -> dict:
    return {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--conversion", action="store_true", help="also time a first run with an empty ONNX cache")
    args = parser.parse_args()
    run_first_face("onnxruntime")  # make sure the ONNX files exist in the normal cache
    runs: dict[str, list[dict]] = {"onnxruntime": [], "tensorflow": []}
    for _ in range(args.repeat):
        for engine in runs:
            runs[engine].append(run_first_face(engine))
    results = {
        "cli_help_s": round(timed_cli(args.repeat), 2),
        "first_face": {engine: summarise(values) for engine, values in runs.items()},
    }
    if args.conversion:
        empty = Path(tempfile.mkdtemp(prefix="faceprint-startup-"))
        try:
            results["first_face_empty_onnx_cache"] = run_first_face("onnxruntime", empty)
        finally:
            shutil.rmtree(empty)
    path = write_result("startup", results)
    print(f"faceprint --help: {results['cli_help_s']} s")
    for engine, row in results["first_face"].items():
        print(f"first face, {engine:11s}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    if "first_face_empty_onnx_cache" in results:
        row = results["first_face_empty_onnx_cache"]
        print("first face, empty ONNX cache: " + ", ".join(f"{k} {round(v, 2)}" for k, v in row.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
