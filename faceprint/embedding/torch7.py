"""Reading Lua Torch7 ``.t7`` networks (with PyPI ``torchfile``) and turning their parametrised layers into Keras
weights: convolutions, batch normalisation (running statistics included) and linear layers, in forward order."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import ModelUnavailableError

PARAMETRISED = ("Convolution", "BatchNormalization", "Linear")


class Torch7FormatError(ModelUnavailableError):
    """A ``.t7`` file is damaged, or is not the network it should be."""

    code = "invalid_weights"


@dataclass(frozen=True)
class TorchLayer:
    """One parametrised Torch module: its class name and fields (tensors as numpy arrays)."""

    typename: str
    fields: dict

    @property
    def kind(self) -> str:
        return next(kind for kind in PARAMETRISED if kind in self.typename)

    def array(self, key: str) -> np.ndarray | None:
        value = self.fields.get(key)
        return None if value is None or np.size(value) == 0 else np.array(value, dtype=np.float32)

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self.fields.get(key, default)
        return default if value is None else float(value)


def _checked_storage(dtype):
    def read(reader, version):
        size = reader.read_long()
        data = np.fromfile(reader.f, dtype=dtype, count=size)
        if data.size != size:
            raise Torch7FormatError(f"truncated storage: {data.size} of {size} values")
        return data

    return read


def _checked_tensor(dtype):
    def read(reader, version):
        ndim = reader.read_int()
        size = reader.read_long_array(ndim)
        stride = reader.read_long_array(ndim)
        offset = reader.read_long() - 1
        storage = reader.read_obj()
        if storage is None or ndim == 0:
            return np.empty(0, dtype=dtype)
        needed = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
        if offset < 0 or min(size) < 1 or min(stride) < 0 or needed > len(storage):
            raise Torch7FormatError(f"a tensor of size {list(size)} does not fit its storage")
        strides = [storage.dtype.itemsize * s for s in stride]
        return np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=strides).copy()

    return read


def require_torchfile():
    """The ``torchfile`` module, or a clear error saying how to install it."""
    try:
        import torchfile
    except ImportError:
        raise ModelUnavailableError("reading Torch7 files needs 'torchfile': pip install torchfile==0.1.0") from None
    return torchfile


def _torchfile():
    """``torchfile`` with bounds-checked readers for the tensor types networks use, so a damaged file raises an
    error instead of reading past the end of its data."""
    torchfile = require_torchfile()
    for name, dtype in (("Float", np.float32), ("Double", np.float64), ("Long", np.int64), ("Cuda", np.float32)):
        torchfile.type_handlers[f"torch.{name}Storage".encode()] = _checked_storage(dtype)
        torchfile.type_handlers[f"torch.{name}Tensor".encode()] = _checked_tensor(dtype)
    return torchfile


def read_t7(path: Path):
    """The object serialised in a binary ``.t7`` file (nn modules become ``torchfile.TorchObject``)."""
    torchfile = _torchfile()
    try:
        return torchfile.load(str(path), utf8_decode_strings=True)
    except Torch7FormatError as exc:
        raise Torch7FormatError(f"{path}: not a readable Torch7 file ({exc.message})") from None
    except (struct.error, EOFError, ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError) as exc:
        raise Torch7FormatError(f"{path}: not a readable Torch7 file ({type(exc).__name__}: {exc})") from None
    except torchfile.T7ReaderException as exc:
        raise Torch7FormatError(f"{path}: not a readable Torch7 file ({exc})") from None


def _typename(module) -> str:
    name = module.torch_typename() if hasattr(module, "torch_typename") else ""
    return name.decode() if isinstance(name, bytes) else str(name)


def _fields(module) -> dict:
    raw = module._obj if hasattr(module, "_obj") else {}
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in dict(raw or {}).items()}


def parameter_layers(module) -> list[TorchLayer]:
    """The parametrised modules of a Torch network in forward order (containers such as nn.Sequential,
    nn.DepthConcat and dpnn's nn.Inception are walked depth-first, their children in order)."""
    typename, fields = _typename(module), _fields(module)
    if not typename:
        raise Torch7FormatError("the file holds no Torch nn module")
    if any(kind in typename for kind in PARAMETRISED):
        return [TorchLayer(typename, fields)]
    children = fields.get("modules")
    if children is None and fields.get("module") is not None:
        children = [fields["module"]]
    if isinstance(children, dict):  # a table whose keys were not 1..n
        children = [children[k] for k in sorted(children)]
    layers: list[TorchLayer] = []
    for child in children or []:
        layers.extend(parameter_layers(child))
    return layers


def convolution_weights(layer: TorchLayer) -> list[np.ndarray]:
    """Keras Conv2D weights [kernel (kh, kw, in, out), bias] from nn.SpatialConvolution(MM); the MM variant stores
    its kernel as out x (in * kh * kw), the plain one as out x in x kh x kw: both are the same values in row order."""
    out, inp = int(layer.number("nOutputPlane")), int(layer.number("nInputPlane"))
    kh, kw = int(layer.number("kH")), int(layer.number("kW"))
    weight = layer.array("weight")
    if weight is None or weight.size != out * inp * kh * kw:
        raise Torch7FormatError(f"{layer.typename}: weight of shape {np.shape(weight)} for {inp}->{out} {kh}x{kw}")
    kernel = weight.reshape(out, inp, kh, kw).transpose(2, 3, 1, 0)
    bias = layer.array("bias")
    return [kernel, np.zeros(out, np.float32) if bias is None else bias.reshape(out)]


def batch_norm_weights(layer: TorchLayer, keras_epsilon: float) -> list[np.ndarray]:
    """Keras BatchNormalization weights [gamma, beta, moving_mean, moving_variance].

    Torch normalises by sqrt(var + eps_torch); Keras by sqrt(var' + eps_keras), so var' = var + eps_torch -
    eps_keras gives identical outputs. Older nn versions store ``running_std`` = 1 / sqrt(var + eps) instead."""
    mean = layer.array("running_mean")
    if mean is None:
        raise Torch7FormatError(f"{layer.typename}: no running_mean (was the network saved in evaluation form?)")
    eps = layer.number("eps", 1e-5)
    if layer.array("running_var") is not None:
        denominator = layer.array("running_var") + eps
    elif layer.array("running_std") is not None:
        denominator = 1.0 / np.square(layer.array("running_std").astype(np.float64))
    else:
        raise Torch7FormatError(f"{layer.typename}: neither running_var nor running_std")
    variance = (np.asarray(denominator, np.float64) - keras_epsilon).astype(np.float32)
    gamma = layer.array("weight")
    beta = layer.array("bias")
    count = mean.size
    return [
        np.ones(count, np.float32) if gamma is None else gamma.reshape(count),
        np.zeros(count, np.float32) if beta is None else beta.reshape(count),
        mean.reshape(count),
        variance.reshape(count),
    ]


def linear_weights(layer: TorchLayer) -> list[np.ndarray]:
    """Keras Dense weights [kernel (in, out), bias] from nn.Linear (weight out x in)."""
    weight = layer.array("weight")
    if weight is None or weight.ndim != 2:
        raise Torch7FormatError(f"{layer.typename}: weight of shape {np.shape(weight)}")
    bias = layer.array("bias")
    return [weight.T.copy(), np.zeros(weight.shape[0], np.float32) if bias is None else bias.reshape(-1)]


def keras_weights(layer: TorchLayer, keras_epsilon: float = 1e-3) -> list[np.ndarray]:
    """The Keras weights list of the layer that mirrors ``layer``."""
    if layer.kind == "Convolution":
        return convolution_weights(layer)
    if layer.kind == "BatchNormalization":
        return batch_norm_weights(layer, keras_epsilon)
    return linear_weights(layer)
