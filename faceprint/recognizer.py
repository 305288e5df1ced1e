"""``FaceRecognizer``: the one facade the command line and the web app use to detect, verify, enroll and
recognise people (open set: strangers are answered "unknown"), and to play celebrity look-alike."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from faceprint.alignment import align_face
from faceprint.embedding import DEFAULT_MODELS
from faceprint.errors import FaceprintError, ModelUnavailableError, NoFaceError, UnknownPersonError, UnknownPhotoError
from faceprint.gallery import Gallery, collection_url, default_gallery_url, open_gallery
from faceprint.imaging import ImageSource, describe
from faceprint.pipeline import FacePipeline, LoadedImage
from faceprint.quality import QualityGate, face_measures, quality_problems
from faceprint.scoring import check_fpir, pair_quality, quality_features, scorer_for
from faceprint.types import Face
from faceprint.verification import Calibration
from faceprint.verifier import verify

CLOSE_MARGIN = 15.0
"""How far below the threshold (in similarity points, i.e. a likelihood ratio 1,000 times smaller) an unknown face's
best candidate is still shown as the closest person, with a hint."""

THUMBNAIL_TEMPLATE_MODEL = "facenet"


class MultipleFacesError(FaceprintError):
    """An enrollment photo shows several faces and the caller did not say which one to use."""

    code = "multiple_faces"
    http_status = 422


class QualityError(FaceprintError):
    """The face fails the enrollment quality gate."""

    code = "poor_quality"
    http_status = 422


@dataclass
class PhotoOutcome:
    """What happened to one enrollment photo."""

    source: str
    accepted: bool
    reason: str | None = None
    photo_id: int | None = None
    created: bool = False
    face: dict | None = None
    quality: dict | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None or k in ("reason", "photo_id")}


@dataclass
class EnrollResult:
    """The outcome of enrolling one person from several photos."""

    name: str
    photos: list[PhotoOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(p.accepted for p in self.photos)

    def to_dict(self) -> dict:
        return {"name": self.name, "accepted": self.accepted, "photos": [p.to_dict() for p in self.photos]}


class FaceRecognizer:
    """Detect, embed, enroll and recognise faces with the default ensemble and a gallery store."""

    def __init__(
        self,
        gallery: Gallery | str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        pipeline: FacePipeline | None = None,
        calibration: Calibration | None = None,
        quality: QualityGate | None = None,
        store_thumbnails: bool = True,
        collection: str | None = None,
    ) -> None:
        """``gallery``: a store or its URL (default: ``default_gallery_url()``); ``collection``: which of its
        collections, a separate set of people (default: the one the URL names, usually ``default``)."""
        self.models = tuple(models)
        self.pipeline = pipeline or FacePipeline(models=self.models)
        self.calibration = calibration
        self.scoring = scorer_for(self.models, calibration)
        self.quality = quality or QualityGate()
        self.store_thumbnails = store_thumbnails
        self._celebrity_model = None
        self._threshold_cache: tuple | None = None
        self._gallery = gallery if not isinstance(gallery, (str, type(None))) else None
        self._gallery_url = gallery if isinstance(gallery, str) or gallery is None else None
        if collection is not None:
            if self._gallery is not None:
                raise FaceprintError("give a collection with a gallery URL, not with an opened gallery")
            self._gallery_url = collection_url(self._gallery_url or default_gallery_url(), collection)

    @property
    def gallery(self) -> Gallery:
        """The gallery store, opened on first use."""
        if self._gallery is None:
            self._gallery = open_gallery(self._gallery_url)
        return self._gallery

    @property
    def gallery_url(self) -> str:
        """The URL of this recognizer's gallery (with its password, for opening other collections of it)."""
        if self._gallery is None:
            return self._gallery_url or default_gallery_url()
        return getattr(self._gallery, "_conninfo", None) or self._gallery.url

    def for_collection(self, collection: str) -> FaceRecognizer:
        """A recognizer on another collection of this gallery, sharing these models and settings
        (nothing is opened or created until it is used)."""
        return FaceRecognizer(
            gallery=collection_url(self.gallery_url, collection),
            models=self.models,
            pipeline=self.pipeline,
            calibration=self.calibration,
            quality=self.quality,
            store_thumbnails=self.store_thumbnails,
        )

    def default_threshold(self, fpir: float | None = None, face_size: float | None = None) -> float:
        """Similarity from which a face is named: at most 1% of strangers (or the chosen ``fpir``) named for this
        gallery's size, raised when its people look more alike than usual (see ``faceprint.scoring``). A face of
        known ``face_size`` (px) gets its size band's operating point: stricter for large faces, which carry more
        evidence, more lenient for small ones."""
        people, shift = self._gallery_state()
        return self.scoring.identification_threshold(people, shift, fpir, face_size)

    def _gallery_state(self) -> tuple[int, float]:
        """The gallery's number of people and look-alike shift, kept while the gallery is unchanged. The check runs on
        every call, so that a change made by another process (another app server on the same PostgreSQL gallery)
        counts at once: a store with ``revision()`` answers it in one small query; otherwise the people are read and
        compared."""
        revision = getattr(self.gallery, "revision", None)
        people = None
        if revision is not None:
            state: tuple = ("revision", *revision())
        else:
            people = self.gallery.people()
            state = tuple((p.name, p.photos, p.updated) for p in people)
        cached = self._threshold_cache
        if cached is None or cached[0] != state:
            people = self.gallery.people() if people is None else people
            shift = self.scoring.gallery_shift(self._cross_similarities(people))
            cached = (state, len(people), shift)
            self._threshold_cache = cached
        return cached[1], cached[2]

    def threshold_rule(self, fpir: float | None = None) -> Callable[[dict], float]:
        """The default threshold as a function of a face's quality measures, for many faces of one gallery state
        (the gallery is checked once, a chosen ``fpir`` at once)."""
        if fpir is not None:
            check_fpir(fpir)
        people, shift = self._gallery_state()
        return lambda measures: self.scoring.identification_threshold(people, shift, fpir, measures.get("size"))

    def _cross_similarities(self, people, limit: int = 200) -> np.ndarray:
        """Similarities between enrolled photos of different people (of at most ``limit`` people, chosen evenly)."""
        chosen = people[:: max(1, len(people) // limit)][:limit]
        ids, owners, qualities = [], [], []
        for person in chosen:
            try:
                records = self.gallery.photos(person.name)
            except UnknownPersonError:  # deleted or renamed since the people were read (another request or server)
                continue
            for record in records:
                ids.append(record.id)
                owners.append(person.name)
                qualities.append(quality_features(record.quality))
        if len(set(owners)) < 2:
            return np.zeros(0)
        vectors = {model: self.gallery.vectors(model, ids) for model in self.scoring.models}
        return self.scoring.cross_person_similarities(vectors, np.stack(qualities), owners)

    # -- detection and verification ---------------------------------------------------------------
    def detect(self, image: ImageSource) -> list[Face]:
        """Every face in the image, largest first."""
        return self.pipeline.detect(self.pipeline.load(image))

    def describe_faces(self, image: ImageSource) -> list[dict]:
        """Every face in the image, largest first, in JSON form with its quality measures."""
        loaded = self.pipeline.load(image)
        return [
            {**face.to_dict(), "quality": face_measures(loaded.pixels, face)} for face in self.pipeline.detect(loaded)
        ]

    def verify(self, image_a: ImageSource, image_b: ImageSource) -> dict:
        """Are the largest faces of two images the same person? (fused similarity and threshold)"""
        return verify(self.pipeline, image_a, image_b, self.models, self.calibration)

    # -- celebrity look-alike ---------------------------------------------------------------------
    def predict_celebrity(self, image: ImageSource, top: int = 5) -> list[dict]:
        """For every face: the celebrity it is or most resembles (``name``, calibrated ``confidence``) and the
        ``top`` most probable celebrities, from the shipped stacked-ensemble model."""
        try:
            from faceprint.celebrity.model import CelebrityModel
            from faceprint.celebrity.predict import match_image
        except ImportError:
            raise ModelUnavailableError("the celebrity model is not part of this installation yet") from None

        if self._celebrity_model is None:
            self._celebrity_model = CelebrityModel.load()
        return match_image(self.pipeline, self._celebrity_model, image, top)

    # -- enrollment -------------------------------------------------------------------------------
    def enroll(
        self,
        name: str,
        images: ImageSource | Iterable[ImageSource],
        face: int | Sequence[float] | None = None,
        store_image: bool = False,
        check_quality: bool = True,
    ) -> EnrollResult:
        """Add photos of ``name``. Each photo must show one usable face, or ``face`` picks one (its number among
        the detected faces, from 1 for the largest, as every output numbers them; or a box [x, y, w, h]); bad
        photos are reported, not stored."""
        single = isinstance(images, (str, bytes, bytearray, memoryview, np.ndarray)) or hasattr(images, "__fspath__")
        sources = [images] if single else list(images)
        if not sources:
            raise FaceprintError("no photos given to enroll")
        result = EnrollResult(name=name.strip() if isinstance(name, str) else name)
        for source in sources:
            try:
                result.photos.append(self._enroll_one(name, source, face, store_image, check_quality))
            except FaceprintError as exc:
                result.photos.append(PhotoOutcome(source=describe(source), accepted=False, reason=exc.message))
        return result

    def _enroll_one(self, name, source, choice, store_image: bool, check_quality: bool) -> PhotoOutcome:
        self.pipeline.load_models(self.models, wait=False)
        image = self.pipeline.load(source)
        faces = self.pipeline.detect(image)
        chosen = choose_face(faces, choice, image.name)
        measures = face_measures(image.pixels, chosen)
        if check_quality and (problems := quality_problems(measures, self.quality)):
            raise QualityError(f"{image.name}: " + "; ".join(problems))
        vectors = self.pipeline.embed_faces([image], [chosen.landmarks], self.models)[0]
        record, created = self.gallery.add_photo(
            name,
            image.digest,
            vectors,
            versions={model: self.pipeline.embedder(model).version for model in vectors},
            quality=measures,
            thumbnail=self._thumbnail(image, chosen) if self.store_thumbnails else None,
            image=_original_bytes(source) if store_image else None,
        )
        return PhotoOutcome(
            source=image.name,
            accepted=True,
            photo_id=record.id,
            created=created,
            face=chosen.to_dict(),
            quality=measures,
        )

    def _thumbnail(self, image: LoadedImage, face: Face) -> bytes:
        """A small aligned JPEG of the face for the UI."""
        template = self.pipeline.embedder(THUMBNAIL_TEMPLATE_MODEL).template
        crop = align_face(image.pixels, face.landmarks, template)
        buffer = io.BytesIO()
        Image.fromarray(crop).resize((96, 96), Image.Resampling.LANCZOS).save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()

    # -- recognition ------------------------------------------------------------------------------
    def recognize(
        self, image: ImageSource, threshold: float | None = None, top: int = 3, fpir: float | None = None
    ) -> list[dict]:
        """For every face in the image: its quality, the enrolled person it is (or None for "unknown"), the
        similarity (0-100, see ``faceprint.scoring``), the threshold used, the best ``top`` candidates and, for an
        unknown face close to someone, that person and a hint. The threshold is ``threshold`` if given, else the
        one at which at most ``fpir`` of strangers (default 1%) are named in this gallery."""
        if threshold is not None and fpir is not None:
            raise FaceprintError("give a threshold or a false-positive identification rate, not both")
        rule = self.threshold_rule(fpir) if threshold is None else (lambda _measures: float(threshold))
        self.pipeline.load_models(self.models, wait=False)  # the networks load while the photo is decoded and detected
        loaded = self.pipeline.load(image)
        faces = self.pipeline.detect(loaded)
        if not faces:
            return []
        vectors = self.pipeline.embed_faces([loaded] * len(faces), [f.landmarks for f in faces], self.models)
        qualities: dict[int, dict] = {}
        results = []
        for face, face_vectors in zip(faces, vectors):
            measures = face_measures(loaded.pixels, face)
            candidates = self.rank_people(face_vectors, measures, top, qualities)
            results.append(self._decide(face, measures, candidates, rule(measures)))
        return results

    def _decide(self, face: Face, measures: dict, candidates: list[dict], threshold: float) -> dict:
        """The answer for one face: named when its best candidate reaches the threshold, else unknown with the
        closest person when they are within ``CLOSE_MARGIN`` points."""
        best = candidates[0] if candidates else None
        accepted = best is not None and best["similarity"] >= threshold
        result = {
            **face.to_dict(),
            "quality": measures,
            "identity": best["name"] if accepted else None,
            "similarity": best["similarity"] if best else None,
            "threshold": round(threshold, 1),
            "candidates": candidates,
        }
        if best is not None and not accepted and best["similarity"] >= threshold - CLOSE_MARGIN:
            result["closest"] = best["name"]
            result["hint"] = close_hint(best, threshold, measures)
        return result

    def rank_people(
        self,
        vectors: dict[str, np.ndarray],
        measures: dict,
        top: int = 3,
        qualities: dict[int, dict] | None = None,
        shortlist: int = 50,
    ) -> list[dict]:
        """The ``top`` enrolled people most like one already embedded face (``vectors`` per model, quality
        ``measures``), best first, as ``{"name", "similarity"}`` on the 0-100 scale ``recognize`` shows. Photos are
        shortlisted by each model's nearest neighbours, scored with the quality-aware similarity, and each person keeps
        their best photo. ``qualities`` caches gallery photos' quality measures across calls (pass one dict for a
        batch of faces)."""
        qualities = {} if qualities is None else qualities
        gallery = self.gallery
        photo_ids: dict[int, str] = {}
        for name in self.models:
            version = self.pipeline.embedder(name).version
            for candidate in gallery.search(name, vectors[name][None, :], k=shortlist, version=version)[0]:
                photo_ids[candidate.photo_id] = candidate.person
        if not photo_ids:
            return []
        ids = sorted(photo_ids)
        missing = sorted({photo_ids[i] for i in ids if i not in qualities})
        gone = set()
        for person in missing:
            try:
                qualities.update({record.id: record.quality for record in gallery.photos(person)})
            except UnknownPersonError:  # deleted or renamed since the search (another request or server)
                gone.add(person)
        ids = [i for i in ids if photo_ids[i] not in gone]
        if not ids:
            return []
        cosines = np.stack([gallery.vectors(name, ids) @ vectors[name] for name in self.scoring.models], axis=1)
        probe = quality_features(measures)
        pair_q = np.stack([pair_quality(probe, quality_features(qualities.get(i))) for i in ids])
        similarities = self.scoring.similarity(cosines, pair_q)
        best: dict[str, float] = {}
        for photo_id, score in zip(ids, np.atleast_1d(similarities)):
            person = photo_ids[photo_id]
            best[person] = max(best.get(person, -1.0), float(score))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:top]
        return [{"name": person, "similarity": round(score, 1)} for person, score in ranked]

    def add_face(
        self, name: str, image: ImageSource, face: int | Sequence[float] | None = None, store_image: bool = False
    ) -> PhotoOutcome:
        """Confirm a recognition: add a face of a photo to an already enrolled person (``UnknownPersonError`` when
        they are not), after the enrollment quality gate, so that recognition improves with use."""
        self.gallery.person(name)
        return self._enroll_one(name, image, face, store_image, check_quality=True)

    # -- people management ------------------------------------------------------------------------
    def people(self) -> list[dict]:
        """Every enrolled person with their photo count, dates and how strong their enrollment is (a person
        deleted or renamed while the list is read, by another request or server, is left out)."""
        answer = []
        for p in self.gallery.people():
            try:
                records = self.gallery.photos(p.name)
            except UnknownPersonError:
                continue
            answer.append(
                {
                    "name": p.name,
                    "photos": p.photos,
                    "created": p.created.isoformat(),
                    "updated": p.updated.isoformat(),
                    "enrollment": enrollment_strength([r.quality for r in records]),
                }
            )
        return answer

    def person(self, name: str) -> dict:
        """One enrolled person (``UnknownPersonError`` if absent), in the form of ``people()`` plus
        ``has_thumbnail``."""
        person = self.gallery.person(name)
        return {
            "name": person.name,
            "photos": person.photos,
            "created": person.created.isoformat(),
            "updated": person.updated.isoformat(),
            "has_thumbnail": person.thumbnail is not None,
            "enrollment": enrollment_strength([r.quality for r in self.gallery.photos(name)]),
        }

    def photos(self, name: str) -> list[dict]:
        """A person's enrolled photos, oldest first: id, when, quality measures (``UnknownPersonError``)."""
        return [
            {"photo_id": p.id, "created": p.created.isoformat(), "quality": p.quality, "has_image": p.has_image}
            for p in self.gallery.photos(name)
        ]

    def thumbnail(self, name: str, photo_id: int | None = None) -> bytes | None:
        """The JPEG face thumbnail of a person (that of their oldest photo with one) or of one of their photos;
        None when there is none. ``UnknownPersonError`` / ``UnknownPhotoError`` for unknown ones."""
        if photo_id is None:
            return self.gallery.person(name).thumbnail
        record = next((p for p in self.gallery.photos(name) if p.id == photo_id), None)
        if record is None:
            raise UnknownPhotoError(f"{name!r} has no photo with id {photo_id}")
        direct = getattr(self.gallery, "photo_thumbnail", None)
        if direct is not None:
            return direct(name, photo_id)
        # Stores without a per-photo accessor: scan the export stream for the photo (by person and content).
        with contextlib.closing(self.gallery.dump()) as photos:
            for photo in photos:
                if photo.person == record.person and photo.content_hash == record.content_hash:
                    return photo.thumbnail
        return None

    def rename(self, old: str, new: str) -> None:
        self.gallery.rename(old, new)

    def delete(self, name: str) -> None:
        self.gallery.delete(name)

    def remove_image(self, name: str, photo_id: int) -> None:
        self.gallery.remove_photo(name, photo_id)


def choose_face(faces: list[Face], choice: int | Sequence[float] | None, name: str) -> Face:
    """The face to enroll: the only one, or the one picked by its number (from 1, largest first, as every output
    numbers faces) or by the box that overlaps it most."""
    if not faces:
        raise NoFaceError(f"{name}: no face found")
    if choice is None:
        if len(faces) > 1:
            raise MultipleFacesError(
                f"{name}: {len(faces)} faces found; choose one by its number (1 to {len(faces)}, 1 is the largest) "
                "or by its box"
            )
        return faces[0]
    if isinstance(choice, int):
        if not 1 <= choice <= len(faces):
            raise FaceprintError(
                f"{name}: there is no face {choice}: faces are numbered from 1 (the largest) to {len(faces)}"
            )
        return faces[choice - 1]
    overlaps = [_iou(face.box, tuple(choice)) for face in faces]
    if max(overlaps) < 0.3:
        raise NoFaceError(f"{name}: no detected face matches the box {list(choice)}")
    return faces[int(np.argmax(overlaps))]


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _original_bytes(source: ImageSource) -> bytes | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, np.ndarray):
        return None
    with open(source, "rb") as handle:
        return handle.read()


def close_hint(best: dict, threshold: float, measures: dict) -> str:
    """Why an unknown face close to someone was not named, and what would settle it."""
    reason = f"closest is {best['name']} (similarity {best['similarity']:.0f}, needs {threshold:.0f})"
    if measures.get("size", 1000) < 48:
        return f"{reason}; the face is small ({measures['size']:.0f} px): a larger photo would settle it"
    if measures.get("sharpness", 1000) < 20:
        return f"{reason}; the face is blurred: a sharper photo would settle it"
    return f"{reason}; if it is them, confirm it to add this face to {best['name']}"


GOOD_PHOTO = {"size": 80.0, "sharpness": 40.0, "yaw": 0.3}
"""A reference photo that serves recognition well: a face at least 80 px across, sharp and near frontal."""


def enrollment_strength(qualities: Sequence[dict | None]) -> dict:
    """How well a person's enrolled photos will serve recognition: ``strong`` with three good photos (see
    ``GOOD_PHOTO``), ``fair`` with one or two, ``weak`` with none; and a hint saying what to add."""
    good = sum(
        1
        for q in qualities
        if q
        and q.get("size", 0) >= GOOD_PHOTO["size"]
        and q.get("sharpness", 0) >= GOOD_PHOTO["sharpness"]
        and q.get("yaw", 1) <= GOOD_PHOTO["yaw"]
    )
    strength = "strong" if good >= 3 else "fair" if good >= 1 else "weak"
    hint = None
    if strength != "strong":
        needed = 3 - good
        hint = (
            f"add {needed} more clear photo{'s' if needed > 1 else ''}: a face at least 80 px across, sharp, "
            "facing the camera; different days and lighting help most"
        )
    return {"strength": strength, "photos": len(qualities), "good_photos": good, "hint": hint}
