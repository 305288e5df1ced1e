"""What a PostgreSQL gallery's connections cost an app server: one small read on the thread's open connection (the
revision check every recognition makes) against opening a new connection, and how many connections 16 request
threads hold after 50 requests each.

    PYTHONPATH=. .venv/bin/python -m benchmarks.connections

Runs a throw-away PostgreSQL 16 + pgvector server; results go to benchmarks/results/connections.json."""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

from benchmarks.common import REPO, write_result

THREADS, REQUESTS = 16, 50


def median_ms(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    import psycopg

    from faceprint.gallery import open_gallery

    sys.path.insert(0, str(REPO / "tests" / "gallery"))
    from postgres_server import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        url = server.url()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
        gallery = open_gallery(url)
        gallery.revision()

        def fresh_connection() -> None:
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("SELECT 1").fetchone()

        def clients() -> int:
            with psycopg.connect(url, autocommit=True) as connection:
                query = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                return int(connection.execute(query).fetchone()[0]) - 1  # less this one

        def requests() -> None:
            for _ in range(REQUESTS):
                gallery.revision()
                gallery.people()

        result = {
            "revision_on_open_connection_ms": median_ms(gallery.revision, 300),
            "new_connection_and_select_ms": median_ms(fresh_connection, 100),
            "connections_before": clients(),
        }
        threads = [threading.Thread(target=requests) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.update(
            connections_after=clients(), threads=THREADS, requests_per_thread=REQUESTS, load_average=os.getloadavg()
        )
        gallery.close()
    finally:
        server.stop()
    print(result)
    print(write_result("connections", result))


if __name__ == "__main__":
    main()
