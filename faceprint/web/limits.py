"""Per-client rate limits (in memory, per process) on the endpoints that run the models."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from faceprint.web.security import api_keys, presented_key
from faceprint.web.settings import ConfigurationError

F = TypeVar("F", bound=Callable)
LIMITER_EXTENSION = "faceprint.limiter"


def expensive(view: F) -> F:
    """Mark a view as running the models, so that the per-client rate limit applies to it."""
    view.faceprint_expensive = True  # type: ignore[attr-defined]
    return view


def client_key() -> str:
    """Clients are told apart by a valid API key (hashed, never stored in clear), else by their address: an invented
    key never buys a fresh allowance."""
    key = presented_key()
    keys = api_keys()
    if key and keys.configured and keys.known(key):
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "ip:" + (get_remote_address() or "unknown")


def _not_expensive() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "faceprint_expensive", False)


def init_limits(app: Flask) -> Limiter | None:
    """A limiter for this app with ``FACEPRINT_RATE_LIMIT`` per client and endpoint; None when it is off."""
    limit = app.config.get("FACEPRINT_RATE_LIMIT")
    if not limit:
        return None
    try:
        parse_many(limit)
    except ValueError:
        raise ConfigurationError(
            f"FACEPRINT_RATE_LIMIT must look like '600/minute' or '10/second;600/minute', or be 'off' (got {limit!r})"
        ) from None
    limiter = Limiter(
        client_key,
        app=app,
        default_limits=[limit],
        default_limits_exempt_when=_not_expensive,
        storage_uri="memory://",
        headers_enabled=True,
        key_prefix=f"faceprint-{id(app)}",
    )
    app.extensions[LIMITER_EXTENSION] = limiter
    return limiter
