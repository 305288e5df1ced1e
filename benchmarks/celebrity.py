"""Look-alike speed of two celebrity models side by side: the whole ``match_image`` path (decode, detect, align,
embed with the model's members, classify) on the same photos, interleaved, no cache.

  .venv/bin/python -m benchmarks.celebrity --baseline OLD_MODEL_DIR [--repeat 15]

``OLD_MODEL_DIR`` is another model directory, e.g. the previous shipped model checked out with
``git archive 20dc57c faceprint/data/celebrity | tar -x -C /tmp/old``. Also times the shipped stack's linear
meta-learner on one face's features, as a Keras call and as the affine map predictions use, interleaved.
Writes benchmarks/results/celebrity.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import DATASETS, peak_memory_mb, photo_640x480, timed_interleaved, write_result

PHOTOS = ("people/obama/obama1.jpg", "people/kit_harington/john1.jpeg", "group/obama_and_biden_2.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the model directory to compare with")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if not (args.baseline / "model.json").is_file():
        parser.error(f"{args.baseline}: not a celebrity model directory (no model.json)")

    from faceprint.celebrity import CelebrityModel
    from faceprint.celebrity.model import affine_map, stacking_features
    from faceprint.celebrity.predict import match_image
    from faceprint.pipeline import FacePipeline

    pipeline = FacePipeline(cache=None)
    models = {"baseline": CelebrityModel.load(args.baseline), "shipped": CelebrityModel.load()}
    results = {"models": {name: {"kind": m.kind, "members": list(m.members)} for name, m in models.items()}}
    for photo in PHOTOS:
        image = photo_640x480(DATASETS / "samples" / photo)
        variants = {name: (lambda m=model, i=image: match_image(pipeline, m, i)) for name, model in models.items()}
        results[photo] = timed_interleaved(variants, args.repeat)
        row = results[photo]
        print(f"{photo}: " + ", ".join(f"{k} {v['median_ms']} ms" for k, v in row.items()))
    shipped = models["shipped"]
    if shipped.network is not None and (affine := affine_map(shipped.network)) is not None:
        face = pipeline.embed_image(photo_640x480(DATASETS / "samples" / PHOTOS[0]), shipped.members)[0]
        features = stacking_features(shipped.level0, {n: v[None] for n, v in face.vectors.items()}, shipped.members)
        results["meta_learner_one_face"] = timed_interleaved(
            {
                "keras_call": lambda: shipped.network(features, training=False),
                "affine_map": lambda: affine.logits(features),
            },
            args.repeat * 10,
        )
        row = results["meta_learner_one_face"]
        print("meta-learner, one face: " + ", ".join(f"{k} {v['median_ms']} ms" for k, v in row.items()))
    results["peak_memory_mb"] = peak_memory_mb()
    print(f"wrote {write_result('celebrity', results)}")


if __name__ == "__main__":
    main()
