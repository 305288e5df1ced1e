"""Per-stage latency (decode, detect, align, embed per model) on a 640x480 one-face photo and a group photo,
batch throughput on LFW images, and peak memory.

Usage: .venv/bin/python benchmarks/stages.py [--repeat 20] [--batch-images 256]
Writes benchmarks/results/stages.json and prints a table."""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from benchmarks.common import DATASETS, peak_memory_mb, photo_640x480, timed, write_result
from faceprint.alignment import align_face
from faceprint.embedding import DEFAULT_MODELS, get_embedder
from faceprint.imaging import decode_bytes
from faceprint.pipeline import FacePipeline


def stage_times(pipeline: FacePipeline, image: np.ndarray, repeat: int) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    encoded = buffer.getvalue()
    faces = pipeline.detector.detect(image)
    result = {
        "faces": len(faces),
        "decode": timed(lambda: decode_bytes(encoded, "bench"), repeat),
        "detect": timed(lambda: pipeline.detector.detect(image), repeat),
    }
    total = result["decode"]["median_ms"] + result["detect"]["median_ms"]
    for name in DEFAULT_MODELS:
        embedder = get_embedder(name)
        crops = np.stack([align_face(image, f.landmarks, embedder.template) for f in faces])
        result[f"align_{name}"] = timed(
            lambda e=embedder: [align_face(image, f.landmarks, e.template) for f in faces], repeat
        )
        result[f"embed_{name}"] = timed(lambda e=embedder, c=crops: e.embed(c), repeat)
        total += result[f"align_{name}"]["median_ms"] + result[f"embed_{name}"]["median_ms"]
    result["end_to_end"] = timed(lambda: pipeline.embed_image(encoded), repeat)
    result["sum_of_stage_medians_ms"] = round(total, 2)
    return result


def throughput(pipeline: FacePipeline, count: int) -> dict:
    paths = sorted((DATASETS / "lfw" / "images").glob("*/*.jpg"))[:count]
    images = [pipeline.load(p) for p in paths]
    pipeline.embed_central(images[:4])
    start = time.perf_counter()
    for i in range(0, len(images), 64):
        pipeline.embed_central(images[i : i + 64])
    seconds = time.perf_counter() - start
    return {"images": len(images), "seconds": round(seconds, 2), "faces_per_second": round(len(images) / seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch-images", type=int, default=256)
    args = parser.parse_args()
    pipeline = FacePipeline()  # no cache: every stage really runs
    one_face = photo_640x480(DATASETS / "samples" / "people" / "obama" / "obama1.jpg")
    from faceprint.imaging import load_image

    group = load_image(DATASETS / "samples" / "group" / "compreface_015_6.jpg")
    results = {
        "one_face_640x480": stage_times(pipeline, one_face, args.repeat),
        "group_photo": {"size": list(group.shape[:2][::-1]), **stage_times(pipeline, group, max(5, args.repeat // 4))},
        "batch": throughput(pipeline, args.batch_images),
    }
    results["peak_memory_mb"] = peak_memory_mb()
    path = write_result("stages", results)
    for label in ("one_face_640x480", "group_photo"):
        row = results[label]
        print(f"{label} ({row['faces']} face(s))")
        for key, value in row.items():
            if isinstance(value, dict) and "median_ms" in value:
                print(f"  {key:16s} median {value['median_ms']:8.1f} ms   p95 {value['p95_ms']:8.1f} ms")
    print(f"batch: {results['batch']['faces_per_second']} faces/s over {results['batch']['images']} LFW images")
    print(f"peak memory: {results['peak_memory_mb']} MB   -> {path}")


if __name__ == "__main__":
    main()
