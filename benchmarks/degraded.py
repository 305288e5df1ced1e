"""Faces made harder, as users' photos are: downscaled to 24-112 px across, JPEG at low quality, blur, sensor
noise, grey scale, tight aligned-style 112x112 crops; embedded through the whole pipeline with their quality.

Two disjoint pools of people: ``calibration`` (LFW View 1 DevTrain people, the celebrity collection's ``train``
folder, ORL s1-s20) teaches the quality-aware score (``tools/calibrate_quality.py``); ``benchmark`` (LFW DevTest
people, the celebrity ``validation`` folder, ORL s21-s40) is only ever reported on (``benchmarks/open_set_degraded``).

Every degraded copy is a deterministic function of its source file and variant number, and the pipeline caches
detections and embeddings by content, so a second run costs only the decoding."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import DATASETS

SIZES = (24, 32, 40, 48, 64, 80, 112, None)
"""Face widths in pixels a copy is scaled to (None: the source's own size)."""
EFFECTS = ("none", "none", "jpeg", "blur", "noise", "grayscale", "crop112")


@dataclass(frozen=True)
class Source:
    identity: str
    path: Path
    collection: str


def _lfw_people(listing: str, min_images: int = 1) -> list[Source]:
    root = DATASETS / "lfw"
    lines = (root / listing).read_text().split("\n")[1:]
    sources = []
    for line in lines:
        if not line.strip():
            continue
        name, count = line.split("\t")
        if int(count) < min_images:
            continue
        for index in range(1, int(count) + 1):
            path = root / "images" / name / f"{name}_{index:04d}.jpg"
            if path.exists():
                sources.append(Source(f"lfw/{name}", path, "lfw"))
    return sources


def _folders(root: Path, prefix: str, people: list[str] | None = None, per_person: int | None = None) -> list[Source]:
    sources = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if people is not None and folder.name not in people:
            continue
        files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        files = files[:per_person] if per_person else files
        sources += [Source(f"{prefix}/{folder.name}", f, prefix) for f in files]
    return sources


def pool(name: str, celebrity_per_person: int = 20) -> list[Source]:
    """The sources of the ``calibration`` or ``benchmark`` pool (disjoint people within LFW and ORL; the
    celebrity people appear in both pools but never with the same files)."""
    orl = DATASETS / "orl-faces"
    celebrity = DATASETS / "celebrity-faces-31"
    if name == "calibration":
        return (
            _lfw_people("peopleDevTrain.txt", min_images=2)
            + _folders(celebrity / "train", "celebrity", per_person=celebrity_per_person)
            + _folders(orl, "orl", people=[f"s{i}" for i in range(1, 21)])
        )
    if name == "benchmark":
        return (
            _lfw_people("peopleDevTest.txt")
            + _folders(celebrity / "validation", "celebrity")
            + _folders(orl, "orl", people=[f"s{i}" for i in range(21, 41)])
        )
    raise ValueError(f"unknown pool {name!r}")


def _rng(path: Path, variant: int) -> np.random.Generator:
    seed = int(hashlib.sha1(f"{path.name}/{variant}".encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed)


def degrade(image: np.ndarray, face_width: float, variant: int, path: Path) -> tuple[np.ndarray, str]:
    """One deterministic degraded copy of an RGB image whose face is ``face_width`` px wide, and its recipe."""
    rng = _rng(path, variant)
    size = SIZES[int(rng.integers(len(SIZES)))]
    effect = EFFECTS[int(rng.integers(len(EFFECTS)))]
    out = image
    if size is not None and face_width > size:
        scale = size / face_width
        height, width = image.shape[:2]
        out = cv2.resize(image, (max(8, round(width * scale)), max(8, round(height * scale))), cv2.INTER_AREA)
    face = min(face_width, size or face_width)
    if effect == "jpeg":
        quality = int(rng.integers(8, 30))
        _, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
        effect = f"jpeg{quality}"
    elif effect == "blur":
        out = cv2.GaussianBlur(out, (0, 0), max(0.6, face * float(rng.uniform(0.02, 0.05))))
    elif effect == "noise":
        out = np.clip(out + rng.normal(0.0, float(rng.uniform(8, 20)), out.shape), 0, 255).astype(np.uint8)
    elif effect == "grayscale":
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    elif effect == "crop112":
        # A tight square crop around the central face, resized to 112x112, as face datasets ship aligned faces.
        height, width = out.shape[:2]
        side = min(height, width, round(face * 1.25))
        top, left = (height - side) // 2, (width - side) // 2
        out = cv2.resize(out[top : top + side, left : left + side], (112, 112), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out), f"{size or 'full'}px/{effect}"


@dataclass
class Embedded:
    """A pool embedded: one row per (source, variant); ``found`` is False where no face was detected."""

    identities: np.ndarray
    paths: np.ndarray
    variants: np.ndarray
    recipes: np.ndarray
    found: np.ndarray
    quality: dict[str, np.ndarray]
    vectors: dict[str, np.ndarray]

    def save(self, path: Path) -> None:
        arrays = {"identities": self.identities, "paths": self.paths, "variants": self.variants}
        arrays |= {"recipes": self.recipes, "found": self.found}
        arrays |= {f"quality/{k}": v for k, v in self.quality.items()}
        arrays |= {f"vectors/{k}": v for k, v in self.vectors.items()}
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Embedded:
        data = np.load(path, allow_pickle=False)
        return cls(
            identities=data["identities"],
            paths=data["paths"],
            variants=data["variants"],
            recipes=data["recipes"],
            found=data["found"],
            quality={k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("quality/")},
            vectors={k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("vectors/")},
        )

    def subset(self, mask: np.ndarray) -> Embedded:
        return Embedded(
            self.identities[mask],
            self.paths[mask],
            self.variants[mask],
            self.recipes[mask],
            self.found[mask],
            {k: v[mask] for k, v in self.quality.items()},
            {k: v[mask] for k, v in self.vectors.items()},
        )


def _variants(sources: list[Source], copies: int, pipeline) -> Iterator[tuple[Source, int, np.ndarray, str]]:
    """Each source's original (variant 0) and ``copies`` degraded copies."""
    from faceprint.detection import central_face

    for source in sources:
        try:
            original = pipeline.load(source.path)
        except Exception:
            continue
        face = central_face(pipeline.detect(original), original.pixels.shape)
        face_width = face.box[2] if face is not None else original.pixels.shape[1] * 0.5
        yield source, 0, original.pixels, "original"
        for variant in range(1, copies + 1):
            pixels, recipe = degrade(original.pixels, face_width, variant, source.path)
            yield source, variant, pixels, recipe


def embed_pool(sources: list[Source], copies: int, pipeline, batch: int = 32, progress: bool = True) -> Embedded:
    """Embed the central face of every source and of its degraded copies, with the face's quality measures."""
    from tqdm import tqdm

    from faceprint.cache import content_hash
    from faceprint.pipeline import LoadedImage
    from faceprint.quality import face_measures

    rows: list[tuple[str, str, int, str, bool, dict, dict]] = []
    pending: list[tuple[Source, int, LoadedImage, str]] = []

    def flush() -> None:
        images = [item[2] for item in pending]
        for (source, variant, image, recipe), result in zip(pending, pipeline.embed_central(images)):
            found = result.face is not None
            measures = face_measures(image.pixels, result.face) if found else {}
            rows.append((source.identity, str(source.path), variant, recipe, found, measures, result.vectors))
        pending.clear()

    total = len(sources) * (copies + 1)
    for source, variant, pixels, recipe in tqdm(
        _variants(sources, copies, pipeline), total=total, disable=not progress, desc="faces", unit="face"
    ):
        pending.append((source, variant, LoadedImage(source.path.name, pixels, content_hash(pixels)), recipe))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    keys = ("size", "score", "sharpness", "yaw", "roll")
    models = sorted(rows[0][6])
    return Embedded(
        identities=np.array([r[0] for r in rows]),
        paths=np.array([r[1] for r in rows]),
        variants=np.array([r[2] for r in rows]),
        recipes=np.array([r[3] for r in rows]),
        found=np.array([r[4] for r in rows]),
        quality={k: np.array([r[5].get(k, np.nan) for r in rows], dtype=np.float64) for k in keys},
        vectors={m: np.stack([r[6][m] for r in rows]).astype(np.float32) for m in models},
    )


def load_or_embed(name: str, copies: int, work: Path, progress: bool = True) -> Embedded:
    """The embedded pool from ``work`` when it was made before with the same settings, else embed it now."""
    path = work / f"degraded_{name}_{copies}.npz"
    if path.exists():
        return Embedded.load(path)
    from faceprint.cache import ArrayCache
    from faceprint.pipeline import FacePipeline

    work.mkdir(parents=True, exist_ok=True)
    embedded = embed_pool(pool(name), copies, FacePipeline(cache=ArrayCache()), progress=progress)
    embedded.save(path)
    return embedded


def face_quality(embedded: Embedded) -> np.ndarray:
    """Quality features (N x 2) of every face of a pool."""
    from faceprint.scoring import quality_features

    keys = list(embedded.quality)
    return np.stack(
        [quality_features({k: float(embedded.quality[k][i]) for k in keys}) for i in range(len(embedded.identities))]
    )


def gate_passes(embedded: Embedded) -> np.ndarray:
    """Which faces the enrollment quality gate would accept."""
    from faceprint.quality import QualityGate

    gate = QualityGate()
    q = embedded.quality
    return (
        (q["size"] >= gate.min_face_size)
        & (q["score"] >= gate.min_score)
        & (q["sharpness"] >= gate.min_sharpness)
        & (q["yaw"] <= gate.max_yaw)
        & (q["roll"] <= gate.max_roll)
    )
