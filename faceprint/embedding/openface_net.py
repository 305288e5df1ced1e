"""OpenFace's nn4.small2 network (``models/openface/nn4.small2.def.lua``) in Keras: 96x96 RGB in, a 128-d unit
vector out, with every layer placed as Torch computes it, so weights converted from the published ``.t7`` file give
the same embeddings.

Torch details reproduced: symmetric zero padding before convolutions and poolings (Keras' 'same' pads
asymmetrically on even sizes), cross-channel LRN with ``alpha / size``, L2 pooling (``nn.SpatialLPPooling``, whose
stride defaults to its 3x3 window), and ``nn.DepthConcat``, which centres smaller branch outputs in zeros. Max
poolings pad with zeros rather than -inf: their inputs are never negative (after ReLU or LRN), so the result is
the same."""

from __future__ import annotations

from dataclasses import dataclass

from faceprint._tf import tensorflow

tf = tensorflow()
keras = tf.keras
layers = keras.layers

INPUT_SIZE = 96
BN_EPSILON = 1e-5
"""Torch's default; the converter folds any other epsilon stored in the file into the running variance."""


class CrossMapLRN(layers.Layer):
    """Torch ``nn.SpatialCrossMapLRN(size, alpha, beta, k)``: x / (k + alpha / size * sum of x^2 over ``size``
    neighbouring channels) ^ beta."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        return tf.nn.local_response_normalization(
            x, depth_radius=self.size // 2, bias=self.k, alpha=self.alpha / self.size, beta=self.beta
        )


class L2Pooling(layers.Layer):
    """Torch ``nn.SpatialLPPooling(p=2)``: the Euclidean norm of each ``pool`` x ``pool`` window."""

    def __init__(self, pool: int = 3, stride: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool, self.stride = pool, stride

    def call(self, x):
        mean = tf.nn.avg_pool2d(tf.square(x), self.pool, self.stride, "VALID")
        return tf.sqrt(mean * float(self.pool * self.pool))


@dataclass(frozen=True)
class InceptionSpec:
    """One ``nn.Inception`` block: (kernel, reduce, output, stride) per convolution branch, the pooling branch
    ('max' 3x3/2 or 'l2' 3x3/3) with an optional 1x1 projection, and an optional plain 1x1 branch."""

    name: str
    kernels: tuple[tuple[int, int, int, int], ...]
    pool: str
    pool_projection: int | None
    one_by_one: int | None


NN4_SMALL2_INCEPTIONS = (
    InceptionSpec("3a", ((3, 96, 128, 1), (5, 16, 32, 1)), "max", 32, 64),
    InceptionSpec("3b", ((3, 96, 128, 1), (5, 32, 64, 1)), "l2", 64, 64),
    InceptionSpec("3c", ((3, 128, 256, 2), (5, 32, 64, 2)), "max", None, None),
    InceptionSpec("4a", ((3, 96, 192, 1), (5, 32, 64, 1)), "l2", 128, 256),
    InceptionSpec("4e", ((3, 160, 256, 2), (5, 64, 128, 2)), "max", None, None),
    InceptionSpec("5a", ((3, 96, 384, 1),), "l2", 96, 256),
    InceptionSpec("5b", ((3, 96, 384, 1),), "max", 96, 256),
)


class _Builder:
    """Creates the layers and records the parametrised ones in Torch's forward order (the converter's map)."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def conv(self, x, filters: int, kernel: int, stride: int = 1, pad: int = 0, name: str = ""):
        """Convolution -> batch normalisation -> ReLU, as every convolution of nn4.small2 is."""
        if pad:
            x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        x = layers.Conv2D(filters, kernel, strides=stride, name=name)(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        self.order += [name, f"{name}_bn"]
        return layers.ReLU(name=f"{name}_relu")(x)

    def inception(self, x, spec: InceptionSpec):
        prefix = f"inception_{spec.name}"
        branches = []
        for kernel, reduce, out, stride in spec.kernels:
            branch = self.conv(x, reduce, 1, name=f"{prefix}_{kernel}x{kernel}_reduce")
            branches.append(self.conv(branch, out, kernel, stride, kernel // 2, name=f"{prefix}_{kernel}x{kernel}"))
        if spec.pool == "max":
            pooled = layers.MaxPooling2D(3, 2, name=f"{prefix}_pool")(x)
        else:
            pooled = L2Pooling(3, 3, name=f"{prefix}_pool")(x)
        if spec.pool_projection:
            pooled = self.conv(pooled, spec.pool_projection, 1, name=f"{prefix}_pool_proj")
        branches.append(pooled)
        if spec.one_by_one:
            branches.append(self.conv(x, spec.one_by_one, 1, name=f"{prefix}_1x1"))
        return layers.Concatenate(name=f"{prefix}_concat")(_depth_concat_pad(branches, prefix))


def _depth_concat_pad(branches: list, prefix: str) -> list:
    """Zero-pad each branch to the largest branch's size, centred as ``nn.DepthConcat`` does."""
    target = max(int(b.shape[1]) for b in branches)
    padded = []
    for index, branch in enumerate(branches):
        size = int(branch.shape[1])
        if size < target:
            before = (target - size) // 2
            pads = ((before, target - size - before), (before, target - size - before))
            branch = layers.ZeroPadding2D(pads, name=f"{prefix}_branch{index}_pad")(branch)
        padded.append(branch)
    return padded


def build_nn4_small2(embedding: int = 128):
    """The nn4.small2 Keras model (uninitialised weights) and the names of its parametrised layers in the order
    Torch's module tree lists them."""
    builder = _Builder()
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="rgb")
    x = builder.conv(inputs, 64, 7, 2, 3, name="conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, 2, name="pool1")(x)
    x = CrossMapLRN(name="lrn1")(x)
    x = builder.conv(x, 64, 1, name="conv2")
    x = builder.conv(x, 192, 3, 1, 1, name="conv3")
    x = CrossMapLRN(name="lrn2")(x)
    x = layers.ZeroPadding2D(1, name="pool2_pad")(x)
    x = layers.MaxPooling2D(3, 2, name="pool2")(x)
    for spec in NN4_SMALL2_INCEPTIONS:
        x = builder.inception(x, spec)
    x = layers.AveragePooling2D(3, 3, name="avgpool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(embedding, name="linear")(x)
    builder.order.append("linear")
    outputs = layers.UnitNormalization(axis=-1, name="l2_normalize")(x)
    return keras.Model(inputs, outputs, name="nn4_small2"), builder.order
