"""Web app settings: defaults, overridden by ``FACEPRINT_*`` environment variables, overridden by the mapping
given to ``create_app``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from faceprint.errors import FaceprintError
from faceprint.imaging import DEFAULT_MAX_PIXELS

DEFAULT_RATE_LIMIT = "600/minute"
DEFAULT_MAX_UPLOAD_MB = 30

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


def load_settings(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """The Flask config of the app: ``FACEPRINT_*`` settings from the environment, then ``config`` on top, and
    the Flask settings derived from them (upload limit, secret key, cookie flags, CSRF)."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {key: environ[key] for key in ENVIRONMENT_SETTINGS if environ.get(key)}
    settings.update(config or {})
    rate_limit = str(settings.get("FACEPRINT_RATE_LIMIT") or DEFAULT_RATE_LIMIT).strip()
    max_upload = int(_number(settings, "FACEPRINT_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB) * 1024 * 1024)
    derived = {
        "FACEPRINT_RATE_LIMIT": None if rate_limit.lower() in ("off", "0", "none", "false") else rate_limit,
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
