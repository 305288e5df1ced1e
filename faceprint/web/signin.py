"""Sign-in for browser pages when API keys are configured: the visitor enters a key and the session carries its
role (admin or recognize). CSRF-checked like every form post."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session
from jinja2 import Template, TemplateNotFound
from werkzeug.wrappers import Response

from faceprint.web.security import api_keys, current_role

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


def _next_path() -> str:
    """Where to go after signing in: a local path only (no scheme, no host), else the home page."""
    target = request.values.get("next", "/")
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@auth.route("/signin", methods=["GET", "POST"])
def signin() -> Response | str | tuple[str, int]:
    """Show the sign-in form; on post, check the key and remember its role in the session."""
    keys = api_keys()
    if not keys.configured:
        return redirect(_next_path())
    error = None
    if request.method == "POST":
        role = keys.role_of(request.form.get("key", "").strip())
        if role is not None:
            session.clear()
            session["role"] = role
            session.permanent = True
            return redirect(_next_path())
        error = "That key is not valid."
    page = render_template("signin.html", layout=_layout(), error=error, next=_next_path(), role=current_role())
    return (page, 401) if error else page


@auth.route("/signout", methods=["POST"])
def signout() -> Response:
    """Forget the session's role."""
    session.clear()
    return redirect("/signin" if api_keys().configured else "/")
