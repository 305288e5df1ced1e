"""The photo library's API on the real models: who may index what, an index run in the background (one at a time,
its progress and summary), a person's photos with boxes, and every cluster operation with its errors."""

from __future__ import annotations

import io
import os

import pytest
from library_folder import PEOPLE, PHOTOS_EACH, make_library_folder
from PIL import Image

from faceprint.web.library_api import JOBS_EXTENSION
from faceprint.web.runtime import SCHEDULER_EXTENSION

ADMIN_KEY = "library-admin-key-0123456789abcdef"
RECOGNIZE_KEY = "library-recognize-key-0123456789abcdef"


@pytest.fixture(scope="module")
def folder(datasets, tmp_path_factory):
    return make_library_folder(datasets, tmp_path_factory.mktemp("library-root"))


@pytest.fixture(scope="module")
def library_app(make_app, folder):
    return make_app(FACEPRINT_LIBRARY_ROOTS=str(folder.parent))


@pytest.fixture(scope="module")
def indexed(library_app, folder):
    """The app after one index run of the folder, started through the API while the scheduler was busy (so the run
    waits at its first batch and a second start meets it running)."""
    client = library_app.test_client()
    scheduler = library_app.extensions[SCHEDULER_EXTENSION]
    with scheduler.slot(100.0):  # a heavy request holds the only heavy place: the run's first batch waits
        started = client.post("/api/v1/library/index", json={"path": str(folder)})
        assert started.status_code == 202, started.get_json()
        again = client.post("/api/v1/library/index", json={"path": str(folder)})
        progress = client.get("/api/v1/library/index").get_json()["job"]
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "index_running"
    assert progress["state"] == "running" and progress["paths"] == [str(folder)]
    job = library_app.extensions[JOBS_EXTENSION].wait(timeout=600)
    assert job.state == "finished", job.error
    return library_app


def _error(response) -> str:
    return response.get_json()["error"]["code"]


def test_indexing_needs_library_roots(make_app, folder):
    client = make_app(FACEPRINT_LIBRARY_ROOTS=None).test_client()
    response = client.post("/api/v1/library/index", json={"path": str(folder)})
    assert response.status_code == 403 and _error(response) == "library_roots_not_set"
    overview = client.get("/api/v1/library").get_json()
    assert overview["index"]["allowed"] is False and "FACEPRINT_LIBRARY_ROOTS" in overview["index"]["reason"]


def test_only_folders_under_the_roots_are_indexed(library_app, folder, datasets, tmp_path):
    client = library_app.test_client()
    outside = client.post("/api/v1/library/index", json={"path": str(datasets)})
    assert outside.status_code == 403 and _error(outside) == "outside_library_roots"
    link = folder.parent / "escape"
    if not link.exists():
        os.symlink(datasets, link)
    through_link = client.post("/api/v1/library/index", json={"path": str(link)})
    assert through_link.status_code == 403 and _error(through_link) == "outside_library_roots"
    dotdot = client.post("/api/v1/library/index", json={"path": f"{folder}/../../"})
    assert dotdot.status_code == 403
    for bad in ("photos", "", 12, None, "/x\x00y"):
        response = client.post("/api/v1/library/index", json={"path": bad})
        assert response.status_code == 400, bad
    missing = client.post("/api/v1/library/index", json={"path": str(folder / "nothing-here")})
    assert missing.status_code == 404 and _error(missing) == "no_such_folder"
    assert client.get("/api/v1/library/index").get_json()["job"] is None  # nothing was started


def test_only_the_admin_key_indexes_and_changes_the_library(make_app, folder):
    app = make_app(FACEPRINT_LIBRARY_ROOTS=str(folder.parent), FACEPRINT_ADMIN_KEY=ADMIN_KEY,
                   FACEPRINT_RECOGNIZE_KEY=RECOGNIZE_KEY)  # fmt: skip
    client = app.test_client()
    recognize = {"X-API-Key": RECOGNIZE_KEY}
    assert client.post("/api/v1/library/index", json={"path": str(folder)}, headers=recognize).status_code == 403
    assert client.post("/api/v1/library/clusters/1/name", json={"name": "X"}, headers=recognize).status_code == 403
    assert client.get("/api/v1/library", headers=recognize).status_code == 403  # listing the gallery
    assert client.get("/api/v1/library/clusters").status_code == 401
    # A browser (session cookie, Origin) without the CSRF token is refused before anything runs.
    forged = client.post(
        "/api/v1/library/index", json={"path": str(folder)}, headers={"Origin": "http://127.0.0.1", "Cookie": "x=1"}
    )
    assert forged.status_code in (400, 401)


def test_an_index_run_reports_what_it_did_and_the_library_lists_it(indexed, folder):
    client = indexed.test_client()
    job = client.get("/api/v1/library/index").get_json()["job"]
    assert job["state"] == "finished" and job["done"] == job["total"] == len(PEOPLE) * PHOTOS_EACH + 1
    summary = job["summary"]
    assert summary["photos_added"] == len(PEOPLE) * PHOTOS_EACH and summary["faces"] >= len(PEOPLE) * PHOTOS_EACH
    assert summary["error_count"] == 1 and summary["errors"][0]["path"].endswith("IMG_9999.jpg")
    overview = client.get("/api/v1/library").get_json()
    assert overview["photos"] == len(PEOPLE) * PHOTOS_EACH and overview["errors"] == 1
    assert overview["folders"] == [{"folder": str(folder), "photos": len(PEOPLE) * PHOTOS_EACH + 1}]
    assert overview["clusters"] >= 2 and overview["index"]["roots"] == [os.path.realpath(folder.parent)]


def test_name_clusters_then_find_each_persons_photos(indexed):
    client = indexed.test_client()
    clusters = client.get("/api/v1/library/clusters").get_json()["clusters"]
    assert len(clusters) >= 2 and all(c["size"] >= 2 and not c["ignored"] for c in clusters)
    first, second = clusters[0], clusters[1]
    photos_of = {}
    for cluster, name in ((first, "Person One"), (second, "Person Two")):
        named = client.post(f"/api/v1/library/clusters/{cluster['id']}/name", json={"name": f"  {name} "})
        assert named.status_code == 200, named.get_json()
        assert named.get_json()["name"] == name and named.get_json()["faces"] == cluster["size"]
        answer = client.get(f"/api/v1/library/people/{name}/photos").get_json()
        photos_of[name] = {p["photo"] for p in answer["photos"]}
        assert photos_of[name] == {f["photo"] for f in cluster["faces"]}
        for photo in answer["photos"]:
            x, y, w, h = photo["box"]
            assert 0 <= x < x + w <= photo["width"] + 1 and 0 <= y < y + h <= photo["height"] + 1
    assert not photos_of["Person One"] & photos_of["Person Two"]  # two people, no photo in both (one face each)
    overview = client.get("/api/v1/library").get_json()
    assert {p["name"] for p in overview["people"]} >= {"Person One", "Person Two"}
    # Each listed photo and face thumbnail is served as a JPEG of the indexed photo's size (or smaller).
    photo = client.get("/api/v1/library/people/Person One/photos").get_json()["photos"][0]
    image = client.get(photo["image_url"])
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(image.data)).size == (photo["width"], photo["height"])  # LFW: 250 px, not scaled
    assert client.get(photo["thumbnail_url"]).mimetype == "image/jpeg"
    # The clusters are gone from the list; naming one again is refused.
    remaining = {c["id"] for c in client.get("/api/v1/library/clusters").get_json()["clusters"]}
    assert first["id"] not in remaining and second["id"] not in remaining
    again = client.post(f"/api/v1/library/clusters/{first['id']}/name", json={"name": "Person One"})
    assert again.status_code == 400


def test_split_merge_remove_and_ignore(indexed):
    """On the cluster nobody names (the folder has three people; the naming test names two)."""
    client = indexed.test_client()
    clusters = client.get("/api/v1/library/clusters?all=1").get_json()["clusters"]
    cluster = max(clusters, key=lambda c: c["size"])
    assert cluster["size"] >= 3
    ids = [f["face_id"] for f in cluster["faces"]]
    split = client.post(f"/api/v1/library/clusters/{cluster['id']}/split", json={"faces": ids[:1]})
    assert split.status_code == 200
    new = split.get_json()["new_cluster"]
    listed = {c["id"]: c for c in client.get("/api/v1/library/clusters?all=1").get_json()["clusters"]}
    assert listed[cluster["id"]]["size"] == cluster["size"] - 1 and new not in listed  # one face is not listed
    merged = client.post(f"/api/v1/library/clusters/{cluster['id']}/merge", json={"clusters": [new]})
    assert merged.status_code == 200 and merged.get_json()["merged"] == [new]
    listed = {c["id"]: c for c in client.get("/api/v1/library/clusters?all=1").get_json()["clusters"]}
    assert listed[cluster["id"]]["size"] == cluster["size"]
    ignored = client.post(f"/api/v1/library/clusters/{cluster['id']}/ignore", json={})
    assert ignored.get_json() == {"cluster": cluster["id"], "ignored": True}
    assert cluster["id"] not in {c["id"] for c in client.get("/api/v1/library/clusters").get_json()["clusters"]}
    shown = client.post(f"/api/v1/library/clusters/{cluster['id']}/ignore", json={"ignored": False})
    assert shown.get_json()["ignored"] is False
    removed = client.post(f"/api/v1/library/clusters/{cluster['id']}/remove", json={"faces": ids[:1]})
    assert removed.status_code == 200
    listed = {c["id"]: c for c in client.get("/api/v1/library/clusters").get_json()["clusters"]}
    assert listed[cluster["id"]]["size"] == cluster["size"] - 1
    assert ids[0] not in {f["face_id"] for c in listed.values() for f in c["faces"]}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/library/clusters/999999/name", {"name": "Nobody"}, 404, "unknown_cluster"),
        ("/api/v1/library/clusters/999999/merge", {"clusters": [1]}, 404, "unknown_cluster"),
        ("/api/v1/library/clusters/99999999999999999999/ignore", {}, 404, "unknown_cluster"),
        ("/api/v1/library/clusters/1/name", {"name": "a/b"}, 400, "invalid_name"),
        ("/api/v1/library/clusters/1/name", {}, 400, "invalid_request"),
        ("/api/v1/library/clusters/1/split", {"faces": [True]}, 400, "invalid_request"),
        ("/api/v1/library/clusters/1/split", {"faces": []}, 400, "invalid_request"),
        ("/api/v1/library/clusters/1/remove", {"faces": "x"}, 400, "invalid_request"),
        ("/api/v1/library/clusters/1/merge", {"clusters": [1]}, 400, "invalid_request"),
        ("/api/v1/library/clusters/1/ignore", {"ignored": "maybe"}, 400, "invalid_request"),
    ],
)
def test_bad_cluster_requests_get_clear_errors(indexed, path, body, status, code):
    response = indexed.test_client().post(path, json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_faces_of_another_cluster_are_refused(indexed):
    client = indexed.test_client()
    cluster = client.get("/api/v1/library/clusters?all=1").get_json()["clusters"][0]
    response = client.post(f"/api/v1/library/clusters/{cluster['id']}/split", json={"faces": [999999]})
    assert response.status_code == 400 and "not in cluster" in response.get_json()["error"]["message"]


def test_unknown_photos_and_faces(indexed):
    client = indexed.test_client()
    assert client.get("/api/v1/library/photos/999999/image").status_code == 404
    assert client.get("/api/v1/library/faces/999999/thumbnail").status_code == 404
    assert _error(client.get("/api/v1/library/people/Nobody Here/photos")) == "unknown_person"
    assert client.get("/api/v1/library/clusters?faces=0").status_code == 400


def test_the_openapi_document_lists_the_library(indexed):
    document = indexed.test_client().get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert "/api/v1/library/index" in paths and "post" in paths["/api/v1/library/index"]
    assert "admin key" in paths["/api/v1/library/clusters/{cluster_id}/merge"]["post"]["description"]
    assert paths["/api/v1/library/index"]["post"]["tags"] == ["library"]
