"""Two real ``faceprint serve`` processes on one PostgreSQL gallery, as behind a load balancer: what is changed
through one is seen through the other at once (nothing is cached per process), a browser session opened on one
is honoured by the other (shared secret key and session store), and eight concurrent clients across both get
no errors.

Each server loads its own models (both start in parallel); the photos are small, and every request loop is
bounded in count and time."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gallery"))
from postgres_server import PostgresServer, ServerError, free_port

pytestmark = pytest.mark.slow

ADMIN_KEY = "admin-" + uuid.uuid4().hex
RECOGNIZE_KEY = "recognize-" + uuid.uuid4().hex
STARTUP_TIMEOUT_S = 300
VISIBLE_WITHIN_S = 1.0
LOAD_SECONDS = 10.0
LOAD_MAX_REQUESTS = 40  # per client
PERSON = "Barack Obama"


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"


def small_jpeg(path: Path, longest: int = 640) -> bytes:
    """The photo scaled down so that its longer side is at most ``longest`` pixels, as JPEG."""
    with Image.open(path) as original:
        image = original.convert("RGB")
    image.thumbnail((longest, longest))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gallery_url() -> Iterator[str]:
    """An empty database of a throw-away PostgreSQL + pgvector server (from the gallery tests' helper)."""
    try:
        server = PostgresServer()
        server.start()
    except (ServerError, OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"the PostgreSQL test server did not start: {error}", pytrace=False)
    try:
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=10) as admin:
            admin.execute('CREATE DATABASE "shared_gallery"')
        yield server.url("shared_gallery")
    finally:
        server.stop()


def start_server(name: str, gallery: str, env: dict[str, str], folder: Path) -> Server:
    port = free_port()
    log = folder / f"server-{name}.log"
    command = [sys.executable, "-m", "faceprint.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--gallery", gallery, "--threads", "8", "--no-access-log"]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def wait_until_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"server {server.name} exited ({server.process.returncode}):\n{server.log_text()}")
        try:
            if requests.get(f"{server.api}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server {server.name} did not start within {STARTUP_TIMEOUT_S} s:\n{server.log_text()}")


@pytest.fixture(scope="module")
def servers(gallery_url: str, tmp_path_factory) -> Iterator[tuple[Server, Server]]:
    """Servers A and B on one gallery: same keys, same secret key, one session store; rate limits off."""
    folder = tmp_path_factory.mktemp("two-servers")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FACEPRINT_")}
    if os.environ.get("FACEPRINT_DATASETS"):
        env["FACEPRINT_DATASETS"] = os.environ["FACEPRINT_DATASETS"]
    env.update(
        FACEPRINT_ADMIN_KEY=ADMIN_KEY,
        FACEPRINT_RECOGNIZE_KEY=RECOGNIZE_KEY,
        FACEPRINT_SECRET_KEY=uuid.uuid4().hex,
        FACEPRINT_SESSION_STORE=str(folder / "sessions.db"),
        FACEPRINT_RATE_LIMIT="off",
        FACEPRINT_INFERENCE_SLOTS="1",  # two servers share this machine's cores
    )
    both = [start_server(name, gallery_url, env, folder) for name in ("A", "B")]
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for server in both:
            wait_until_ready(server, deadline)
        yield both[0], both[1]
    finally:
        for server in both:
            server.process.terminate()
        for server in both:
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=30)


@pytest.fixture(scope="module")
def images(samples) -> dict[str, bytes]:
    people = samples / "people"
    return {
        "enroll": small_jpeg(people / "obama" / "obama.jpg"),
        "enroll_2": small_jpeg(people / "obama" / "obama-480p.jpg"),
        "query": small_jpeg(people / "obama" / "obama1.jpg"),
        "writer": small_jpeg(people / "biden" / "biden2.jpg", longest=480),
    }


ADMIN = {"X-API-Key": ADMIN_KEY}


def identities(server: Server, photo: bytes) -> list[str | None]:
    response = requests.post(
        f"{server.api}/recognize", files={"image": ("q.jpg", photo, "image/jpeg")}, headers=ADMIN, timeout=120
    )
    assert response.status_code == 200, (server.name, response.status_code, response.text)
    return [face["identity"] for face in response.json()["faces"]]


def listed(server: Server) -> list[str]:
    response = requests.get(f"{server.api}/people", headers=ADMIN, timeout=30)
    assert response.status_code == 200, (server.name, response.text)
    return [person["name"] for person in response.json()["people"]]


def visible_after(check, since: float, limit: float = VISIBLE_WITHIN_S) -> float:
    """Seconds from ``since`` until a request of ``check`` (started within ``limit``) saw the change."""
    while True:
        started = time.monotonic()
        if check():
            return started - since
        if started - since > limit:
            pytest.fail(f"the change was not seen within {limit} s", pytrace=False)
        time.sleep(0.05)


def test_enrolled_through_one_is_recognised_through_the_other(servers, images):
    a, b = servers
    assert identities(b, images["query"]) == [None]  # nobody enrolled yet: B warms its gallery state too
    files = [("images", (f"{i}.jpg", images[k], "image/jpeg")) for i, k in enumerate(("enroll", "enroll_2"))]
    enrolled = requests.post(f"{a.api}/people", data={"name": PERSON}, files=files, headers=ADMIN, timeout=120)
    assert enrolled.status_code == 201, enrolled.text
    since = time.monotonic()
    lag = visible_after(lambda: identities(b, images["query"]) == [PERSON], since)
    assert lag <= VISIBLE_WITHIN_S
    assert PERSON in listed(b)
    assert requests.get(f"{b.api}/people/{PERSON}/thumbnail", headers=ADMIN, timeout=30).status_code == 200


def test_renamed_and_deleted_through_one_is_gone_through_the_other(servers, images):
    a, b = servers
    if PERSON not in listed(a):
        files = {"images": ("e.jpg", images["enroll_2"], "image/jpeg")}
        assert requests.post(f"{a.api}/people", data={"name": PERSON}, files=files, headers=ADMIN).status_code == 201
    assert identities(a, images["query"]) == [PERSON]  # A's threshold and lists reflect the person now

    renamed = requests.patch(f"{b.api}/people/{PERSON}", json={"name": "Renamed"}, headers=ADMIN, timeout=30)
    assert renamed.status_code == 200, renamed.text
    since = time.monotonic()
    visible_after(lambda: identities(a, images["query"]) == ["Renamed"], since)
    assert "Renamed" in listed(a) and PERSON not in listed(a)
    assert requests.get(f"{a.api}/people/{PERSON}", headers=ADMIN, timeout=30).status_code == 404

    deleted = requests.delete(f"{b.api}/people/Renamed", headers=ADMIN, timeout=30)
    assert deleted.status_code == 200, deleted.text
    since = time.monotonic()
    visible_after(lambda: identities(a, images["query"]) == [None], since)
    assert listed(a) == []
    assert requests.get(f"{a.api}/people/Renamed/thumbnail", headers=ADMIN, timeout=30).status_code == 404


def test_a_session_signed_in_on_one_server_works_on_the_other(servers):
    a, b = servers
    browser = requests.Session()
    form = browser.get(f"{a.url}/signin", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token, form.text[:500]
    signed_in = browser.post(
        f"{a.url}/signin", data={"key": ADMIN_KEY, "csrf_token": token.group(1)}, allow_redirects=False, timeout=30
    )
    assert signed_in.status_code in (302, 303), signed_in.text[:500]
    assert browser.get(f"{b.api}/people", timeout=30).status_code == 200  # no key: the session from A
    page = browser.get(f"{b.url}/", timeout=30)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf, page.text[:500]
    signed_out = browser.post(f"{a.url}/signout", data={"csrf_token": csrf.group(1)}, allow_redirects=False)
    assert signed_out.status_code in (302, 303)
    assert browser.get(f"{b.api}/people", timeout=30).status_code == 401  # signing out on A ends it on B too


def test_eight_clients_across_both_servers_get_no_errors(servers, images):
    """Six clients recognise and list people, two enroll and delete a person of their own (each through one
    server, checked through the other), for about ten seconds: every answer is right, none is an error."""
    a, b = servers
    files = {"images": ("e.jpg", images["enroll_2"], "image/jpeg")}
    enrolled = requests.post(f"{a.api}/people", data={"name": PERSON}, files=files, headers=ADMIN, timeout=120)
    assert enrolled.status_code == 201, enrolled.text
    stop = time.monotonic() + LOAD_SECONDS
    problems: list[str] = []
    counts = {"requests": 0, "5xx": 0}
    lock = threading.Lock()

    def note(response: requests.Response, ok: bool, what: str) -> None:
        with lock:
            counts["requests"] += 1
            counts["5xx"] += response.status_code >= 500
            if not ok:
                problems.append(f"{what}: {response.status_code} {response.text[:200]}")

    def reader(server: Server) -> None:
        session = requests.Session()
        session.headers.update(ADMIN)
        for index in range(LOAD_MAX_REQUESTS):
            if time.monotonic() > stop:
                return
            if index % 2:
                response = session.get(f"{server.api}/people", timeout=60)
                note(response, response.status_code == 200 and PERSON in response.text, f"list {server.name}")
            else:
                photo = ("q.jpg", images["query"], "image/jpeg")
                response = session.post(f"{server.api}/recognize", files={"image": photo}, timeout=120)
                ok = response.status_code == 200 and [f["identity"] for f in response.json()["faces"]] == [PERSON]
                note(response, ok, f"recognize {server.name}")

    def writer(number: int, server: Server, other: Server) -> None:
        session = requests.Session()
        session.headers.update(ADMIN)
        name = f"Writer {number}"
        for _ in range(LOAD_MAX_REQUESTS // 4):
            if time.monotonic() > stop:
                return
            photo = {"images": ("w.jpg", images["writer"], "image/jpeg")}
            response = session.post(f"{server.api}/people", data={"name": name}, files=photo, timeout=120)
            note(response, response.status_code == 201, f"enroll {server.name}")
            response = session.get(f"{other.api}/people/{name}", timeout=60)
            note(response, response.status_code == 200, f"read {other.name}")
            response = session.delete(f"{other.api}/people/{name}", timeout=60)
            note(response, response.status_code == 200, f"delete {other.name}")
            response = session.get(f"{server.api}/people/{name}", timeout=60)
            note(response, response.status_code == 404, f"gone {server.name}")

    clients = [threading.Thread(target=reader, args=(server,)) for server in (a, b, a, b, a, b)]
    clients += [threading.Thread(target=writer, args=(1, a, b)), threading.Thread(target=writer, args=(2, b, a))]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=300)
    assert not any(client.is_alive() for client in clients)
    assert counts["5xx"] == 0 and not problems, (counts, problems[:5], a.log_text()[-1500:], b.log_text()[-1500:])
    assert counts["requests"] >= 16, counts
    assert listed(a) == [PERSON] == listed(b)
