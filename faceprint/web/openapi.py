"""The OpenAPI 3 document of ``/api/v1``, generated from the API's view functions (their docstrings and
``@operation`` declarations), URL rules and marshmallow schemas with apispec."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from marshmallow import Schema

from faceprint.gallery.collections import COLLECTION_PATTERN
from faceprint.version import __version__
from faceprint.web import schemas
from faceprint.web.keys import ADMIN, RECOGNIZE

F = TypeVar("F", bound=Callable)
OPENAPI_VERSION = "3.0.3"
CONVERTER_TYPES = {"int": {"type": "integer", "minimum": 0}, "default": {"type": "string", "pattern": "^[^/]+$"}}
COLLECTION_PARAMETER = {
    "schema": {"type": "string", "pattern": f"^{COLLECTION_PATTERN}$"},
    "description": "a collection of the gallery (a separate set of people); 'default' is the one at /people",
}
_RULE_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def operation(
    *,
    response: type[Schema] | None = None,
    status: int = 200,
    form: type[Schema] | None = None,
    json: type[Schema] | None = None,
    produces: str | None = None,
    extra: dict[int, tuple[str, type[Schema]]] | None = None,
    tag: str = "faces",
) -> Callable[[F], F]:
    """Declare what a view takes (a multipart ``form`` and/or ``json`` body) and answers (``response`` with
    ``status``, or raw ``produces`` content such as image/jpeg); ``extra`` documents further answers."""

    def mark(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "response": response,
            "status": status,
            "form": form,
            "json": json,
            "produces": produces,
            "extra": extra or {},
            "tag": tag,
        }
        return view

    return mark


def _content(schema: type[Schema]) -> dict:
    return {"schema": schema}


def _operation(view: Callable, role: str) -> dict[str, Any]:
    spec = getattr(view, "openapi", {})
    doc = inspect.getdoc(view) or view.__name__
    summary, _, description = doc.partition("\n")
    access = {
        "public": "No key needed.",
        ADMIN: "Needs the admin key (or a signed-in admin session) when keys are configured.",
        RECOGNIZE: "Needs the recognize or admin key (or a signed-in session) when keys are configured.",
        "gallery": "Lists the gallery: needs the admin key when keys are configured (the recognize key too when "
        "the server sets FACEPRINT_RECOGNIZE_CAN_LIST).",
    }[role]
    result: dict[str, Any] = {
        "summary": summary.strip(),
        "description": f"{description.strip()}\n\n{access}".strip(),
        "operationId": view.__name__,
        "tags": [spec.get("tag", "faces")],
        "responses": {"default": {"$ref": "#/components/responses/Error"}},
    }
    if role != "public":
        result["security"] = [{"ApiKey": []}, {"Bearer": []}, {}]
    content = {}
    if spec.get("form"):
        content["multipart/form-data"] = _content(spec["form"])
    if spec.get("json"):
        content["application/json"] = _content(spec["json"])
    if content:
        result["requestBody"] = {"required": True, "content": content}
    status = str(spec.get("status", 200))
    if spec.get("produces"):
        kind = spec["produces"]
        schema = {"type": "object"} if kind == "application/json" else {"type": "string", "format": "binary"}
        result["responses"][status] = {"description": "the document", "content": {kind: {"schema": schema}}}
    elif spec.get("response"):
        result["responses"][status] = {
            "description": "success",
            "content": {"application/json": _content(spec["response"])},
        }
    for code, (text, schema) in spec.get("extra", {}).items():
        result["responses"][str(code)] = {"description": text, "content": {"application/json": _content(schema)}}
    return result


def build_spec(app: Flask) -> dict:
    """The OpenAPI document of every ``api`` blueprint route of ``app``."""
    spec = APISpec(
        title="faceprint API",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[FlaskPlugin(), MarshmallowPlugin()],
        info={
            "description": "Detect, verify and recognise faces; manage the people enrolled in the gallery. "
            "Images are multipart files or base64 strings in JSON. Errors are "
            '{"error": {"code", "message"}} with a 4xx/5xx status.'
        },
    )
    spec.components.schema("Error", schema=schemas.ErrorResponse)
    spec.components.response("Error", {"description": "an error", "content": {"application/json": {"schema": "Error"}}})
    spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.security_scheme("Bearer", {"type": "http", "scheme": "bearer"})
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        role = getattr(view, "faceprint_role", RECOGNIZE)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": CONVERTER_TYPES.get(kind, CONVERTER_TYPES["default"]),
            }
            | (COLLECTION_PARAMETER if name == "collection" else {})
            for kind, name in _RULE_ARGUMENT.findall(rule.rule)
        ]
        operations = {method.lower(): _operation(view, role) for method in methods}
        spec.path(view=view, app=app, operations=operations, parameters=parameters or None)
    return spec.to_dict()
