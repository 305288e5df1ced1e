"""Celebrity candidates away from their training distribution: does stacking beat the single models there?

  .venv/bin/python -m benchmarks.celebrity_shift DATA [--work DIR]

``DATA`` is a prepared collection (``faceprint prepare``). Every candidate is trained on its training split exactly
as ``faceprint train`` does (Keras networks early-stopped and every candidate temperature-scaled on validation),
then each one classifies, through the whole pipeline (decode, detect, align, embed), the same images:

- the test split's original files (``clean``);
- those files degraded seven ways that photos from other sources are (low resolution, heavy JPEG compression,
  blur, sensor noise, under-exposure, grayscale, the lower face covered as by a mask);
- LFW photos (other photographers, other years) of the model's people that LFW has.

Prints errors per candidate and set, and for every candidate against the stack the images only one of the two
gets right, with McNemar's exact test. Writes benchmarks/results/celebrity_shift.json."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import DATASETS, write_result


def low_resolution(image: np.ndarray) -> np.ndarray:
    """The face seen at 32 px across (a distant face, a small thumbnail), scaled back up."""
    height, width = image.shape[:2]
    scale = 32.0 / max(height, width)
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def jpeg(image: np.ndarray) -> np.ndarray:
    _, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 8])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), max(image.shape[:2]) / 60.0)


def noise(image: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(int(image.sum()) % 2**32)
    return np.clip(image + rng.normal(0.0, 20.0, image.shape), 0, 255).astype(np.uint8)


def dark(image: np.ndarray) -> np.ndarray:
    return (255.0 * 0.6 * (image / 255.0) ** 2.2).astype(np.uint8)


def grayscale(image: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def mask(image: np.ndarray) -> np.ndarray:
    covered = image.copy()
    covered[int(image.shape[0] * 0.62) :] = (90, 110, 140)
    return covered


DEGRADATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "low_resolution": low_resolution,
    "jpeg_q8": jpeg,
    "blur": blur,
    "noise": noise,
    "dark": dark,
    "grayscale": grayscale,
    "mask": mask,
}


def write_degraded(sources: list[tuple[Path, str]], work: Path) -> dict[str, Path]:
    """Every degraded copy of the (path, person) images, as one folder-per-person collection per degradation."""
    from faceprint.imaging import load_image

    folders = {}
    for name, degrade in DEGRADATIONS.items():
        folders[name] = work / name
        for path, person in sources:
            target = folders[name] / person / f"{path.stem}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), degrade(load_image(path))[..., ::-1])
    return folders


def lfw_collection(labels: list[str], work: Path) -> Path | None:
    """LFW photos of the model's people (folder names matched case-insensitively), linked as a collection."""
    images = DATASETS / "lfw" / "images"
    if not images.is_dir():
        return None
    folders = {folder.name.lower(): folder for folder in images.iterdir()}
    root = work / "lfw"
    for label in labels:
        folder = folders.get(label.replace(" ", "_").lower())
        if folder is not None:
            (root / label).mkdir(parents=True, exist_ok=True)
            for photo in folder.glob("*.jpg"):
                (root / label / photo.name).symlink_to(photo)
    return root if root.is_dir() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a prepared collection (faceprint prepare)")
    parser.add_argument(
        "--split", default="test", choices=("test", "validation"), help="whose images to degrade (default test)"
    )
    parser.add_argument("--work", type=Path, help="where to write the degraded images (default: a temporary folder)")
    args = parser.parse_args()
    if not (args.data / "manifest.csv").is_file():
        parser.error(f"{args.data}: not a prepared collection (no manifest.csv); run 'faceprint prepare' first")

    from faceprint.cache import ArrayCache
    from faceprint.celebrity.dataset import PreparedDataset
    from faceprint.celebrity.predict import evaluate_collection
    from faceprint.celebrity.training import REFERENCE_CANDIDATE, TrainConfig, paired_with_reference, train_model
    from faceprint.pipeline import FacePipeline

    pipeline = FacePipeline(cache=ArrayCache())
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        trained = train_model(args.data, work / "model", pipeline, TrainConfig(), progress=False)
        candidates = trained.candidates
        dataset = PreparedDataset.load(args.data)
        root = Path(dataset.info["source"])
        rows = dataset.rows(args.split, ("ok", "no_face"))
        sources = [(root / row.source, row.person) for row in rows.itertuples()]
        sets: dict[str, Path] = {"clean": args.data, **write_degraded(sources, work)}
        lfw = lfw_collection(trained.model.labels, work) if args.split == "test" else None
        if lfw is not None:
            sets["lfw"] = lfw
        right: dict[str, dict[str, np.ndarray]] = {key: {} for key in candidates}
        table: dict[str, dict[str, int]] = {key: {} for key in candidates}
        images = {}
        for set_name, folder in sets.items():
            for key, model in candidates.items():
                outcome = evaluate_collection(folder, model, pipeline, split=args.split, progress=False)
                correct = outcome["probabilities"].argmax(axis=1) == outcome["y_true"]
                right[key][set_name] = correct
                table[key][set_name] = int((~correct).sum())
                images[set_name] = len(correct)
            errors = ", ".join(f"{key} {table[key][set_name]}" for key in table)
            print(f"{set_name:15s} ({images[set_name]} images) errors: {errors}")
    shifted = [name for name in sets if name != "clean"]
    for key in table:
        table[key]["shifted_total"] = sum(table[key][name] for name in shifted)
    total = sum(images[name] for name in shifted)
    errors = ", ".join(f"{key} {row['shifted_total']}" for key, row in table.items())
    print(f"\nerrors on all {total} shifted images: {errors}")
    reference = f"vs_{REFERENCE_CANDIDATE}"
    paired = {
        key: row[reference]
        for key, row in paired_with_reference(
            {key: np.concatenate([right[key][name] for name in shifted]) for key in candidates}
        ).items()
    }
    for key, result in paired.items():
        print(f"{key:18s} {reference}: {result}")
    result = {"data": args.data.name, "split": args.split, "images": images, "errors": table, reference: paired}
    print(f"wrote {write_result('celebrity_shift' + ('' if args.split == 'test' else '_' + args.split), result)}")


if __name__ == "__main__":
    main()
