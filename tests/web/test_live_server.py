"""The app under the real waitress server that ``faceprint serve`` builds, on 127.0.0.1: small requests stay fast
while a heavy enrollment runs, slow clients do not exhaust it, and its own errors (a body over the limit) are JSON."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import requests
from PIL import Image
from web_settings import ISOLATED

from faceprint.web import create_app
from faceprint.web.app import SCHEDULER_EXTENSION, warm_up
from faceprint.web.serve import make_server

SMALL_REQUEST_LIMIT_S = 2.0


@contextlib.contextmanager
def serving(recognizer, **settings) -> Iterator[tuple[str, object]]:
    """(base URL, app) of the app served by waitress as ``faceprint serve`` does, on a free loopback port."""
    app = create_app({**ISOLATED, "RECOGNIZER": recognizer, **settings})
    server = make_server(app, host="127.0.0.1", port=0, threads=16)
    thread = threading.Thread(target=server.run, name="faceprint-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", app
    finally:
        server.close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live(recognizer) -> Iterator[tuple[str, object]]:
    warm_up(recognizer, celebrity=False)
    with serving(recognizer) as served:
        yield served


@pytest.fixture(scope="module")
def small_limit(recognizer) -> Iterator[tuple[str, object]]:
    with serving(recognizer, FACEPRINT_MAX_UPLOAD_MB=1) as served:
        yield served


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def test_a_body_over_the_limit_is_refused_by_the_server_in_json(small_limit):
    url, _ = small_limit
    big = b"x" * (2 * 1024 * 1024)
    response = requests.post(f"{url}/api/v1/detect", files={"image": ("big.jpg", big)}, timeout=30)
    assert response.status_code == 413 and response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": "the request body is larger than the 1 MB limit",
    }
    chunks = (b"y" * 65536 for _ in range(40))  # no Content-Length: chunked, counted as it arrives
    chunked = requests.post(f"{url}/api/v1/detect", data=chunks, timeout=30)
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"


def test_a_malformed_request_line_is_a_json_400(live):
    url, _ = live
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n")
        received = b""
        while chunk := connection.recv(65536):  # the server closes the connection after an error
            received += chunk
        answer = received.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 400") and '"code": "invalid_request"' in answer


def test_small_requests_are_answered_while_a_heavy_enrollment_runs(live, photos):
    """Ten big photos in one enrollment take several seconds; a detect at the same time waits for none of it."""
    url, app = live
    scheduler = app.extensions[SCHEDULER_EXTENSION]
    assert scheduler.slots >= 2
    with Image.open(photos["obama"]) as original:
        base = original.convert("RGB")
    big = [jpeg(base.resize((3200 + 16 * i, 2400 + 12 * i))) for i in range(10)]  # ~8 MP each, all different
    small = np.asarray(base.resize((320, 240)))
    outcome: dict[str, object] = {}

    def enroll() -> None:
        files = [("images", (f"big{i}.jpg", data, "image/jpeg")) for i, data in enumerate(big)]
        started = time.perf_counter()
        response = requests.post(f"{url}/api/v1/people", data={"name": "Heavy"}, files=files, timeout=300)
        outcome["enroll"] = (response.status_code, time.perf_counter() - started)

    heavy = threading.Thread(target=enroll)
    heavy.start()
    deadline = time.monotonic() + 60
    while scheduler.stats().heavy_running == 0 and heavy.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    latencies, overlapped = [], 0
    for index in range(4):
        pixels = small.copy()
        pixels[0, 0] = (index, 0, 0)  # a new photo each time: nothing answered from a cache
        started = time.perf_counter()
        response = requests.post(f"{url}/api/v1/detect", files={"image": ("s.jpg", jpeg(Image.fromarray(pixels)))})
        latencies.append(time.perf_counter() - started)
        overlapped += scheduler.stats().heavy_running
        assert response.status_code == 200, response.text
        health = time.perf_counter()
        assert requests.get(f"{url}/api/v1/health", timeout=10).status_code == 200
        latencies.append(time.perf_counter() - health)
    heavy.join(timeout=300)
    status, heavy_s = outcome["enroll"]
    assert status == 201, outcome
    assert overlapped >= 1, f"the enrollment ({heavy_s:.1f} s) ended before the small requests ran"
    assert max(latencies) < SMALL_REQUEST_LIMIT_S, (latencies, heavy_s)
    requests.delete(f"{url}/api/v1/people/Heavy", timeout=30)


def test_slow_clients_do_not_exhaust_the_server(live):
    """Slowloris: 150 connections that send headers (and one a body) a byte at a time; others are still served."""
    url, _ = live
    host, port = url.removeprefix("http://").split(":")
    slow: list[socket.socket] = []
    try:
        for index in range(150):
            connection = socket.create_connection((host, int(port)), timeout=10)
            if index % 2:
                connection.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                connection.sendall(
                    b"POST /api/v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                    b"Content-Length: 900000\r\n\r\n\xff\xd8"
                )
            slow.append(connection)
        for _ in range(3):
            for connection in slow:
                connection.sendall(b"a")
            started = time.perf_counter()
            assert requests.get(f"{url}/api/v1/health", timeout=10).status_code == 200
            assert time.perf_counter() - started < SMALL_REQUEST_LIMIT_S
            time.sleep(0.2)
    finally:
        for connection in slow:
            connection.close()
