"""The gallery's behaviour, written once for every engine: people, photos, their blobs and embeddings, rename,
delete, bulk import and export, search, and the schema upgrades applied on open.

Every write is one transaction of the engine (``Engine.write``). Concurrent writers are kept apart by the engine's
locks: SQLite takes the database's write lock when a write begins, PostgreSQL locks the person's row
(``row_lock``) before changing their photos, and registers new models under an advisory lock. Inputs are
validated (``faceprint.gallery.base``) before a transaction begins."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from faceprint.errors import (
    GalleryError,
    InvalidEmbeddingError,
    PersonExistsError,
    UnknownPersonError,
    UnknownPhotoError,
)
from faceprint.gallery.base import (
    Candidate,
    ImportSummary,
    Person,
    PhotoData,
    PhotoRecord,
    check_blob,
    check_dimension,
    check_photo_data,
    normalize_name,
    quality_json,
    query_matrix,
    sort_people,
    validate_content_hash,
    validate_embeddings,
)
from faceprint.gallery.engine import Engine, ModelRow, Tx
from faceprint.gallery.schema import STEPS
from faceprint.gallery.vector_index import unit_rows

log = logging.getLogger(__name__)

_PHOTO_SELECT = (
    "SELECT ph.id, p.name, ph.content_hash, ph.created, ph.quality, "
    "EXISTS (SELECT 1 FROM photo_blobs b WHERE b.photo_id = ph.id AND b.image IS NOT NULL) "
    "FROM photos ph JOIN people p ON p.id = ph.person_id "
)
_PERSON_SELECT = (
    "SELECT p.name, (SELECT COUNT(*) FROM photos ph WHERE ph.person_id = p.id), p.created, p.updated, "
    "(SELECT b.thumbnail FROM photos ph JOIN photo_blobs b ON b.photo_id = ph.id "
    " WHERE ph.person_id = p.id AND b.thumbnail IS NOT NULL ORDER BY ph.id LIMIT 1) "
    "FROM people p "
)


def check_version(model: ModelRow, version: str | None) -> None:
    """``InvalidEmbeddingError`` if a vector of ``version`` would be compared with the model's stored vectors
    of another version (unchecked where either is unknown)."""
    if version is not None and model.version is not None and version != model.version:
        raise InvalidEmbeddingError(
            f"the {model.name} embedding was computed by {version}, but this gallery's {model.name} vectors were "
            f"computed by {model.version}; they cannot be compared: re-enroll with the same model version"
        )


def migrate(engine: Engine) -> int:
    """Bring the schema to ``len(STEPS)`` in one transaction (never half-applied); the version found.

    A gallery from a newer release is refused: its schema may hold what this release would damage."""
    with engine.migration() as tx:
        tx.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        found = tx.value("SELECT version FROM schema_version")
        version = 0 if found is None else found
        if version > len(STEPS):
            raise GalleryError(
                f"the gallery {engine.url} has schema version {version}, newer than this faceprint understands "
                f"({len(STEPS)}); upgrade faceprint"
            )
        for number in range(version, len(STEPS)):
            log.info("upgrading gallery %s to schema version %d: %s", engine.url, number + 1, STEPS[number].purpose)
            for operation in STEPS[number].operations:
                for statement in engine.render(operation):
                    tx.run(statement)
            if (storage := engine.storage_steps.get(number + 1)) is not None:
                storage(tx)
        if found is None:
            tx.run("INSERT INTO schema_version (version) VALUES (?)", (len(STEPS),))
        elif version != len(STEPS):
            tx.run("UPDATE schema_version SET version = ?", (len(STEPS),))
    return version


class GalleryStore:
    """The ``Gallery`` protocol over any ``Engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url
        try:
            migrate(engine)
        except BaseException:
            engine.close()
            raise

    @property
    def _connections(self) -> Any:
        """The engine's per-thread connections."""
        return self.engine._connections

    def schema_version(self) -> int:
        """The schema version of the gallery (``len(STEPS)`` once opened)."""
        with self.engine.read() as tx:
            return tx.value("SELECT version FROM schema_version")

    # --- rows -------------------------------------------------------------------------------------------------

    def _photo(self, row: tuple) -> PhotoRecord:
        return PhotoRecord(
            id=row[0],
            person=row[1],
            content_hash=row[2],
            created=self.engine.read_time(row[3]),
            quality=self.engine.read_json(row[4]),
            has_image=bool(row[5]),
        )

    def _person(self, row: tuple) -> Person:
        read_time = self.engine.read_time
        thumbnail = None if row[4] is None else bytes(row[4])
        return Person(
            name=row[0], photos=row[1], created=read_time(row[2]), updated=read_time(row[3]), thumbnail=thumbnail
        )

    def _person_id(self, tx: Tx, name: str, lock: bool = False) -> int:
        person_id = tx.value("SELECT id FROM people WHERE name = ?" + (self.engine.row_lock if lock else ""), (name,))
        if person_id is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")
        return person_id

    @staticmethod
    def _model(tx: Tx, name: str) -> ModelRow | None:
        row = tx.one("SELECT id, name, dim, version FROM models WHERE name = ?", (name,))
        return None if row is None else ModelRow(*row)

    def _register(
        self, tx: Tx, vectors: Mapping[str, np.ndarray], versions: Mapping[str, str | None]
    ) -> dict[str, ModelRow]:
        """Each model's row, registering new models (size of their first vector, version given); sizes and
        versions are checked, so that vectors of two networks are never mixed under one name."""
        models: dict[str, ModelRow] = {}
        for name, vector in vectors.items():
            model = self._model(tx, name)
            if model is None:
                self.engine.lock_models(tx)
                model = self._model(tx, name)  # registered meanwhile by another writer?
            if model is None:
                model_id = tx.value(
                    "INSERT INTO models (name, dim, version) VALUES (?, ?, ?) RETURNING id",
                    (name, vector.size, versions.get(name)),
                )
                model = ModelRow(model_id, name, vector.size, versions.get(name))
                self.engine.create_vector_storage(tx, model)
            check_dimension(name, model.dim, vector.size)
            check_version(model, versions.get(name))
            models[name] = model
        return models

    def _store_photo(
        self,
        tx: Tx,
        models: Mapping[str, ModelRow],
        photo: PhotoData,
    ) -> tuple[int, bool, bool, int]:
        """Insert one photo (and its person if new) in the caller's transaction: ``(photo id, photo created,
        person created, embeddings added)``. An existing photo only gains the models it lacked."""
        # Lock the person's row first, so that concurrent writes for one person queue instead of racing.
        row = tx.one("SELECT id FROM people WHERE name = ?" + self.engine.row_lock, (photo.person,))
        person_new = row is None
        if person_new:
            row = tx.one(
                "INSERT INTO people (name, created, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING RETURNING id",
                (photo.person, photo.person_created, photo.person_updated),
            )
            person_new = row is not None
        person_id = row[0] if row is not None else self._person_id(tx, photo.person, lock=True)
        photo_id = tx.value(
            "SELECT id FROM photos WHERE person_id = ? AND content_hash = ?", (person_id, photo.content_hash)
        )
        created = photo_id is None
        if created:
            photo_id = tx.value(
                "INSERT INTO photos (person_id, content_hash, created, quality) VALUES (?, ?, ?, ?) RETURNING id",
                (person_id, photo.content_hash, photo.created, quality_json(photo.quality)),
            )
            if photo.thumbnail is not None or photo.image is not None:
                tx.run(
                    "INSERT INTO photo_blobs (photo_id, thumbnail, image) VALUES (?, ?, ?)",
                    (photo_id, photo.thumbnail, photo.image),
                )
            if not person_new:
                tx.run(
                    "UPDATE people SET updated = CASE WHEN updated < ? THEN ? ELSE updated END WHERE id = ?",
                    (photo.person_updated, photo.person_updated, person_id),
                )
        added = sum(
            self.engine.store_vector(tx, models[model], photo_id, vector) for model, vector in photo.embeddings.items()
        )
        return photo_id, created, person_new, added

    # --- the Gallery protocol: writing ------------------------------------------------------------------------

    def add_photo(
        self,
        person: str,
        content_hash: str,
        embeddings: Mapping[str, np.ndarray],
        quality: Mapping[str, float] | None = None,
        thumbnail: bytes | None = None,
        image: bytes | None = None,
        versions: Mapping[str, str] | None = None,
    ) -> tuple[PhotoRecord, bool]:
        """Store a photo and its embeddings, creating the person if new; all or nothing.

        Re-adding a ``content_hash`` the person already has returns the stored record and ``False``; embeddings
        of models that photo does not have yet are added (so a new model can be back-filled), nothing else
        changes. The person's thumbnail is that of their oldest photo that has one. ``versions`` names the
        network version that computed each embedding: a model first stored with it records it, and vectors of
        another version of a model whose version is recorded are refused (``InvalidEmbeddingError``)."""
        name = normalize_name(person)
        content_hash = validate_content_hash(content_hash)
        vectors = validate_embeddings(embeddings)
        quality_json(quality)  # refuses what is not a mapping of finite numbers
        thumbnail, image = check_blob("thumbnail", thumbnail), check_blob("image", image)
        now = datetime.now(UTC)
        photo = PhotoData(name, content_hash, now, dict(quality or {}), vectors, now, now, thumbnail, image)
        with self.engine.write() as tx:
            models = self._register(tx, photo.embeddings, dict(versions or {}))
            photo_id, created, _, _ = self._store_photo(tx, models, photo)
            record = self._photo(tx.one(_PHOTO_SELECT + "WHERE ph.id = ?", (photo_id,)))
        return record, created

    def import_photos(self, photos: Iterable[PhotoData], versions: Mapping[str, str] | None = None) -> ImportSummary:
        """Store many photos with their own times, all in one transaction (all or nothing).

        Idempotent like :meth:`add_photo`: a photo the person already has (same content hash) only gains the
        models it lacked. New people get the creation and change times given; existing ones keep theirs."""
        summary = ImportSummary()
        versions = dict(versions or {})
        with self.engine.write() as tx:
            models: dict[str, ModelRow] = {}
            for photo in photos:
                checked = check_photo_data(photo)
                new = {m: v for m, v in checked.embeddings.items() if m not in models}
                if new:  # registered, or checked against the stored size and version, by _register
                    models.update(self._register(tx, new, versions))
                for model, vector in checked.embeddings.items():
                    check_dimension(model, models[model].dim, vector.size)
                _, created, person_new, added = self._store_photo(tx, models, checked)
                summary.count(created, person_new, added)
        return summary

    def rename(self, old: str, new: str) -> None:
        """Rename a person; ``UnknownPersonError`` if ``old`` is absent, ``PersonExistsError`` if ``new`` exists."""
        old, new = normalize_name(old), normalize_name(new)
        exists = PersonExistsError(f"a person named {new!r} already exists; delete or rename them first")
        try:
            with self.engine.write() as tx:
                person_id = self._person_id(tx, old, lock=True)
                if old == new:
                    return
                if tx.one("SELECT 1 FROM people WHERE name = ?", (new,)):
                    raise exists
                tx.run("UPDATE people SET name = ?, updated = ? WHERE id = ?", (new, datetime.now(UTC), person_id))
        except self.engine.unique_violation:  # created by another writer meanwhile
            raise exists from None

    def delete(self, name: str) -> None:
        """Remove a person; photos, blobs and every model's embeddings go with them (foreign keys cascade)."""
        name = normalize_name(name)
        with self.engine.write() as tx:
            if tx.one("DELETE FROM people WHERE name = ? RETURNING id", (name,)) is None:
                raise UnknownPersonError(f"no person named {name!r} in the gallery")

    def remove_photo(self, name: str, photo_id: int) -> None:
        """Remove one photo and its embeddings and blobs; a person left with no photos is deleted."""
        name = normalize_name(name)
        with self.engine.write() as tx:
            person_id = self._person_id(tx, name, lock=True)
            if (
                tx.one("DELETE FROM photos WHERE id = ? AND person_id = ? RETURNING id", (int(photo_id), person_id))
                is None
            ):
                raise UnknownPhotoError(f"{name!r} has no photo with id {photo_id}")
            if tx.one("SELECT 1 FROM photos WHERE person_id = ? LIMIT 1", (person_id,)):
                tx.run("UPDATE people SET updated = ? WHERE id = ?", (datetime.now(UTC), person_id))
            else:
                tx.run("DELETE FROM people WHERE id = ?", (person_id,))

    # --- the Gallery protocol: reading ------------------------------------------------------------------------

    def people(self) -> list[Person]:
        """Every enrolled person, sorted by name (case-insensitively)."""
        with self.engine.read() as tx:
            rows = tx.all(_PERSON_SELECT)
        return sort_people([self._person(row) for row in rows])

    def person(self, name: str) -> Person:
        """One person; ``UnknownPersonError`` if absent."""
        name = normalize_name(name)
        with self.engine.read() as tx:
            row = tx.one(_PERSON_SELECT + "WHERE p.name = ?", (name,))
        if row is None:
            raise UnknownPersonError(f"no person named {name!r} in the gallery")
        return self._person(row)

    def photos(self, name: str) -> list[PhotoRecord]:
        """A person's photos, oldest first; ``UnknownPersonError`` if absent."""
        name = normalize_name(name)
        with self.engine.read() as tx:
            person_id = self._person_id(tx, name)
            return [
                self._photo(row)
                for row in tx.all(_PHOTO_SELECT + "WHERE ph.person_id = ? ORDER BY ph.id", (person_id,))
            ]

    def photo_thumbnail(self, name: str, photo_id: int) -> bytes | None:
        """The thumbnail of one of a person's photos (``None`` if it has none); ``UnknownPersonError`` /
        ``UnknownPhotoError`` if either is absent."""
        name = normalize_name(name)
        with self.engine.read() as tx:
            person_id = self._person_id(tx, name)
            row = tx.one(
                "SELECT b.thumbnail FROM photos ph LEFT JOIN photo_blobs b ON b.photo_id = ph.id "
                "WHERE ph.id = ? AND ph.person_id = ?",
                (int(photo_id), person_id),
            )
        if row is None:
            raise UnknownPhotoError(f"{name!r} has no photo with id {photo_id}")
        return None if row[0] is None else bytes(row[0])

    def dump(self, batch: int = 1_000) -> Iterator[PhotoData]:
        """Every photo with everything stored about it (raw vectors of every model, thumbnail, image), by person
        name then age, from one consistent snapshot; for export. Consume it fully or close it."""
        engine = self.engine
        with engine.read(snapshot=True) as tx:
            models = [ModelRow(*row) for row in tx.all("SELECT id, name, dim, version FROM models")]
            query = (
                "SELECT ph.id, p.name, p.created, p.updated, ph.content_hash, ph.created, ph.quality, b.thumbnail, "
                "b.image FROM photos ph JOIN people p ON p.id = ph.person_id "
                f"LEFT JOIN photo_blobs b ON b.photo_id = ph.id ORDER BY p.name{engine.byte_order}, ph.id"
            )
            for rows in engine.stream(tx, query, (), batch):
                vectors: dict[int, dict[str, np.ndarray]] = {row[0]: {} for row in rows}
                for model in models:
                    for photo_id, vector in engine.read_vectors(tx, model, list(vectors)).items():
                        vectors[photo_id][model.name] = vector
                for row in rows:
                    yield PhotoData(
                        person=row[1],
                        person_created=engine.read_time(row[2]),
                        person_updated=engine.read_time(row[3]),
                        content_hash=row[4],
                        created=engine.read_time(row[5]),
                        quality=engine.read_json(row[6]),
                        embeddings=vectors[row[0]],
                        thumbnail=None if row[7] is None else bytes(row[7]),
                        image=None if row[8] is None else bytes(row[8]),
                    )

    def search(self, model: str, vectors: np.ndarray, k: int = 10, version: str | None = None) -> list[list[Candidate]]:
        """For each query row, the ``k`` stored photos most similar under ``model``, best first.

        How a model is searched is the engine's (exact or HNSW); the similarities are cosines. A model with no
        stored vectors gives empty lists; a query of the wrong size, or of another ``version`` than the one the
        gallery recorded for the model, is an error."""
        queries = query_matrix(vectors, k)
        with self.engine.read() as tx:
            row = self._model(tx, model)
        if row is None:
            return [[] for _ in range(len(queries))]
        check_dimension(model, row.dim, queries.shape[1])
        check_version(row, version)
        hits = self.engine.nearest(row, queries, k)
        names = self._names({photo_id for ids, _ in hits for photo_id in ids})
        return [
            [Candidate(names[key], key, float(similarity)) for key, similarity in zip(ids, sims) if key in names]
            for ids, sims in hits
        ]

    def _names(self, photo_ids: Iterable[int]) -> dict[int, str]:
        """Each photo's person (photos deleted meanwhile are left out)."""
        ids = [int(photo_id) for photo_id in photo_ids]
        if not ids:
            return {}
        query = (
            f"SELECT ph.id, p.name FROM photos ph JOIN people p ON p.id = ph.person_id WHERE ph.id {self.engine.in_ids}"
        )
        with self.engine.read() as tx:
            return dict(tx.all(query, (self.engine.ids(ids),)))

    def vectors(self, model: str, photo_ids: Sequence[int]) -> np.ndarray:
        """The stored ``model`` embeddings of the given photos as unit rows, one row each (zeros where a photo
        has none)."""
        wanted = [int(photo_id) for photo_id in photo_ids]
        with self.engine.read() as tx:
            row = self._model(tx, model)
            if row is None:
                return np.zeros((len(wanted), 0), dtype=np.float32)
            found = self.engine.read_vectors(tx, row, wanted)
        result = np.zeros((len(wanted), row.dim), dtype=np.float32)
        for position, photo_id in enumerate(wanted):
            if (vector := found.get(photo_id)) is not None:
                result[position] = unit_rows(vector[None, :])[0]
        return result

    def models(self) -> set[str]:
        """The models that have at least one stored embedding."""
        with self.engine.read() as tx:
            rows = [ModelRow(*row) for row in tx.all("SELECT id, name, dim, version FROM models")]
            return {row.name for row in rows if self.engine.has_vectors(tx, row)}

    def model_versions(self) -> dict[str, str | None]:
        """Each registered model's network version; ``None`` where the gallery predates recorded versions (its
        vectors may mix versions, e.g. float32 and 8-bit FaceNet)."""
        with self.engine.read() as tx:
            return dict(tx.all("SELECT name, version FROM models"))

    def count(self) -> int:
        """The number of stored photos."""
        with self.engine.read() as tx:
            return tx.value("SELECT COUNT(*) FROM photos")

    def close(self) -> None:
        """Release every connection; the object must not be used afterwards."""
        self.engine.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
