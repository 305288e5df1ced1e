"""The interactive API documentation: a page of the site (linked from the navigation) that runs Swagger UI from
files this server serves, under the same strict Content-Security-Policy, with no inline script."""

from __future__ import annotations

import re

import pytest
from web_helpers import csrf_token

from faceprint.web.security import CONTENT_SECURITY_POLICY


def test_docs_page_runs_swagger_ui_from_this_server(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = response.get_data(as_text=True)
    assert '<h1>faceprint API <small class="version">' in html
    assert 'id="swagger-ui"' in html
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all('src="/' in tag for tag in scripts), scripts  # every script is a file of this server
    assert "<script>" not in html and not re.search(r"<[^>]*\son[a-z]+=", html)  # no inline script or handler
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from another site
    for asset in ("/api/v1/docs/assets/swagger-ui-bundle.js", "/api/v1/docs/assets/swagger-ui.css"):
        assert asset in html
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.data) > 10_000
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").mimetype == "text/javascript"
    assert client.get("/api/v1/docs/assets/swagger-ui.css").mimetype == "text/css"
    assert "Swagger UI v5" in html


@pytest.mark.parametrize("name", ["index.html", "../flask_swagger_ui.py", "swagger-ui.js.map", "%2e%2e%2fLICENSE"])
def test_only_the_named_assets_are_served(client, name):
    assert client.get(f"/api/v1/docs/assets/{name}").status_code == 404


@pytest.mark.parametrize("path", ["/", "/enroll", "/recognize", "/api/v1/docs"])
def test_docs_are_linked_from_the_navigation(client, path):
    html = client.get(path).get_data(as_text=True)
    nav = html[html.index('<nav class="nav"') : html.index("</nav>")]
    link = re.search(r'<a href="/api/v1/docs"([^>]*)>API</a>', nav)
    assert link, nav
    assert ('aria-current="page"' in link.group(1)) == (path == "/api/v1/docs")


def test_docs_and_their_assets_need_no_sign_in_on_a_server_with_keys(make_app):
    client = make_app(FACEPRINT_ADMIN_KEY="docs-admin-key-0123456789", FACEPRINT_RECOGNIZE_KEY="docs-rec-0123456789")
    client = client.test_client()
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/v1/docs/assets/swagger-ui.css").status_code == 200
    assert client.get("/enroll").status_code == 302  # the pages still ask for a key


def test_the_openapi_document_does_not_list_the_assets(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/docs" in paths
    assert not [path for path in paths if "assets" in path]


def test_try_it_out_posts_pass_the_csrf_check_with_the_page_token(client, photos):
    """What the page's request interceptor does: a browser post with the session and the page's token header."""
    token = csrf_token(client, "/api/v1/docs")
    response = client.post(
        "/api/v1/detect",
        data={"image": (photos["obama"].open("rb"), "obama.jpg")},
        headers={"X-CSRFToken": token, "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200, response.get_json()
    refused = client.post(
        "/api/v1/detect",
        data={"image": (photos["obama"].open("rb"), "obama.jpg")},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert refused.status_code == 400
