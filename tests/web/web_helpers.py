"""Helpers shared by the web tests: uploads, error checks, CSRF tokens, test keys."""

from __future__ import annotations

import base64
import io
import re

from flask.testing import FlaskClient

ADMIN_KEY = "admin-key-0123456789abcdef"
RECOGNIZE_KEY = "recognize-key-0123456789abcdef"


def upload(path, name=None):
    return (io.BytesIO(path.read_bytes()), name or path.name)


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def error_of(response, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code, body
    assert "Traceback" not in body["error"]["message"]
    return body["error"]["message"]


def csrf_token(client: FlaskClient, path: str = "/signin") -> str:
    """The CSRF token a page hands to its scripts (its meta tag or form field), which also starts the session."""
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, page[:500]
    return match.group(1)
