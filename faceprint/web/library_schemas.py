"""Marshmallow schemas of the photo library's API (``/api/v1/library``), for the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields

from faceprint.web.schemas import RequestBody

BOX = {"description": "[x, y, w, h] in pixels of the photo after EXIF rotation"}


class Folder(Schema):
    folder = fields.String(required=True)
    photos = fields.Integer(required=True)


class LibraryPerson(Schema):
    name = fields.String(required=True)
    faces = fields.Integer(required=True, metadata={"description": "indexed faces named as this person"})
    photos = fields.Integer(required=True, metadata={"description": "indexed photos they appear in"})
    thumbnail_url = fields.String(required=True, metadata={"description": "their largest indexed face"})
    photos_url = fields.String(required=True)


class IndexSettings(Schema):
    allowed = fields.Boolean(required=True, metadata={"description": "whether an admin may index from the web here"})
    reason = fields.String(required=True, allow_none=True)
    roots = fields.List(fields.String(), required=True, metadata={"description": "FACEPRINT_LIBRARY_ROOTS, resolved"})


class IndexSummary(Schema):
    photos_added = fields.Integer(required=True)
    photos_unchanged = fields.Integer(required=True)
    photos_moved = fields.Integer(required=True)
    photos_removed = fields.Integer(required=True)
    faces = fields.Integer(required=True)
    named = fields.Integer(required=True)
    errors = fields.List(fields.Dict(), required=True, metadata={"description": "{path, reason}; the first 200"})
    error_count = fields.Integer(required=True)


class IndexJob(Schema):
    id = fields.Integer(required=True)
    paths = fields.List(fields.String(), required=True)
    state = fields.String(required=True, metadata={"description": "running, clustering, finished or failed"})
    done = fields.Integer(required=True, metadata={"description": "photos looked at so far"})
    total = fields.Integer(required=True, metadata={"description": "new or changed photos to look at"})
    eta_s = fields.Float(required=True, allow_none=True, metadata={"description": "seconds left at the pace so far"})
    started = fields.String(required=True, metadata={"format": "date-time"})
    finished = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    summary = fields.Nested(IndexSummary, required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)


class IndexStatus(Schema):
    job = fields.Nested(IndexJob, required=True, allow_none=True)


class LibraryResponse(Schema):
    photos = fields.Integer(required=True)
    errors = fields.Integer(required=True, metadata={"description": "files that could not be indexed"})
    faces = fields.Integer(required=True)
    named = fields.Integer(required=True)
    clusters = fields.Integer(required=True, metadata={"description": "clusters listed (not ignored)"})
    folders = fields.List(fields.Nested(Folder), required=True)
    people = fields.List(fields.Nested(LibraryPerson), required=True)
    index = fields.Nested(IndexSettings, required=True)
    job = fields.Nested(IndexJob, required=True, allow_none=True)


class LibraryPhoto(Schema):
    photo_id = fields.Integer(required=True)
    face_id = fields.Integer(required=True)
    photo = fields.String(required=True, metadata={"description": "the file's path on the server"})
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    taken = fields.String(required=True, allow_none=True, metadata={"description": "EXIF date, if any"})
    box = fields.List(fields.Float(), required=True, metadata=BOX)
    similarity = fields.Float(required=True, allow_none=True, metadata={"description": "null: named by hand"})
    image_url = fields.String(required=True)
    thumbnail_url = fields.String(required=True)


class LibraryPhotosResponse(Schema):
    name = fields.String(required=True)
    photos = fields.List(fields.Nested(LibraryPhoto), required=True)


class ClusterFace(Schema):
    face_id = fields.Integer(required=True)
    photo = fields.String(required=True)
    box = fields.List(fields.Float(), required=True, metadata=BOX)
    thumbnail_url = fields.String(required=True)


class Cluster(Schema):
    id = fields.Integer(required=True)
    size = fields.Integer(required=True)
    ignored = fields.Boolean(required=True)
    faces = fields.List(fields.Nested(ClusterFace), required=True)


class ClustersResponse(Schema):
    clusters = fields.List(fields.Nested(Cluster), required=True)


class NamedCluster(Schema):
    cluster = fields.Integer(required=True)
    name = fields.String(required=True)
    faces = fields.Integer(required=True, metadata={"description": "faces named"})
    enrolled = fields.Integer(required=True, metadata={"description": "best faces enrolled as the person's photos"})


class MergedClusters(Schema):
    cluster = fields.Integer(required=True)
    merged = fields.List(fields.Integer(), required=True)


class SplitCluster(Schema):
    cluster = fields.Integer(required=True)
    new_cluster = fields.Integer(required=True)
    faces = fields.List(fields.Integer(), required=True)


class RemovedFaces(Schema):
    cluster = fields.Integer(required=True)
    removed = fields.List(fields.Integer(), required=True)


class IgnoredCluster(Schema):
    cluster = fields.Integer(required=True)
    ignored = fields.Boolean(required=True)


class IndexJson(RequestBody):
    path = fields.String(required=True, metadata={"description": "absolute path of a folder on the server"})


class NameJson(RequestBody):
    name = fields.String(required=True, metadata={"description": "a new or enrolled person's name"})


class MergeJson(RequestBody):
    clusters = fields.List(fields.Integer(), required=True, metadata={"description": "clusters to merge into this"})


class FacesJson(RequestBody):
    faces = fields.List(fields.Integer(), required=True, metadata={"description": "face ids of this cluster"})


class IgnoreJson(RequestBody):
    ignored = fields.Boolean(metadata={"description": "default true; false shows the cluster again"})
