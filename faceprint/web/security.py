"""Who may do what: API keys and signed-in browser sessions, CSRF checks, and the security headers of every
response."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.wrappers import Response

from faceprint.web.keys import ADMIN, RECOGNIZE, ApiKeys

KEYS_EXTENSION = "faceprint.keys"
PUBLIC = "public"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths a visitor may reach without signing in (besides the API, which answers 401 itself).
OPEN_ENDPOINTS = frozenset({"static", "auth.signin", "auth.signout"})

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
    return current_app.extensions[KEYS_EXTENSION]


def presented_key() -> str | None:
    """The key sent as ``X-API-Key`` or ``Authorization: Bearer``, if any."""
    key = request.headers.get("X-API-Key")
    if key is None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        key = value if scheme.lower() == "bearer" else None
    return key.strip() if key is not None else None


def current_role() -> str | None:
    """The role of this request: its API key's, else its signed-in session's; admin when no keys are set."""
    if "faceprint_role" not in g:
        keys = api_keys()
        key = presented_key()
        if not keys.configured:
            role = ADMIN
        elif key is not None:
            role = keys.role_of(key)
        else:
            role = session.get("role") if session.get("role") in (ADMIN, RECOGNIZE) else None
        g.faceprint_role = role
    return g.faceprint_role


def allows(role: str | None, needed: str) -> bool:
    return needed == PUBLIC or role == ADMIN or (role == RECOGNIZE and needed == RECOGNIZE)


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
    if key is not None and keys.configured and keys.role_of(key) is None:
        raise Unauthorized("the API key is not valid")
    with_key = key is not None and keys.configured
    if request.method in UNSAFE_METHODS and not with_key and (request.blueprint != "api" or _looks_like_a_browser()):
        csrf.protect()
    view = current_app.view_functions.get(request.endpoint or "")
    if request.blueprint == "api" and view is not None:
        needed = getattr(view, "faceprint_role", RECOGNIZE)
        role = current_role()
        if needed != PUBLIC and role is None:
            raise Unauthorized("an API key is required: send it as X-API-Key or Authorization: Bearer")
        if not allows(role, needed):
            raise Forbidden(f"the {role} key may not do this; it needs the {needed} key")
    elif keys.configured and request.endpoint not in OPEN_ENDPOINTS and view is not None and current_role() is None:
        return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
    return None


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.blueprint == "api" or request.path.startswith("/signin"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def template_context() -> dict:
    """What every template may use: whether keys are required, the visitor's role, whether they may edit."""
    keys = api_keys()
    role = current_role()
    return {"auth_required": keys.configured, "role": role, "can_edit": role == ADMIN}


def init_security(app: Flask, keys: ApiKeys) -> None:
    app.extensions[KEYS_EXTENSION] = keys
    csrf.init_app(app)
    app.before_request(check_request)
    app.after_request(add_security_headers)
    app.context_processor(template_context)
