"""Running a celebrity model on images: the full pipeline (decode, detect, align, embed, classify) for one photo
(``match_image``, every face) or for a whole folder-per-person collection (``evaluate_collection``)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.celebrity.faces import CANONICAL, canonical_crop
from faceprint.celebrity.model import CelebrityModel
from faceprint.errors import DatasetError, ImageError
from faceprint.imaging import ImageSource
from faceprint.locate import chunks, locate_faces
from faceprint.pipeline import FacePipeline, LoadedImage

log = logging.getLogger(__name__)
CONTACT_SHEET_MAX = 36


def match_image(pipeline: FacePipeline, model: CelebrityModel, source: ImageSource, top: int = 5) -> list[dict]:
    """Every face of one photo, largest first, with its best-matching celebrity, calibrated confidence and the
    ``top`` most probable celebrities. Faces are detected at the photo's own size first; a tight face crop in which
    none is found is detected again on a padded canvas. A photo with no face gives an empty list."""
    pipeline.load_models(
        model.members, wait=False
    )  # the embedding networks load while the photo is decoded and searched
    image = pipeline.load(source)
    faces = pipeline.detect(image)
    if not faces:
        located = locate_faces(pipeline, [image], order=("canvas",), fallback=False)[0]
        faces = [located.face] if located.face is not None else []
    if not faces:
        return []
    vectors = pipeline.embed_faces([image] * len(faces), [face.landmarks for face in faces], model.members)
    stacked = {name: np.stack([v[name] for v in vectors]) for name in model.members}
    probabilities = model.predict(stacked)
    results = []
    for face, ranking in zip(faces, model.top(probabilities, top)):
        results.append(
            {**face.to_dict(), "name": ranking[0]["name"], "confidence": ranking[0]["probability"], "top": ranking}
        )
    return results


@dataclass
class _Item:
    path: Path
    source: str
    person: str


def _collection(data: Path, split: str) -> tuple[list[_Item], str]:
    """The images to evaluate: a prepared dataset's ``split`` (its original files), or a folder per person."""
    # Imported here: the dataset tools need pandas, which looking up one photo's celebrity does not.
    from faceprint.celebrity.dataset import INFO, MANIFEST, PreparedDataset, scan_collection

    if (data / MANIFEST).is_file():
        dataset = PreparedDataset.load(data)
        rows = dataset.rows(split, ("ok", "no_face"))
        root = Path(dataset.info.get("source", ""))
        items = [_Item(root / row.source, row.source, row.person) for row in rows.itertuples()]
        missing = [item.path for item in items if not item.path.is_file()]
        if missing:
            raise DatasetError(
                f"{len(missing)} source image(s) of the {split} split are gone (e.g. {missing[0]}); "
                f"evaluate the stored crops instead: faceprint evaluate {data / split}"
            )
        if not items:
            raise DatasetError(f"{data}: the {split} split is empty")
        return items, f"{data.name} ({split} split, original images from {root.name}; see {INFO})"
    return [_Item(i.path, i.relative, i.person) for i in scan_collection(data)], str(data)


def evaluate_collection(
    data: Path,
    model: CelebrityModel,
    pipeline: FacePipeline,
    split: str = "test",
    report: Path | None = None,
    progress: bool = True,
    batch: int = 32,
) -> dict:
    """Classify the face each image of ``data`` is about (large and near the centre; see ``locate_faces``) and
    score the predictions against the folder names.
    Images where no face is found are classified from the whole crop and counted in ``no_face``; unreadable
    files and people the model does not know are skipped with a counted warning. Returns the metrics, the record
    for the model card, and per image (in collection order) the true class indices and predicted probabilities."""
    from tqdm import tqdm

    from faceprint.celebrity.evaluation import classification_metrics, write_report

    data = Path(data)
    items, description = _collection(data, split)
    index = {name: i for i, name in enumerate(model.labels)}
    unknown = sorted({item.person for item in items if item.person not in index})
    if unknown:
        log.warning("skipped the images of %d person(s) the model does not know: %s", len(unknown), ", ".join(unknown))
    unknown_images = sum(item.person not in index for item in items)
    items = [item for item in items if item.person in index]
    if not items:
        raise DatasetError(f"{data}: no images of people the model knows ({len(model.labels)} people)")
    kept: list[_Item] = []
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in model.members}
    methods: list[str] = []
    landmarks: list[np.ndarray] = []
    unreadable = 0
    with tqdm(total=len(items), desc="evaluate", unit="img", disable=not progress) as bar:
        for chunk in chunks(items, batch):
            images: list[LoadedImage] = []
            for item in chunk:
                try:
                    images.append(pipeline.load(item.path))
                    kept.append(item)
                except ImageError as exc:
                    unreadable += 1
                    log.warning("skipped %s: %s", item.source, exc.message)
            located = locate_faces(pipeline, images, subject=True)
            for found in located:
                methods.append(found.method)
                landmarks.append(found.landmarks)
            for result in pipeline.embed_faces(images, [found.landmarks for found in located], model.members):
                for name in model.members:
                    vectors[name].append(result[name])
            bar.update(len(chunk))
    if unreadable:
        log.warning("skipped %d file(s) that are not readable images", unreadable)
    no_face = sum(method == "fallback" for method in methods)
    if no_face:
        log.warning("%d image(s) with no face found: classified from the whole crop", no_face)
    y_true = np.array([index[item.person] for item in kept], dtype=int)
    if kept:
        probabilities = model.predict({name: np.stack(v) for name, v in vectors.items()})
    else:
        probabilities = np.zeros((0, len(model.labels)))
    metrics = {
        **classification_metrics(y_true, probabilities, model.labels),
        "no_face": no_face,
        "unreadable": unreadable,
        "unknown_people": unknown_images,
        "data": description,
        "model": str(model.path) if model.path else None,
        "model_kind": model.kind,
    }
    metrics["images"] = len(kept)
    if report is not None:
        wrong = np.flatnonzero(probabilities.argmax(axis=1) != y_true)[:CONTACT_SHEET_MAX] if kept else []
        faces = [
            canonical_crop(pipeline.load(kept[i].path).pixels, landmarks[i])[0][16 : CANONICAL.size - 16, 16:-16]
            for i in wrong
        ]
        write_report(report, metrics, y_true, probabilities, model.labels, [k.source for k in kept], methods, faces)
    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": description,
        "images": metrics["images"],
        "no_face": no_face,
        **{key: metrics.get(key, float("nan")) for key in ("accuracy", "top3_accuracy", "macro_f1", "ece")},
    }
    return {"metrics": metrics, "record": record, "y_true": y_true, "probabilities": probabilities}
