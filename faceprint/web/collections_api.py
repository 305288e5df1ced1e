"""``/api/v1/collections``: the gallery's collections (separate sets of people), and under
``/api/v1/collections/<collection>/`` the people and recognition (photo and video) endpoints of ``/api/v1`` on that
collection.

The views are those of ``api.py``, registered a second time on the same blueprint with the collection in the path
(so keys, CSRF, rate limits and errors apply as to ``/api/v1``); ``/api/v1/people`` and ``/api/v1/recognize`` keep
working on the default collection. Requests that only read, or change a person who must exist, answer 404
``unknown_collection`` for a collection that does not exist; enrolling into a new one creates it."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Response, jsonify
from marshmallow import Schema, fields

from faceprint.gallery import list_collections
from faceprint.web import api as views
from faceprint.web import video_api
from faceprint.web.api import api
from faceprint.web.openapi import operation
from faceprint.web.runtime import get_recognizer, use_collection
from faceprint.web.security import GALLERY, requires


class CollectionsResponse(Schema):
    collections = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "the collections that exist, 'default' first (its people are also at /people)"},
    )


@api.get("/collections")
@requires(GALLERY)
@operation(response=CollectionsResponse, tag="collections")
def collections() -> Response:
    """The gallery's collections: separate sets of people, each at /collections/<collection>/people."""
    names = list_collections(get_recognizer().gallery_url)
    return jsonify(collections=names if "default" in names else ["default", *names])


def _in_collection(view: Callable, creates: bool) -> Callable:
    """``view`` working on the collection named in the URL; the view's marks (role, rate limit, OpenAPI) are kept."""

    @functools.wraps(view)
    def on_collection(collection: str, **arguments: object) -> object:
        use_collection(collection, create=creates)
        return view(**arguments)

    on_collection.__name__ = f"{view.__name__}_in_collection"
    on_collection.__doc__ = (view.__doc__ or "").rstrip() + "\n\nOn the collection named in the path."
    return on_collection


# (rule under /collections/<collection>, view, method, whether it may create the collection)
COLLECTION_ROUTES: tuple[tuple[str, Callable, str, bool], ...] = (
    ("/recognize", views.recognize, "POST", False),
    ("/video", video_api.video, "POST", False),
    ("/people", views.list_people, "GET", False),
    ("/people", views.enroll, "POST", True),
    ("/people/<name>", views.get_person, "GET", False),
    ("/people/<name>", views.rename_person, "PATCH", False),
    ("/people/<name>", views.delete_person, "DELETE", False),
    ("/people/<name>/thumbnail", views.person_thumbnail, "GET", False),
    ("/people/<name>/photos", views.list_photos, "GET", False),
    ("/people/<name>/photos", views.add_photos, "POST", False),
    ("/people/<name>/photos/<int:photo_id>", views.delete_photo, "DELETE", False),
    ("/people/<name>/photos/<int:photo_id>/thumbnail", views.photo_thumbnail, "GET", False),
)

for _rule, _view, _method, _creates in COLLECTION_ROUTES:
    _wrapped = _in_collection(_view, _creates)
    api.add_url_rule(
        f"/collections/<collection>{_rule}", endpoint=_wrapped.__name__, view_func=_wrapped, methods=[_method]
    )
