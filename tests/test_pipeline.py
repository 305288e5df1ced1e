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
