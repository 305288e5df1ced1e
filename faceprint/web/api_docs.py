"""The interactive API documentation's assets: Swagger UI's script and style sheet, served from the
``flask-swagger-ui`` package that bundles them (nothing from another site; the page itself is ``/api/v1/docs``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from flask import Blueprint, abort, send_from_directory
from werkzeug.wrappers import Response

ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"})
"""The only files served: Swagger UI's code, its style sheet and its licence."""

api_docs = Blueprint("api_docs", __name__)


def swagger_ui_folder() -> Path | None:
    """Where the installed Swagger UI assets are, or None when the package is missing."""
    try:
        folder = Path(str(resources.files("flask_swagger_ui") / "dist"))
    except ModuleNotFoundError:
        return None
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def swagger_ui_version() -> str | None:
    """The bundled Swagger UI's version, e.g. ``v5.34.0``."""
    folder = swagger_ui_folder()
    version = folder / "VERSION" if folder else None
    return version.read_text().strip() if version and version.is_file() else None


@api_docs.get("/api/v1/docs/assets/<name>")
def asset(name: str) -> Response:
    """One of Swagger UI's files (404 for any other name)."""
    folder = swagger_ui_folder()
    if folder is None or name not in ASSETS:
        abort(404)
    response = send_from_directory(folder, name, max_age=86400)
    if name == "LICENSE":
        response.mimetype = "text/plain"
    return response
