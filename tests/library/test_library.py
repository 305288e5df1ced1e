"""The photo library on both stores, with the real models on real photos: indexing (formats, junk, incremental,
moves and deletions), naming enrolled people at index time, photos of a person, and the clusters of unknown
faces (name, merge, split, remove, ignore)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faceprint.errors import UnknownPersonError
from faceprint.library.library import PhotoLibrary
from faceprint.library.store import UnknownClusterError

OBAMA = ("obama.jpg", "obama1.jpg")


def faces_by_photo(library: PhotoLibrary) -> dict[str, int]:
    with library.store.engine.read() as tx:
        rows = tx.all(
            "SELECT ph.path, COUNT(f.id) FROM library_photos ph LEFT JOIN library_faces f ON f.photo_id = ph.id "
            "GROUP BY ph.path"
        )
    return dict(rows)


def test_index_names_enrolled_people_and_reports_junk(recognizer, photos: Path, samples: Path):
    recognizer.enroll("Barack Obama", [samples / "people" / "obama" / name for name in OBAMA])
    library = PhotoLibrary(recognizer, batch_size=8)
    summary = library.index([photos])
    errors = {Path(e["path"]).name: e["reason"] for e in summary.errors}
    assert set(errors) == {"broken.jpg", "._Kashyap_25_face1.jpg"}, summary.errors
    assert all(reason for reason in errors.values())
    assert summary.photos_added == 41 and summary.photos_unchanged == 0 and summary.photos_removed == 0
    counts = faces_by_photo(library)
    assert counts[str(photos / "phone.heic")] == 1  # HEIC decoded
    assert counts[str(photos / "family" / "biden-scan.png")] == 1
    assert counts[str(photos / "family" / "mountain.jpg")] == 0
    assert counts[str(photos / "family" / "together.jpg")] >= 2
    assert summary.faces == sum(counts.values()) >= 40

    found = library.photos("Barack Obama")
    names = {Path(p["photo"]).name for p in found}
    assert {"obama.jpg", "obama1.jpg", "obama2.jpg", "together.jpg"} <= names
    assert "biden-scan.png" not in names and not any("lfw" in p["photo"] for p in found)
    together = next(p for p in found if p["photo"].endswith("together.jpg"))
    assert len(together["box"]) == 4 and together["similarity"] >= recognizer.default_threshold()
    with pytest.raises(UnknownPersonError):
        library.photos("Nobody")


def test_reindex_skips_unchanged_keeps_moved_and_forgets_deleted(recognizer, photos: Path):
    library = PhotoLibrary(recognizer, batch_size=8)
    first = library.index([photos])
    before = faces_by_photo(library)
    again = library.index([photos])
    assert again.photos_added == 0 and again.photos_unchanged == first.photos_added + len(first.errors)
    assert again.faces == 0 and len(again.errors) == 2  # junk is reported again, not re-read

    moved_from = photos / "lfw" / "Zhu_Rongji"
    shutil.move(moved_from, photos / "Zhu")
    (photos / "family" / "two.jpg").unlink()
    (photos / "family" / "obama2.jpg").touch()  # same content, new time: not re-analysed
    third = library.index([photos])
    assert third.photos_moved == 7 and third.photos_removed == 1 and third.photos_added == 0, third
    after = faces_by_photo(library)
    assert sum(after.values()) == sum(before.values()) - before[str(photos / "family" / "two.jpg")]
    assert all(
        after[str(photos / "Zhu" / Path(p).name)] == n for p, n in before.items() if p.startswith(str(moved_from))
    )

    subset = library.index([photos / "family"])  # indexing one folder leaves the others alone
    assert subset.photos_removed == 0 and subset.photos_added == 0


def test_clusters_group_unknown_people_and_can_be_named(recognizer, photos: Path, samples: Path):
    library = PhotoLibrary(recognizer, batch_size=16)
    library.index([photos / "lfw"])
    clusters = library.clusters()
    assert clusters, "no clusters formed"
    owners = []
    for cluster in clusters:
        people = {Path(face["photo"]).parent.name for face in cluster["faces"]}
        assert len(people) == 1, f"a cluster mixes {people}"  # precision first
        owners.append(people.pop())
    assert set(owners) == {"Ricardo_Lagos", "Paul_Wolfowitz", "Jennifer_Lopez", "Zhu_Rongji"}

    # Incremental: a new folder's faces join the existing clusters.
    ids_before = {c["id"] for c in clusters}
    library.index([photos / "phone.heic"])
    lopez = next(c for c in library.clusters() if Path(c["faces"][0]["photo"]).parent.name == "Jennifer_Lopez")
    assert lopez["id"] in ids_before and any(f["photo"].endswith("phone.heic") for f in lopez["faces"])

    result = library.name_cluster(lopez["id"], "Jennifer Lopez")
    assert result["faces"] == lopez["size"]
    assert {p["photo"] for p in library.photos("Jennifer Lopez")} == {f["photo"] for f in lopez["faces"]}
    assert all(c["id"] != lopez["id"] for c in library.clusters())
    named = recognizer.recognize(photos / "lfw" / "Jennifer_Lopez" / Path(lopez["faces"][0]["photo"]).name)
    assert named[0]["identity"] == "Jennifer Lopez"

    # Merge, split, remove, ignore.
    rest = library.clusters()
    a, b = rest[0], rest[1]
    library.merge(a["id"], [b["id"]])
    merged = next(c for c in library.clusters() if c["id"] == a["id"])
    assert merged["size"] == a["size"] + b["size"]
    new_id = library.split(a["id"], [f["face_id"] for f in b["faces"]])
    assert {f["face_id"] for f in next(c for c in library.clusters() if c["id"] == new_id)["faces"]} == {
        f["face_id"] for f in b["faces"]
    }
    library.remove_faces(new_id, [b["faces"][0]["face_id"]])
    assert all(b["faces"][0]["face_id"] not in [f["face_id"] for f in c["faces"]] for c in library.clusters())
    library.ignore(a["id"])
    assert all(c["id"] != a["id"] for c in library.clusters())
    assert any(c["id"] == a["id"] for c in library.clusters(include_ignored=True))
    with pytest.raises(UnknownClusterError):
        library.ignore(10_000)
