"""The photo library under ``/api/v1/library``: what is indexed, index runs in the background, a person's photos with
their face boxes, and the clusters of unknown faces (name, merge, split, remove faces, ignore).

Reading the library lists the gallery (the admin key, or the recognize key where the server lets it list). Changing
it, and starting an index run, needs the admin key. An index run reads a folder **on the server**, so the web app
indexes only under the folders named in ``FACEPRINT_LIBRARY_ROOTS`` (separated by ``os.pathsep``, symbolic links
resolved), and nowhere while it is not set, with or without keys: a page or script must not be able to make the
server read ``/`` or another user's files."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import quote

from flask import Response, current_app, jsonify, request
from PIL import Image

from faceprint.errors import FaceprintError
from faceprint.gallery.base import normalize_name
from faceprint.imaging import DEFAULT_MAX_BYTES
from faceprint.web import library_schemas as schemas
from faceprint.web.api import api
from faceprint.web.errorhandlers import ApiError
from faceprint.web.keys import ADMIN
from faceprint.web.library_jobs import IndexJobs
from faceprint.web.openapi import operation
from faceprint.web.runtime import SCHEDULER_EXTENSION, get_recognizer
from faceprint.web.security import GALLERY, requires
from faceprint.web.uploads import _ABSENT, parameter

JOBS_EXTENSION = "faceprint.library_jobs"
ROOTS_SETTING = "FACEPRINT_LIBRARY_ROOTS"
MAX_ID = 2**53
MAX_IDS = 10_000
MAX_PATH = 4096
IMAGE_PX = 1600
"""Longest side of the photos the pages show (a downscaled JPEG without the file's metadata)."""
TAG = "library"


def _library():
    from faceprint.library.library import PhotoLibrary

    return PhotoLibrary(get_recognizer())


def index_jobs() -> IndexJobs:
    """The app's index runs (created on first use)."""
    return current_app.extensions.setdefault(JOBS_EXTENSION, IndexJobs())


def library_roots() -> list[str]:
    """The folders under which the web app may index (resolved), from the app config or the environment."""
    config = current_app.config
    raw = (config[ROOTS_SETTING] if ROOTS_SETTING in config else os.environ.get(ROOTS_SETTING)) or ""
    parts = raw if isinstance(raw, list | tuple) else str(raw).split(os.pathsep)
    return [os.path.realpath(p) for p in (str(p).strip() for p in parts) if p]


def index_allowed() -> tuple[bool, str | None]:
    """Whether this server lets an admin index folders from the web, and why not."""
    if not library_roots():
        return False, f"indexing from the web is off: {ROOTS_SETTING} does not name the folders it may read"
    return True, None


def checked_folder(raw: object) -> str:
    """A folder (or photo file) on the server that an index run may read: absolute, existing, and under the library
    roots when they are set (after resolving symbolic links, so a link cannot lead outside them)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError("'path' must be the path of a folder on the server")
    text = raw.strip()
    if len(text) > MAX_PATH or "\x00" in text or any(ord(c) < 32 for c in text):
        raise ApiError("'path' is not a usable path")
    if not os.path.isabs(text):
        raise ApiError(f"'path' must be absolute (a folder on the server), not {text!r}")
    allowed, why = index_allowed()
    if not allowed:
        raise ApiError(why or "indexing is off", code="library_roots_not_set", http_status=403)
    resolved = os.path.realpath(text)
    roots = library_roots()
    if not any(resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        raise ApiError(
            f"{text} is not under the library folders this server may index ({', '.join(roots)})",
            code="outside_library_roots",
            http_status=403,
        )
    if not os.path.exists(resolved):
        raise ApiError(f"no such folder or file on the server: {text}", code="no_such_folder", http_status=404)
    if not os.access(resolved, os.R_OK):
        raise ApiError(f"the server may not read {text}", code="no_such_folder", http_status=404)
    return resolved


def _ids(name: str) -> list[int]:
    value = parameter(name)
    if value is _ABSENT:
        raise ApiError(f"'{name}' is missing: a list of ids")
    if isinstance(value, str):  # a form field: "3,4,5"
        value = [v for v in value.replace(" ", ",").split(",") if v]
    if not isinstance(value, list) or not value or len(value) > MAX_IDS:
        raise ApiError(f"'{name}' must be a list of 1 to {MAX_IDS} ids")
    ids = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ApiError(f"'{name}' must hold whole numbers")
        try:
            number = int(item)
        except ValueError:
            raise ApiError(f"'{name}' must hold whole numbers, not {item!r}") from None
        if not 1 <= number <= MAX_ID:
            raise ApiError(f"'{name}': {number} is not an id")
        ids.append(number)
    return list(dict.fromkeys(ids))


def _cluster_id(cluster_id: int) -> int:
    if cluster_id > MAX_ID:
        from faceprint.library.store import UnknownClusterError

        raise UnknownClusterError(f"no cluster {cluster_id}")
    return cluster_id


def _face_url(face_id: int) -> str:
    return f"/api/v1/library/faces/{face_id}/thumbnail"


def _person_url(name: str) -> str:
    return f"/api/v1/library/people/{quote(name, safe='')}/photos"


def _jpeg(data: bytes, max_age: int = 0) -> Response:
    response = Response(data, mimetype="image/jpeg")
    if max_age:
        response.headers["Cache-Control"] = f"private, max-age={max_age}"
    return response


# -- the library and its index runs -----------------------------------------------------------------------------


@api.get("/library")
@requires(GALLERY)
@operation(response=schemas.LibraryResponse, tag=TAG)
def library_overview() -> Response:
    """What is indexed: counts, folders, the people found with a face each, the latest index run."""
    library = _library()
    store = library.store
    people = [
        {**{k: p[k] for k in ("name", "faces", "photos")}, "thumbnail_url": _face_url(p["face_id"]),
         "photos_url": _person_url(p["name"])}
        for p in store.named_people()
    ]  # fmt: skip
    job = index_jobs().latest
    allowed, why = index_allowed()
    return jsonify(
        **store.summary(),
        clusters=len(library.clusters()),
        folders=store.folders(),
        people=people,
        index={"allowed": allowed, "reason": why, "roots": library_roots()},
        job=job.to_dict() if job else None,
    )


@api.post("/library/index")
@requires(ADMIN)
@operation(response=schemas.IndexJob, status=202, json=schemas.IndexJson, form=schemas.IndexJson, tag=TAG)
def start_index() -> tuple[Response, int]:
    """Start indexing a folder on the server in the background (one run at a time; 409 while one goes). Only
    new and changed photos are analysed; poll ``GET /library/index`` for progress."""
    folder = checked_folder(parameter("path"))
    scheduler = current_app.extensions[SCHEDULER_EXTENSION]
    job = index_jobs().start(get_recognizer(), scheduler, [folder])
    return jsonify(job.to_dict()), 202


@api.get("/library/index")
@requires(GALLERY)
@operation(response=schemas.IndexStatus, tag=TAG)
def index_status() -> Response:
    """The running or latest index run of this server (``job`` null when there has been none)."""
    job = index_jobs().latest
    return jsonify(job=job.to_dict() if job else None)


@api.get("/library/people/<name>/photos")
@requires(GALLERY)
@operation(response=schemas.LibraryPhotosResponse, tag=TAG)
def person_photos(name: str) -> Response:
    """Every indexed photo where a person appears, with the face's box (in the photo's pixels after EXIF rotation)
    and similarity."""
    person = normalize_name(name)
    faces = _library().store.person_faces(person)
    photos = [
        {**face, "image_url": f"/api/v1/library/photos/{face['photo_id']}/image",
         "thumbnail_url": _face_url(face["face_id"])}
        for face in faces
    ]  # fmt: skip
    return jsonify(name=person, photos=photos)


@api.get("/library/photos/<int:photo_id>/image")
@requires(GALLERY)
@operation(produces="image/jpeg", tag=TAG)
def photo_image(photo_id: int) -> Response:
    """An indexed photo as a JPEG of at most 1600 px (EXIF rotation applied, metadata dropped), read from its file."""
    from faceprint.library.indexer import decode_photo

    photo = _library().store.photo(photo_id) if photo_id <= MAX_ID else None
    if photo is None or photo["error"]:
        raise ApiError(f"no indexed photo {photo_id}", code="unknown_photo", http_status=404)
    path = photo["path"]
    try:
        if os.stat(path).st_size > DEFAULT_MAX_BYTES:
            raise FaceprintError(f"{path}: larger than an indexed photo may be")
        data = Path(path).read_bytes()
        pixels, _ = decode_photo(data, path)
    except (OSError, FaceprintError):
        raise ApiError(
            f"photo {photo_id} can no longer be read from its file; index its folder again",
            code="photo_missing",
            http_status=404,
        ) from None
    image = Image.fromarray(pixels)
    image.thumbnail((IMAGE_PX, IMAGE_PX), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return _jpeg(buffer.getvalue(), max_age=300)


@api.get("/library/faces/<int:face_id>/thumbnail")
@requires(GALLERY)
@operation(produces="image/jpeg", tag=TAG)
def face_thumbnail(face_id: int) -> Response:
    """An indexed face's aligned 64 px thumbnail (JPEG)."""
    data = _library().store.thumbnail(face_id) if face_id <= MAX_ID else None
    if data is None:
        raise ApiError(f"no indexed face {face_id} with a thumbnail", code="no_thumbnail", http_status=404)
    return _jpeg(data, max_age=3600)


# -- clusters of unknown faces ----------------------------------------------------------------------------------


@api.get("/library/clusters")
@requires(GALLERY)
@operation(response=schemas.ClustersResponse, tag=TAG)
def list_clusters() -> Response:
    """Groups of unknown faces with at least two faces, largest first. Query: ``all=1`` lists ignored clusters
    too; ``faces=N`` lists at most N faces of each (``size`` still counts them all)."""
    include_ignored = request.args.get("all", "0").lower() in ("1", "true", "yes")
    try:
        limit = int(request.args.get("faces", "100"))
    except ValueError:
        raise ApiError("'faces' must be a whole number") from None
    if not 1 <= limit <= 10_000:
        raise ApiError("'faces' must be between 1 and 10000")
    clusters = []
    for cluster in _library().clusters(include_ignored=include_ignored):
        faces = [{**face, "thumbnail_url": _face_url(face["face_id"])} for face in cluster["faces"][:limit]]
        clusters.append({"id": cluster["id"], "size": cluster["size"], "ignored": cluster["ignored"], "faces": faces})
    return jsonify(clusters=clusters)


@api.post("/library/clusters/<int:cluster_id>/name")
@requires(ADMIN)
@operation(response=schemas.NamedCluster, json=schemas.NameJson, form=schemas.NameJson, tag=TAG)
def name_cluster(cluster_id: int) -> Response:
    """Enroll a cluster as a person, new or already enrolled: its best faces become the person's photos, so later
    index runs and recognition name them, and all its faces are named now."""
    raw = parameter("name")
    if raw is _ABSENT:
        raise ApiError("the person's 'name' is missing")
    return jsonify(_library().name_cluster(_cluster_id(cluster_id), normalize_name(raw)))


@api.post("/library/clusters/<int:cluster_id>/merge")
@requires(ADMIN)
@operation(response=schemas.MergedClusters, json=schemas.MergeJson, form=schemas.MergeJson, tag=TAG)
def merge_clusters(cluster_id: int) -> Response:
    """Move every face of the given clusters into this one (they are the same person)."""
    sources = [c for c in _ids("clusters") if c != cluster_id]
    if not sources:
        raise ApiError("'clusters' must name at least one other cluster")
    _library().merge(_cluster_id(cluster_id), sources)
    return jsonify(cluster=cluster_id, merged=sources)


@api.post("/library/clusters/<int:cluster_id>/split")
@requires(ADMIN)
@operation(response=schemas.SplitCluster, json=schemas.FacesJson, form=schemas.FacesJson, tag=TAG)
def split_cluster(cluster_id: int) -> Response:
    """Move faces of this cluster into a new cluster (someone else)."""
    faces = _ids("faces")
    new = _library().split(_cluster_id(cluster_id), faces)
    return jsonify(cluster=cluster_id, new_cluster=new, faces=faces)


@api.post("/library/clusters/<int:cluster_id>/remove")
@requires(ADMIN)
@operation(response=schemas.RemovedFaces, json=schemas.FacesJson, form=schemas.FacesJson, tag=TAG)
def remove_faces(cluster_id: int) -> Response:
    """Take faces out of this cluster for good (they belong to nobody listed; clustering does not put them back)."""
    faces = _ids("faces")
    _library().remove_faces(_cluster_id(cluster_id), faces)
    return jsonify(cluster=cluster_id, removed=faces)


@api.post("/library/clusters/<int:cluster_id>/ignore")
@requires(ADMIN)
@operation(response=schemas.IgnoredCluster, json=schemas.IgnoreJson, form=schemas.IgnoreJson, tag=TAG)
def ignore_cluster(cluster_id: int) -> Response:
    """Hide a cluster (strangers in the background), or show it again with ``ignored: false``."""
    value = parameter("ignored")
    ignored = True if value is _ABSENT else value
    if isinstance(ignored, str) and ignored.lower() in ("true", "false", "1", "0"):
        ignored = ignored.lower() in ("true", "1")
    if not isinstance(ignored, bool):
        raise ApiError("'ignored' must be true or false")
    _library().ignore(_cluster_id(cluster_id), ignored)
    return jsonify(cluster=cluster_id, ignored=ignored)
