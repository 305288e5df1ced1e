"""Fault test: ``faceprint serve`` killed with SIGKILL while several clients enroll people; the SQLite gallery it
leaves is consistent: intact, every acknowledged enrollment present, every stored person recognisable."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from faceprint import FaceRecognizer

FOLDERS = ("obama", "biden", "rose_leslie", "kit_harington", "alex_lacamoire", "compreface_person_A")
STARTUP_TIMEOUT_S = 300
KILL_AFTER_ACKNOWLEDGED = 4
KILL_AFTER_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(gallery: str, port: int, log: Path) -> subprocess.Popen:
    """``faceprint serve`` on loopback in its own process; returns once /health answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPRINT_") or k == "FACEPRINT_DATASETS"}
    env["FACEPRINT_RATE_LIMIT"] = "off"
    command = [sys.executable, "-m", "faceprint.cli", "serve", "--port", str(port), "--gallery", gallery]
    server = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    server.kill()
    pytest.fail(f"the server did not start within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.mark.slow
def test_killing_the_server_during_enrollments_leaves_a_consistent_gallery(tmp_path, samples, pipeline):
    path = tmp_path / "gallery.db"
    url = f"sqlite:///{path}"
    port = free_port()
    server = start_server(url, port, tmp_path / "server.log")
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def client(folder: str) -> None:
        files = sorted((samples / "people" / folder).iterdir())
        for round_ in range(100):
            name = f"{folder} {round_}"
            upload = [("images", (f.name, f.read_bytes(), "image/jpeg")) for f in files]
            try:
                response = requests.post(
                    f"http://127.0.0.1:{port}/api/v1/people", data={"name": name}, files=upload, timeout=120
                )
            except requests.RequestException:
                return  # the server is gone
            if response.status_code == 201:
                with lock:
                    acknowledged[name] = response.json()["accepted"]
                    if len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED:
                        enough.set()

    clients = [threading.Thread(target=client, args=(folder,), daemon=True) for folder in FOLDERS]
    try:
        for thread in clients:
            thread.start()
        enough.wait(KILL_AFTER_S)
        os.kill(server.pid, signal.SIGKILL)  # mid-stream: other enrollments are being computed or written
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
    for thread in clients:
        thread.join(130)
    assert acknowledged, "no enrollment finished before the kill"

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    recognizer = FaceRecognizer(gallery=url, pipeline=pipeline)
    people = {person["name"]: person["photos"] for person in recognizer.people()}
    for name, accepted in acknowledged.items():
        assert people.get(name, 0) >= accepted, f"{name}: acknowledged {accepted} photos, stored {people.get(name)}"
    for name, count in people.items():
        assert count >= 1 and len(recognizer.photos(name)) == count, name
    for folder in {name.rsplit(" ", 1)[0] for name in people}:
        probe = sorted((samples / "people" / folder).iterdir())[0]
        faces = recognizer.recognize(probe)
        assert any((face["identity"] or "").startswith(folder) for face in faces), (folder, faces)
