"""The ONNX Runtime engine: conversion cached per machine, engines chosen by argument or environment, and the
same faces and embeddings whichever engine runs the networks."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.embedding.facenet import FaceNetEmbedder
from faceprint.onnx_engine import OnnxNetwork, converted_model, default_engine, tf_function_to_onnx


@pytest.fixture
def affine_function():
    from faceprint._tf import tensorflow

    tf = tensorflow()
    spec = tf.TensorSpec([None, 3], tf.float32)
    weights = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]], dtype=np.float32)

    @tf.function(input_signature=[spec])
    def affine(x):
        return tf.nn.relu(x @ tf.constant(weights) + 1.0)

    return affine, spec, weights


def test_conversion_is_written_once_and_reused(affine_function, monkeypatch, tmp_path):
    affine, spec, weights = affine_function
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path))
    conversions = []

    def convert() -> bytes:
        conversions.append(1)
        return tf_function_to_onnx(affine, [spec])

    path = converted_model("affine", "digest1", convert)
    assert path.parent == tmp_path / "onnx" and "digest1" in path.name
    assert converted_model("affine", "digest1", convert) == path
    assert len(conversions) == 1, "a converted network must be reused, not converted again"
    assert not list(path.parent.glob("*.tmp")), "no temporary file may be left behind"
    assert converted_model("affine", "digest2", convert) != path  # other weights, another file
    assert len(conversions) == 2

    x = np.array([[1.0, 2.0, 3.0], [-4.0, 0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(OnnxNetwork(path).run(x)[0], np.maximum(x @ weights + 1.0, 0.0), rtol=1e-6)


def test_a_failed_conversion_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path))

    def broken() -> bytes:
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        converted_model("broken", "digest", broken)
    assert not [p for p in (tmp_path / "onnx").iterdir() if p.suffix != ".lock"]


def test_engine_is_chosen_by_argument_or_environment(monkeypatch):
    monkeypatch.delenv("FACEPRINT_ENGINE", raising=False)
    assert default_engine() == "onnxruntime"
    monkeypatch.setenv("FACEPRINT_ENGINE", "tensorflow")
    assert default_engine() == "tensorflow"
    assert FaceNetEmbedder().engine == "tensorflow"
    assert FaceNetEmbedder(engine="onnxruntime").engine == "onnxruntime"
    monkeypatch.setenv("FACEPRINT_ENGINE", "caffe")
    with pytest.raises(ValueError, match="FACEPRINT_ENGINE"):
        default_engine()
    with pytest.raises(ValueError, match="engine"):
        FaceNetEmbedder(engine="caffe")
    monkeypatch.delenv("FACEPRINT_ENGINE")
    assert FaceNetEmbedder().precision == "int8"
    assert FaceNetEmbedder(engine="tensorflow").precision == "float32"
    with pytest.raises(ValueError, match="precision"):
        FaceNetEmbedder(engine="tensorflow", precision="int8")


def test_facenet_engines_give_the_same_float32_embeddings(pipeline, samples):
    """Cached embeddings and stored galleries are shared by both engines, so they must agree to float rounding."""
    from faceprint.alignment import align_face
    from faceprint.embedding.base import shipped_centres
    from faceprint.imaging import load_image

    image = load_image(samples / "group" / "compreface_000_5.jpg")
    centre = shipped_centres()["facenet"]
    onnx = FaceNetEmbedder(centre=centre, engine="onnxruntime", precision="float32")
    tensorflow = FaceNetEmbedder(centre=centre, engine="tensorflow")
    crops = np.stack([align_face(image, f.landmarks, onnx.template) for f in pipeline.detector.detect(image)])
    assert len(crops) == 5
    np.testing.assert_allclose(onnx.embed(crops), tensorflow.embed(crops), atol=1e-5)
    assert onnx.version == tensorflow.version


def test_8_bit_facenet_stays_close_to_float32(pipeline, samples):
    """The default 8-bit FaceNet (quantised from the shipped activation ranges) must embed every face almost as
    float32 does, and still tell the faces of a group photo apart; it is cached under its own version."""
    from faceprint.alignment import align_face
    from faceprint.embedding.base import shipped_centres
    from faceprint.imaging import load_image

    image = load_image(samples / "group" / "compreface_016_8.jpg")
    centre = shipped_centres()["facenet"]
    int8, float32 = FaceNetEmbedder(centre=centre), FaceNetEmbedder(centre=centre, precision="float32")
    assert int8.precision == "int8" and int8.version != float32.version
    crops = np.stack([align_face(image, f.landmarks, int8.template) for f in pipeline.detector.detect(image)])
    assert len(crops) >= 8
    a, b = int8.embed(crops), float32.embed(crops)
    agreement = np.sum(a * b, axis=1)
    assert agreement.min() > 0.99, agreement
    similarity = a @ a.T
    assert np.all(np.argmax(a @ b.T, axis=1) == np.arange(len(crops)))  # each face is nearest its float32 self
    assert similarity[~np.eye(len(crops), dtype=bool)].max() < 0.9  # different people stay different


def test_conversion_names_tensors_the_same_way_every_time(affine_function):
    """The shipped 8-bit ranges are keyed by tensor name, so names must not depend on earlier conversions."""
    import onnx

    from faceprint._tf import tensorflow

    tf = tensorflow()
    affine, spec, _ = affine_function
    # tf2onnx splits Rsqrt and names the new tensor from its process-wide counter.
    normalised = tf.function(lambda x: tf.math.rsqrt(tf.nn.l2_normalize(x, 1) + 2.0), input_signature=[spec])

    def names() -> list[str]:
        model = onnx.load_from_string(tf_function_to_onnx(normalised, [spec]))
        return [name for node in model.graph.node for name in node.output]

    first = names()
    assert any("__" in name for name in first), "the check needs a tensor named from tf2onnx's counter"
    tf_function_to_onnx(affine, [spec])  # other conversions in between
    tf_function_to_onnx(normalised, [spec])
    assert names() == first


def test_prepared_files_are_found_without_the_converter(affine_function, monkeypatch, tmp_path):
    """An installation without tf2onnx uses files prepared by any converter version, and says how to prepare
    a missing one."""
    import faceprint.onnx_engine as engine
    from faceprint.errors import ModelUnavailableError

    affine, spec, _ = affine_function
    monkeypatch.setenv("FACEPRINT_CACHE_DIR", str(tmp_path))
    prepared = converted_model("affine", "digest1", lambda: tf_function_to_onnx(affine, [spec]))
    monkeypatch.setattr(engine, "_converter_version", lambda: None)

    def never() -> bytes:
        raise AssertionError("nothing may be converted without the converter")

    assert converted_model("affine", "digest1", never) == prepared
    with pytest.raises(ModelUnavailableError, match=r"not prepared.*faceprint\[convert\].*models prepare"):
        converted_model("affine", "digest2", never)


def test_optimised_graph_is_saved_once_and_reused(tmp_path):
    """A network's first session saves the graph ONNX Runtime optimised for this CPU; later sessions load it and
    answer the same; a damaged saved graph is optimised again rather than failing."""
    import shutil

    from faceprint.detection.mtcnn_graph import _convert, mtcnn_weights
    from faceprint.onnx_engine import files_digest, optimised_path

    source = converted_model("mtcnn-rnet", files_digest(mtcnn_weights()), lambda: _convert("rnet"))
    path = tmp_path / source.name
    shutil.copy(source, path)
    crops = np.random.default_rng(0).uniform(-1, 1, (7, 24, 24, 3)).astype(np.float32)
    first = OnnxNetwork(path).run(crops)
    saved = optimised_path(path)
    assert saved.is_file() and saved.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    written = saved.stat().st_mtime_ns
    again = OnnxNetwork(path).run(crops)
    assert saved.stat().st_mtime_ns == written  # loaded, not optimised and written again
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    saved.write_bytes(b"not a graph")
    for a, b in zip(first, OnnxNetwork(path).run(crops), strict=True):
        np.testing.assert_array_equal(a, b)
    assert saved.stat().st_size > len(b"not a graph")  # written afresh
