"""Export and import: a gallery moved SQLite -> PostgreSQL -> SQLite keeps every person, photo, blob and vector;
re-importing adds nothing; damaged, foreign or newer files are refused and change nothing; the CLI commands."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from gallery_workers import unit

from faceprint.cli import main
from faceprint.errors import GalleryFileError, InvalidEmbeddingError
from faceprint.gallery import open_gallery
from faceprint.gallery.transfer import FORMAT_VERSION, export_gallery, import_gallery, read_export


def populate(gallery) -> None:
    """A small gallery with everything a gallery can hold: two models (one missing on a photo), quality,
    thumbnails, an original image, a unicode name, and vectors that are not unit length."""
    rng = np.random.default_rng(21)
    gallery.add_photo("Ada Lovelace", "a1", {"facenet": unit(rng, 32), "dlib": unit(rng, 8)}, quality={"score": 0.99})
    gallery.add_photo("Ada Lovelace", "a2", {"facenet": 3 * unit(rng, 32)}, thumbnail=b"\xff\xd8thumb-a2")
    gallery.add_photo(
        "Zoë Ångström", "z1", {"facenet": unit(rng, 32), "dlib": unit(rng, 8)}, thumbnail=b"z", image=b"\x00raw"
    )
    gallery.add_photo("Bob", "b1", {"facenet": unit(rng, 32), "dlib": unit(rng, 8)}, quality={"blur": 12.5})


def snapshot(gallery) -> list:
    """Everything stored, in a comparable form (vectors as bytes: the round trip must be exact)."""
    people = [(p.name, p.photos, p.created, p.updated, p.thumbnail) for p in gallery.people()]
    photos = [
        (
            photo.person,
            photo.content_hash,
            photo.created,
            json.dumps(photo.quality, sort_keys=True),
            photo.thumbnail,
            photo.image,
            photo.person_created,
            photo.person_updated,
            sorted((model, vector.astype(np.float32).tobytes()) for model, vector in photo.embeddings.items()),
        )
        for photo in gallery.dump()
    ]
    records = [
        (r.person, r.content_hash, r.created, r.quality, r.has_image) for p in people for r in gallery.photos(p[0])
    ]
    return [people, photos, records, sorted(gallery.models()), gallery.count()]


def test_round_trip_sqlite_postgres_sqlite(tmp_path, postgres_url):
    source = open_gallery(f"sqlite:///{tmp_path / 'source.db'}")
    target = open_gallery(postgres_url)
    back = open_gallery(f"sqlite:///{tmp_path / 'back.db'}")
    try:
        populate(source)
        first = export_gallery(source, tmp_path / "one.zip", model_versions={"facenet": "facenet-test/v1"})
        assert first.to_dict()["people"] == 3 and first.photos == 4 and first.embeddings == {"facenet": 4, "dlib": 3}

        imported = import_gallery(target, tmp_path / "one.zip")
        assert (imported.people_added, imported.photos_added, imported.embeddings_added) == (3, 4, 7)
        assert snapshot(target) == snapshot(source)
        again = import_gallery(target, tmp_path / "one.zip")  # idempotent
        assert (again.people_added, again.photos_added, again.photos_present, again.embeddings_added) == (0, 0, 4, 0)
        assert snapshot(target) == snapshot(source)

        export_gallery(target, tmp_path / "two.zip")
        import_gallery(back, tmp_path / "two.zip")
        assert snapshot(back) == snapshot(source)
        hits = back.search("facenet", source.vectors("facenet", [1]), k=1)[0]
        assert hits[0].person == "Ada Lovelace" and hits[0].similarity == pytest.approx(1.0, abs=1e-6)
        manifest = json.loads(zipfile.ZipFile(tmp_path / "one.zip").read("manifest.json"))
        assert manifest["version"] == FORMAT_VERSION
        assert {m["name"]: m["version"] for m in manifest["models"]} == {"facenet": "facenet-test/v1", "dlib": None}
    finally:
        for store in (source, target, back):
            store.close()


def test_import_adds_missing_models_to_photos_already_present(tmp_path):
    rng = np.random.default_rng(3)
    full = open_gallery(f"sqlite:///{tmp_path / 'full.db'}")
    partial = open_gallery(f"sqlite:///{tmp_path / 'partial.db'}")
    try:
        facenet, dlib = unit(rng, 32), unit(rng, 8)
        full.add_photo("Ann", "a", {"facenet": facenet, "dlib": dlib})
        partial.add_photo("Ann", "a", {"facenet": facenet})
        export_gallery(full, tmp_path / "full.zip")
        summary = import_gallery(partial, tmp_path / "full.zip")
        assert (summary.photos_added, summary.photos_present, summary.embeddings_added) == (0, 1, 1)
        np.testing.assert_allclose(partial.vectors("dlib", [1])[0], dlib, atol=1e-6)
    finally:
        full.close()
        partial.close()


def _rewrite(source, target, change) -> None:
    """Copy a zip archive, passing each member's name and bytes through ``change`` (None drops the member)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)


def _manifest(edit):
    def change(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest)

    return change


def _flip_vector_byte(name, data):
    if name == "embeddings/1.npy":  # facenet (models are sorted by name: dlib, facenet)
        data = bytearray(data)
        data[-3] ^= 0x40
    return bytes(data)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "not a faceprint gallery export"),
        ("not_zip", "not a faceprint gallery export"),
        ("foreign_zip", "no manifest.json"),
        ("newer", "newer faceprint"),
        ("flipped_vector", "checksum mismatch"),
        ("missing_member", "people.jsonl is missing"),
        ("bad_line", "photo 2 in photos.jsonl is invalid"),
        ("bad_shape", "shape"),
    ],
)
def test_a_damaged_or_foreign_file_is_refused_and_changes_nothing(gallery, raw_rows, tmp_path, damage, message):
    rng = np.random.default_rng(4)
    gallery.add_photo("Kept", "k", {"facenet": unit(rng, 32)})
    before = raw_rows()
    source = open_gallery(f"sqlite:///{tmp_path / 'source.db'}")
    populate(source)
    export_gallery(source, tmp_path / "good.zip")
    source.close()
    good = tmp_path / "good.zip"
    bad = tmp_path / "bad.zip"
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "not_zip":
        bad.write_text("name,photo\nAda,ada.jpg\n")
    elif damage == "foreign_zip":
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("readme.txt", "hello")
    elif damage == "newer":
        _rewrite(good, bad, _manifest(lambda m: m.update(version=FORMAT_VERSION + 1)))
    elif damage == "flipped_vector":
        _rewrite(good, bad, _flip_vector_byte)
    elif damage == "missing_member":
        _rewrite(good, bad, lambda name, data: None if name == "people.jsonl" else data)
    elif damage == "bad_line":
        # A line that is valid JSON but names no person, with the checksum recomputed: only parsing can tell.
        def change(name, data):
            if name != "photos.jsonl":
                return data
            lines = data.splitlines()
            lines[1] = json.dumps({**json.loads(lines[1]), "content_hash": ""}).encode()
            return b"\n".join(lines) + b"\n"

        _rewrite(good, tmp_path / "step.zip", change)
        digest = hashlib.sha256(zipfile.ZipFile(tmp_path / "step.zip").read("photos.jsonl")).hexdigest()
        _rewrite(tmp_path / "step.zip", bad, _manifest(lambda m: m["members"].update({"photos.jsonl": digest})))
    elif damage == "bad_shape":
        _rewrite(good, bad, _manifest(lambda m: m["models"][0].update(dim=7)))
    with pytest.raises(GalleryFileError, match=message) as caught:
        import_gallery(gallery, bad)
    assert "was not changed" in caught.value.message or damage in ("truncated", "not_zip")
    assert caught.value.code == "invalid_gallery_file" and caught.value.http_status == 400
    assert raw_rows() == before


def test_a_file_the_gallery_cannot_take_is_rolled_back_whole(gallery, raw_rows, tmp_path):
    """Vectors of another size than the gallery's: found part-way through the import, nothing stays."""
    rng = np.random.default_rng(5)
    gallery.add_photo("Kept", "k", {"dlib": unit(rng, 16)})  # dlib is 16-d here, 8-d in the file
    before = raw_rows()
    source = open_gallery(f"sqlite:///{tmp_path / 'source.db'}")
    populate(source)
    export_gallery(source, tmp_path / "file.zip")
    source.close()
    assert read_export(tmp_path / "file.zip").photos == 4  # the file itself is fine
    with pytest.raises(InvalidEmbeddingError, match="dlib"):
        import_gallery(gallery, tmp_path / "file.zip")
    assert raw_rows() == before


def test_cli_export_and_import(tmp_path, capsys):
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    source = open_gallery(source_url)
    populate(source)
    source.close()
    path = tmp_path / "backup.zip"
    assert main(["gallery", "export", str(path), "--gallery", source_url, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["people"] == 3 and exported["photos"] == 4 and exported["format_version"] == FORMAT_VERSION
    assert main(["gallery", "import", str(path), "--gallery", target_url, "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["photos_added"] == 4 and imported["people_added"] == 3
    assert main(["gallery", "import", str(path), "--gallery", target_url]) == 0
    assert "0 new photo(s), 4 already present" in capsys.readouterr().out
    (tmp_path / "junk.zip").write_bytes(b"junk")
    assert main(["gallery", "import", str(tmp_path / "junk.zip"), "--gallery", target_url]) == 2
    assert "not a faceprint gallery export" in capsys.readouterr().err
