"""Web app settings: defaults, overridden by ``FACEPRINT_*`` environment variables, overridden by the mapping
given to ``create_app``."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

from faceprint.errors import FaceprintError

DEFAULT_RATE_LIMIT = "600/minute"
DEFAULT_AUTH_FAILURE_LIMIT = "10/minute"
DEFAULT_MAX_UPLOAD_MB = 30
DEFAULT_SESSION_HOURS = 12
DEFAULT_MAX_FORM_PARTS = 100
DEFAULT_REQUEST_MEGAPIXELS = 250
DEFAULT_QUEUE_TIMEOUT_S = 60
DEFAULT_MAX_QUEUE = 64
DEFAULT_HEAVY_MEGAPIXELS = 4
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")

ENVIRONMENT_SETTINGS = (
    "FACEPRINT_GALLERY",
    "FACEPRINT_ADMIN_KEY",
    "FACEPRINT_RECOGNIZE_KEY",
    "FACEPRINT_API_KEYS_FILE",
    "FACEPRINT_RATE_LIMIT",
    "FACEPRINT_MAX_UPLOAD_MB",
    "FACEPRINT_MAX_PIXELS",
    "FACEPRINT_SECRET_KEY",
    "FACEPRINT_SECURE_COOKIES",
    "FACEPRINT_TRUSTED_PROXIES",
    "FACEPRINT_ALLOWED_HOSTS",
    "FACEPRINT_RECOGNIZE_CAN_LIST",
    "FACEPRINT_SESSION_STORE",
    "FACEPRINT_SESSION_HOURS",
    "FACEPRINT_AUTH_FAILURE_LIMIT",
    "FACEPRINT_INFERENCE_SLOTS",
    "FACEPRINT_HEAVY_SLOTS",
    "FACEPRINT_REQUEST_MEGAPIXELS",
    "FACEPRINT_QUEUE_TIMEOUT_S",
    "FACEPRINT_MAX_QUEUE",
)


class ConfigurationError(FaceprintError):
    """A setting of the web app has a value it cannot use."""

    code = "invalid_configuration"


def _number(settings: Mapping[str, Any], key: str, default: float) -> float:
    value = settings.get(key)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be a number (got {value!r})") from None
    if number <= 0:
        raise ConfigurationError(f"{key} must be positive (got {value!r})")
    return number


def _count(settings: Mapping[str, Any], key: str) -> int:
    value = settings.get(key) or 0
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be a whole number (got {value!r})") from None
    if count < 0:
        raise ConfigurationError(f"{key} must not be negative (got {value!r})")
    return count


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _rate(settings: Mapping[str, Any], key: str, default: str) -> str | None:
    """A rate limit setting such as ``600/minute``; None when it is ``off``. A None already in ``settings`` is a
    limit derived as off before (``faceprint serve`` derives its settings, then the app derives them again), so
    it stays off rather than falling back to the default."""
    if key in settings and settings[key] is None:
        return None
    value = str(settings.get(key) or default).strip()
    return None if value.lower() in ("off", "0", "none", "false") else value


def allowed_hosts(value: Any) -> tuple[str, ...]:
    """The host names (without port) that requests may name in ``Host``: a comma-separated list or a sequence;
    ``*.example.org`` allows sub-domains, ``*`` any host. Default: this machine's loopback names only."""
    if value in (None, ""):
        return LOOPBACK_HOSTS
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(item).strip().lower().rstrip(".") for item in items if str(item).strip()]
    # an IPv6 address is written in brackets in a Host header
    hosts = tuple(dict.fromkeys(f"[{name}]" if ":" in name and not name.startswith("[") else name for name in names))
    for host in hosts:
        if not re.fullmatch(r"\*|(\*\.)?[a-z0-9_.\-]+|\[[0-9a-f:.]+\]", host):
            raise ConfigurationError(f"FACEPRINT_ALLOWED_HOSTS: {host!r} is not a host name, an address or '*'")
    return hosts or LOOPBACK_HOSTS


def load_settings(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """The Flask config of the app: ``FACEPRINT_*`` settings from the environment, then ``config`` on top, and
    the Flask settings derived from them (upload limit, secret key, cookie flags, CSRF)."""
    from faceprint.imaging import DEFAULT_MAX_PIXELS  # here: the command-line parser imports this module

    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {key: environ[key] for key in ENVIRONMENT_SETTINGS if environ.get(key)}
    settings.update(config or {})
    max_upload = int(_number(settings, "FACEPRINT_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB) * 1024 * 1024)
    derived = {
        "FACEPRINT_RATE_LIMIT": _rate(settings, "FACEPRINT_RATE_LIMIT", DEFAULT_RATE_LIMIT),
        "FACEPRINT_AUTH_FAILURE_LIMIT": _rate(settings, "FACEPRINT_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT),
        "FACEPRINT_ALLOWED_HOSTS": allowed_hosts(settings.get("FACEPRINT_ALLOWED_HOSTS")),
        "FACEPRINT_RECOGNIZE_CAN_LIST": _flag(settings.get("FACEPRINT_RECOGNIZE_CAN_LIST", False)),
        "FACEPRINT_SESSION_STORE": str(settings.get("FACEPRINT_SESSION_STORE") or "memory"),
        "FACEPRINT_INFERENCE_SLOTS": _count(settings, "FACEPRINT_INFERENCE_SLOTS"),
        "FACEPRINT_HEAVY_SLOTS": _count(settings, "FACEPRINT_HEAVY_SLOTS") or 1,
        "FACEPRINT_REQUEST_MEGAPIXELS": _number(settings, "FACEPRINT_REQUEST_MEGAPIXELS", DEFAULT_REQUEST_MEGAPIXELS),
        "FACEPRINT_QUEUE_TIMEOUT_S": _number(settings, "FACEPRINT_QUEUE_TIMEOUT_S", DEFAULT_QUEUE_TIMEOUT_S),
        "FACEPRINT_MAX_QUEUE": _count(settings, "FACEPRINT_MAX_QUEUE") or DEFAULT_MAX_QUEUE,
        "PERMANENT_SESSION_LIFETIME": int(_number(settings, "FACEPRINT_SESSION_HOURS", DEFAULT_SESSION_HOURS) * 3600),
        "MAX_FORM_PARTS": settings.get("MAX_FORM_PARTS") or DEFAULT_MAX_FORM_PARTS,
        "FACEPRINT_MAX_PIXELS": int(_number(settings, "FACEPRINT_MAX_PIXELS", DEFAULT_MAX_PIXELS)),
        "FACEPRINT_TRUSTED_PROXIES": _count(settings, "FACEPRINT_TRUSTED_PROXIES"),
        "MAX_CONTENT_LENGTH": settings.get("MAX_CONTENT_LENGTH") or max_upload,
        "SECRET_KEY": settings.get("SECRET_KEY") or settings.get("FACEPRINT_SECRET_KEY") or secrets.token_hex(32),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag(settings.get("FACEPRINT_SECURE_COOKIES", False)),
        "SESSION_COOKIE_NAME": "faceprint_session",
        # The token lives as long as the session: a webcam page left open for hours keeps working.
        "WTF_CSRF_TIME_LIMIT": None,
        # CSRF is checked by faceprint.web.security (API-key requests are exempt), not on every POST blindly.
        "WTF_CSRF_CHECK_DEFAULT": False,
    }
    return {**settings, **derived}
