"""A lean runtime: once the networks are prepared, no inference command and no web request imports TensorFlow,
Keras or the converter. Each check runs in a fresh process in which importing them fails, with the real models on
real photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("tensorflow", "keras", "tf2onnx", "tf_keras")
BLOCK = textwrap.dedent(
    f"""
    import sys
    for name in {HEAVY!r}:
        sys.modules[name] = None  # 'import name' now raises ImportError
    """
)
CLI = BLOCK + textwrap.dedent(
    """
    from faceprint.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def run_without_tensorflow(code: str, *args: str, gallery: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{gallery}"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lean-gallery") / "gallery.db"


def test_blocking_works(gallery):
    result = run_without_tensorflow(BLOCK + "import tensorflow\n", gallery=gallery)
    assert result.returncode != 0 and "import of tensorflow halted" in result.stderr


def test_inference_commands_run_without_tensorflow(samples, gallery):
    obama, obama_other = samples / "people" / "obama" / "obama.jpg", samples / "people" / "obama" / "obama1.jpg"
    group = samples / "group" / "obama_and_biden_2.jpg"
    commands = [
        ["detect", group],
        ["embed", obama],
        ["verify", obama, obama_other],
        ["enroll", "Barack Obama", obama],
        ["recognize", group],
        ["celebrity", obama],
        ["people", "list"],
        ["models", "list"],
    ]
    answers = {}
    for command in commands:
        detection_options = ["--no-cache"] if command[0] not in ("people", "models") else []
        result = run_without_tensorflow(CLI, *map(str, command), "--json", *detection_options, gallery=gallery)
        assert result.returncode == 0, f"faceprint {command[0]}: {result.stderr}"
        answers[command[0]] = json.loads(result.stdout)
    assert len(answers["detect"]["images"][0]["faces"]) >= 2
    assert answers["verify"]["same_person"] is True
    names = {face["identity"] for face in answers["recognize"]["images"][0]["faces"]}
    assert "Barack Obama" in names


def test_web_requests_run_without_tensorflow(samples, gallery):
    app = BLOCK + textwrap.dedent(
        """
        import io, json
        from pathlib import Path
        from faceprint.web import create_app
        from faceprint.web.app import RECOGNIZER_EXTENSION, warm_up

        samples = Path(sys.argv[1])
        app = create_app({"FACEPRINT_ADMIN_KEY": None, "FACEPRINT_RECOGNIZE_KEY": None,
                          "FACEPRINT_API_KEYS_FILE": None, "FACEPRINT_RATE_LIMIT": "off"})
        app.testing = True
        warm_up(app.extensions[RECOGNIZER_EXTENSION])
        client = app.test_client()

        def upload(path):
            return (io.BytesIO(Path(path).read_bytes()), Path(path).name)

        group, obama = samples / "group" / "obama_and_biden_2.jpg", samples / "people" / "obama" / "obama.jpg"
        statuses = {}
        for endpoint in ("detect", "recognize", "celebrity"):
            statuses[endpoint] = client.post(f"/api/v1/{endpoint}", data={"image": upload(group)}).status_code
        response = client.post("/api/v1/verify", data={"image_a": upload(obama), "image_b": upload(group)})
        statuses["verify"] = response.status_code
        print(json.dumps(statuses))
        """
    )
    result = run_without_tensorflow(app, str(samples), gallery=gallery)
    assert result.returncode == 0, result.stderr
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert statuses == {"detect": 200, "recognize": 200, "celebrity": 200, "verify": 200}, statuses


def test_commands_that_need_no_model_load_no_runtime(gallery):
    """``people``, ``models list`` and ``--version``-like answers must not pay for a network runtime either."""
    blocked = CLI.replace("'tf_keras')", "'tf_keras', 'onnxruntime')")
    assert "'onnxruntime'" in blocked
    for command in (["people", "list"], ["models", "list"], ["--help"]):
        result = run_without_tensorflow(blocked, *command, gallery=gallery)
        assert result.returncode == 0, f"faceprint {' '.join(command)}: {result.stderr}"


def test_shipped_celebrity_model_predicts_without_keras():
    """The shipped meta-learner is affine and ships as its matrix product, tied to its Keras file."""
    import numpy as np

    from faceprint.celebrity.model import CelebrityModel, KerasFile, affine_map

    model = CelebrityModel.load()
    assert isinstance(model.network, KerasFile) and model.network.affine is not None
    dims = {"facenet": 512, "dlib": 128}
    vectors = {name: np.random.default_rng(0).standard_normal((3, dims[name])).astype(np.float32) for name in dims}
    probabilities = model.predict(vectors)
    assert not model.network.loaded, "predicting must not load the Keras network"
    # the saved map is the network's own: derive it again from the Keras file
    np.testing.assert_allclose(affine_map(model.network.load()).coef, model.network.affine.coef, atol=1e-9)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


MODULES_OF = textwrap.dedent(
    """
    import json, os, sys
    from faceprint.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:  # --help and --version
        code = exit.code
    finally:
        with open(os.environ["MODULES_FILE"], "w") as out:
            json.dump(sorted(sys.modules), out)
    sys.exit(code)
    """
)
NO_NUMPY = ("numpy", "PIL", "cv2")
HEAVY_FOR_A_LISTING = ("pandas", "scipy", "sklearn", "onnxruntime", "tensorflow", "keras", "tf2onnx", "cv2", "flask")


def imported_by(command: list[str], gallery: Path, tmp_path: Path) -> set[str]:
    """The top-level packages a ``faceprint`` command imported, run in a fresh process."""
    modules_file = tmp_path / "modules.json"
    env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{gallery}", "MODULES_FILE": str(modules_file)}
    result = subprocess.run(
        [sys.executable, "-c", MODULES_OF, *command], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, f"faceprint {' '.join(command)}: {result.stderr}"
    return {name.split(".")[0] for name in json.loads(modules_file.read_text())}


@pytest.mark.parametrize(
    "command",
    [["--help"], ["--version"], ["models", "list"], ["gallery", "--help"], ["people", "--help"], ["serve", "--help"]],
)
def test_parser_and_model_list_import_no_numpy(command, gallery, tmp_path):
    """The parser, help and the model list start fast: not even NumPy, Pillow or OpenCV is imported."""
    loaded = imported_by(command, gallery, tmp_path)
    assert not loaded & {*NO_NUMPY, *HEAVY_FOR_A_LISTING}, sorted(loaded & {*NO_NUMPY, *HEAVY_FOR_A_LISTING})
    assert "faceprint" in loaded


def test_people_and_gallery_commands_import_no_heavy_module(samples, pipeline, tmp_path):
    """``people list`` and ``gallery info`` on a gallery with someone enrolled read the gallery and nothing more:
    no dataset tools (pandas, SciPy), network runtime, OpenCV or web framework."""
    from faceprint.recognizer import FaceRecognizer

    gallery = tmp_path / "gallery.db"
    recognizer = FaceRecognizer(gallery=f"sqlite:///{gallery}", pipeline=pipeline)
    recognizer.enroll("Barack Obama", [samples / "people" / "obama" / "obama.jpg"])
    for command in (["people", "list"], ["gallery", "info"]):
        loaded = imported_by(command, gallery, tmp_path)
        assert not loaded & set(HEAVY_FOR_A_LISTING), (command, sorted(loaded & set(HEAVY_FOR_A_LISTING)))
    result = subprocess.run(
        [sys.executable, "-m", "faceprint.cli", "people", "list", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{gallery}"},
        timeout=120,
        check=False,
    )
    assert [person["name"] for person in json.loads(result.stdout)["people"]] == ["Barack Obama"]


NO_CONVERTER = BLOCK + textwrap.dedent(
    """
    import importlib.metadata
    _version = importlib.metadata.version

    def version(name):  # as on a machine where 'faceprint[convert]' was not installed
        if name.lower() in ("tf2onnx", "tensorflow", "tensorflow-cpu", "onnx"):
            raise importlib.metadata.PackageNotFoundError(name)
        return _version(name)

    importlib.metadata.version = version
    """
)


def test_prepared_networks_copied_to_another_cache_run_without_the_converter(samples, gallery, tmp_path):
    """``models prepare`` lists the portable graphs; copied into an empty cache, they are all a machine without
    TensorFlow or tf2onnx needs to recognise (its optimised copies are derived there, by ONNX Runtime alone)."""
    import shutil

    from faceprint.paths import default_cache_dir

    result = subprocess.run(
        [sys.executable, "-m", "faceprint.cli", "models", "prepare", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "FACEPRINT_CACHE_DIR": str(default_cache_dir())},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    names = [row["file"] for row in answer["prepared"]]
    for network in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "facenet-int8", "dlib-resnet"):
        assert any(name.startswith(network + "-") for name in names), (network, names)
    assert not any(".optimised-" in name for name in names)
    cache = tmp_path / "copied-cache"
    (cache / "onnx").mkdir(parents=True)
    for name in names:
        shutil.copy(Path(answer["folder"]) / name, cache / "onnx" / name)
    env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{gallery}", "FACEPRINT_CACHE_DIR": str(cache)}
    group = samples / "group" / "obama_and_biden_2.jpg"
    result = subprocess.run(
        [sys.executable, "-c", NO_CONVERTER + CLI, "detect", str(group), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["images"][0]["faces"]) >= 2


def test_without_prepared_networks_or_converter_a_command_says_how_to_prepare_them(samples, gallery, tmp_path):
    env = {**os.environ, "FACEPRINT_GALLERY": f"sqlite:///{gallery}", "FACEPRINT_CACHE_DIR": str(tmp_path)}
    photo = samples / "people" / "obama" / "obama.jpg"
    result = subprocess.run(
        [sys.executable, "-c", NO_CONVERTER + CLI, "detect", str(photo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "faceprint[convert]" in result.stderr and "models prepare" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
