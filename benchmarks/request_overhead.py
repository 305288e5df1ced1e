"""Where a recognition request's time goes inside the process: the web app's own cost against the models'.

  .venv/bin/python -m benchmarks.request_overhead [--repeat 30]

One person (two photos of obama) enrolled in a temporary SQLite gallery, no embedding cache; then, interleaved on
the same 640x480 JPEG of a third photo: detection and embedding alone (``FacePipeline.embed_image``),
``FaceRecognizer.recognize`` (adds the gallery search and the answer), and ``POST /api/v1/recognize`` through
the Flask app (adds the upload checks, the inference lock and JSON), in process (no socket). Writes
benchmarks/results/request_overhead.json."""

from __future__ import annotations

import argparse
import io
import tempfile

import cv2

from benchmarks.common import DATASETS, peak_memory_mb, photo_640x480, timed_interleaved, write_result

SETTINGS = {
    "FACEPRINT_RATE_LIMIT": "off",
    "FACEPRINT_ADMIN_KEY": None,
    "FACEPRINT_RECOGNIZE_KEY": None,
    "FACEPRINT_API_KEYS_FILE": None,
    "FACEPRINT_MAX_UPLOAD_MB": None,
    "FACEPRINT_MAX_PIXELS": None,
    "FACEPRINT_TRUSTED_PROXIES": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from faceprint import FaceRecognizer
    from faceprint.pipeline import FacePipeline
    from faceprint.web import create_app

    photos = sorted((DATASETS / "samples" / "people" / "obama").glob("*.jpg"))
    if len(photos) < 3:
        parser.error(f"needs three photos in {DATASETS / 'samples' / 'people' / 'obama'} (set FACEPRINT_DATASETS)")
    with tempfile.TemporaryDirectory() as scratch:
        recognizer = FaceRecognizer(gallery=f"sqlite:///{scratch}/gallery.db", pipeline=FacePipeline(cache=None))
        recognizer.enroll("obama", [photo.read_bytes() for photo in photos[:2]])
        _, encoded = cv2.imencode(".jpg", photo_640x480(photos[2])[..., ::-1])
        data = encoded.tobytes()
        client = create_app({"RECOGNIZER": recognizer, **SETTINGS}).test_client()

        def request() -> None:
            upload = {"image": (io.BytesIO(data), "photo.jpg")}
            response = client.post("/api/v1/recognize", data=upload, content_type="multipart/form-data")
            if response.status_code != 200 or response.get_json()["faces"][0]["identity"] != "obama":
                raise RuntimeError(f"unexpected answer: {response.status_code} {response.get_data(as_text=True)}")

        results = timed_interleaved(
            {
                "detect_and_embed": lambda: recognizer.pipeline.embed_image(data),
                "recognizer_recognize": lambda: recognizer.recognize(data),
                "http_post_in_process": request,
            },
            args.repeat,
        )
    for name, row in results.items():
        print(f"{name:22s} median {row['median_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms")
    results["peak_memory_mb"] = peak_memory_mb()
    print(f"wrote {write_result('request_overhead', results)}")


if __name__ == "__main__":
    main()
