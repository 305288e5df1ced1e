"""Embedders on real faces: shapes, unit norms, batching, and the registry's lazy, shared instances."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.embedding import DEFAULT_MODELS, get_embedder, model_spec, resolve_models
from faceprint.embedding.facenet import facenet_graph_path, load_batchable_graph
from faceprint.errors import UnknownModelError


@pytest.fixture(scope="session")
def obama_faces(pipeline, samples):
    return pipeline.embed_image(samples / "people" / "obama" / "obama.jpg")


@pytest.mark.parametrize("name, dimension", [("facenet", 512), ("dlib", 128)])
def test_embeddings_are_unit_float32_vectors(obama_faces, name, dimension):
    assert len(obama_faces) == 1
    vector = obama_faces[0].vectors[name]
    assert vector.shape == (dimension,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_batch_embeddings_equal_one_at_a_time(pipeline, samples, name):
    from faceprint.alignment import align_face
    from faceprint.imaging import load_image

    image = load_image(samples / "group" / "compreface_000_5.jpg")
    embedder = get_embedder(name)
    crops = np.stack([align_face(image, f.landmarks, embedder.template) for f in pipeline.detector.detect(image)])
    batched = embedder.embed(crops)
    single = np.concatenate([embedder.embed(crops[i : i + 1]) for i in range(len(crops))])
    assert batched.shape == (5, embedder.dimension)
    np.testing.assert_allclose(batched, single, atol=2e-4)
    assert embedder.embed(crops[:0]).shape == (0, embedder.dimension)


@pytest.mark.parametrize("engine", ["onnxruntime", "tensorflow"])
def test_dlib_graph_gives_dlibs_own_descriptors(pipeline, samples, engine):
    """dlib's weights run as a graph (ONNX Runtime or TensorFlow) must reproduce dlib-bin's descriptors (stored
    galleries depend on them)."""
    from faceprint.alignment import align_face
    from faceprint.embedding.dlib_resnet import DlibEmbedder
    from faceprint.imaging import load_image

    image = load_image(samples / "group" / "compreface_016_8.jpg")
    graph, reference = DlibEmbedder(engine=engine), DlibEmbedder(engine="dlib")
    crops = np.stack([align_face(image, f.landmarks, graph.template) for f in pipeline.detector.detect(image)])
    assert len(crops) >= 8
    np.testing.assert_allclose(graph.embed(crops), reference.embed(crops), atol=1e-5)
    assert graph.version == reference.version
    with pytest.raises(ValueError, match="engine"):
        DlibEmbedder(engine="caffe")


def test_dlib_weights_are_read_from_dlibs_model_file():
    from faceprint.embedding.dlib_graph import read_dlib_weights
    from faceprint.embedding.dlib_resnet import dlib_weights_path

    weights = read_dlib_weights(dlib_weights_path())
    assert len(weights.convolutions) == len(weights.affines) == 29
    assert weights.convolutions[0][0].shape == (7, 7, 3, 32) and weights.projection.shape == (256, 128)
    np.testing.assert_allclose(weights.mean_rgb, [122.782, 117.001, 104.298], atol=1e-3)


def test_facenet_graph_is_rewritten_for_any_batch():
    graph = load_batchable_graph(facenet_graph_path())
    placeholder = next(node for node in graph.node if node.name == "input")
    assert placeholder.attr["shape"].shape.dim[0].size == -1


def test_every_face_of_a_group_photo_is_embedded(pipeline, samples):
    faces = pipeline.embed_image(samples / "group" / "compreface_016_8.jpg")
    assert len(faces) >= 8
    assert all(set(face.vectors) == set(DEFAULT_MODELS) for face in faces)


def test_registry_shares_one_instance_and_knows_its_models():
    assert get_embedder("facenet") is get_embedder("facenet")
    spec = model_spec("dlib")
    assert spec.dimension == 128 and spec.available() and spec.licence
    assert resolve_models("all") == DEFAULT_MODELS
    assert resolve_models("dlib") == ("dlib",)
    with pytest.raises(UnknownModelError, match="unknown model 'arcface'"):
        resolve_models("arcface")


def test_models_load_lazily():
    """Creating the registry entries must not load network weights (that happens on first embed)."""
    import subprocess
    import sys

    code = (
        "import sys; from faceprint.embedding import get_embedder; e = get_embedder('facenet'); "
        "print(e._function is None, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
