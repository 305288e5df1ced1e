"""Every error as JSON ``{"error": {"code", "message"}}`` with the right status; never a traceback to a client.

Pages (outside ``/api/v1``) get ``error.html`` rendered instead when the templates folder has one, unless the
client asks for JSON."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from faceprint.errors import FaceprintError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
INTERNAL_MESSAGE = "internal error: the server could not answer this request; its log has the details"


class ApiError(FaceprintError):
    """An error of the request itself (a missing field, a bad parameter), with an explicit status and code."""

    def __init__(self, message: str, code: str = "invalid_request", http_status: int = 400, **extra: object) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.extra = extra


def error_response(status: int, code: str, message: str, extra: dict | None = None) -> Response:
    """The JSON (or, for pages with an ``error.html``, HTML) answer for one error."""
    wants_json = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    if not request.path.startswith("/api/") and not wants_json:
        try:
            page = render_template("error.html", status=status, code=code, message=message)
            return current_app.make_response((page, status))
        except TemplateNotFound:
            pass
    response = jsonify({"error": {"code": code, "message": message}, **(extra or {})})
    response.status_code = status
    return response


def handle_faceprint_error(error: FaceprintError) -> Response:
    """A faceprint error as its status and code; 503 answers say when to try again."""
    response = error_response(error.http_status, error.code, error.message, getattr(error, "extra", None))
    if error.http_status == 503:
        response.headers["Retry-After"] = "5"
    return response


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    code = "csrf_failed" if isinstance(error, CSRFError) else HTTP_CODES.get(status, "invalid_request")
    message = error.description or error.name
    if isinstance(error, CSRFError):
        message = f"CSRF check failed: {error.description} Reload the page and try again."
    elif status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = f"the request body is larger than the {limit / 1024 / 1024:.0f} MB limit"
    elif status == 429:
        message = f"too many requests: the limit is {error.description}; wait a moment and try again"
    elif status == 404 and request.path.startswith("/api/"):
        message = f"no API endpoint at {request.path}; see /api/v1/docs"
    response = error_response(status, code, message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path, exc_info=error)
    return error_response(500, "internal_error", INTERNAL_MESSAGE)


def init_error_handlers(app: Flask) -> None:
    app.register_error_handler(FaceprintError, handle_faceprint_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
