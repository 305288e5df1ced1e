"""What a request reaches at run time: the app's FaceRecognizer (on the collection the request names) and its
inference scheduler.

The app factory (``app.py``) puts both into ``app.extensions``; views and blueprints (``api.py``) take them from
here, so that no blueprint imports the factory that registers it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import current_app, g

from faceprint.gallery import DEFAULT_COLLECTION, check_collection, require_collection

if TYPE_CHECKING:
    from faceprint.recognizer import FaceRecognizer

RECOGNIZER_EXTENSION = "faceprint.recognizer"
SCHEDULER_EXTENSION = "faceprint.scheduler"
COLLECTIONS_EXTENSION = "faceprint.collections"
API_PREFIX = "/api/v1"


class Collections:
    """The recognizers of the gallery's other collections, made on first use; each shares the app's models."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recognizers: dict[str, FaceRecognizer] = {}
        self._existing: set[str] = set()  # known to exist: collections are never removed while the app runs

    def recognizer(self, base: FaceRecognizer, name: str, create: bool) -> FaceRecognizer:
        """The recognizer of collection ``name``; ``UnknownCollectionError`` when it does not exist, unless the
        request may create it (an enrollment)."""
        if not create and name not in self._existing:
            require_collection(base.gallery_url, name)
            self._existing.add(name)
        with self._lock:
            if name not in self._recognizers:
                self._recognizers[name] = base.for_collection(name)
            return self._recognizers[name]


def use_collection(name: str, create: bool = False) -> str:
    """Make this request work on collection ``name`` (checked; it must exist unless ``create``)."""
    name = check_collection(name)
    g.faceprint_collection = name
    if name != DEFAULT_COLLECTION:
        collections: Collections = current_app.extensions[COLLECTIONS_EXTENSION]
        g.faceprint_recognizer = collections.recognizer(current_app.extensions[RECOGNIZER_EXTENSION], name, create)
    return name


def current_collection() -> str:
    """The collection this request works on (``default`` unless its URL names another)."""
    return g.get("faceprint_collection", DEFAULT_COLLECTION)


def api_prefix() -> str:
    """The URL prefix of this request's collection: ``/api/v1`` or ``/api/v1/collections/NAME``."""
    name = current_collection()
    return API_PREFIX if name == DEFAULT_COLLECTION else f"{API_PREFIX}/collections/{name}"


def get_recognizer() -> FaceRecognizer:
    """The FaceRecognizer of this request's collection (models load once per process, on first use)."""
    return g.get("faceprint_recognizer") or current_app.extensions[RECOGNIZER_EXTENSION]


@contextlib.contextmanager
def inference(cost: float = 0.0) -> Iterator[None]:
    """Run model inference for a request of ``cost`` megapixels when the app's scheduler gives it a place."""
    with current_app.extensions[SCHEDULER_EXTENSION].slot(cost):
        yield
