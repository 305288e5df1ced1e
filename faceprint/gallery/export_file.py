"""The gallery export file: its format, and reading it with every byte checked before anything is used.

The file is a ZIP archive:

- ``manifest.json``: format name and version, when and by what it was written, counts, each model (name,
  dimension, the version of the network that computed its vectors when known) and the SHA-256 of every other
  member;
- ``people.jsonl``: one JSON object per person (``name``, ``created``, ``updated``; ISO 8601 times);
- ``photos.jsonl``: one JSON object per photo (``person``, ``content_hash``, ``created``, ``quality``, and
  ``thumbnail`` / ``image`` as base64 or null); the line number is the photo's number in the file;
- ``embeddings/<i>.npy`` (float32, one row per vector, exactly as stored) with ``embeddings/<i>.photos.npy``
  (int64 photo numbers, one per row) for the i-th model of the manifest.

A damaged, foreign or newer file is refused with a ``GalleryFileError`` that says the gallery was not changed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import FaceprintError, GalleryFileError
from faceprint.gallery.base import PhotoData, check_photo_data
from faceprint.npy_bytes import load_npy_bytes

FORMAT = "faceprint-gallery-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PEOPLE = "people.jsonl"
PHOTOS = "photos.jsonl"
CHUNK = 1 << 20


class ExportFile:
    """A checked export file: manifest, people, and each model's vectors indexed by photo number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.archive = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise GalleryFileError(f"{path}: no such file") from None
        except (zipfile.BadZipFile, OSError) as error:
            raise GalleryFileError(f"{path} is not a faceprint gallery export ({error})") from None
        try:
            self._check()
        except BaseException:
            self.archive.close()
            raise

    def fail(self, message: str) -> GalleryFileError:
        return GalleryFileError(f"{self.path}: {message}; the gallery was not changed")

    def _check(self) -> None:
        names = set(self.archive.namelist())
        if MANIFEST not in names:
            raise self.fail("not a faceprint gallery export (it has no manifest.json)")
        try:
            manifest = json.loads(self.archive.read(MANIFEST))
        except (ValueError, zipfile.BadZipFile, OSError) as error:
            raise self.fail(f"its manifest is damaged ({error})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise self.fail("not a faceprint gallery export (unknown format in manifest.json)")
        version = manifest.get("version")
        if not isinstance(version, int) or version < 1:
            raise self.fail(f"its format version {version!r} is not valid")
        if version > FORMAT_VERSION:
            raise self.fail(
                f"it was written by a newer faceprint (format version {version}; this one reads up to "
                f"{FORMAT_VERSION}): upgrade faceprint to import it"
            )
        members = manifest.get("members")
        if not isinstance(members, dict) or not {PEOPLE, PHOTOS} <= set(members):
            raise self.fail("its manifest does not list its members")
        for name, expected in members.items():  # every byte is checked before anything is parsed
            if name not in names:
                raise self.fail(f"the member {name} is missing")
            digest = hashlib.sha256()
            try:
                with self.archive.open(name) as member:
                    while chunk := member.read(CHUNK):
                        digest.update(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:  # a CRC or length mismatch
                raise self.fail(f"the member {name} is damaged ({error})") from None
            if digest.hexdigest() != expected:
                raise self.fail(f"the member {name} is damaged (checksum mismatch)")
        self.manifest = manifest
        self.photos = self._count("photos")
        self.people = self._read_people(self._count("people"))
        self.models = self._read_models()

    def _count(self, key: str) -> int:
        value = self.manifest.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(f"the manifest's {key} count {value!r} is not valid")
        return value

    def _read_people(self, expected: int) -> dict[str, tuple[datetime, datetime]]:
        people: dict[str, tuple[datetime, datetime]] = {}
        for number, line in enumerate(self._lines(PEOPLE)):
            try:
                people[line["name"]] = (_parse_time(line["created"]), _parse_time(line["updated"]))
            except (KeyError, TypeError, ValueError) as error:
                raise self.fail(f"person {number + 1} in {PEOPLE} is malformed ({error})") from None
        if len(people) != expected:
            raise self.fail(f"{PEOPLE} holds {len(people)} people, the manifest says {expected}")
        return people

    def _read_models(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each model's vectors and, per photo number, its row (-1 where that photo has none)."""
        models: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        entries = self.manifest.get("models")
        if not isinstance(entries, list):
            raise self.fail("its manifest has no list of models")
        for entry in entries:
            try:
                name, dim, rows = entry["name"], entry["dim"], entry["vectors"]
                vectors = self._array(entry["member"])
                numbers = self._array(entry["photos_member"])
            except (KeyError, TypeError) as error:
                raise self.fail(f"a model entry of the manifest is malformed ({error})") from None
            if not isinstance(name, str) or name in models:
                raise self.fail(f"model name {name!r} is invalid or repeated")
            if vectors.dtype != np.float32 or vectors.shape != (rows, dim) or numbers.shape != (rows,):
                raise self.fail(f"the {name} vectors do not have the shape the manifest gives ({rows} x {dim})")
            if numbers.dtype.kind != "i" or (rows and (numbers.min() < 0 or numbers.max() >= self.photos)):
                raise self.fail(f"the {name} vectors refer to photos that are not in the file")
            position = np.full(self.photos, -1, dtype=np.int64)
            position[numbers] = np.arange(rows)
            if rows and np.count_nonzero(position >= 0) != rows:
                raise self.fail(f"a photo has two {name} vectors")
            models[name] = (vectors, position)
        return models

    def _array(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.manifest["members"]:
            raise self.fail(f"the array {name!r} is not a listed member")
        try:
            return load_npy_bytes(self.archive.read(name))
        except (ValueError, OSError, EOFError) as error:
            raise self.fail(f"the array {name} is damaged ({error})") from None

    def _lines(self, name: str) -> Iterator[Any]:
        with self.archive.open(name) as member:
            for number, raw in enumerate(member):
                try:
                    yield json.loads(raw)
                except ValueError as error:
                    raise self.fail(f"line {number + 1} of {name} is not JSON ({error})") from None

    def photos_data(self) -> Iterator[PhotoData]:
        """Every photo of the file as ``PhotoData``, validated as the stores validate what they store."""
        count = 0
        for number, line in enumerate(self._lines(PHOTOS)):
            if number >= self.photos:
                raise self.fail(f"{PHOTOS} holds more photos than the manifest says ({self.photos})")
            try:
                person = line["person"]
                created, updated = self.people[person]
                embeddings = {
                    model: vectors[rows[number]] for model, (vectors, rows) in self.models.items() if rows[number] >= 0
                }
                photo = check_photo_data(
                    PhotoData(
                        person=person,
                        content_hash=line["content_hash"],
                        created=_parse_time(line["created"]),
                        quality=line.get("quality") or {},
                        embeddings=embeddings,
                        person_created=created,
                        person_updated=updated,
                        thumbnail=_unb64(line.get("thumbnail")),
                        image=_unb64(line.get("image")),
                    )
                )
            except (KeyError, TypeError, ValueError, binascii.Error, FaceprintError) as error:
                detail = error.message if isinstance(error, FaceprintError) else f"{type(error).__name__}: {error}"
                raise self.fail(f"photo {number + 1} in {PHOTOS} is invalid ({detail})") from None
            count += 1
            yield photo
        if count != self.photos:
            raise self.fail(f"{PHOTOS} holds {count} photos, the manifest says {self.photos}")

    def close(self) -> None:
        self.archive.close()


def _parse_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"a time must be ISO 8601 text, not {text!r}")
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _unb64(text: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError("a thumbnail or image must be base64 text or null")
    return base64.b64decode(text, validate=True)
