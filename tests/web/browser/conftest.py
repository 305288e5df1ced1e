"""Real-browser fixtures: the real app under waitress on a free loopback port, Debian's Chromium driven by
Playwright, one set of loaded models for the whole session.

Set ``FACEPRINT_WEB_SCREENSHOTS=1`` to also write the documentation screenshots ``docs/images/web-*.png``."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from web_settings import ISOLATED

from faceprint import FaceRecognizer
from faceprint.web import create_app
from faceprint.web.app import warm_up

CHROMIUM = Path(os.environ.get("FACEPRINT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--mute-audio",
]
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"
DOCS_WIDTH = 1000
TIMEOUT_MS = 30_000  # page actions; waits for a recognition on two shared CPU cores pass their own, longer limit

ADMIN_KEY = "browser-admin-key-0123456789abcdef"
RECOGNIZE_KEY = "browser-recognize-key-0123456789abcdef"


@dataclass
class LiveServer:
    """A running app: its base URL and the waitress server to close."""

    url: str
    server: object
    thread: threading.Thread

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=10)


def start_server(recognizer: FaceRecognizer, **settings) -> LiveServer:
    """The real app over ``recognizer`` under waitress, on 127.0.0.1 and a free port, in a background thread."""
    from faceprint.web.serve import make_server

    app = create_app({**ISOLATED, "RECOGNIZER": recognizer, **settings})
    server = make_server(app, host="127.0.0.1", port=0, threads=8)  # as ``faceprint serve`` runs it
    thread = threading.Thread(target=server.run, name="faceprint-live-server", daemon=True)
    thread.start()
    return LiveServer(f"http://127.0.0.1:{server.effective_port}", server, thread)


@pytest.fixture(scope="session")
def live_recognizer(pipeline, tmp_path_factory) -> FaceRecognizer:
    """A recognizer on the session's loaded models, with its own SQLite gallery, warmed up before any page test."""
    gallery = f"sqlite:///{tmp_path_factory.mktemp('browser-gallery') / 'gallery.db'}"
    recognizer = FaceRecognizer(gallery=gallery, pipeline=pipeline)
    warm_up(recognizer)
    return recognizer


@pytest.fixture(scope="session")
def server(live_recognizer) -> Iterator[str]:
    """Base URL of the app that every page test uses (one gallery for the session)."""
    live = start_server(live_recognizer)
    yield live.url
    live.close()


@pytest.fixture(scope="session")
def keyed_server(live_recognizer) -> Iterator[str]:
    """Base URL of an app over the session's gallery that needs API keys (pages ask visitors to sign in)."""
    live = start_server(live_recognizer, FACEPRINT_ADMIN_KEY=ADMIN_KEY, FACEPRINT_RECOGNIZE_KEY=RECOGNIZE_KEY)
    yield live.url
    live.close()


@pytest.fixture(scope="session")
def empty_server(pipeline, tmp_path_factory) -> Iterator[str]:
    """Base URL of a second app over the same models with a gallery nobody is enrolled in."""
    gallery = f"sqlite:///{tmp_path_factory.mktemp('empty-gallery') / 'gallery.db'}"
    live = start_server(FaceRecognizer(gallery=gallery, pipeline=pipeline))
    yield live.url
    live.close()


@pytest.fixture(scope="session")
def playwright_driver():
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (make browser)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as driver:
        yield driver


def launch(driver, *extra_args: str):
    """Debian's Chromium, headless, with everything that would reach the network switched off."""
    return driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = launch(playwright_driver)
    yield browser
    browser.close()


def new_page(browser, base_url: str, width: int = DOCS_WIDTH, height: int = 760):
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: _console_error(page, message))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    return page


def _console_error(page, message) -> None:
    """Keep script errors and CSP violations; a 4xx answer that a page shows as a message is expected."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        page.console_errors.append(message.text)


@pytest.fixture
def page(browser, server):
    """A fresh browser tab (own cookies) on the session's app; fails the test on any script or CSP error."""
    page = new_page(browser, server)
    yield page
    errors = list(page.console_errors)
    page.context.close()
    assert not errors, f"errors in the browser console: {errors}"


@pytest.fixture
def api(playwright_driver, server):
    """Plain HTTP calls to the app's JSON API (no browser session), to set up and check state."""
    context = playwright_driver.request.new_context(base_url=server)
    yield context
    context.dispose()


def enroll(api, name: str, *photos: Path) -> None:
    """Enroll ``name`` through the API (re-enrolling a photo already stored changes nothing)."""
    for photo in photos:
        image = {"name": photo.name, "mimeType": "image/jpeg", "buffer": photo.read_bytes()}
        response = api.post("/api/v1/people", multipart={"name": name, "images": image})
        assert response.status == 201, response.text()


@pytest.fixture
def screenshot(tmp_path):
    """``screenshot(page_or_element, name, **options)``: save a PNG in the test's tmp dir, and with
    FACEPRINT_WEB_SCREENSHOTS=1 also a small copy as ``docs/images/web-<name>.png``."""

    def take(target, name: str, **options) -> Path:
        path = tmp_path / f"{name}.png"
        target.screenshot(path=str(path), animations="disabled", **options)
        if os.environ.get("FACEPRINT_WEB_SCREENSHOTS") == "1":
            save_docs_image(path, DOCS_IMAGES / f"web-{name}.png")
        return path

    return take


def save_docs_image(source: Path, target: Path) -> None:
    """A compact PNG for the docs: at most DOCS_WIDTH wide, palette colours."""
    image = Image.open(source).convert("RGB")
    if image.width > DOCS_WIDTH:
        image = image.resize((DOCS_WIDTH, round(image.height * DOCS_WIDTH / image.width)), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        target, optimize=True
    )
