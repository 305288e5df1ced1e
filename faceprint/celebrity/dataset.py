"""``faceprint prepare``: a folder-per-person image collection to aligned face crops in a reproducible, stratified
train/validation/test split, with a manifest (CSV) that records what happened to every file.

The split is made per person and per *duplicate group*: files with the same content hash, and photos whose
aligned faces are near-identical (resized or recompressed copies of one photo), always land in the same split,
so nothing seen in training is scored again in validation or test. Augmentation touches the training split only."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from faceprint.celebrity.config import AUGMENTATIONS, NEAR_DUPLICATE_BITS, SPLITS
from faceprint.celebrity.faces import (
    CANONICAL,
    CANVAS_RECIPE,
    canonical_crop,
    chunks,
    hash_distances,
    locate_faces,
    perceptual_hash,
)
from faceprint.errors import DatasetError, ImageError
from faceprint.pipeline import FacePipeline, LoadedImage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".pgm", ".ppm"})
MANIFEST = "manifest.csv"
INFO = "dataset.json"
FORMAT = "faceprint-celebrity-dataset/1"
TEXT_COLUMNS = ("source", "person", "split", "status", "content_hash", "group", "phash", "crop", "augmentation")
LANDMARK_COLUMNS = [f"lm_{axis}{i}" for i in range(5) for axis in "xy"]


@dataclass(frozen=True)
class SourceImage:
    """One file of the collection: its path, its path relative to the collection, and whose face it shows."""

    path: Path
    relative: str
    person: str


def scan_collection(root: Path) -> list[SourceImage]:
    """Every image file under ``root`` (recursively), labelled with the name of the folder that holds it, so both
    ``root/<person>/*`` and ``root/<any split>/<person>/*`` layouts work (splits are pooled per person)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (expected one folder per person)")
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if path.parent == root:
                log.warning("%s: ignored, images must be in a folder named after the person", path)
                continue
            items.append(SourceImage(path, path.relative_to(root).as_posix(), path.parent.name))
    if not items:
        raise DatasetError(f"{root}: no images found; expected {root}/<person>/<image>.jpg")
    return items


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply to training crops and how strongly; ``target`` is the number of training
    images each person is brought up to (None: the largest person's count)."""

    ops: tuple[str, ...] = AUGMENTATIONS
    target: int | None = None
    rotation: float = 10.0
    scale: float = 0.08
    shift: float = 0.06
    brightness: float = 0.2
    contrast: float = 0.2
    blur: float = 1.2

    @classmethod
    def parse(cls, text: str | None, target: int | None = None) -> AugmentConfig | None:
        """From a ``--augment`` value: 'none', 'all' or a comma-separated list of AUGMENTATIONS."""
        if text in (None, "", "none"):
            return None
        ops = AUGMENTATIONS if text == "all" else tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = sorted(set(ops) - set(AUGMENTATIONS))
        if unknown or not ops:
            raise DatasetError(f"unknown augmentation(s) {unknown}; choose from {', '.join(AUGMENTATIONS)} or all")
        if target is not None and target < 1:
            raise DatasetError("--augment-target must be at least 1")
        return cls(ops=ops, target=target)


def augment_crop(
    crop: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> tuple[np.ndarray, np.ndarray, str]:
    """One randomly augmented copy of an aligned crop, its landmarks and a description of what was done.

    Geometric jitter moves the pixels but not the landmarks, so the networks see a slightly misaligned face, as
    with a detector's landmark error; a flip mirrors both (so flipped images stay correctly aligned)."""
    image, points, steps = crop, np.asarray(landmarks, dtype=np.float64).copy(), []
    size = image.shape[1]
    if "flip" in config.ops and rng.random() < 0.5:
        image = image[:, ::-1]
        points[:, 0] = size - 1 - points[:, 0]
        points = points[[1, 0, 2, 4, 3]]
        steps.append("flip")
    angle = rng.uniform(-config.rotation, config.rotation) if "rotate" in config.ops else 0.0
    scale = 1.0 + rng.uniform(-config.scale, config.scale) if "scale" in config.ops else 1.0
    eye_distance = float(np.linalg.norm(points[1] - points[0]))
    shift = rng.uniform(-config.shift, config.shift, 2) * eye_distance if "shift" in config.ops else np.zeros(2)
    if angle or scale != 1.0 or shift.any():
        centre = tuple(float(v) for v in points.mean(axis=0))
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)
        matrix[:, 2] += shift
        image = cv2.warpAffine(
            np.ascontiguousarray(image), matrix, (size, image.shape[0]), borderMode=cv2.BORDER_REPLICATE
        )
        steps.append(f"rotate={angle:.1f},scale={scale:.3f},shift={shift[0]:.1f},{shift[1]:.1f}")
    if "color" in config.ops:
        alpha = 1.0 + rng.uniform(-config.contrast, config.contrast)
        beta = 1.0 + rng.uniform(-config.brightness, config.brightness)
        pixels = image.astype(np.float32)
        mean = pixels.mean()
        image = np.clip((pixels - mean) * alpha + mean * beta, 0, 255).astype(np.uint8)
        steps.append(f"contrast={alpha:.2f},brightness={beta:.2f}")
    if "blur" in config.ops and rng.random() < 0.5:
        sigma = rng.uniform(0.3, config.blur)
        image = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), sigma)
        steps.append(f"blur={sigma:.2f}")
    return np.ascontiguousarray(image), points.astype(np.float32), ";".join(steps) or "identity"


def split_counts(total: int, fractions: Sequence[float]) -> list[int]:
    """Split ``total`` items by ``fractions`` (largest remainder), giving each split with a positive fraction at
    least one item when there are enough items."""
    fractions = np.asarray(fractions, dtype=np.float64) / np.sum(fractions)
    raw = fractions * total
    counts = np.floor(raw).astype(int)
    for index in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[index] += 1
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if total >= len(wanted):
        for index in wanted:
            if counts[index] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[index] = 1
    return counts.tolist()


def assign_splits(people: Sequence[str], groups: Sequence[str], fractions: Sequence[float], seed: int) -> list[str]:
    """The split of each item: per person, its duplicate groups in a seeded random order, each group into the
    split furthest below its target count. A person's split depends only on the seed and that person's files."""
    frame = pd.DataFrame({"person": people, "group": groups})
    result = [""] * len(frame)
    for person, rows in frame.groupby("person", sort=True):
        targets = split_counts(len(rows), fractions)
        sizes = rows.groupby("group", sort=True).size()
        rng = np.random.default_rng([seed, zlib.crc32(str(person).encode())])
        counts = [0] * len(SPLITS)
        chosen = {}
        for group in sizes.index[rng.permutation(len(sizes))]:
            deficits = [targets[i] - counts[i] for i in range(len(SPLITS))]
            split = int(np.argmax(deficits))
            chosen[group] = split
            counts[split] += int(sizes[group])
        for index, group in zip(rows.index, rows["group"]):
            result[index] = SPLITS[chosen[group]]
    return result


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def duplicate_groups(frame: pd.DataFrame, near_bits: int) -> tuple[list[str], int, int]:
    """Group rows of one person that are the same file (content hash) or near-identical aligned faces
    (perceptual hashes within ``near_bits``); returns each row's group id (the content hash prefix of the group's
    first file) and the numbers of exact and near duplicates found."""
    union = _UnionFind(len(frame))
    exact = near = 0
    for _, rows in frame.groupby("person", sort=True):
        index = rows.index.to_numpy()
        for _, same in rows.groupby("content_hash", sort=True):
            for other in same.index[1:]:
                union.union(int(same.index[0]), int(other))
                exact += 1
        if near_bits >= 0 and len(index) > 1:
            bits = hash_distances(rows["phash"].tolist())
            for a, b in zip(*np.nonzero(np.triu(bits <= near_bits, k=1))):
                same_file = frame.at[index[a], "content_hash"] == frame.at[index[b], "content_hash"]
                if union.find(int(index[a])) != union.find(int(index[b])) and not same_file:
                    near += 1
                union.union(int(index[a]), int(index[b]))
    roots = [union.find(i) for i in range(len(frame))]
    return [str(frame.at[root, "content_hash"])[:12] for root in roots], exact, near


@dataclass
class PrepareResult:
    """What ``prepare_dataset`` did: the manifest, a per-person table of counts, and totals."""

    manifest: pd.DataFrame
    summary: pd.DataFrame
    counts: dict = field(default_factory=dict)


def _count_table(manifest: pd.DataFrame) -> pd.DataFrame:
    people = sorted(manifest["person"].unique())
    table = pd.DataFrame(index=pd.Index(people, name="person"))
    original = manifest[manifest["status"] != "augmented"]
    table["files"] = original.groupby("person").size()
    for status in ("unreadable", "conflict", "no_face"):
        table[status] = original[original["status"] == status].groupby("person").size()
    usable = original[original["split"] != ""]
    for split in SPLITS:
        table[split] = usable[usable["split"] == split].groupby("person").size()
    table["augmented"] = manifest[manifest["status"] == "augmented"].groupby("person").size()
    table = table.fillna(0).astype(int)
    table.loc["TOTAL"] = table.sum()
    return table


def prepare_dataset(
    source: Path,
    out: Path,
    pipeline: FacePipeline,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    augment: AugmentConfig | None = None,
    near_bits: int = NEAR_DUPLICATE_BITS,
    progress: bool = True,
    overwrite: bool = False,
    command: str | None = None,
    batch: int = 64,
) -> PrepareResult:
    """Detect, align and split every image of ``source`` into ``out`` (see the module docstring)."""
    source, out = Path(source), Path(out)
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or fractions[0] <= 0:
        raise DatasetError("--split takes three non-negative fractions (train validation test), train above 0")
    _claim_output(out, overwrite)
    items = scan_collection(source)
    staging = out / ".staging"
    staging.mkdir(parents=True)
    rows = []
    bar = tqdm(total=len(items), desc="prepare: detect and align", unit="img", disable=not progress)
    for chunk in chunks(items, batch):
        loaded: list[tuple[SourceImage, LoadedImage]] = []
        for item in chunk:
            try:
                loaded.append((item, pipeline.load(item.path)))
            except ImageError as exc:
                log.warning("skipped %s: %s", item.relative, exc.message)
                rows.append(_row(item, "unreadable"))
        located = locate_faces(pipeline, [image for _, image in loaded])
        for (item, image), found in zip(loaded, located):
            row = _row(item, "ok" if found.detected else "no_face", image, found)
            if found.faces > 1:
                log.info("%s: %d faces, kept the largest", item.relative, found.faces)
            if not found.detected:
                log.warning("%s: no face found; kept for evaluation, not for training", item.relative)
            crop, points = canonical_crop(image.pixels, found.landmarks)
            row["phash"] = perceptual_hash(crop)
            row.update(zip(LANDMARK_COLUMNS, np.round(points.reshape(-1), 2).tolist()))
            row["crop"] = f".staging/{len(rows)}.png"
            _write_png(out / row["crop"], crop)
            rows.append(row)
        bar.update(len(chunk))
    bar.close()
    manifest = pd.DataFrame(rows)
    conflicts = _mark_conflicts(manifest)
    readable = manifest[manifest["status"].isin(["ok", "no_face"])]
    groups, exact, near = duplicate_groups(readable.reset_index(drop=True), near_bits)
    manifest.loc[readable.index, "group"] = groups
    manifest.loc[readable.index, "split"] = assign_splits(readable["person"].tolist(), groups, fractions, seed)
    for index in readable.index:
        row = manifest.loc[index]
        name = f"{Path(row['source']).stem}_{row['content_hash'][:8]}.png"
        target = Path(row["split"]) / row["person"] / name
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(out / row["crop"], out / target)
        manifest.at[index, "crop"] = target.as_posix()
    shutil.rmtree(staging)
    manifest.loc[~manifest.index.isin(readable.index), "crop"] = ""
    if augment is not None:
        manifest = pd.concat([manifest, _augment(manifest, out, augment, seed, progress)], ignore_index=True)
    manifest = manifest.fillna({"split": "", "group": "", "augmentation": "", "crop": "", "phash": ""})
    manifest.to_csv(out / MANIFEST, index=False)
    summary = _count_table(manifest)
    counts = {
        "files": len(items),
        "unreadable": int((manifest["status"] == "unreadable").sum()),
        "no_face": int((manifest["status"] == "no_face").sum()),
        "conflicts": conflicts,
        "several_faces": int((manifest["faces"] > 1).sum()),
        "exact_duplicates": exact,
        "near_duplicates": near,
        "augmented": int((manifest["status"] == "augmented").sum()),
        **{split: int(((manifest["split"] == split) & (manifest["status"] != "augmented")).sum()) for split in SPLITS},
    }
    for key, text in (
        ("unreadable", "file(s) that are not readable images"),
        ("no_face", "image(s) with no face found (kept in their split for evaluation, not used for training)"),
        ("conflicts", "file(s) found under two different people (left out)"),
    ):
        if counts[key]:
            log.warning("skipped %d %s", counts[key], text)
    info = {
        "format": FORMAT,
        "source": str(source.resolve()),
        "seed": seed,
        "split": dict(zip(SPLITS, map(float, fractions))),
        "near_duplicate_bits": near_bits,
        "canvas": CANVAS_RECIPE,
        "canonical_template": {"size": CANONICAL.size, "points": [list(p) for p in CANONICAL.points]},
        "detector": _describe_detector(pipeline),
        "augment": None if augment is None else asdict(augment),
        "counts": counts,
        "command": command,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (out / INFO).write_text(json.dumps(info, indent=2) + "\n")
    return PrepareResult(manifest, summary, counts)


def _describe_detector(pipeline: FacePipeline) -> str:
    detector = pipeline.detector
    settings = {
        key: getattr(detector, key) for key in ("min_face_size", "min_score", "max_side") if hasattr(detector, key)
    }
    return f"{getattr(detector, 'name', type(detector).__name__)} {settings}"


def _claim_output(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready: refuse a non-empty folder unless it is an earlier prepared dataset and ``overwrite``."""
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise DatasetError(f"{out}: folder is not empty and is not a prepared dataset; choose another OUT")
        if not overwrite:
            raise DatasetError(f"{out}: already holds a prepared dataset; pass --overwrite to replace it")
        for name in (*SPLITS, ".staging"):
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for name in (MANIFEST, INFO):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _row(item: SourceImage, status: str, image: LoadedImage | None = None, found=None) -> dict:
    row: dict = {"source": item.relative, "person": item.person, "split": "", "status": status, "augmentation": ""}
    if image is not None:
        row.update(
            width=image.pixels.shape[1], height=image.pixels.shape[0], content_hash=image.digest, method=found.method
        )
        row["faces"] = found.faces
        box = found.face.box if found.face is not None else (np.nan,) * 4
        row.update(zip(("box_x", "box_y", "box_w", "box_h"), np.round(box, 1).tolist()))
        row["score"] = round(found.face.score, 4) if found.face is not None else np.nan
    else:
        row["faces"] = 0
    return row


def _write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise DatasetError(f"{path}: could not write the face crop")


def _mark_conflicts(manifest: pd.DataFrame) -> int:
    """Files whose identical copies are filed under different people cannot be labelled: mark them 'conflict'."""
    readable = manifest[manifest["status"].isin(["ok", "no_face"])]
    people = readable.groupby("content_hash")["person"].nunique()
    clash = readable["content_hash"].isin(people[people > 1].index)
    for index in readable.index[clash.to_numpy()]:
        log.warning("%s: the same file is filed under another person too; left out", manifest.at[index, "source"])
        manifest.at[index, "status"] = "conflict"
    return int(clash.sum())


def _augment(manifest: pd.DataFrame, out: Path, config: AugmentConfig, seed: int, progress: bool) -> pd.DataFrame:
    """Augmented copies of training crops until each person has ``config.target`` training images."""
    train = manifest[(manifest["split"] == "train") & (manifest["status"] == "ok")]
    per_person = train.groupby("person").size()
    target = config.target or int(per_person.max())
    rows = []
    needed = {person: max(0, target - count) for person, count in per_person.items()}
    bar = tqdm(total=sum(needed.values()), desc="prepare: augment", unit="img", disable=not progress)
    for person, count in needed.items():
        if not count:
            continue
        sources = train[train["person"] == person]
        rng = np.random.default_rng([seed, zlib.crc32(person.encode()), 1])
        order = np.concatenate([rng.permutation(len(sources)) for _ in range(count // len(sources) + 1)])[:count]
        for number, position in enumerate(order):
            origin = sources.iloc[int(position)]
            crop = cv2.imread(str(out / origin["crop"]))[:, :, ::-1]
            points = origin[LANDMARK_COLUMNS].to_numpy(dtype=np.float64).reshape(5, 2)
            image, moved, recipe = augment_crop(crop, points, rng, config)
            target_path = Path(origin["crop"]).with_name(f"{Path(origin['crop']).stem}_aug{number}.png")
            _write_png(out / target_path, image)
            row = origin.to_dict()
            row.update(status="augmented", crop=target_path.as_posix(), augmentation=recipe)
            row.update(zip(LANDMARK_COLUMNS, np.round(moved.reshape(-1), 2).tolist()))
            row["phash"] = ""
            rows.append(row)
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


@dataclass
class PreparedDataset:
    """A dataset written by ``prepare_dataset``: its folder, manifest and settings."""

    root: Path
    manifest: pd.DataFrame
    info: dict

    @classmethod
    def load(cls, root: Path) -> PreparedDataset:
        root = Path(root)
        if not (root / MANIFEST).is_file():
            raise DatasetError(f"{root}: not a prepared dataset (no {MANIFEST}); make one with 'faceprint prepare'")
        manifest = pd.read_csv(root / MANIFEST, dtype=dict.fromkeys(TEXT_COLUMNS, str))
        manifest[list(TEXT_COLUMNS)] = manifest[list(TEXT_COLUMNS)].fillna("")
        info = json.loads((root / INFO).read_text()) if (root / INFO).is_file() else {}
        return cls(root, manifest, info)

    def rows(self, split: str, statuses: Sequence[str] = ("ok",)) -> pd.DataFrame:
        """Manifest rows of one split with the given statuses, in manifest order."""
        selected = self.manifest[(self.manifest["split"] == split) & self.manifest["status"].isin(list(statuses))]
        return selected.reset_index(drop=True)

    def landmarks(self, rows: pd.DataFrame) -> np.ndarray:
        """The crop landmarks of ``rows`` (N x 5 x 2)."""
        return rows[LANDMARK_COLUMNS].to_numpy(dtype=np.float32).reshape(-1, 5, 2)

    def content_digest(self) -> str:
        """A hash of what the model learns from: every usable row's person, split, file hash and augmentation."""
        import hashlib

        usable = self.manifest[self.manifest["status"].isin(["ok", "augmented"])]
        text = usable[["person", "split", "content_hash", "augmentation"]].to_csv(index=False)
        return hashlib.sha256(text.encode()).hexdigest()


def print_summary(summary: pd.DataFrame, write: Callable[[str], None] = print) -> None:
    """The per-person table: files found, skipped, and images per split (after)."""
    write(summary.to_string())
