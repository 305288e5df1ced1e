"""Sign-in for browser pages when API keys are configured: the visitor enters a key and the session carries its
role (admin or recognize). CSRF-checked like every form post."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session
from jinja2 import Template, TemplateNotFound
from werkzeug.wrappers import Response

from faceprint.web.security import (
    api_keys,
    check_auth_throttle,
    current_role,
    record_auth_failure,
    session_store,
)

auth = Blueprint("auth", __name__)

FALLBACK_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{ csrf_token() }}"><title>{% block title %}faceprint{% endblock %}</title></head>
<body><main>{% block content %}{% endblock %}</main></body></html>"""


def _layout() -> str | Template:
    """The pages' ``base.html`` when present, else a minimal page of our own."""
    try:
        current_app.jinja_env.get_template("base.html")
        return "base.html"
    except TemplateNotFound:
        return current_app.jinja_env.from_string(FALLBACK_LAYOUT)


_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def safe_next(target: object) -> str:
    """Where to go after signing in: a path of this site only, else the home page. Browsers drop tabs and line
    breaks and read backslashes as slashes, so ``/<TAB>/evil.example`` means ``//evil.example``: any such character
    (and any space) makes the target unsafe."""
    if not isinstance(target, str) or not target.startswith("/") or _UNSAFE_IN_PATH.search(target):
        return "/"
    if target.startswith("//") or len(target) > 2000:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def _next_path() -> str:
    """The ``next`` parameter of this request, made safe."""
    return safe_next(request.values.get("next", "/"))


@auth.route("/signin", methods=["GET", "POST"])
def signin() -> Response | str | tuple[str, int]:
    """Show the sign-in form; on post, check the key and remember its role in the session."""
    keys = api_keys()
    if not keys.configured:
        return redirect(_next_path())
    error = None
    if request.method == "POST":
        check_auth_throttle()
        key = request.form.get("key", "").strip()
        role = keys.role_of(key)
        if role is not None:
            session_store().close(session.get("sid"))
            session.clear()
            session["sid"] = session_store().open(role, key)
            session.permanent = True
            return redirect(_next_path())
        record_auth_failure()
        error = "That key is not valid."
    page = render_template("signin.html", layout=_layout(), error=error, next=_next_path(), role=current_role())
    return (page, 401) if error else page


@auth.route("/signout", methods=["POST"])
def signout() -> Response:
    """End the session on the server (a copy of its cookie no longer works) and forget it."""
    session_store().close(session.get("sid"))
    session.clear()
    return redirect("/signin" if api_keys().configured else "/")
