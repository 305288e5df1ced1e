"""Server-rendered pages blueprint (templates in ``web/templates``, assets served from ``web/static``).

Pages are thin shells: their scripts call the JSON API ``/api/v1`` from the same origin with the session cookie
and the CSRF token from the ``csrf-token`` meta tag."""

from __future__ import annotations

from flask import Blueprint, render_template

pages = Blueprint("pages", __name__)

NAVIGATION: tuple[tuple[str, str], ...] = (
    ("pages.enroll", "Enroll"),
    ("pages.recognize", "Recognise"),
    ("pages.celebrity", "Celebrity match"),
    ("pages.people", "People"),
    ("library_pages.library", "Library"),
)
"""Main navigation: endpoint and label of every page after Home."""


@pages.app_context_processor
def navigation() -> dict:
    """Expose the navigation entries to every template (also the backend's sign-in page)."""
    return {"navigation": NAVIGATION}


@pages.get("/")
def home() -> str:
    """What faceprint does, with a way into each page."""
    return render_template("index.html")


@pages.get("/enroll")
def enroll() -> str:
    """Add a person from one or more photos, with a face preview before sending."""
    return render_template("enroll.html")


@pages.get("/recognize")
def recognize() -> str:
    """Recognise everyone in a photo or a short video clip, or live from the browser's webcam."""
    from faceprint.web.video_api import max_video_seconds

    return render_template("recognize.html", max_video_seconds=f"{max_video_seconds():g}")


@pages.get("/celebrity")
def celebrity() -> str:
    """The celebrity look-alike game."""
    return render_template("celebrity.html")


@pages.get("/people")
def people() -> str:
    """Enrolled people: rename, delete, add photos."""
    return render_template("people.html")
