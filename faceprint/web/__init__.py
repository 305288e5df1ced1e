"""The faceprint web app: server-rendered pages and the JSON API ``/api/v1``, both on the FaceRecognizer facade.

``create_app`` is imported on first use, so that importing ``faceprint.web`` (as the command line does to register
``faceprint serve``) does not load Flask."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from faceprint.web.app import create_app

        return create_app
    raise AttributeError(f"module 'faceprint.web' has no attribute {name!r}")
