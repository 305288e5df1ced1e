"""Export a gallery to one portable, versioned file and import it into any store (backups, SQLite <-> PostgreSQL).

The file's format is described in ``faceprint.gallery.export_file``. Import checks everything before writing
anything (a damaged, foreign or newer file is refused and the gallery is left as it was), then stores all photos
in one transaction. It is idempotent: photos already present (same person and content hash) are not added again."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from faceprint.errors import GalleryFileError
from faceprint.gallery.base import Gallery, PhotoData
from faceprint.gallery.export_file import CHUNK, FORMAT, FORMAT_VERSION, MANIFEST, PEOPLE, PHOTOS, ExportFile

log = logging.getLogger(__name__)


@dataclass
class TransferSummary:
    """What an export wrote or an import read and changed (field names as in the CLI's ``--json``)."""

    file: str
    format_version: int = FORMAT_VERSION
    people: int = 0
    photos: int = 0
    embeddings: dict[str, int] = field(default_factory=dict)
    people_added: int | None = None
    photos_added: int | None = None
    photos_present: int | None = None
    embeddings_added: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = {
            "file": self.file,
            "format_version": self.format_version,
            "people": self.people,
            "photos": self.photos,
            "embeddings": dict(self.embeddings),
        }
        if self.photos_added is not None:
            data.update(
                people_added=self.people_added,
                photos_added=self.photos_added,
                photos_present=self.photos_present,
                embeddings_added=self.embeddings_added,
            )
        data["warnings"] = list(self.warnings)
        return data


def known_model_versions(models: list[str]) -> dict[str, str]:
    """faceprint's version string for each model it knows (how it computes that model's embeddings today)."""
    versions: dict[str, str] = {}
    try:
        from faceprint.embedding.registry import MODEL_SPECS, model_spec
    except Exception:  # pragma: no cover - the embedding package is part of faceprint
        return versions
    for name in models:
        if name in MODEL_SPECS:
            with contextlib.suppress(Exception):  # a model whose runtime is missing simply has no version here
                versions[name] = str(model_spec(name).create().version)
    return versions


class _HashingWriter:
    """Writes to a binary stream while computing the SHA-256 of what was written."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.stream.write(data)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def export_gallery(
    gallery: Gallery,
    path: str | os.PathLike[str],
    model_versions: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> TransferSummary:
    """Write every person, photo, thumbnail, image and embedding of ``gallery`` to ``path`` (a new ZIP file).

    The file appears only when complete (written beside it, then renamed). ``model_versions`` defaults to
    faceprint's version strings for the models it knows; ``progress`` is called with the photos written."""
    path = Path(path)
    summary = TransferSummary(file=str(path))
    people: dict[str, tuple[datetime, datetime]] = {}
    hashes: dict[str, str] = {}
    spools: dict[str, tuple[Any, Any, list[int]]] = {}  # model -> (vectors file, photo numbers file, [rows, dim])
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with (
            contextlib.ExitStack() as spooled,
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
        ):
            with archive.open(PHOTOS, "w", force_zip64=True) as member:
                writer = _HashingWriter(member)
                for number, photo in enumerate(gallery.dump()):
                    people.setdefault(photo.person, (photo.person_created, photo.person_updated))
                    line = {
                        "person": photo.person,
                        "content_hash": photo.content_hash,
                        "created": _time(photo.created),
                        "quality": photo.quality,
                        "thumbnail": _b64(photo.thumbnail),
                        "image": _b64(photo.image),
                    }
                    writer.write(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n")
                    for model, vector in photo.embeddings.items():
                        if model not in spools:
                            spools[model] = (
                                spooled.enter_context(tempfile.TemporaryFile()),
                                spooled.enter_context(tempfile.TemporaryFile()),
                                [0, vector.size],
                            )
                        vectors, numbers, shape = spools[model]
                        if vector.size != shape[1]:
                            raise GalleryFileError(f"the gallery holds {model} vectors of two sizes; cannot export")
                        vectors.write(np.ascontiguousarray(vector, dtype="<f4").tobytes())
                        numbers.write(np.int64(number).astype("<i8").tobytes())
                        shape[0] += 1
                    summary.photos = number + 1
                    if progress is not None:
                        progress(1)
                hashes[PHOTOS] = writer.sha256.hexdigest()
            with archive.open(PEOPLE, "w", force_zip64=True) as member:
                writer = _HashingWriter(member)
                for name in sorted(people):
                    created, updated = people[name]
                    line = {"name": name, "created": _time(created), "updated": _time(updated)}
                    writer.write(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n")
                hashes[PEOPLE] = writer.sha256.hexdigest()
            summary.people = len(people)
            if model_versions is not None:
                versions = dict(model_versions)
            else:  # what the gallery recorded, else how this faceprint computes the model today
                recorded = {name: version for name, version in gallery.model_versions().items() if version}
                versions = {**known_model_versions(list(spools)), **recorded}
            models = []
            for position, (model, (vectors, numbers, (rows, dim))) in enumerate(sorted(spools.items())):
                member_name = f"embeddings/{position}.npy"
                numbers_name = f"embeddings/{position}.photos.npy"
                hashes[member_name] = _write_npy(archive, member_name, vectors, "<f4", (rows, dim))
                hashes[numbers_name] = _write_npy(archive, numbers_name, numbers, "<i8", (rows,))
                models.append(
                    {
                        "name": model,
                        "dim": dim,
                        "vectors": rows,
                        "version": versions.get(model),
                        "member": member_name,
                        "photos_member": numbers_name,
                    }
                )
                summary.embeddings[model] = rows
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created": _time(datetime.now(UTC)),
                "faceprint": _faceprint_version(),
                "source": type(gallery).__name__,
                "people": summary.people,
                "photos": summary.photos,
                "models": models,
                "members": hashes,
            }
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return summary


def _faceprint_version() -> str:
    from faceprint.version import __version__

    return __version__


def _write_npy(archive: zipfile.ZipFile, name: str, spool: IO[bytes], dtype: str, shape: tuple[int, ...]) -> str:
    """Copy a spooled raw array into the archive as a ``.npy`` member; its SHA-256."""
    spool.seek(0)
    info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED  # float vectors barely compress; deflating them only costs time
    with archive.open(info, "w", force_zip64=True) as member:
        writer = _HashingWriter(member)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
        writer.write(header.getvalue())
        while chunk := spool.read(CHUNK):
            writer.write(chunk)
    return writer.sha256.hexdigest()


def read_export(path: str | os.PathLike[str]) -> TransferSummary:
    """Check an export file completely without importing it; what it holds."""
    export = ExportFile(Path(path))
    try:
        for _ in export.photos_data():
            pass
        return _file_summary(export)
    finally:
        export.close()


def _file_summary(export: ExportFile) -> TransferSummary:
    return TransferSummary(
        file=str(export.path),
        format_version=export.manifest["version"],
        people=len(export.people),
        photos=export.photos,
        embeddings={name: len(vectors) for name, (vectors, _) in export.models.items()},
    )


def import_gallery(
    gallery: Gallery, path: str | os.PathLike[str], progress: Callable[[int], None] | None = None
) -> TransferSummary:
    """Add everything in the export file ``path`` to ``gallery``: checked first, then one transaction.

    Re-importing the same file adds nothing. A photo already in the gallery gains the models it lacked. Models
    new to the gallery record the file's versions; vectors of another version than one the gallery recorded are
    refused. The summary warns when a model's recorded version differs from how this faceprint computes it."""
    export = ExportFile(Path(path))
    try:
        for _ in export.photos_data():  # every photo validated before the first write
            pass
        summary = _file_summary(export)
        recorded = {entry["name"]: entry.get("version") for entry in export.manifest["models"]}
        local = known_model_versions([name for name, version in recorded.items() if version])
        for name, version in sorted(recorded.items()):
            if version and name in local and local[name] != version:
                summary.warnings.append(
                    f"{name} vectors in the file were made by {version}; this faceprint computes {local[name]}, "
                    "so searches may compare vectors of two versions"
                )

        def photos() -> Iterator[PhotoData]:
            for photo in export.photos_data():
                yield photo
                if progress is not None:
                    progress(1)

        changes = gallery.import_photos(
            photos(), versions={name: version for name, version in recorded.items() if version}
        )
    finally:
        export.close()
    summary.people_added = changes.people_added
    summary.photos_added = changes.photos_added
    summary.photos_present = changes.photos_present
    summary.embeddings_added = changes.embeddings_added
    log.info("imported %s: %s", path, changes.to_dict())
    return summary


__all__ = [
    "FORMAT_VERSION",
    "TransferSummary",
    "export_gallery",
    "import_gallery",
    "read_export",
]
