"""One access-log line per request through ``logging`` (logger ``faceprint.web.access``): client, method, path,
status, bytes sent and time taken. Never the query string (it may carry a key or a name), headers, cookies or any
part of the body, so no image data and no key reaches the log.

The lines are INFO records: silent unless a handler takes them, which ``enable_access_log`` adds (``faceprint
serve`` does so unless ``--no-access-log`` or ``FACEPRINT_ACCESS_LOG=0``)."""

from __future__ import annotations

import logging
import os
import sys
import time

from flask import Flask, g, request
from werkzeug.wrappers import Response

LOGGER_NAME = "faceprint.web.access"
log = logging.getLogger(LOGGER_NAME)
MAX_PATH = 300
"""Longer paths are cut: a log line stays one readable line whatever a client sends."""


def _started() -> None:
    g.faceprint_started = time.perf_counter()


def _printable(text: str) -> str:
    """``text`` with control characters escaped (no forged log lines) and cut to ``MAX_PATH`` characters."""
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= MAX_PATH else f"{text[:MAX_PATH]}..."


def _log_response(response: Response) -> Response:
    started = g.get("faceprint_started")
    elapsed_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    size = response.calculate_content_length()
    log.info(
        '%s "%s %s" %d %s %.1f ms',
        request.remote_addr or "-",
        _printable(request.method),
        _printable(request.path),
        response.status_code,
        size if size is not None else "-",
        elapsed_ms,
    )
    return response


def init_access_log(app: Flask) -> None:
    """Time every request of ``app`` from its first before-request hook and log it when the answer is ready
    (errors included: they are answers too)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_log_response)


class _StandardError(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is when a line is written."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def access_log_wanted(environ: os._Environ | dict | None = None) -> bool:
    """Whether the environment leaves the access log on (``FACEPRINT_ACCESS_LOG=0``/``false``/``off`` turns it
    off)."""
    value = (environ if environ is not None else os.environ).get("FACEPRINT_ACCESS_LOG", "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


def enable_access_log(handler: logging.Handler | None = None) -> logging.Handler:
    """Write the access log (to standard error unless ``handler`` is given), once however often it is called."""
    for existing in log.handlers:
        if getattr(existing, "faceprint_access", False):
            return existing
    handler = handler or _StandardError()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    handler.faceprint_access = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler
