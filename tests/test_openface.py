"""OpenFace nn4.small2: the Keras architecture, the Torch7 converter (on a .t7 file this test writes itself, with
random weights, in the layout of the published nn4.small2.v1.t7), the embedder end to end, and the clear errors a
user gets without the weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from faceprint.cli import main
from faceprint.embedding.openface import OpenFaceEmbedder, convert_t7
from faceprint.embedding.torch7 import Torch7FormatError, parameter_layers, read_t7
from faceprint.embedding.weights import OPENFACE_MD5, OPENFACE_URL, WEIGHTS_ENV, openface_weights_path
from faceprint.errors import ModelUnavailableError

NN4_SMALL2_PARAMETERS = 3_733_968  # OpenFace's nn4.small2.def.lua, net:getParameters() with embSize=128


# ---------------------------------------------------------------------------------------------------------------
# A minimal Torch7 binary writer (the format of torch.save: little-endian ints, doubles, strings, tables with
# object references, tensors over storages, and classes as "V 1" + class name + a table of fields).


class Module:
    """A Torch class instance: its class name and fields (a Lua table)."""

    def __init__(self, typename: str, **fields) -> None:
        self.typename = typename
        self.fields = fields


class T7Writer:
    def __init__(self, handle) -> None:
        self.handle = handle
        self.indices: dict[int, int] = {}
        self.alive: list[object] = []  # keeps every indexed object alive, so no id() is reused for another

    def _int(self, value: int) -> None:
        self.handle.write(struct.pack("<i", value))

    def _long(self, value: int) -> None:
        self.handle.write(struct.pack("<q", value))

    def _string(self, text: str) -> None:
        data = text.encode()
        self._int(len(data))
        self.handle.write(data)

    def _reference(self, type_id: int, value: object) -> bool:
        """Write the type and object index; True when the object was written before (a reference only)."""
        self._int(type_id)
        key = id(value)
        seen = key in self.indices
        if not seen:
            self.indices[key] = len(self.indices) + 1
            self.alive.append(value)
        self._int(self.indices[key])
        return seen

    def write(self, value: object) -> None:
        if value is None:
            self._int(0)
        elif isinstance(value, bool):
            self._int(5)
            self._int(int(value))
        elif isinstance(value, int | float):
            self._int(1)
            self.handle.write(struct.pack("<d", float(value)))
        elif isinstance(value, str):
            self._int(2)
            self._string(value)
        elif isinstance(value, np.ndarray):
            self._tensor(value)
        elif isinstance(value, Module):
            if not self._reference(4, value):
                self._string("V 1")
                self._string(value.typename)
                self.write(value.fields)
        elif isinstance(value, list | dict):
            if not self._reference(3, value):
                items = list(value.items()) if isinstance(value, dict) else list(enumerate(value, start=1))
                self._int(len(items))
                for key, item in items:
                    self.write(key)
                    self.write(item)
        else:
            raise TypeError(type(value))

    def _tensor(self, array: np.ndarray) -> None:
        if self._reference(4, array):
            return
        array = np.ascontiguousarray(array, dtype=np.float32)
        self._string("V 1")
        self._string("torch.FloatTensor")
        self._int(array.ndim)
        for size in array.shape:
            self._long(size)
        for stride in np.array(array.strides) // 4:
            self._long(int(stride))
        self._long(1)  # storage offset, 1-based
        storage = array.reshape(-1)
        self._reference(4, storage)
        self._string("V 1")
        self._string("torch.FloatStorage")
        self._long(storage.size)
        self.handle.write(storage.tobytes())


def save_t7(value: object, path: Path) -> Path:
    with open(path, "wb") as handle:
        T7Writer(handle).write(value)
    return path


# ---------------------------------------------------------------------------------------------------------------
# nn4.small2.def.lua with random weights, as the published file stores it (SpatialConvolutionMM outside, dpnn's
# nn.Inception around nn.DepthConcat with nn.SpatialConvolution inside). Batch norms alternate between the current
# running_var form and the old running_std form, and one uses a different epsilon.


class RandomNet:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.bn_count = 0

    def conv(self, nin: int, nout: int, k: int, stride: int = 1, pad: int = 0, mm: bool = True) -> Module:
        scale = np.sqrt(2.0 / (nin * k * k))
        weight = self.rng.normal(0, scale, (nout, nin * k * k) if mm else (nout, nin, k, k))
        return Module(
            "nn.SpatialConvolutionMM" if mm else "nn.SpatialConvolution",
            nInputPlane=nin, nOutputPlane=nout, kW=k, kH=k, dW=stride, dH=stride, padW=pad, padH=pad,
            weight=weight.astype(np.float32), bias=self.rng.normal(0, 0.1, nout).astype(np.float32), train=False,
        )  # fmt: skip

    def bn(self, n: int) -> Module:
        self.bn_count += 1
        mean = self.rng.normal(0, 0.2, n).astype(np.float32)
        var = self.rng.uniform(0.5, 2.0, n).astype(np.float32)
        eps = 1e-3 if self.bn_count == 2 else 1e-5
        stats = {"running_var": var} if self.bn_count % 2 else {"running_std": (1 / np.sqrt(var + eps)).astype("f4")}
        return Module(
            "nn.SpatialBatchNormalization", eps=eps, momentum=0.1, affine=True, train=False, running_mean=mean,
            weight=self.rng.uniform(0.5, 1.5, n).astype(np.float32), bias=self.rng.normal(0, 0.1, n).astype("f4"),
            **stats,
        )  # fmt: skip

    def block(self, nin: int, nout: int, k: int, stride: int = 1, pad: int = 0, mm: bool = False) -> list[Module]:
        return [self.conv(nin, nout, k, stride, pad, mm), self.bn(nout), Module("nn.ReLU", threshold=0, val=0)]

    def inception(self, nin, kernels, strides, outputs, reduces, pool: Module) -> Module:
        branches = []
        for i, (k, s, out) in enumerate(zip(kernels, strides, outputs)):
            layers = self.block(nin, reduces[i], 1) + self.block(reduces[i], out, k, s, k // 2)
            branches.append(Module("nn.Sequential", modules=layers))
        pool_branch = [pool] + (self.block(nin, reduces[len(kernels)], 1) if reduces[len(kernels)] else [])
        branches.append(Module("nn.Sequential", modules=pool_branch))
        if len(reduces) > len(kernels) + 1 and reduces[len(kernels) + 1]:
            branches.append(Module("nn.Sequential", modules=self.block(nin, reduces[len(kernels) + 1], 1)))
        concat = Module("nn.DepthConcat", dimension=2, modules=branches)
        return Module("nn.Inception", module=concat, modules=[concat])  # the same object twice: a reference


def max_pool(k: int, s: int, pad: int = 0) -> Module:
    return Module("nn.SpatialMaxPooling", kW=k, kH=k, dW=s, dH=s, padW=pad, padH=pad, ceil_mode=False)


def l2_pool() -> Module:
    average = Module("nn.SpatialAveragePooling", kW=3, kH=3, dW=3, dH=3, padW=0, padH=0, count_include_pad=True)
    steps = [Module("nn.Square"), average, Module("nn.MulConstant", constant_scalar=9), Module("nn.Sqrt", eps=0)]
    return Module("nn.SpatialLPPooling", kW=3, kH=3, dW=3, dH=3, modules=steps)


def lrn() -> Module:
    return Module("nn.SpatialCrossMapLRN", size=5, alpha=1e-4, beta=0.75, k=1)


def nn4_small2(seed: int = 0) -> Module:
    net = RandomNet(seed)
    modules = [
        *net.block(3, 64, 7, 2, 3, mm=True), max_pool(3, 2, 1), lrn(),
        *net.block(64, 64, 1, mm=True), *net.block(64, 192, 3, 1, 1, mm=True), lrn(), max_pool(3, 2, 1),
        net.inception(192, (3, 5), (1, 1), (128, 32), (96, 16, 32, 64), max_pool(3, 2)),
        net.inception(256, (3, 5), (1, 1), (128, 64), (96, 32, 64, 64), l2_pool()),
        net.inception(320, (3, 5), (2, 2), (256, 64), (128, 32, None, None), max_pool(3, 2)),
        net.inception(640, (3, 5), (1, 1), (192, 64), (96, 32, 128, 256), l2_pool()),
        net.inception(640, (3, 5), (2, 2), (256, 128), (160, 64, None, None), max_pool(3, 2)),
        net.inception(1024, (3,), (1,), (384,), (96, 96, 256), l2_pool()),
        Module("nn.Reshape", size=[736, 3, 3]),
        net.inception(736, (3,), (1,), (384,), (96, 96, 256), max_pool(3, 2)),
        Module("nn.SpatialAveragePooling", kW=3, kH=3, dW=3, dH=3, padW=0, padH=0, count_include_pad=True),
        Module("nn.Reshape", size=[736]),
        Module("nn.View", size=[736]),
        Module("nn.Linear", weight=net.rng.normal(0, 0.05, (128, 736)).astype("f4"),
               bias=net.rng.normal(0, 0.05, 128).astype("f4")),
        Module("nn.Normalize", p=2, eps=1e-10),
    ]  # fmt: skip
    return Module("nn.Sequential", modules=modules)


# ---------------------------------------------------------------------------------------------------------------
# A numpy forward pass with Torch's semantics (NCHW, float64), read from the module tree: the reference the
# converted Keras network must reproduce.


def _windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    return view[:, :, ::stride, ::stride]


def torch_forward(module: Module, x: np.ndarray) -> np.ndarray:
    f, kind = module.fields, module.typename.removeprefix("nn.")
    if kind in ("Sequential", "SpatialLPPooling"):
        for child in f["modules"]:
            x = torch_forward(child, x)
        return x
    if kind == "Inception":
        return torch_forward(f["module"], x)
    if kind == "DepthConcat":
        outs = [torch_forward(child, x) for child in f["modules"]]
        size = max(o.shape[2] for o in outs)
        padded = []
        for o in outs:
            before = (size - o.shape[2]) // 2
            after = size - o.shape[2] - before
            padded.append(np.pad(o, ((0, 0), (0, 0), (before, after), (before, after))))
        return np.concatenate(padded, axis=1)
    if kind.startswith("SpatialConvolution"):
        weight = f["weight"].astype(np.float64).reshape(f["nOutputPlane"], f["nInputPlane"], f["kH"], f["kW"])
        p = f["padW"]
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        return np.einsum("nchwij,ocij->nohw", _windows(x, f["kW"], f["dW"]), weight) + f["bias"][None, :, None, None]
    if kind == "SpatialBatchNormalization":
        if "running_var" in f:
            inv = 1 / np.sqrt(f["running_var"].astype(np.float64) + f["eps"])
        else:
            inv = f["running_std"].astype(np.float64)
        shape = (1, -1, 1, 1)
        return (x - f["running_mean"].reshape(shape)) * (inv * f["weight"]).reshape(shape) + f["bias"].reshape(shape)
    if kind == "ReLU":
        return np.maximum(x, 0)
    if kind == "SpatialMaxPooling":
        p = f["padW"]
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
        return _windows(x, f["kW"], f["dW"]).max(axis=(4, 5))
    if kind == "SpatialAveragePooling":
        return _windows(x, f["kW"], f["dW"]).mean(axis=(4, 5))
    if kind == "SpatialCrossMapLRN":
        half = f["size"] // 2
        squares = np.pad(x**2, ((0, 0), (half, half), (0, 0), (0, 0)))
        total = sum(squares[:, i : i + x.shape[1]] for i in range(f["size"]))
        return x * (f["k"] + f["alpha"] / f["size"] * total) ** -f["beta"]
    if kind == "Square":
        return x**2
    if kind == "Sqrt":
        return np.sqrt(x)
    if kind == "MulConstant":
        return x * f["constant_scalar"]
    if kind in ("Reshape", "View"):
        return x.reshape(len(x), *f["size"])
    if kind == "Linear":
        return x @ f["weight"].astype(np.float64).T + f["bias"]
    if kind == "Normalize":
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    raise AssertionError(f"no reference for {kind}")


# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_net() -> Module:
    return nn4_small2()


@pytest.fixture(scope="module")
def converted(tmp_path_factory, random_net) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("openface")
    t7 = save_t7(random_net, folder / "nn4.small2.random.t7")
    out = folder / "nn4.small2.random.weights.h5"
    assert convert_t7(t7, out) == 75
    return t7, out


def test_architecture_shapes_and_parameter_count():
    from faceprint.embedding.openface_net import build_nn4_small2

    model, order = build_nn4_small2()
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 128)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == NN4_SMALL2_PARAMETERS
    # the only other weights are the batch norms' running means and variances
    bn_channels = sum(model.get_layer(name).weights[0].shape[0] for name in order if name.endswith("_bn"))
    assert model.count_params() - trainable == 2 * bn_channels
    widths = {name: model.get_layer(f"inception_{name}_concat").output.shape[1:] for name in ("3a", "3c", "4e", "5b")}
    assert widths == {"3a": (12, 12, 256), "3c": (6, 6, 640), "4e": (3, 3, 1024), "5b": (3, 3, 736)}
    assert len(order) == 75 and order[0] == "conv1" and order[-1] == "linear"


def test_torchfile_reads_the_written_file(converted, random_net):
    t7, _ = converted
    layers = parameter_layers(read_t7(t7))
    assert len(layers) == 75
    assert layers[0].typename == "nn.SpatialConvolutionMM" and layers[-1].typename == "nn.Linear"
    np.testing.assert_array_equal(layers[-1].array("weight"), random_net.fields["modules"][-2].fields["weight"])


def test_converted_weights_land_layer_by_layer(converted, random_net):
    from faceprint.embedding.openface_net import build_nn4_small2

    _, out = converted
    model, _ = build_nn4_small2()
    model.load_weights(out)
    conv1 = random_net.fields["modules"][0].fields
    kernel = conv1["weight"].reshape(64, 3, 7, 7).transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(model.get_layer("conv1").get_weights()[0], kernel)
    linear = random_net.fields["modules"][-2].fields
    np.testing.assert_array_equal(model.get_layer("linear").get_weights()[0], linear["weight"].T)
    np.testing.assert_array_equal(model.get_layer("linear").get_weights()[1], linear["bias"])


def test_converted_network_computes_what_torch_computes(converted, random_net):
    """The Keras network with converted weights against a numpy forward pass with Torch's semantics."""
    from faceprint.embedding.openface_net import build_nn4_small2

    _, out = converted
    model, _ = build_nn4_small2()
    model.load_weights(out)
    rng = np.random.default_rng(1)
    faces = rng.uniform(0, 1, (2, 96, 96, 3)).astype(np.float32)
    keras_out = np.asarray(model(faces, training=False))
    reference = torch_forward(random_net, faces.transpose(0, 3, 1, 2).astype(np.float64))
    assert keras_out.shape == (2, 128)
    np.testing.assert_allclose(keras_out, reference, atol=2e-4)
    # a small sub-net too (conv1 -> bn -> relu), where any layout slip would show plainly
    stem = model.get_layer("conv1_relu").output
    sub = type(model)(model.input, stem)
    first = Module("nn.Sequential", modules=random_net.fields["modules"][:3])
    np.testing.assert_allclose(
        np.asarray(sub(faces)).transpose(0, 3, 1, 2), torch_forward(first, faces.transpose(0, 3, 1, 2)), atol=1e-4
    )


def test_embedder_end_to_end_on_a_real_photo(converted, samples):
    from faceprint.pipeline import FacePipeline

    _, out = converted
    embedder = OpenFaceEmbedder(weights=out)
    assert embedder.template.size == 96 and embedder.dimension == 128
    pipeline = FacePipeline(models=("openface",), embedders={"openface": embedder})
    faces = pipeline.embed_image(samples / "group" / "two_people_2.jpg")
    vectors = np.stack([face.vectors["openface"] for face in faces])
    assert vectors.shape == (2, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert abs(float(vectors[0] @ vectors[1])) < 0.9999  # two different faces, two different vectors


def test_environment_variable_makes_openface_available(converted, monkeypatch, tmp_path):
    from faceprint.celebrity.training import available_members
    from faceprint.embedding.registry import model_spec

    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert not model_spec("openface").available()
    assert "openface" not in available_members()
    monkeypatch.setenv(WEIGHTS_ENV, str(converted[1]))
    assert model_spec("openface").unavailable_reason() is None
    assert available_members()[-1] == "openface"  # optional members join the ensemble when installed
    assert available_members(("facenet", "openface")) == ("facenet", "openface")


def test_a_t7_that_is_not_nn4_small2_is_refused(tmp_path):
    small = Module("nn.Sequential", modules=[RandomNet().conv(3, 8, 3), Module("nn.ReLU")])
    with pytest.raises(Torch7FormatError, match=r"1 parametrised layers, nn4\.small2 has 75"):
        convert_t7(save_t7(small, tmp_path / "small.t7"), tmp_path / "small.weights.h5")
    truncated = tmp_path / "truncated.t7"
    whole = save_t7(small, tmp_path / "whole.t7").read_bytes()
    truncated.write_bytes(whole[: len(whole) - 200])
    with pytest.raises(Torch7FormatError, match="not a readable Torch7 file"):
        read_t7(truncated)


@pytest.fixture
def no_openface(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_list_reports_openface_unavailable(capsys, no_openface):
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)["models"]}
    assert code == 0 and set(rows) >= {"facenet", "dlib", "openface"}
    assert all(row["source"] and row["licence"] and row["dimension"] for row in rows.values())
    openface = rows["openface"]
    assert openface["available"] is False and openface["default"] is False and openface["dimension"] == 128
    assert "faceprint models fetch openface" in openface["reason"] and OPENFACE_MD5 in openface["reason"]
    assert rows["facenet"]["reason"] is None
    code, out, _ = run(capsys, "models", "list")
    line = next(line for line in out.splitlines() if line.startswith("openface"))
    assert "NOT AVAILABLE" in line and "not available: OpenFace" in out


def test_commands_asking_for_openface_fail_with_one_line(capsys, no_openface, samples):
    code, out, err = run(capsys, "embed", "--model", "openface", str(samples / "people" / "obama" / "obama.jpg"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "faceprint models fetch openface" in err and WEIGHTS_ENV in err
    from faceprint.celebrity.training import available_members

    with pytest.raises(ModelUnavailableError, match=r"'openface' is not available on this machine: .*--weights PATH"):
        available_members(("facenet", "openface"))  # what 'faceprint train --model facenet,openface' checks


def test_fused_verification_says_how_to_calibrate_for_openface(capsys, no_openface, samples):
    obama = samples / "people" / "obama"
    code, _, err = run(capsys, "verify", "--model", "facenet,dlib,openface", str(obama / "obama.jpg"), "x.jpg")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no calibrated threshold for models dlib+facenet+openface" in err and "faceprint calibrate" in err


def test_fetch_refuses_a_local_file_that_is_not_the_published_one(capsys, no_openface, converted):
    code, _, err = run(capsys, "models", "fetch", "openface", "--weights", str(converted[0]))
    assert code == 2 and f"not {OPENFACE_MD5}" in err and len(err.strip().splitlines()) == 1


def test_fetch_offline_says_how_to_install_by_hand(capsys, no_openface, closed_port):
    url = f"http://127.0.0.1:{closed_port}/nn4.small2.v1.t7"
    code, out, err = run(capsys, "models", "fetch", "openface", "--quiet", "--url", url)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    for text in (url, OPENFACE_URL, OPENFACE_MD5, "--weights PATH", WEIGHTS_ENV):
        assert text in err


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fetch_with_an_unknown_model_name_or_a_missing_local_file(capsys, no_openface, monkeypatch):
    code, _, err = run(capsys, "models", "fetch", "facenet")
    assert code == 2 and "PyPI" in err
    monkeypatch.setenv(WEIGHTS_ENV, "/nonexistent/nn4.small2.v1.t7")
    with pytest.raises(ModelUnavailableError, match="is not a file"):
        openface_weights_path()
