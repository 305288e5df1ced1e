"""Load test of two app servers on one PostgreSQL gallery: two ``faceprint serve`` processes (waitress, rate limits
off) on a throw-away PostgreSQL 16 + pgvector server (the ``pgserver`` wheel, as in the tests), one person
enrolled through server A. Then 8 concurrent clients post a 640x480 one-face photo to ``/api/v1/recognize``:
first all through server A, then split across A and B (throughput, p50/p95, errors and 5xx; an answer that does
not name the person counts as an error). Last, how soon a change made through one server is seen through the
other: a person enrolled through A is read through B, deleted through B and gone through A, several times.
Writes benchmarks/results/load_two_servers.json.

    PYTHONPATH=. .venv/bin/python -m benchmarks.load_two_servers --seconds 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import requests

from benchmarks.common import DATASETS, photo_640x480, write_result
from benchmarks.load_test import ENROLL, PERSON, QUERY, free_port, jpeg, start_server

REPO = Path(__file__).resolve().parents[1]


def run_clients(urls: list[str], photo: bytes, clients: int, seconds: float) -> dict:
    """``clients`` threads, client ``i`` posting to ``urls[i % len(urls)]`` back to back for ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    per_server = dict.fromkeys(urls, 0)
    server_errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(url: str) -> None:
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
                    per_server[url] += 1
                else:
                    errors.append(problem)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(urls[i % len(urls)],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "servers": len(urls),
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies) + len(errors),
        "answered_per_server": list(per_server.values()),
        "errors": len(errors),
        "server_errors_5xx": server_errors,
        "error_examples": sorted(set(errors))[:3],
        "throughput_rps": round(len(latencies) / wall, 2),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
    }


def propagation(a: str, b: str, photo: bytes, rounds: int) -> dict:
    """Enroll through A, then read through B; delete through B, then read through A: milliseconds from the
    write's answer until the other server's answer showed it, and how many reads it took (1 = the first)."""
    seen, gone, reads = [], [], []
    for index in range(rounds):
        name = f"Probe {index}"
        files = {"images": ("p.jpg", photo, "image/jpeg")}
        response = requests.post(f"{a}/people", data={"name": name}, files=files, timeout=120)
        if response.status_code != 201:
            raise SystemExit(f"enrolling {name} through A failed: {response.status_code} {response.text}")
        for where, expected, into, write in (
            (b, 200, seen, None),
            (a, 404, gone, lambda n=name: requests.delete(f"{b}/people/{n}", timeout=60)),
        ):
            if write is not None and write().status_code != 200:
                raise SystemExit(f"deleting {name} through B failed")
            since, count = time.perf_counter(), 0
            while True:
                count += 1
                if requests.get(f"{where}/people/{name}", timeout=60).status_code == expected:
                    break
                if time.perf_counter() - since > 5:
                    raise SystemExit(f"{name}: the change was not seen through the other server within 5 s")
            into.append((time.perf_counter() - since) * 1000)
            reads.append(count)
    return {
        "rounds": rounds,
        "enrolled_on_a_seen_on_b_max_ms": round(max(seen), 1),
        "deleted_on_b_gone_on_a_max_ms": round(max(gone), 1),
        "reads_needed_max": max(reads),
    }


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 0)
    except OSError:
        pass
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each run (default 20)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--threads", type=int, default=None, help="waitress threads (default: faceprint serve's)")
    parser.add_argument("--slots", type=int, default=None, help="FACEPRINT_INFERENCE_SLOTS per server")
    parser.add_argument("--rounds", type=int, default=5, help="enroll/delete rounds of the propagation check")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "gallery"))
    from postgres_server import PostgresServer

    people = DATASETS / "samples" / "people" / "obama"
    photo = jpeg(photo_640x480(people / QUERY))
    database = PostgresServer()
    database.start()
    servers = []
    try:
        with psycopg.connect(database.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        gallery = database.url("bench")
        with tempfile.TemporaryDirectory(prefix="faceprint-load2-") as folder:
            started = time.perf_counter()
            ports = [free_port(), free_port()]
            for name, port in zip("AB", ports):
                log = Path(folder) / f"server-{name}.log"
                servers.append(start_server(gallery, port, args.threads, args.slots, log))
            startup_s = time.perf_counter() - started
            a, b = (f"http://127.0.0.1:{port}/api/v1" for port in ports)
            files = [("images", (name, (people / name).read_bytes(), "image/jpeg")) for name in ENROLL]
            enrolled = requests.post(f"{a}/people", data={"name": PERSON}, files=files, timeout=300)
            if enrolled.status_code != 201:
                raise SystemExit(f"enrollment failed: {enrolled.status_code} {enrolled.text}")
            for base in (a, b):
                check = requests.post(f"{base}/recognize", files={"image": ("p.jpg", photo)}, timeout=120).json()
                if [face["identity"] for face in check["faces"]] != [PERSON]:
                    raise SystemExit(f"{base} does not name the person enrolled through A: {check}")
            runs = []
            for urls in ([f"{a}/recognize"], [f"{a}/recognize", f"{b}/recognize"]):
                print(f"{args.clients} clients on {len(urls)} server(s), {args.seconds:.0f} s ...", file=sys.stderr)
                runs.append(run_clients(urls, photo, args.clients, args.seconds))
                print(runs[-1], file=sys.stderr, flush=True)
            probe = jpeg(photo_640x480(people / ENROLL[1]))
            visible = propagation(a, b, probe, args.rounds)
            print(visible, file=sys.stderr, flush=True)
            with psycopg.connect(gallery, autocommit=True) as connection:
                connections = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'faceprint'"
                ).fetchone()[0]
            memory = [rss_mb(server.pid) for server in servers]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        database.stop()
    result = {
        "what": (
            "POST /api/v1/recognize, a 640x480 JPEG with one face, PostgreSQL gallery of 1 person (2 photos) "
            "enrolled through server A; clients on A alone, then split across A and B"
        ),
        "servers": (
            f"2 x faceprint serve (waitress, {args.threads or 'default'} threads, {args.slots or 'default'} "
            "inference slots each), rate limit off, one PostgreSQL 16 + pgvector (pgserver wheel)"
        ),
        "startup_s": round(startup_s, 1),
        "runs": runs,
        "propagation": visible,
        "server_rss_mb": memory,
        "gallery_connections": connections,
        "note": "both servers and PostgreSQL share one machine: a second server adds no cores, only a second process",
    }
    path = write_result("load_two_servers", result)
    for run in runs:
        print(
            f"{run['clients']} clients on {run['servers']} server(s): {run['requests']} requests, "
            f"{run['errors']} errors ({run['server_errors_5xx']} 5xx), {run['throughput_rps']} req/s, "
            f"p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms"
        )
    print(
        f"change seen through the other server: enroll {visible['enrolled_on_a_seen_on_b_max_ms']} ms, "
        f"delete {visible['deleted_on_b_gone_on_a_max_ms']} ms at most (reads needed: {visible['reads_needed_max']})"
    )
    print(f"server memory (RSS): {memory} MB; gallery connections: {connections}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
