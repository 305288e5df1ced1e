"""``PhotoLibrary``: the photo library's operations for the command line and the web app: index folders, find a
person's photos, and list, name, merge, split and ignore the clusters of unknown faces."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.library.clustering import Clusterer, Faces, quality_matrix
from faceprint.library.indexer import Indexer, IndexSummary
from faceprint.library.store import LibraryStore

ENROLL_FACES = 10
"""How many of a named cluster's best faces (largest and sharpest) are enrolled as the person's photos."""


class PhotoLibrary:
    """The library of a ``FaceRecognizer``'s gallery, with its pipeline, models and calibrated score."""

    def __init__(self, recognizer, batch_size: int = 16) -> None:
        self.recognizer = recognizer
        self.store = LibraryStore(recognizer.gallery)
        self.batch_size = batch_size

    # --- indexing and finding ---------------------------------------------------------------------------------

    def index(
        self,
        paths: Sequence[str | os.PathLike],
        progress: Callable[[int, int], None] | None = None,
        gate: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> IndexSummary:
        """Index photos under ``paths`` (see ``faceprint.library.indexer``), then cluster the new unknown faces;
        ``gate()`` is held while each batch runs the models."""
        indexer = Indexer(self.recognizer, self.batch_size)
        if gate is not None:
            indexer.gate = gate
        summary = indexer.run(paths, progress)
        self.update_clusters()
        return summary

    def photos(self, name: str) -> list[dict]:
        """Every indexed photo where ``name`` appears: photo path, box and similarity (``UnknownPersonError``)."""
        return self.store.photos_of(name)

    # --- clusters ---------------------------------------------------------------------------------------------

    def update_clusters(self) -> int:
        """Cluster the unknown faces not clustered yet, keeping every existing cluster; the number of faces
        considered."""
        models = self.recognizer.scoring.models
        with self.store.engine.read() as tx:
            state = dict(
                (row[0], (row[1], row[2])) for row in tx.all(
                    "SELECT id, cluster_id, clustered FROM library_faces WHERE person_id IS NULL"
                )
            )  # fmt: skip
        if not any(clustered == 0 for _, clustered in state.values()):
            return 0
        ids, vectors, measures = self.store.vectors(models, "f.person_id IS NULL")
        labels = np.array([state[int(i)][0] if state[int(i)][0] is not None else -1 for i in ids], dtype=np.int64)
        new = np.array([state[int(i)][1] == 0 for i in ids], dtype=bool)
        faces = Faces(vectors, quality_matrix(list(measures)), labels, new)
        result = Clusterer(self.recognizer.scoring).cluster(faces)
        fresh = sorted({int(v) for v in result if v <= -2}, reverse=True)
        number = {label: -(n + 1) for n, label in enumerate(fresh)}
        assignments = {
            int(face_id): number.get(int(after), int(after))
            for face_id, before, after in zip(ids, labels, result)
            if after != before and after != -1
        }
        self.store.save_clustering(assignments, len(fresh), [int(i) for i in ids[new]])
        return int(new.sum())

    def clusters(self, include_ignored: bool = False) -> list[dict]:
        """Clusters of unknown faces with at least two faces, largest first."""
        return self.store.clusters(include_ignored)

    def name_cluster(self, cluster_id: int, name: str) -> dict:
        """Enroll a cluster as ``name`` (a new person, or more photos of an existing one): its best faces join the
        gallery, so later index runs and ``recognize`` name them, and all its faces are named now."""
        face_ids = self.store.cluster_faces(cluster_id)
        if not face_ids:
            raise FaceprintError(f"cluster {cluster_id} has no unnamed faces")
        recognizer = self.recognizer
        engine = self.store.engine
        ids, vectors, measures = self.store.vectors(recognizer.models, f"f.id {engine.in_ids}", (engine.ids(face_ids),))
        order = sorted(
            range(len(ids)), key=lambda i: -(measures[i].get("size", 0) * min(measures[i].get("sharpness", 0), 100))
        )
        details = {face["id"]: face for face in self.store.faces([int(ids[i]) for i in order[:ENROLL_FACES]])}
        versions = {m: recognizer.pipeline.embedder(m).version for m in recognizer.models}
        for i in order[:ENROLL_FACES]:
            face_id = int(ids[i])
            key = hashlib.sha256(f"{details[face_id]['photo']}|{details[face_id]['box']}".encode()).hexdigest()
            recognizer.gallery.add_photo(
                name,
                f"library:{key[:48]}",
                {m: vectors[m][i] for m in recognizer.models},
                quality=measures[i],
                thumbnail=self.store.thumbnail(face_id),
                versions=versions,
            )
        person = recognizer.gallery.person(name)
        self.store.name_faces(face_ids, person.name)
        return {"cluster": int(cluster_id), "name": person.name, "faces": len(face_ids),
                "enrolled": min(len(ids), ENROLL_FACES)}  # fmt: skip

    def merge(self, target: int, sources: Sequence[int]) -> None:
        self.store.merge_clusters(target, sources)

    def split(self, cluster_id: int, face_ids: Sequence[int]) -> int | None:
        """Move faces of a cluster into a new cluster (its id)."""
        return self.store.split_faces(cluster_id, face_ids, new_cluster=True)

    def remove_faces(self, cluster_id: int, face_ids: Sequence[int]) -> None:
        """Take faces out of a cluster for good (they are not clustered again)."""
        self.store.split_faces(cluster_id, face_ids, new_cluster=False)

    def ignore(self, cluster_id: int, ignored: bool = True) -> None:
        self.store.ignore_cluster(cluster_id, ignored)
