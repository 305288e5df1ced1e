"""How close each stage runs to the machine's arithmetic limit: FLOPs per face (per image for MTCNN), the measured
peak float32 GFLOP/s (large matmul in numpy and TensorFlow), and each stage's achieved GFLOP/s and share of peak.

FLOPs count the convolutions and matrix products (2 per multiply-add) from the static shapes of each network's
TensorFlow graph at batch 1; element-wise work (activations, normalisation, pooling, resizing) is left out.

Usage: .venv/bin/python -m benchmarks.hardware [--repeat 15]
Writes benchmarks/results/hardware.json."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, photo_640x480, timed, write_result
from faceprint._tf import tensorflow
from faceprint.alignment import align_face
from faceprint.embedding import get_embedder
from faceprint.pipeline import FacePipeline

RESULTS_TMP = Path(tempfile.gettempdir()) / "faceprint-hardware"


def graph_flops(graph) -> int:
    """2 x multiply-adds of every Conv2D / DepthwiseConv2dNative / MatMul in a graph with static shapes."""
    total = 0

    def static(shape) -> list[int]:
        return [1 if d is None else d for d in shape.as_list()]  # an open batch dimension counts as 1

    for op in graph.get_operations():
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            kernel = static(op.inputs[1].shape)
            out = static(op.outputs[0].shape)
            per_output = kernel[0] * kernel[1] * kernel[2] * (1 if op.type == "Conv2D" else kernel[3])
            total += 2 * int(np.prod(out)) * per_output
        elif op.type in ("MatMul", "BatchMatMulV2"):
            a = static(op.inputs[0].shape)
            out = static(op.outputs[0].shape)
            total += 2 * int(np.prod(out)) * a[-1]
    return total


def facenet_flops() -> int:
    """FaceNet's frozen graph as shipped (batch 1, 160x160)."""
    tf = tensorflow()
    from faceprint.embedding.facenet import facenet_graph_path

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(facenet_graph_path().read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph_flops(graph)


def dlib_flops() -> int:
    """dlib's ResNet as run by faceprint's TensorFlow engine (batch 1, 150x150)."""
    tf = tensorflow()
    from faceprint.embedding.dlib_graph import build_dlib_function, read_dlib_weights
    from faceprint.embedding.dlib_resnet import dlib_weights_path

    function = build_dlib_function(read_dlib_weights(dlib_weights_path()))
    return graph_flops(function.get_concrete_function(tf.TensorSpec([1, 150, 150, 3], tf.uint8)).graph)


def mtcnn_flops(detector, image: np.ndarray) -> dict:
    """PNet over the 640x480 pyramid, plus RNet and ONet per window times the windows this photo sends them."""
    tf = tensorflow()
    compiled = detector._load()
    from faceprint.detection.mtcnn_graph import SCALE_FACTOR, _keras_networks
    from faceprint.detection.mtcnn_ops import scale_pyramid

    height, width = image.shape[:2]
    scales = scale_pyramid(width, height, 20, SCALE_FACTOR)
    networks = _keras_networks()
    pnet_model, rnet_model, onet_model = networks["pnet"], networks["rnet"], networks["onet"]

    def flops_at(model, shape):
        spec = tf.TensorSpec(shape, tf.float32)
        return graph_flops(tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph)

    pnet = sum(flops_at(pnet_model, [1, int(height * s), int(width * s), 3]) for s in scales)
    normalized = (image[None].astype(np.float32) - 127.5) / 128.0
    proposals = compiled._propose(normalized, 20)
    refined = compiled._refine(normalized, proposals) if len(proposals) else proposals
    rnet_window, onet_window = flops_at(rnet_model, [1, 24, 24, 3]), flops_at(onet_model, [1, 48, 48, 3])
    return {
        "pyramid_scales": len(scales),
        "pnet": pnet,
        "rnet_windows": len(proposals),
        "rnet": rnet_window * len(proposals),
        "onet_windows": len(refined),
        "onet": onet_window * len(refined),
        "total": pnet + rnet_window * len(proposals) + onet_window * len(refined),
    }


def peak_gflops(size: int = 2048, repeat: int = 10) -> dict:
    """Float32 matmul throughput (the best of ``repeat`` runs) in numpy (its BLAS) and in TensorFlow."""
    tf = tensorflow()
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size**3

    def best(function) -> float:
        function()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return round(flops / min(times) / 1e9, 1)

    ta, tb = tf.constant(a), tf.constant(b)
    return {"numpy": best(lambda: a @ b), "tensorflow": best(lambda: (ta @ tb).numpy()), "matrix": size}


def peak_int8_gops(size: int = 2048, repeat: int = 10) -> float:
    """Best-of-``repeat`` 8-bit matrix product (uint8 x int8 -> int32, ONNX Runtime's MatMulInteger, which uses
    VNNI where the CPU has it) in GOP/s: the ceiling for 8-bit FaceNet."""
    import onnx
    from onnx import TensorProto, helper

    from faceprint.onnx_engine import OnnxNetwork

    rng = np.random.default_rng(0)
    weights = helper.make_tensor(
        "b", TensorProto.INT8, [size, size], rng.integers(-127, 127, (size, size), dtype=np.int8).tobytes(), raw=True
    )
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
        "int8_peak",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [size, size])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = RESULTS_TMP / "int8_peak.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    network = OnnxNetwork(path)
    a = rng.integers(0, 255, (size, size), dtype=np.uint8)
    network.run(a)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        network.run(a)
        best = min(best, time.perf_counter() - start)
    path.unlink()
    return round(2 * size**3 / best / 1e9, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    pipeline = FacePipeline()
    image = photo_640x480(DATASETS / "samples" / "people" / "obama" / "obama1.jpg")
    faces = pipeline.detector.detect(image)
    peak = peak_gflops()
    peak["int8_onnxruntime_gops"] = peak_int8_gops()
    flops = {"mtcnn": mtcnn_flops(pipeline.detector, image), "facenet": facenet_flops(), "dlib": dlib_flops()}
    stages = {"detect (MTCNN, per 640x480 image)": (lambda: pipeline.detector.detect(image), flops["mtcnn"]["total"])}
    for name in ("facenet", "dlib"):
        embedder = get_embedder(name)
        crop = align_face(image, faces[0].landmarks, embedder.template)[None]
        # embed() runs the face and its mirror image: two network passes.
        stages[f"embed {name} (face + mirror)"] = (lambda e=embedder, c=crop: e.embed(c), 2 * flops[name])
    float_peak = max(peak["numpy"], peak["tensorflow"])
    rows = {}
    for label, (function, count) in stages.items():
        # 8-bit FaceNet is measured against the 8-bit ceiling, everything else against the float32 one.
        int8 = "facenet" in label and getattr(get_embedder("facenet"), "precision", "") == "int8"
        best_peak = peak["int8_onnxruntime_gops"] if int8 else float_peak
        timing = timed(function, args.repeat)
        achieved = count / (timing["median_ms"] / 1000.0) / 1e9
        rows[label] = {
            "gflop": round(count / 1e9, 3),
            **timing,
            "achieved_gflops": round(achieved, 1),
            "share_of_peak": round(achieved / best_peak, 3),
            "floor_ms_at_peak": round(count / best_peak / 1e6, 2),
            "peak": "int8" if int8 else "float32",
        }
    result = {"threads": os.cpu_count(), "peak_gflops": peak, "flops": flops, "stages": rows}
    path = write_result("hardware", result)
    print(
        f"peak float32 matmul: numpy {peak['numpy']} GFLOP/s, TensorFlow {peak['tensorflow']} GFLOP/s; "
        f"int8 (ONNX Runtime) {peak['int8_onnxruntime_gops']} GOP/s"
    )
    print(
        f"GFLOP per pass: FaceNet {flops['facenet'] / 1e9:.3f}, dlib {flops['dlib'] / 1e9:.3f}; "
        f"MTCNN per 640x480 image {flops['mtcnn']['total'] / 1e9:.3f}"
    )
    for label, row in rows.items():
        print(
            f"  {label:36s} {row['gflop']:7.3f} GFLOP  median {row['median_ms']:7.1f} ms  "
            f"{row['achieved_gflops']:6.1f} GFLOP/s  {100 * row['share_of_peak']:5.1f}% of {row['peak']} peak  "
            f"(floor {row['floor_ms_at_peak']} ms)"
        )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
