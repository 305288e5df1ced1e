"""The photo library's rows, written once over the gallery's store core so that SQLite and PostgreSQL both hold
them (tables in ``faceprint.gallery.schema``): indexed photos, their faces with geometry, quality and embeddings,
the person each face was named as, and the clusters of unknown faces. Every write is one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from faceprint.errors import FaceprintError, UnknownPersonError
from faceprint.gallery.base import normalize_name
from faceprint.gallery.engine import Engine, Tx


class UnknownClusterError(FaceprintError):
    """No cluster with that id."""

    code = "unknown_cluster"
    http_status = 404


@dataclass(frozen=True)
class KnownPhoto:
    """A photo file as the library last indexed it."""

    id: int
    path: str
    content_hash: str
    stamp: str
    error: str | None


@dataclass
class FaceRow:
    """One face to store: geometry (box, score, landmarks), quality, embeddings, and who it was named as."""

    face: dict
    quality: dict
    vectors: dict[str, np.ndarray]
    versions: dict[str, str | None] = field(default_factory=dict)
    person: str | None = None
    similarity: float | None = None
    thumbnail: bytes | None = None


@dataclass
class PhotoRow:
    """One photo file to store with its faces (or the reason it could not be indexed)."""

    path: str
    content_hash: str
    stamp: str
    taken: str | None = None
    width: int = 0
    height: int = 0
    error: str | None = None
    faces: list[FaceRow] = field(default_factory=list)


def _prefix_match(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


class LibraryStore:
    """The library's queries over a gallery's engine."""

    def __init__(self, gallery: object) -> None:
        engine = getattr(gallery, "engine", None)
        if not isinstance(engine, Engine):
            raise FaceprintError("the photo library needs a SQLite or PostgreSQL gallery")
        self.engine: Engine = engine

    # --- photos -----------------------------------------------------------------------------------------------

    def known(self, roots: Sequence[str] | None = None) -> dict[str, KnownPhoto]:
        """Every indexed photo (under ``roots`` when given), by path."""
        with self.engine.read() as tx:
            rows = tx.all("SELECT id, path, content_hash, stamp, error FROM library_photos")
        photos = (KnownPhoto(*row) for row in rows)
        return {p.path: p for p in photos if roots is None or _prefix_match(p.path, roots)}

    def store(self, photos: Iterable[PhotoRow]) -> int:
        """Store photos and their faces in one transaction, replacing whatever was indexed at their paths; the
        number of faces stored."""
        now = datetime.now(UTC)
        faces = 0
        with self.engine.write() as tx:
            people = dict(tx.all("SELECT name, id FROM people"))
            for photo in photos:
                tx.run("DELETE FROM library_photos WHERE path = ?", (photo.path,))
                photo_id = tx.value(
                    "INSERT INTO library_photos (path, content_hash, stamp, taken, width, height, error, indexed) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (photo.path, photo.content_hash, photo.stamp, photo.taken, photo.width, photo.height,
                     photo.error, now),
                )  # fmt: skip
                for face in photo.faces:
                    self._insert_face(tx, photo_id, face, people)
                    faces += 1
        return faces

    @staticmethod
    def _insert_face(tx: Tx, photo_id: int, face: FaceRow, people: Mapping[str, int]) -> int:
        person_id = people.get(face.person) if face.person else None
        similarity = None if person_id is None or face.similarity is None else f"{face.similarity:.1f}"
        face_id = tx.value(
            "INSERT INTO library_faces (photo_id, face, quality, person_id, similarity, thumbnail) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (photo_id, json.dumps(face.face), json.dumps(face.quality), person_id, similarity, face.thumbnail),
        )
        for model, vector in face.vectors.items():
            tx.run(
                "INSERT INTO library_vectors (face_id, model, version, vector) VALUES (?, ?, ?, ?)",
                (face_id, model, face.versions.get(model), np.asarray(vector, dtype=np.float32).tobytes()),
            )
        return face_id

    def update_stamp(self, photo_id: int, path: str, stamp: str) -> None:
        """A photo whose content is unchanged: moved to ``path`` and/or touched; its faces are kept."""
        with self.engine.write() as tx:
            tx.run("DELETE FROM library_photos WHERE path = ? AND id <> ?", (path, photo_id))
            tx.run("UPDATE library_photos SET path = ?, stamp = ? WHERE id = ?", (path, stamp, photo_id))

    def remove(self, photo_ids: Sequence[int]) -> None:
        """Forget photos (their faces and embeddings go with them)."""
        if not photo_ids:
            return
        with self.engine.write() as tx:
            tx.run(f"DELETE FROM library_photos WHERE id {self.engine.in_ids}", (self.engine.ids(list(photo_ids)),))

    # --- reading faces ----------------------------------------------------------------------------------------

    def _faces_named(self, name: str, columns: str) -> list[tuple]:
        """``columns`` of every indexed face named as ``name`` (``f``: the face, ``ph``: its photo), by path then
        face; ``UnknownPersonError`` when nobody has that name."""
        name = normalize_name(name)
        with self.engine.read() as tx:
            if tx.one("SELECT 1 FROM people WHERE name = ?", (name,)) is None:
                raise UnknownPersonError(f"no person named {name!r} in the gallery")
            return tx.all(
                f"SELECT {columns} FROM library_faces f "
                "JOIN library_photos ph ON ph.id = f.photo_id JOIN people p ON p.id = f.person_id "
                "WHERE p.name = ? ORDER BY ph.path, f.id",
                (name,),
            )

    def photos_of(self, name: str) -> list[dict]:
        """Every indexed face named as ``name``: photo path, box and similarity, by path."""
        rows = self._faces_named(name, "ph.path, f.face, f.similarity, f.id")
        return [
            {
                "photo": path,
                "box": self.engine.read_json(face)["box"],
                "similarity": None if similarity is None else float(similarity),
                "face_id": face_id,
            }
            for path, face, similarity, face_id in rows
        ]

    def faces(self, face_ids: Sequence[int]) -> list[dict]:
        """Faces by id: photo path, box, quality, cluster and person id."""
        if not face_ids:
            return []
        with self.engine.read() as tx:
            rows = tx.all(
                "SELECT f.id, ph.path, f.face, f.quality, f.cluster_id, f.person_id FROM library_faces f "
                f"JOIN library_photos ph ON ph.id = f.photo_id WHERE f.id {self.engine.in_ids} ORDER BY f.id",
                (self.engine.ids([int(i) for i in face_ids]),),
            )
        read = self.engine.read_json
        return [
            {"id": r[0], "photo": r[1], "box": read(r[2])["box"], "face": read(r[2]), "quality": read(r[3]),
             "cluster": r[4], "person_id": r[5]}
            for r in rows
        ]  # fmt: skip

    def thumbnail(self, face_id: int) -> bytes | None:
        with self.engine.read() as tx:
            row = tx.one("SELECT thumbnail FROM library_faces WHERE id = ?", (int(face_id),))
        return None if row is None or row[0] is None else bytes(row[0])

    def vectors(self, models: Sequence[str], where: str, params: Sequence = ()) -> tuple[np.ndarray, dict, np.ndarray]:
        """Face ids, unit vectors per model and quality dicts of the faces selected by ``where`` (SQL over
        ``library_faces f``); faces lacking a model's vector are left out."""
        with self.engine.read() as tx:
            rows = tx.all(f"SELECT f.id, f.quality FROM library_faces f WHERE {where} ORDER BY f.id", params)
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            quality = np.array([self.engine.read_json(r[1]) for r in rows], dtype=object)
            found: dict[str, dict[int, np.ndarray]] = {}
            for model in models:
                vector_rows = tx.all(
                    "SELECT v.face_id, v.vector FROM library_vectors v JOIN library_faces f ON f.id = v.face_id "
                    f"WHERE v.model = ? AND {where}",
                    (model, *params),
                )
                found[model] = {fid: np.frombuffer(bytes(blob), dtype=np.float32) for fid, blob in vector_rows}
        keep = np.array([all(int(i) in found[m] for m in models) for i in ids], dtype=bool)
        ids, quality = ids[keep], quality[keep]
        matrices = {}
        for model in models:
            rows_m = [found[model][int(i)] for i in ids]
            matrices[model] = np.stack(rows_m) if rows_m else np.zeros((0, 0), np.float32)
        return ids, matrices, quality

    def summary(self) -> dict:
        """Counts of photos, faces, named faces and listed clusters."""
        with self.engine.read() as tx:
            return {
                "photos": tx.value("SELECT COUNT(*) FROM library_photos WHERE error IS NULL"),
                "errors": tx.value("SELECT COUNT(*) FROM library_photos WHERE error IS NOT NULL"),
                "faces": tx.value("SELECT COUNT(*) FROM library_faces"),
                "named": tx.value("SELECT COUNT(*) FROM library_faces WHERE person_id IS NOT NULL"),
            }

    def folders(self) -> list[dict]:
        """Each indexed folder with its number of photos."""
        counts: dict[str, int] = {}
        for path in self.known():
            folder = path.rsplit("/", 1)[0] or "/"
            counts[folder] = counts.get(folder, 0) + 1
        return [{"folder": folder, "photos": n} for folder, n in sorted(counts.items())]

    # --- clusters ---------------------------------------------------------------------------------------------

    def save_clustering(self, assignments: Mapping[int, int | None], new_clusters: int, considered: Sequence[int]):
        """Record a clustering step in one transaction: ``new_clusters`` clusters are created (numbered -1, -2, ...
        in ``assignments``), faces get their cluster, and every face in ``considered`` is marked clustered."""
        now = datetime.now(UTC)
        with self.engine.write() as tx:
            created = {
                -(n + 1): tx.value("INSERT INTO library_clusters (created) VALUES (?) RETURNING id", (now,))
                for n in range(new_clusters)
            }
            for face_id, cluster in assignments.items():
                cluster_id = created.get(cluster, cluster) if cluster is not None and cluster < 0 else cluster
                tx.run("UPDATE library_faces SET cluster_id = ? WHERE id = ?", (cluster_id, int(face_id)))
            ids = [int(i) for i in considered]
            for start in range(0, len(ids), 5000):
                tx.run(
                    f"UPDATE library_faces SET clustered = 1 WHERE id {self.engine.in_ids}",
                    (self.engine.ids(ids[start : start + 5000]),),
                )

    def clusters(self, include_ignored: bool = False, min_size: int = 2) -> list[dict]:
        """Clusters of unnamed faces with at least ``min_size`` faces, largest first."""
        with self.engine.read() as tx:
            rows = tx.all(
                "SELECT c.id, c.ignored, f.id, ph.path, f.face FROM library_clusters c "
                "JOIN library_faces f ON f.cluster_id = c.id JOIN library_photos ph ON ph.id = f.photo_id "
                "WHERE f.person_id IS NULL ORDER BY c.id, f.id"
            )
        grouped: dict[int, dict] = {}
        for cluster_id, ignored, face_id, path, face in rows:
            if ignored and not include_ignored:
                continue
            entry = grouped.setdefault(cluster_id, {"id": cluster_id, "faces": [], "ignored": bool(ignored)})
            entry["faces"].append({"face_id": face_id, "photo": path, "box": self.engine.read_json(face)["box"]})
        listed = [dict(c, size=len(c["faces"])) for c in grouped.values() if len(c["faces"]) >= min_size]
        return sorted(listed, key=lambda c: (-c["size"], c["id"]))

    def cluster_faces(self, cluster_id: int) -> list[int]:
        """The unnamed faces of a cluster; ``UnknownClusterError`` if there is no such cluster."""
        with self.engine.read() as tx:
            if tx.one("SELECT 1 FROM library_clusters WHERE id = ?", (int(cluster_id),)) is None:
                raise UnknownClusterError(f"no cluster {cluster_id}")
            rows = tx.all(
                "SELECT id FROM library_faces WHERE cluster_id = ? AND person_id IS NULL ORDER BY id",
                (int(cluster_id),),
            )
        return [r[0] for r in rows]

    def name_faces(self, face_ids: Sequence[int], name: str) -> None:
        """Name faces as an enrolled person (they leave their cluster's listing)."""
        with self.engine.write() as tx:
            person_id = tx.value("SELECT id FROM people WHERE name = ?", (normalize_name(name),))
            if person_id is None:
                raise UnknownPersonError(f"no person named {name!r} in the gallery")
            tx.run(
                f"UPDATE library_faces SET person_id = ?, similarity = NULL WHERE id {self.engine.in_ids}",
                (person_id, self.engine.ids([int(i) for i in face_ids])),
            )

    def merge_clusters(self, target: int, sources: Sequence[int]) -> None:
        """Move every face of ``sources`` into ``target`` and delete the sources."""
        for cluster in (target, *sources):
            self.cluster_faces(cluster)
        with self.engine.write() as tx:
            for source in sources:
                if int(source) == int(target):
                    continue
                tx.run("UPDATE library_faces SET cluster_id = ? WHERE cluster_id = ?", (int(target), int(source)))
                tx.run("DELETE FROM library_clusters WHERE id = ?", (int(source),))

    def split_faces(self, cluster_id: int, face_ids: Sequence[int], new_cluster: bool = True) -> int | None:
        """Take faces out of a cluster: into a new cluster (its id), or out of every cluster (``None``). Faces taken
        out stay considered, so the incremental clustering does not put them back."""
        members = set(self.cluster_faces(cluster_id))
        chosen = [int(i) for i in face_ids]
        if not chosen or not set(chosen) <= members:
            raise FaceprintError(f"faces {sorted(set(chosen) - members) or chosen} are not in cluster {cluster_id}")
        with self.engine.write() as tx:
            target = None
            if new_cluster:
                target = tx.value(
                    "INSERT INTO library_clusters (created) VALUES (?) RETURNING id", (datetime.now(UTC),)
                )
            tx.run(
                f"UPDATE library_faces SET cluster_id = ? WHERE id {self.engine.in_ids}",
                (target, self.engine.ids(chosen)),
            )
        return target

    def ignore_cluster(self, cluster_id: int, ignored: bool = True) -> None:
        self.cluster_faces(cluster_id)
        with self.engine.write() as tx:
            tx.run("UPDATE library_clusters SET ignored = ? WHERE id = ?", (int(ignored), int(cluster_id)))

    # --- for the web pages ------------------------------------------------------------------------------------

    def person_faces(self, name: str) -> list[dict]:
        """Every indexed face named as ``name`` with its photo's id and size (``UnknownPersonError``)."""
        rows = self._faces_named(name, "f.id, ph.id, ph.path, ph.width, ph.height, ph.taken, f.face, f.similarity")
        return [
            {"face_id": r[0], "photo_id": r[1], "photo": r[2], "width": r[3], "height": r[4], "taken": r[5],
             "box": self.engine.read_json(r[6])["box"], "similarity": None if r[7] is None else float(r[7])}
            for r in rows
        ]  # fmt: skip

    def named_people(self) -> list[dict]:
        """Each person with indexed faces: name, faces, photos and the id of their largest face."""
        with self.engine.read() as tx:
            rows = tx.all(
                "SELECT p.name, f.id, f.photo_id, f.quality FROM library_faces f JOIN people p ON p.id = f.person_id "
                "ORDER BY p.name, f.id"
            )
        people: dict[str, dict] = {}
        for name, face_id, photo_id, quality in rows:
            size = float((self.engine.read_json(quality) or {}).get("size") or 0)
            entry = people.setdefault(name, {"name": name, "faces": 0, "photos": set(), "face_id": face_id, "size": -1})
            entry["faces"] += 1
            entry["photos"].add(photo_id)
            if size > entry["size"]:
                entry["face_id"], entry["size"] = face_id, size
        return [
            {"name": p["name"], "faces": p["faces"], "photos": len(p["photos"]), "face_id": p["face_id"]}
            for p in people.values()
        ]

    def photo(self, photo_id: int) -> dict | None:
        """One indexed photo's path and size, or ``None``."""
        with self.engine.read() as tx:
            row = tx.one("SELECT path, width, height, error FROM library_photos WHERE id = ?", (int(photo_id),))
        return None if row is None else {"path": row[0], "width": row[1], "height": row[2], "error": row[3]}
