"""Indexing a photo collection: walk folders, skip what is unchanged, keep the faces of moved files, forget
deleted ones, and detect, embed and name the faces of new photos in batches across images.

Each batch is committed in one transaction, so a run killed at any moment loses at most its current batch and a
second run stores no face twice (a photo's faces are replaced with its row). A file that cannot be read or decoded
is recorded with its reason and reported; it never stops the run."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.alignment import align_face
from faceprint.errors import FaceprintError
from faceprint.imaging import DEFAULT_MAX_BYTES, decode_bytes
from faceprint.library.store import FaceRow, KnownPhoto, LibraryStore, PhotoRow
from faceprint.pipeline import LoadedImage
from faceprint.quality import face_measures

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff"}
HEIF_SUFFIXES = {".heic", ".heif"}
THUMBNAIL_PX = 64
EXIF_DATE_TAGS = (36867, 36868, 306)  # DateTimeOriginal, DateTimeDigitized, DateTime


@dataclass
class IndexSummary:
    """What one index run did."""

    photos_added: int = 0
    photos_unchanged: int = 0
    photos_moved: int = 0
    photos_removed: int = 0
    faces: int = 0
    named: int = 0
    errors: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def walk(paths: Sequence[str | os.PathLike]) -> tuple[list[str], list[str], list[dict]]:
    """The roots (absolute), every photo file under them (sorted, absolute) and the arguments that are neither."""
    roots, files, problems = [], set(), []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            roots.append(str(path))
            for folder, _, names in os.walk(path):
                files.update(os.path.join(folder, n) for n in names if Path(n).suffix.lower() in SUFFIXES)
        elif path.is_file():
            roots.append(str(path))
            files.add(str(path))
        else:
            problems.append({"path": str(raw), "reason": "no such file or folder"})
    return roots, sorted(files), problems


def stamp_of(path: str) -> str:
    info = os.stat(path)
    return f"{info.st_size}:{info.st_mtime_ns}"


def _register_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def decode_photo(data: bytes, path: str) -> tuple[np.ndarray, str | None]:
    """RGB pixels (EXIF orientation applied) and the EXIF date of a photo's bytes; ``ImageError`` if unreadable."""
    taken = None
    try:
        with Image.open(io.BytesIO(data)) as probe:
            exif = probe.getexif()
            values = {**dict(exif), **dict(exif.get_ifd(0x8769))}
            taken = next((str(values[t]) for t in EXIF_DATE_TAGS if values.get(t)), None)
    except Exception:  # the decoder below says what is wrong with the file
        pass
    if taken and len(taken) >= 19 and taken[4] == ":":
        taken = taken[:10].replace(":", "-") + "T" + taken[11:19]
    if Path(path).suffix.lower() in HEIF_SUFFIXES:
        if not _register_heif():
            raise FaceprintError(f"{path}: HEIC/HEIF photos need the pillow-heif package")
        from PIL import ImageOps

        from faceprint.imaging import load_image

        try:
            with Image.open(io.BytesIO(data)) as image:
                pixels = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except Exception as exc:
            raise FaceprintError(f"{path}: not a readable HEIC/HEIF image ({exc})") from None
        return load_image(pixels), taken
    return decode_bytes(data, path), taken


class Indexer:
    """Indexes photo files into a gallery's library with a ``FaceRecognizer``'s pipeline, models and scoring."""

    def __init__(self, recognizer, batch_size: int = 16) -> None:
        self.recognizer = recognizer
        self.store = LibraryStore(recognizer.gallery)
        self.batch_size = batch_size
        self.gate: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
        """Held while a batch runs the models (the web app's inference scheduler gives it a place there)."""

    def plan(
        self, paths: Sequence[str | os.PathLike]
    ) -> tuple[list[str], dict[str, KnownPhoto], list[str], IndexSummary]:
        """Which files need reading, what is indexed under the roots, and the unchanged count so far."""
        roots, files, problems = walk(paths)
        summary = IndexSummary(errors=list(problems))
        known = self.store.known(roots)
        todo = []
        for path in files:
            try:
                stamp = stamp_of(path)
            except OSError as exc:
                summary.errors.append({"path": path, "reason": exc.strerror or str(exc)})
                continue
            previous = known.get(path)
            if previous is not None and previous.stamp == stamp:
                summary.photos_unchanged += 1
                if previous.error:
                    summary.errors.append({"path": path, "reason": previous.error})
            else:
                todo.append(path)
        missing = [p for p in known if p not in set(files)]
        return todo, known, missing, summary

    def run(
        self, paths: Sequence[str | os.PathLike], progress: Callable[[int, int], None] | None = None
    ) -> IndexSummary:
        """Index every photo under ``paths``; ``progress(done, total)`` is called after each batch."""
        todo, known, missing, summary = self.plan(paths)
        missing_by_hash = {known[p].content_hash: known[p] for p in missing if not known[p].error}
        total, done = len(todo), 0
        if progress:
            progress(0, total)
        for batch in _chunks(todo, self.batch_size):
            rows = []
            for path in batch:
                row = self._read(path, known, missing_by_hash, summary)
                if row is not None:
                    rows.append(row)
            with self.gate():
                self._analyse([r for r in rows if r.error is None and r.width])
            summary.faces += self.store.store(rows)
            summary.named += sum(f.person is not None for r in rows for f in r.faces)
            summary.photos_added += sum(r.error is None for r in rows)
            summary.errors += [{"path": r.path, "reason": r.error} for r in rows if r.error]
            done += len(batch)
            if progress:
                progress(done, total)
        current = self.store.known()  # moved photos now sit at their new paths
        gone = [current[p].id for p in missing if p in current]
        self.store.remove(gone)
        summary.photos_removed = len(gone)
        return summary

    def _read(self, path: str, known: dict, missing_by_hash: dict, summary: IndexSummary) -> PhotoRow | None:
        """Read one file: ``None`` when its content is already indexed (touched or moved: faces kept), else a row
        with its pixels attached, or with the reason it cannot be indexed."""
        try:
            stamp = stamp_of(path)
            if int(stamp.split(":")[0]) > DEFAULT_MAX_BYTES:
                raise FaceprintError(f"{path}: larger than {DEFAULT_MAX_BYTES // (1024 * 1024)} MB")
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            return PhotoRow(path, "", "", error=exc.strerror or str(exc))
        except FaceprintError as exc:
            return PhotoRow(path, "", stamp, error=exc.message)
        digest = hashlib.sha256(data).hexdigest()
        previous = known.get(path)
        if previous is not None and previous.content_hash == digest and not previous.error:
            self.store.update_stamp(previous.id, path, stamp)
            summary.photos_unchanged += 1
            return None
        moved = missing_by_hash.pop(digest, None)
        if moved is not None:
            self.store.update_stamp(moved.id, path, stamp)
            summary.photos_moved += 1
            return None
        return decode_row(path, digest, stamp, data)

    def _analyse(self, rows: list[PhotoRow]) -> None:
        """Detect, embed and measure the faces of a batch of photos (``analyse``), then name them."""
        analyse(self.recognizer.pipeline, self.recognizer.models, rows)
        self._name([f for row in rows for f in row.faces])

    def _name(self, faces: list[FaceRow]) -> None:
        """Name faces of enrolled people: the same ranking, similarity and threshold as ``recognize``."""
        recognizer = self.recognizer
        if not faces or not recognizer.gallery.people():
            return
        threshold_for = recognizer.threshold_rule()
        qualities: dict[int, dict] = {}
        for face in faces:
            candidates = recognizer.rank_people(face.vectors, face.quality, 1, qualities)
            if candidates and candidates[0]["similarity"] >= threshold_for(face.quality):
                face.person, face.similarity = candidates[0]["name"], candidates[0]["similarity"]


def decode_row(path: str, digest: str, stamp: str, data: bytes) -> PhotoRow:
    """A photo's row with its pixels attached (``row._image``), or with the reason its bytes cannot be decoded."""
    row = PhotoRow(path, digest, stamp)
    try:
        pixels, row.taken = decode_photo(data, path)
    except FaceprintError as exc:
        row.error = exc.message.removeprefix(f"{path}: ")
        return row
    except Exception as exc:  # a decoder's own failure on a corrupt file
        row.error = f"cannot decode: {exc}"
        return row
    row.height, row.width = pixels.shape[:2]
    row._image = LoadedImage(path, pixels, digest)  # type: ignore[attr-defined]
    return row


def analyse(pipeline, models, rows: list[PhotoRow]) -> None:
    """Detect the faces of decoded rows together, embed them together and measure them (no naming: that needs the
    gallery). Every engine runs this, so they store the same faces."""
    if not rows:
        return
    images = [row._image for row in rows]  # type: ignore[attr-defined]
    detected = pipeline.detect_many(images)
    owners = [(row, image, face) for row, image, faces in zip(rows, images, detected) for face in faces]
    if owners:
        vectors = pipeline.embed_faces([o[1] for o in owners], [o[2].landmarks for o in owners], models)
        versions = {m: pipeline.embedder(m).version for m in models}
        template = pipeline.embedder(models[0]).template
        for (row, image, face), face_vectors in zip(owners, vectors):
            geometry = face.to_dict()
            geometry["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks]
            row.faces.append(
                FaceRow(
                    face=geometry,
                    quality=face_measures(image.pixels, face),
                    vectors={m: _unit(v) for m, v in face_vectors.items()},
                    versions=versions,
                    thumbnail=_thumbnail(image.pixels, face.landmarks, template),
                )
            )
    for row in rows:
        del row._image  # type: ignore[attr-defined]


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _thumbnail(pixels: np.ndarray, landmarks: np.ndarray, template) -> bytes:
    crop = align_face(pixels, landmarks, template)
    buffer = io.BytesIO()
    Image.fromarray(crop).resize((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.BILINEAR).save(
        buffer, format="JPEG", quality=80
    )
    return buffer.getvalue()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
