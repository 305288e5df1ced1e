"""Resident memory of one web server worker with every default model: after start-up and warm-up (what ``faceprint
serve`` and ``faceprint.web.wsgi`` do before the first request), then after rounds of recognise and celebrity
requests on every group photo and a 1080p portrait, through the app's own request handling.

Usage: .venv/bin/python -m benchmarks.server_memory [--rounds 3]
Writes benchmarks/results/server_memory.json."""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from benchmarks.common import DATASETS, write_result


def memory_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak, from /proc."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1) for name, key in (("rss_mb", "VmRSS"), ("peak_mb", "VmHWM"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from faceprint.web.app import RECOGNIZER_EXTENSION, create_app, warm_up

    samples = DATASETS / "samples"
    photos = [*sorted((samples / "group").glob("*.jpg")), samples / "people" / "obama" / "obama-1080p.jpg"]
    with tempfile.TemporaryDirectory(prefix="faceprint-memory-") as folder:
        settings = {
            "FACEPRINT_GALLERY": f"sqlite:///{Path(folder) / 'gallery.db'}",
            "FACEPRINT_ADMIN_KEY": None,
            "FACEPRINT_RECOGNIZE_KEY": None,
            "FACEPRINT_API_KEYS_FILE": None,
            "FACEPRINT_RATE_LIMIT": "off",
        }
        app = create_app(settings)
        results = {"after_start": memory_mb()}
        warm_up(app.extensions[RECOGNIZER_EXTENSION])
        results["after_warm_up"] = memory_mb()
        client = app.test_client()
        for number in range(1, args.rounds + 1):
            for photo in photos:
                for endpoint in ("recognize", "celebrity"):
                    upload = {"image": (io.BytesIO(photo.read_bytes()), photo.name)}
                    response = client.post(f"/api/v1/{endpoint}", data=upload)
                    if response.status_code != 200:
                        raise SystemExit(f"{endpoint} {photo.name}: {response.status_code} {response.get_data()[:200]}")
            results[f"after_round_{number}"] = memory_mb()
            print(f"round {number}: {results[f'after_round_{number}']}")
    heavy = ("tensorflow", "keras", "tf2onnx", "pandas", "matplotlib")
    results["heavy_modules_loaded"] = sorted(name for name in heavy if name in sys.modules)
    results["requests_per_round"] = 2 * len(photos)
    print(f"after warm-up: {results['after_warm_up']}; heavy modules: {results['heavy_modules_loaded']}")
    print(f"-> {write_result('server_memory', results)}")


if __name__ == "__main__":
    main()
