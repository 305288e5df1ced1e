"""The faceprint web app: server-rendered pages and the JSON API ``/api/v1``, both on the FaceRecognizer facade."""

from faceprint.web.app import create_app

__all__ = ["create_app"]
