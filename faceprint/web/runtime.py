"""What a request reaches at run time: the app's FaceRecognizer and its inference scheduler.

The app factory (``app.py``) puts both into ``app.extensions``; views and blueprints (``api.py``) take them from
here, so that no blueprint imports the factory that registers it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from faceprint.recognizer import FaceRecognizer

RECOGNIZER_EXTENSION = "faceprint.recognizer"
SCHEDULER_EXTENSION = "faceprint.scheduler"


def get_recognizer() -> FaceRecognizer:
    """The app's FaceRecognizer (models load once per process, on first use)."""
    return current_app.extensions[RECOGNIZER_EXTENSION]


@contextlib.contextmanager
def inference(cost: float = 0.0) -> Iterator[None]:
    """Run model inference for a request of ``cost`` megapixels when the app's scheduler gives it a place."""
    with current_app.extensions[SCHEDULER_EXTENSION].slot(cost):
        yield
