"""Load test of the web app: ``faceprint serve`` (waitress) in a subprocess with a temporary gallery holding one
enrolled person and rate limits off; 1 client, then 8 concurrent clients post a 640x480 one-face photo to
``/api/v1/recognize`` for a fixed time each. Writes benchmarks/results/load_test.json.

    PYTHONPATH=. .venv/bin/python -m benchmarks.load_test --seconds 60
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from benchmarks.common import DATASETS, photo_640x480, write_result

ENROLL = ("obama.jpg", "obama-480p.jpg")
QUERY = "obama1.jpg"
PERSON = "Barack Obama"
STARTUP_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def start_server(gallery: str, port: int, threads: int, log: Path) -> subprocess.Popen:
    """``faceprint serve`` on loopback; returns once it answers /health (models loaded and warmed up)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPRINT_") or k == "FACEPRINT_DATASETS"}
    env["FACEPRINT_RATE_LIMIT"] = "off"
    command = [sys.executable, "-m", "faceprint.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--gallery", gallery, "--threads", str(threads)]
    server = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(1)
    server.terminate()
    raise SystemExit(f"the server did not start within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


def run_clients(url: str, photo: bytes, clients: int, seconds: float) -> dict:
    """``clients`` threads posting the photo back to back for ``seconds``; latency percentiles of the successes."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                response = session.post(url, files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=120)
                ok = response.status_code == 200 and response.json()["faces"][0]["identity"] == PERSON
                problem = None if ok else f"{response.status_code}: {response.text[:200]}"
            except (requests.RequestException, ValueError, KeyError, IndexError) as error:
                problem = f"{type(error).__name__}: {error}"
            elapsed = (time.perf_counter() - started) * 1000.0
            with lock:
                if problem is None:
                    latencies.append(elapsed)
                else:
                    errors.append(problem)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "throughput_rps": round(len(latencies) / wall, 2),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of each run (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the second run (default 8)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (default 8)")
    args = parser.parse_args()

    people = DATASETS / "samples" / "people" / "obama"
    photo = jpeg(photo_640x480(people / QUERY))
    with tempfile.TemporaryDirectory(prefix="faceprint-load-") as folder:
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        log = Path(folder) / "server.log"
        started = time.perf_counter()
        server = start_server(f"sqlite:///{Path(folder) / 'gallery.db'}", port, args.threads, log)
        startup_s = time.perf_counter() - started
        try:
            files = [("images", (name, (people / name).read_bytes(), "image/jpeg")) for name in ENROLL]
            enrolled = requests.post(f"{base}/people", data={"name": PERSON}, files=files, timeout=300)
            if enrolled.status_code != 201:
                raise SystemExit(f"enrollment failed: {enrolled.status_code} {enrolled.text}")
            check = requests.post(f"{base}/recognize", files={"image": ("photo.jpg", photo)}, timeout=120).json()
            if [face["identity"] for face in check["faces"]] != [PERSON]:
                raise SystemExit(f"the load-test photo must show exactly the enrolled person once: {check}")
            runs = []
            for clients in (1, args.clients):
                print(f"{clients} client(s) for {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
                runs.append(run_clients(f"{base}/recognize", photo, clients, args.seconds))
                print(runs[-1], file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "what": "POST /api/v1/recognize, a 640x480 JPEG with one face, gallery of 1 person (2 photos)",
        "server": f"faceprint serve (waitress, {args.threads} threads, inference serialised), rate limit off",
        "photo": f"samples/people/obama/{QUERY} cropped to 4:3 and resized to 640x480 ({len(photo)} bytes)",
        "startup_s": round(startup_s, 1),
        "runs": runs,
        "note": "taken on a shared 2-core machine while other work ran; compare runs from the same session only",
    }
    path = write_result("load_test", result)
    for run in runs:
        print(
            f"{run['clients']} client(s): {run['requests']} requests, {run['errors']} errors, "
            f"{run['throughput_rps']} req/s, p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
