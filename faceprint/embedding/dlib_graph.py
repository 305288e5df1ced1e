"""dlib's face-recognition ResNet run as a TensorFlow graph, with the weights read from dlib's own model file.

The ``dlib-bin`` wheel has no BLAS, so each 150x150 pass costs ~135 ms on two cores and holds the GIL. The network
is small and fixed (dlib's ``dnn_face_recognition_ex.cpp``: a 29-layer ResNet ending in a 128-d linear layer), so
we read its parameters from ``dlib_face_recognition_resnet_model_v1.dat`` and run the same arithmetic in
TensorFlow: the descriptors equal dlib's up to float rounding (``tests/test_embedding.py`` checks them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint._tf import tensorflow
from faceprint.errors import ModelUnavailableError

# The residual stages after the 7x7 stem, from input to output: (filters, down-sampling blocks, plain blocks).
STAGES = ((32, 0, 3), (64, 1, 3), (128, 1, 2), (256, 1, 2), (256, 1, 0))


class DlibFormatError(ModelUnavailableError):
    """The dlib model file is not the network this module knows how to run."""

    code = "invalid_weights"


class _Reader:
    """dlib's serialisation primitives: variable-length integers, mantissa/exponent floats, raw float32 tensors."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def integer(self) -> int:
        head = self.data[self.offset]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.offset + 1 : self.offset + 1 + size], "little")
        self.offset += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa) * 2.0 ** self.integer()

    def string(self) -> str:
        size = self.integer()
        text = self.data[self.offset : self.offset + size].decode("latin-1")
        self.offset += size
        return text

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise DlibFormatError("unknown dlib tensor version")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.offset)
        self.offset += 4 * count
        return values.reshape(shape).astype(np.float32)


@dataclass
class DlibWeights:
    """The parameters of dlib's face ResNet, in forward order."""

    mean_rgb: np.ndarray
    """The input layer subtracts this per channel and divides by 256."""
    convolutions: list[tuple[np.ndarray, np.ndarray, int]]
    """(kernel as height x width x in x out, bias, stride) for every convolution."""
    affines: list[tuple[np.ndarray, np.ndarray]]
    """(scale, shift) of the batch-normalisation layer after every convolution."""
    projection: np.ndarray
    """The final 256 x 128 linear layer (no bias)."""


def _markers(data: bytes, name: str) -> list[int]:
    """Offsets just after every serialised string ``name`` (its length byte, then the characters)."""
    needle = bytes([0x01, len(name)]) + name.encode()
    found, start = [], 0
    while (index := data.find(needle, start)) >= 0:
        found.append(index + len(needle))
        start = index + 1
    return found


def read_dlib_weights(path: Path) -> DlibWeights:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat``: the input means, every ``con_`` and ``affine_``
    layer (serialised input-first, i.e. in forward order) and the final ``fc_`` layer."""
    data = Path(path).read_bytes()
    inputs = _markers(data, "input_rgb_image_sized")
    if len(inputs) != 1:
        raise DlibFormatError(f"{path}: not a dlib input_rgb_image_sized network")
    reader = _Reader(data, inputs[0])
    mean_rgb = np.array([reader.real() for _ in range(3)], dtype=np.float32)
    convolutions = []
    for offset in _markers(data, "con_4"):
        reader = _Reader(data, offset)
        params = reader.tensor().reshape(-1)
        filters, rows, cols, stride_y, stride_x = (reader.integer() for _ in range(5))
        channels = (params.size - filters) // (filters * rows * cols)
        kernel = params[: filters * channels * rows * cols].reshape(filters, channels, rows, cols)
        convolutions.append((kernel.transpose(2, 3, 1, 0).copy(), params[-filters:].copy(), stride_y))
        if stride_x != stride_y:
            raise DlibFormatError(f"{path}: unequal strides")
    affines = []
    for offset in _markers(data, "affine_"):
        params = _Reader(data, offset).tensor().reshape(2, -1)
        affines.append((params[0].copy(), params[1].copy()))
    fc = _markers(data, "fc_2")
    if len(fc) != 1:
        raise DlibFormatError(f"{path}: no final fc_2 layer")
    reader = _Reader(data, fc[0])
    outputs, inputs_count = reader.integer(), reader.integer()
    projection = reader.tensor().reshape(-1)
    if projection.size != outputs * inputs_count:
        raise DlibFormatError(f"{path}: fc_ layer with a bias is not supported")
    expected = 1 + 2 * sum(down + plain for _, down, plain in STAGES)
    if len(convolutions) != expected or len(affines) != expected:
        raise DlibFormatError(f"{path}: {len(convolutions)} convolutions, expected {expected}")
    return DlibWeights(mean_rgb, convolutions, affines, projection.reshape(inputs_count, outputs))


def build_dlib_function(weights: DlibWeights):
    """A ``tf.function`` mapping N x 150 x 150 x 3 uint8 RGB chips to N x 128 unnormalised descriptors.

    dlib's conventions: 3x3 stride-1 convolutions pad by 1 (SAME), stride-2 ones and the pools do not pad (VALID);
    a down-sampling block's shortcut is a 2x2 average pool, and the residual sum zero-fills the smaller operand
    (fewer channels, or one row and column fewer) from the top left, as dlib's ``add_prev`` does."""
    tf = tensorflow()
    kinds = [kind for _, down, plain in STAGES for kind in ["down"] * down + ["plain"] * plain]

    def add_zero_filled(a, b):
        # Rows, columns and channels are static here (the input is always 150x150), so the padding is constant.
        shape = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True)]

        def fill(t):
            missing = [0] + [size - have for size, have in zip(shape, t.shape[1:], strict=True)]
            return tf.pad(t, [[0, m] for m in missing]) if any(missing) else t

        return fill(a) + fill(b)

    @tf.function(input_signature=[tf.TensorSpec([None, 150, 150, 3], tf.uint8)])
    def describe(chips):
        # The weights become constants of the traced graph (not captured tensors), so the graph is self-contained
        # and converts to ONNX as it stands.
        convs = iter([(tf.constant(k), tf.constant(b), s) for k, b, s in weights.convolutions])
        affines = iter([(tf.constant(g), tf.constant(b)) for g, b in weights.affines])
        stem = (next(convs), next(affines))
        blocks = [(kind, (next(convs), next(affines)), (next(convs), next(affines))) for kind in kinds]
        x = (tf.cast(chips, tf.float32) - tf.constant(weights.mean_rgb)) / 256.0
        x = _conv_affine(tf, x, *stem, relu=True)  # the stem: 7x7 stride-2 convolution, then a 3x3 stride-2 max pool
        x = tf.nn.max_pool2d(x, 3, 2, "VALID")
        for kind, first, second in blocks:
            y = _conv_affine(tf, _conv_affine(tf, x, *first, relu=True), *second, relu=False)
            shortcut = tf.nn.avg_pool2d(x, 2, 2, "VALID") if kind == "down" else x
            x = tf.nn.relu(add_zero_filled(y, shortcut))
        return tf.reduce_mean(x, axis=[1, 2]) @ tf.constant(weights.projection)

    return describe


def _conv_affine(tf, x, conv, affine, relu: bool):
    """dlib's ``con`` then ``affine`` (batch normalisation in inference form), optionally followed by relu."""
    kernel, bias, stride = conv
    scale, shift = affine
    x = tf.nn.conv2d(x, kernel, stride, "SAME" if stride == 1 else "VALID") + bias
    x = x * scale + shift
    return tf.nn.relu(x) if relu else x


def dlib_onnx(path: Path):
    """The ONNX Runtime session of the graph ``build_dlib_function`` builds (converted once per machine, cached)."""
    from faceprint.onnx_engine import files_digest, onnx_network, tf_function_to_onnx

    def convert() -> bytes:
        tf = tensorflow()
        function = build_dlib_function(read_dlib_weights(path))
        return tf_function_to_onnx(function, [tf.TensorSpec([None, 150, 150, 3], tf.uint8)])

    return onnx_network("dlib-resnet", files_digest([path], Path(__file__).read_text()), convert)
