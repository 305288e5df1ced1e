"""Look-alike speed of two celebrity models side by side: the whole ``match_image`` path (decode, detect, align,
embed with the model's members, classify) on the same photos, interleaved, no cache.

  .venv/bin/python -m benchmarks.celebrity --baseline OLD_MODEL_DIR [--repeat 15]

``OLD_MODEL_DIR`` is another model directory, e.g. the previous shipped model checked out with
``git archive 20dc57c faceprint/data/celebrity | tar -x -C /tmp/old``. Writes benchmarks/results/celebrity.json."""

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

    from faceprint.celebrity import CelebrityModel
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
    results["peak_memory_mb"] = peak_memory_mb()
    print(f"wrote {write_result('celebrity', results)}")


if __name__ == "__main__":
    main()
