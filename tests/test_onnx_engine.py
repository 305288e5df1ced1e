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


def test_facenet_engines_give_the_same_embeddings(pipeline, samples):
    """Cached embeddings and stored galleries are shared by both engines, so they must agree to float rounding."""
    from faceprint.alignment import align_face
    from faceprint.embedding.base import shipped_centres
    from faceprint.imaging import load_image

    image = load_image(samples / "group" / "compreface_000_5.jpg")
    centre = shipped_centres()["facenet"]
    onnx, tensorflow = (
        FaceNetEmbedder(centre=centre, engine="onnxruntime"),
        FaceNetEmbedder(centre=centre, engine="tensorflow"),
    )
    crops = np.stack([align_face(image, f.landmarks, onnx.template) for f in pipeline.detector.detect(image)])
    assert len(crops) == 5
    np.testing.assert_allclose(onnx.embed(crops), tensorflow.embed(crops), atol=1e-5)
    assert onnx.version == tensorflow.version
