"""Photo library pages: the Library (indexed folders, index runs, the people found), a person's photos with their
face boxes, and the Clusters of unknown faces to name, merge, split and ignore. Thin shells over
``/api/v1/library`` (``library_api.py``), like the other pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from faceprint.gallery.base import normalize_name

library_pages = Blueprint("library_pages", __name__)


@library_pages.get("/library")
def library() -> str:
    """What is indexed, an index run's progress, and the people found with a face each."""
    return render_template("library.html")


@library_pages.get("/library/people/<name>")
def person(name: str) -> str:
    """Every indexed photo of one person, with their face's box."""
    return render_template("library_person.html", name=normalize_name(name))


@library_pages.get("/clusters")
def clusters() -> str:
    """Groups of unknown faces: name them, merge, split, remove a face, ignore."""
    return render_template("clusters.html")
