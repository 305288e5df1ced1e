"""Start-up time: how long the CLI takes to answer commands that load no network (``--version``, ``--help``,
``models list``, ``gallery --help``, ``people list`` of a gallery with one person), and how long a fresh process
takes from nothing to its first face embedded (import, loading MTCNN, FaceNet and dlib side by side, first photo),
for each engine; plus the one-off ONNX conversion a new machine pays on its first run. With ONNX Runtime
TensorFlow is not imported at all (``tensorflow_loaded`` says so).

Every measurement is a fresh Python process (what a user or a web worker pays), repeated and interleaved.
Usage: .venv/bin/python -m benchmarks.startup [--repeat 5] [--conversion] [--no-model-only]
Writes benchmarks/results/startup.json. ``--conversion`` also times a first run with an empty ONNX cache;
``--no-model-only`` times only the commands that load no network (wall and CPU seconds; results in
benchmarks/results/startup_no_model.json)."""

from __future__ import annotations

import argparse
import json
import os
import resource
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

NO_MODEL_COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "models_list": ["models", "list"],
    "gallery_help": ["gallery", "--help"],
    "people_list": ["people", "list"],
}
"""Commands that load no network: they should answer as fast as Python can start (the issue's bound: 0.5 s)."""


def run_first_face(engine: str, cache_dir: Path | None = None) -> dict:
    env = {**os.environ, "FACEPRINT_ENGINE": engine}
    if cache_dir is not None:
        env["FACEPRINT_CACHE_DIR"] = str(cache_dir)
    code = FIRST_FACE.format(photo=str(PHOTO), engine=engine)
    output = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def timed_cli(arguments: list[str], repeat: int, env: dict[str, str]) -> dict:
    """Median wall and CPU (user + system) seconds of ``faceprint ARGUMENTS`` as a fresh process, after one run that
    writes Python's bytecode caches (as any installation's first run does)."""
    faceprint = Path(sys.executable).with_name("faceprint")
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(faceprint), *arguments], capture_output=True, check=True, env=env)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([str(faceprint), *arguments], capture_output=True, check=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3)}


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
    parser.add_argument("--no-model-only", action="store_true", help="time only the commands that load no network")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {} if args.no_model_only else {"onnxruntime": [], "tensorflow": []}
    if runs:
        run_first_face("onnxruntime")  # make sure the ONNX files exist in the normal cache
    for _ in range(args.repeat):
        for engine in runs:
            runs[engine].append(run_first_face(engine))
    with tempfile.TemporaryDirectory(prefix="faceprint-startup-") as folder:
        env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{Path(folder) / 'gallery.db'}"}
        enroll = [str(Path(sys.executable).with_name("faceprint")), "enroll", "Barack Obama", str(PHOTO), "--quiet"]
        subprocess.run(enroll, capture_output=True, check=True, env=env)  # people list then lists someone
        no_model = {name: timed_cli(argv, args.repeat, env) for name, argv in NO_MODEL_COMMANDS.items()}
    results = {
        "cli_help_s": no_model["help"]["wall_s"],
        "no_model_commands": no_model,
        "first_face": {engine: summarise(values) for engine, values in runs.items()},
    }
    if args.conversion:
        empty = Path(tempfile.mkdtemp(prefix="faceprint-startup-"))
        try:
            results["first_face_empty_onnx_cache"] = run_first_face("onnxruntime", empty)
        finally:
            shutil.rmtree(empty)
    if args.no_model_only:
        path = write_result("startup_no_model", {"no_model_commands": no_model})
    else:
        path = write_result("startup", results)
    for name, row in no_model.items():
        print(f"no-model command {name:13s} wall {row['wall_s']:.2f} s, CPU {row['cpu_s']:.2f} s")
    for engine, row in results["first_face"].items():
        print(f"first face, {engine:11s}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    if "first_face_empty_onnx_cache" in results:
        row = results["first_face_empty_onnx_cache"]
        print("first face, empty ONNX cache: " + ", ".join(f"{k} {round(v, 2)}" for k, v in row.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
