"""Start-up time: how long the CLI takes to answer commands that load no network (``--help``, ``models list``,
``people list``), and how long a fresh process takes from nothing to its first face embedded (import, loading
MTCNN, FaceNet and dlib side by side, first photo), for each engine; plus the one-off ONNX conversion a new machine
pays on its first run. With ONNX Runtime TensorFlow is not imported at all (``tensorflow_loaded`` says so).

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
import json, sys, time
start = time.perf_counter()
from faceprint.pipeline import FacePipeline
imported = time.perf_counter()
if {engine!r} == "tensorflow":
    from faceprint._tf import tensorflow
    tensorflow()
tensorflow_imported = time.perf_counter()
pipeline = FacePipeline()
pipeline.load_models()
loaded = time.perf_counter()
faces = pipeline.embed_image({photo!r})
done = time.perf_counter()
assert len(faces) == 1
print(json.dumps({{"import_s": imported - start, "import_tensorflow_s": tensorflow_imported - imported,
                  "load_models_s": loaded - tensorflow_imported, "first_photo_s": done - loaded,
                  "total_s": done - start, "tensorflow_loaded": "tensorflow" in sys.modules}}))
"""

NO_MODEL_COMMANDS = {"help": ["--help"], "models_list": ["models", "list"], "people_list": ["people", "list"]}
"""Commands that load no network: they should answer as fast as Python can start."""


def run_first_face(engine: str, cache_dir: Path | None = None) -> dict:
    env = {**os.environ, "FACEPRINT_ENGINE": engine}
    if cache_dir is not None:
        env["FACEPRINT_CACHE_DIR"] = str(cache_dir)
    code = FIRST_FACE.format(photo=str(PHOTO), engine=engine)
    output = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def timed_cli(arguments: list[str], repeat: int, env: dict[str, str]) -> float:
    """Median wall seconds of ``faceprint ARGUMENTS`` as a fresh process."""
    faceprint = Path(sys.executable).with_name("faceprint")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(faceprint), *arguments], capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def summarise(runs: list[dict]) -> dict:
    return {
        key: round(statistics.median(run[key] for run in runs), 2)
        if not isinstance(runs[0][key], bool)
        else runs[0][key]
        for key in runs[0]
    }


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
    with tempfile.TemporaryDirectory(prefix="faceprint-startup-") as folder:
        env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{Path(folder) / 'gallery.db'}"}
        no_model = {name: round(timed_cli(argv, args.repeat, env), 2) for name, argv in NO_MODEL_COMMANDS.items()}
    results = {
        "cli_help_s": no_model["help"],
        "no_model_commands_s": no_model,
        "first_face": {engine: summarise(values) for engine, values in runs.items()},
    }
    if args.conversion:
        empty = Path(tempfile.mkdtemp(prefix="faceprint-startup-"))
        try:
            results["first_face_empty_onnx_cache"] = run_first_face("onnxruntime", empty)
        finally:
            shutil.rmtree(empty)
    path = write_result("startup", results)
    print("no-model commands: " + ", ".join(f"{k} {v} s" for k, v in no_model.items()))
    for engine, row in results["first_face"].items():
        print(f"first face, {engine:11s}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    if "first_face_empty_onnx_cache" in results:
        row = results["first_face_empty_onnx_cache"]
        print("first face, empty ONNX cache: " + ", ".join(f"{k} {round(v, 2)}" for k, v in row.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
