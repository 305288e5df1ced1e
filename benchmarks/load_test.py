"""Load test of the web app: ``faceprint serve`` (waitress) in a subprocess with a temporary gallery holding one
enrolled person and rate limits off; 1, 8, then 32 concurrent clients post a 640x480 one-face photo to
``/api/v1/recognize`` for a fixed time each (throughput, p50/p95, errors and 5xx). Then a heavy enrollment (ten
~8-megapixel photos) runs while one client sends small detects and health checks: their latency shows whether
small requests wait for big ones. Writes benchmarks/results/load_test.json.

    PYTHONPATH=. .venv/bin/python -m benchmarks.load_test --seconds 20
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


def start_server(gallery: str, port: int, threads: int | None, slots: int | None, log: Path) -> subprocess.Popen:
    """``faceprint serve`` on loopback; returns once it answers /health (models loaded and warmed up)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPRINT_") or k == "FACEPRINT_DATASETS"}
    env["FACEPRINT_RATE_LIMIT"] = "off"
    if slots:
        env["FACEPRINT_INFERENCE_SLOTS"] = str(slots)
    command = [sys.executable, "-m", "faceprint.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--gallery", gallery] + (["--threads", str(threads)] if threads else [])
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
    server_errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        nonlocal server_errors
        session = requests.Session()
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                response = session.post(url, files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=120)
                ok = response.status_code == 200 and response.json()["faces"][0]["identity"] == PERSON
                problem = None if ok else f"{response.status_code}: {response.text[:200]}"
                if response.status_code >= 500:
                    with lock:
                        server_errors += 1
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
        "server_errors_5xx": server_errors,
        "error_examples": sorted(set(errors))[:3],
        "throughput_rps": round(len(latencies) / wall, 2),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
    }


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def heavy_enrollment_with_small_requests(base: str, people: Path, small: np.ndarray) -> dict:
    """A ten-photo enrollment of ~8-megapixel photos; meanwhile one client sends small detects (a new 320x240
    photo each time) and health checks back to back, until the enrollment ends (at most 5 minutes)."""
    with Image.open(people / ENROLL[0]) as original:
        base_image = original.convert("RGB")
    big = []
    for i in range(10):
        buffer = io.BytesIO()
        base_image.resize((3200 + 16 * i, 2400 + 12 * i)).save(buffer, format="JPEG", quality=85)
        big.append(buffer.getvalue())
    outcome: dict = {}

    def enroll() -> None:
        files = [("images", (f"big{i}.jpg", data, "image/jpeg")) for i, data in enumerate(big)]
        started = time.perf_counter()
        response = requests.post(f"{base}/people", data={"name": "Heavy"}, files=files, timeout=600)
        outcome.update(status=response.status_code, seconds=time.perf_counter() - started)

    thread = threading.Thread(target=enroll)
    thread.start()
    time.sleep(0.5)  # the upload is on its way
    detect, health, statuses = [], [], []
    deadline = time.monotonic() + 300
    index = 0
    while thread.is_alive() and time.monotonic() < deadline:
        pixels = small.copy()
        pixels[0, 0] = (index % 256, index // 256 % 256, 0)
        index += 1
        started = time.perf_counter()
        response = requests.post(f"{base}/detect", files={"image": ("s.jpg", jpeg(pixels))}, timeout=120)
        detect.append((time.perf_counter() - started) * 1000)
        statuses.append(response.status_code)
        started = time.perf_counter()
        statuses.append(requests.get(f"{base}/health", timeout=120).status_code)
        health.append((time.perf_counter() - started) * 1000)
    thread.join()
    requests.delete(f"{base}/people/Heavy", timeout=60)
    return {
        "enrollment_status": outcome.get("status"),
        "enrollment_s": round(outcome.get("seconds", 0.0), 1),
        "enrollment_megapixels": round(sum((3200 + 16 * i) * (2400 + 12 * i) for i in range(10)) / 1e6, 1),
        "small_detects": len(detect),
        "detect_p50_ms": percentile(detect, 50),
        "detect_p95_ms": percentile(detect, 95),
        "detect_max_ms": round(max(detect), 1) if detect else None,
        "health_p95_ms": percentile(health, 95),
        "health_max_ms": round(max(health), 1) if health else None,
        "non_2xx": sum(1 for status in statuses if status >= 300),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each run (default 20)")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients of each run (default 1,8,32)")
    parser.add_argument("--threads", type=int, default=None, help="waitress threads (default: faceprint serve's)")
    parser.add_argument("--slots", type=int, default=None, help="FACEPRINT_INFERENCE_SLOTS (default: the app's)")
    parser.add_argument("--no-heavy", action="store_true", help="skip the heavy-enrollment run")
    args = parser.parse_args()
    client_counts = [int(count) for count in args.clients.split(",")]

    people = DATASETS / "samples" / "people" / "obama"
    photo = jpeg(photo_640x480(people / QUERY))
    with tempfile.TemporaryDirectory(prefix="faceprint-load-") as folder:
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        log = Path(folder) / "server.log"
        started = time.perf_counter()
        server = start_server(f"sqlite:///{Path(folder) / 'gallery.db'}", port, args.threads, args.slots, log)
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
            for clients in client_counts:
                print(f"{clients} client(s) for {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
                runs.append(run_clients(f"{base}/recognize", photo, clients, args.seconds))
                print(runs[-1], file=sys.stderr, flush=True)
            heavy = None
            if not args.no_heavy:
                print("heavy enrollment with small requests ...", file=sys.stderr, flush=True)
                small = np.asarray(Image.fromarray(photo_640x480(people / QUERY)).resize((320, 240)))
                heavy = heavy_enrollment_with_small_requests(base, people, small)
                print(heavy, file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "what": "POST /api/v1/recognize, a 640x480 JPEG with one face, gallery of 1 person (2 photos)",
        "server": (
            f"faceprint serve (waitress, {args.threads or 'default'} threads, "
            f"{args.slots or 'default'} inference slots), rate limit off"
        ),
        "photo": f"samples/people/obama/{QUERY} cropped to 4:3 and resized to 640x480 ({len(photo)} bytes)",
        "startup_s": round(startup_s, 1),
        "runs": runs,
        "heavy_enrollment": heavy,
        "note": "taken on a shared 2-core machine while other work ran; compare runs from the same session only",
    }
    path = write_result("load_test", result)
    for run in runs:
        print(
            f"{run['clients']} client(s): {run['requests']} requests, {run['errors']} errors "
            f"({run['server_errors_5xx']} 5xx), {run['throughput_rps']} req/s, p50 {run['p50_ms']} ms, "
            f"p95 {run['p95_ms']} ms"
        )
    if heavy:
        print(
            f"during a {heavy['enrollment_megapixels']} MP enrollment ({heavy['enrollment_s']} s): "
            f"{heavy['small_detects']} small detects, p95 {heavy['detect_p95_ms']} ms, "
            f"max {heavy['detect_max_ms']} ms; "
            f"health max {heavy['health_max_ms']} ms; {heavy['non_2xx']} non-2xx"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
