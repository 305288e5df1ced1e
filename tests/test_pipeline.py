"""The pipeline's model concurrency changes nothing but speed."""

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
