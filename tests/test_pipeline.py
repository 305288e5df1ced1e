"""The pipeline's model concurrency changes nothing but speed; models load side by side on request."""

from __future__ import annotations

import numpy as np

from faceprint.pipeline import FacePipeline


def test_models_side_by_side_give_the_same_embeddings_as_one_after_the_other(pipeline, samples):
    photo = samples / "group" / "compreface_000_5.jpg"
    together = FacePipeline(detector=pipeline.detector).embed_image(photo)
    in_turn = FacePipeline(detector=pipeline.detector, concurrent_models=False).embed_image(photo)
    assert len(together) == len(in_turn) == 5
    for a, b in zip(together, in_turn, strict=True):
        assert a.face.box == b.face.box and set(a.vectors) == set(b.vectors) == {"facenet", "dlib"}
        for name in a.vectors:
            np.testing.assert_allclose(a.vectors[name], b.vectors[name], atol=1e-6)


def test_detections_cached_by_one_runtime_are_not_served_to_another(tmp_path, samples):
    """Runtimes agree only up to float rounding, so one cache keeps their faces apart: a re-run with the same
    runtime reproduces its own results exactly, whatever another runtime cached before."""
    from faceprint.cache import ArrayCache
    from faceprint.detection.mtcnn import MTCNNDetector

    cache = ArrayCache(tmp_path / "cache.sqlite")
    onnx = FacePipeline(detector=MTCNNDetector(engine="onnxruntime"), cache=cache)
    graph = FacePipeline(detector=MTCNNDetector(engine="tensorflow"), cache=cache)
    image = onnx.load(samples / "people" / "obama" / "obama1.jpg")
    first = onnx.detect(image)
    computed = []
    detect_batch = graph.detector.detect_batch
    graph.detector.detect_batch = lambda images: computed.append(len(images)) or detect_batch(images)
    second = graph.detect(image)
    assert computed == [1], "faces cached by ONNX Runtime were served as TensorFlow's"
    again = graph.detect(image)  # its own entry is served from then on
    assert computed == [1]
    np.testing.assert_allclose(again[0].landmarks, second[0].landmarks, atol=1e-4)
    assert len(first) == len(second) == 1
    np.testing.assert_allclose(first[0].landmarks, second[0].landmarks, atol=0.5)


def test_load_models_loads_detector_and_embedders_side_by_side(samples):
    from faceprint.detection import MTCNNDetector
    from faceprint.embedding.base import shipped_centres
    from faceprint.embedding.dlib_resnet import DlibEmbedder
    from faceprint.embedding.facenet import FaceNetEmbedder

    centres = shipped_centres()
    embedders = {
        "facenet": FaceNetEmbedder(centre=centres.get("facenet")),
        "dlib": DlibEmbedder(centre=centres.get("dlib")),
    }
    pipeline = FacePipeline(detector=MTCNNDetector(), embedders=embedders)
    assert pipeline.detector._model is None and embedders["facenet"]._function is None
    pending = pipeline.load_models(wait=False)
    faces = pipeline.embed_image(samples / "people" / "obama" / "obama1.jpg")  # waits for the loads it needs
    assert all(future.done() for future in pending) and len(faces) == 1
    assert pipeline.detector._model is not None
    assert embedders["facenet"]._function is not None and embedders["dlib"]._model is not None
