"""The OpenAPI document is valid and describes the API: schema-based fuzzing of every operation (no 5xx, every
answer's status, content type and body as documented), run in-process against the app on the real models."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

MAX_EXAMPLES = 25
# A schema cannot say "a photo": schema-valid bytes are rarely a decodable image, and a 4xx for them is right.
NOT_APPLICABLE = [schemathesis.checks.positive_data_acceptance]
AMBIGUOUS = [schemathesis.checks.negative_data_rejection]


@pytest.fixture(scope="module")
def api_schema(app):
    def from_this_machine(environ, start_response):
        """What a server on 127.0.0.1 passes on (schemathesis's own client sets no client address)."""
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")
        return app(environ, start_response)

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", from_this_machine)


def test_the_document_is_valid_openapi_and_covers_every_endpoint(api_schema, app):
    api_schema.validate()  # against the OpenAPI 3.0 meta-schema
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.0")
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    documented = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
    assert {route.replace("<int:", "<") for route in routes} == documented
    recognize = document["paths"]["/api/v1/recognize"]["post"]
    assert set(recognize["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "identity" in document["components"]["schemas"]["RecognizedFace"]["properties"]


def test_the_docs_page_lists_every_operation(app):
    page = app.test_client().get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for operation in ("POST /api/v1/recognize", "DELETE /api/v1/people/{name}", "GET /api/v1/health"):
        assert operation in text
    assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_requests_never_fail_the_server_and_match_the_document(api_schema, mode):
    """Every operation with schema-valid (then schema-invalid) requests; at most MAX_EXAMPLES each."""
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            # Invalid multipart data is ambiguous (an empty list or null is no field at all, so the request is
            # valid after all): there only the server-error and conformance checks apply.
            ambiguous = case.media_type == "multipart/form-data" and mode is GenerationMode.NEGATIVE
            case.call_and_validate(excluded_checks=NOT_APPLICABLE + (AMBIGUOUS if ambiguous else []))

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to get wrong, e.g. a GET without parameters
        except (Exception, BaseExceptionGroup) as error:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


HOSTILE_HEADERS = [
    {"Host": "evil.example:8000"},
    {"Host": "127.0.0.1:" + "9" * 5000},
    {"Host": "[::1"},
    {"Host": ""},
    {"X-API-Key": "made-up"},
    {"X-API-Key": "x" * 10_000},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Content-Type": "multipart/form-data"},
    {"Content-Type": "multipart/form-data; boundary=" + "b" * 5000},
    {"Content-Type": "application/json; charset=utf-7"},
    {"Accept": "text/html"},
]
HOSTILE_BODIES = [
    ("application/json", b"[" * 100_000 + b"]" * 100_000),
    ("application/json", b'{"image": "x", "top": ' + b"9" * 5000 + b"}"),
    ("application/json", b'{"name": "\\u202eevil", "images": ["x"], "face": ' + b"1" * 5000 + b"}"),
    ("application/json", b'{"name": "..", "threshold": 1e999999}'),
    ("application/json", b"\xff\xfe"),
    ("application/x-www-form-urlencoded", b"&".join(b"f%d=x" % i for i in range(5000))),
    ("application/x-www-form-urlencoded", b"top=" + b"9" * 5000 + b"&threshold=" + b"9" * 5000),
    ("text/plain", b"hello"),
]


def _operations(app) -> list[tuple[str, str]]:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    filled = {"{name}": "Nobody", "{photo_id}": "1"}
    operations = []
    for path, methods in document["paths"].items():
        for placeholder, value in filled.items():
            path = path.replace(placeholder, value)
        operations += [(method.upper(), path) for method in methods]
    return operations


def test_hostile_headers_and_bodies_never_fail_the_server(app):
    """Every operation with the headers and bodies of the open-internet review: a 4xx in JSON, never a 5xx."""
    client = app.test_client()
    failures = []
    for method, path in _operations(app):
        cases = [(headers, None, None) for headers in HOSTILE_HEADERS]
        if method in ("POST", "PATCH"):
            cases += [({}, content_type, body) for content_type, body in HOSTILE_BODIES]
        for headers, content_type, body in cases:
            response = client.open(path, method=method, headers=headers, data=body, content_type=content_type)
            problem = response.status_code >= 500 or (response.status_code >= 400 and not response.is_json)
            if problem and not (headers.get("Accept") == "text/html" and response.mimetype == "text/html"):
                failures.append(f"{method} {path} {headers} {content_type}: {response.status_code}")
    assert not failures, "\n".join(failures)
