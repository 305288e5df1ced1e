"""Who may do what: API keys and signed-in browser sessions, CSRF checks, and the security headers of every
response."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized
from werkzeug.wrappers import Response

from faceprint.web.errorhandlers import ApiError
from faceprint.web.keys import ADMIN, RECOGNIZE, ApiKeys
from faceprint.web.sessions import SessionStore
from faceprint.web.settings import LOOPBACK_HOSTS, ConfigurationError

KEYS_EXTENSION = "faceprint.keys"
SESSIONS_EXTENSION = "faceprint.sessions"
THROTTLE_EXTENSION = "faceprint.auth_throttle"
PUBLIC = "public"
GALLERY = "gallery"
"""The role needed to list the gallery (names, photos, thumbnails): admin, or recognize when
``FACEPRINT_RECOGNIZE_CAN_LIST`` is set."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths a visitor may reach without signing in (besides the API, which answers 401 itself).
OPEN_ENDPOINTS = frozenset({"static", "api_docs.asset", "auth.signin", "auth.signout"})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

csrf = CSRFProtect()
F = TypeVar("F", bound=Callable)


def requires(role: str) -> Callable[[F], F]:
    """Mark a view as needing ``role`` (``admin``, ``recognize``) or none at all (``public``)."""

    def mark(view: F) -> F:
        view.faceprint_role = role  # type: ignore[attr-defined]
        return view

    return mark


def api_keys() -> ApiKeys:
    """The app's configured keys."""
    return current_app.extensions[KEYS_EXTENSION]


def presented_key() -> str | None:
    """The key sent as ``X-API-Key`` or ``Authorization: Bearer``, if any."""
    key = request.headers.get("X-API-Key")
    if key is None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        key = value if scheme.lower() == "bearer" else None
    return key.strip() if key is not None else None


def session_store() -> SessionStore:
    return current_app.extensions[SESSIONS_EXTENSION]


def current_role() -> str | None:
    """The role of this request: its API key's, else its signed-in session's; admin when no keys are set."""
    if "faceprint_role" not in g:
        keys = api_keys()
        key = presented_key()
        if not keys.configured:
            role = ADMIN
        elif key is not None:
            role = keys.role_of(key) or collection_role(keys, key)
        else:
            role = session_store().role(session.get("sid"), dict(keys.keys))
        g.faceprint_role = role
    return g.faceprint_role


def collection_role(keys: ApiKeys, key: str) -> str | None:
    """The role of a key that acts on one collection only, on a request to that collection's URLs (else None)."""
    found = keys.collection_role_of(key)
    if found is None:
        return None
    collection, role = found
    return role if (request.view_args or {}).get("collection") == collection else None


def allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` may call a view that needs ``needed``."""
    if needed == PUBLIC or role == ADMIN:
        return True
    if role == RECOGNIZE and needed == GALLERY:
        return bool(current_app.config.get("FACEPRINT_RECOGNIZE_CAN_LIST"))
    return role == RECOGNIZE and needed == RECOGNIZE


def is_loopback_address(address: str | None) -> bool:
    """Whether a client address is this machine."""
    try:
        return ipaddress.ip_address((address or "").strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name part of a ``Host`` header value, lower case, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``host`` (a Host header) names one of the ``allowed`` hosts (``*.example.org``, ``*``)."""
    name = host_name(host)
    if not name or not re.fullmatch(r"[a-z0-9_.\-]+|\[[0-9a-f:.]+\]", name):
        return False
    for pattern in allowed:
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def check_host() -> None:
    """First of all: refuse a request whose ``Host`` is not this server's (DNS rebinding), and, on a server without
    keys, any client but this machine."""
    if not host_allowed(request.host, current_app.config["FACEPRINT_ALLOWED_HOSTS"]):
        raise ApiError(
            "the Host header does not name this server; add the name to FACEPRINT_ALLOWED_HOSTS if it should",
            code="invalid_host",
        )
    if not api_keys().configured and not is_loopback_address(request.remote_addr):
        raise ApiError(
            "this server has no API keys, so it answers only this machine", code="forbidden", http_status=403
        )


def client_address() -> str:
    """The client's address (after trusted proxies), which rate limits and throttles count by."""
    return request.remote_addr or "unknown"


def check_auth_throttle() -> None:
    """429 when this client has failed to present a valid key too often lately."""
    throttle = current_app.extensions.get(THROTTLE_EXTENSION)
    if throttle is not None:
        limiter, limit = throttle
        if not limiter.test(limit, "auth-failures", client_address()):
            raise TooManyRequests(f"{limit} failed key attempts", retry_after=limit.get_expiry())


def record_auth_failure() -> None:
    """Count a wrong key from this client towards the throttle."""
    throttle = current_app.extensions.get(THROTTLE_EXTENSION)
    if throttle is not None:
        limiter, limit = throttle
        limiter.hit(limit, "auth-failures", client_address())


def _looks_like_a_browser() -> bool:
    """Browsers send cookies, ``Origin`` on cross-site and unsafe requests, and ``Sec-Fetch-Site``; a forged
    cross-site form post always carries one of them. Scripts (curl) carry none."""
    cookie = current_app.config.get("SESSION_COOKIE_NAME", "session")
    return cookie in request.cookies or "Origin" in request.headers or "Sec-Fetch-Site" in request.headers


def check_request() -> Response | None:
    """Before every request: CSRF for browser posts, API key or session role for the API, sign-in for pages."""
    if request.routing_exception is not None:
        return None  # no such route or method: answer 404/405, nothing is done
    keys = api_keys()
    key = presented_key()
    if key is not None and keys.configured:
        check_auth_throttle()
        if not keys.known(key):
            record_auth_failure()
            raise Unauthorized("the API key is not valid")
    with_key = key is not None and keys.configured
    if request.method in UNSAFE_METHODS and not with_key and (request.blueprint != "api" or _looks_like_a_browser()):
        csrf.protect()
    view = current_app.view_functions.get(request.endpoint or "")
    if request.blueprint == "api" and view is not None:
        needed = getattr(view, "faceprint_role", RECOGNIZE)
        role = current_role()
        if needed != PUBLIC and role is None:
            scoped = keys.collection_role_of(key) if with_key and key is not None else None
            if scoped is not None:
                raise Forbidden(
                    f"this key acts only on the collection {scoped[0]!r}: use /api/v1/collections/{scoped[0]}/..."
                )
            raise Unauthorized("an API key is required: send it as X-API-Key or Authorization: Bearer")
        if not allows(role, needed):
            what = "listing the gallery needs" if needed == GALLERY else "this needs"
            raise Forbidden(f"the {role} key may not do this: {what} the admin key")
    elif keys.configured and request.endpoint not in OPEN_ENDPOINTS and view is not None and current_role() is None:
        return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
    return None


def add_security_headers(response: Response) -> Response:
    """The security headers of every answer; API and sign-in answers are never cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.blueprint == "api" or request.path.startswith("/signin"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def template_context() -> dict:
    """What every template may use: whether keys are required, the visitor's role, whether they may edit."""
    keys = api_keys()
    role = current_role()
    return {
        "auth_required": keys.configured,
        "role": role,
        "can_edit": role == ADMIN,
        "can_list": role is not None and allows(role, GALLERY),
    }


def check_keyless_hosts(allowed: tuple[str, ...]) -> None:
    """A server without keys answers only this machine: its allowed hosts must all be loopback names."""
    others = [host for host in allowed if host not in LOOPBACK_HOSTS]
    if others:
        raise ConfigurationError(
            f"FACEPRINT_ALLOWED_HOSTS names {', '.join(others)}, but without API keys the server answers only this "
            "machine: set FACEPRINT_ADMIN_KEY and FACEPRINT_RECOGNIZE_KEY (or FACEPRINT_API_KEYS_FILE) as well"
        )


def init_security(app: Flask, keys: ApiKeys) -> None:
    """Install the host, key, session, CSRF and header checks on ``app``."""
    if not keys.configured:
        check_keyless_hosts(app.config["FACEPRINT_ALLOWED_HOSTS"])
    app.extensions[KEYS_EXTENSION] = keys
    app.extensions[SESSIONS_EXTENSION] = SessionStore(
        app.config["FACEPRINT_SESSION_STORE"], app.config["PERMANENT_SESSION_LIFETIME"]
    )
    failures = app.config.get("FACEPRINT_AUTH_FAILURE_LIMIT")
    if failures:
        try:
            limit = parse(failures)
        except ValueError:
            raise ConfigurationError(
                f"FACEPRINT_AUTH_FAILURE_LIMIT must look like '10/minute', or be 'off' (got {failures!r})"
            ) from None
        app.extensions[THROTTLE_EXTENSION] = (MovingWindowRateLimiter(MemoryStorage()), limit)
    csrf.init_app(app)
    app.before_request(check_request)
    app.after_request(add_security_headers)
    app.context_processor(template_context)
