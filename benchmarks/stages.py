"""Per-stage latency (decode, detect, align, embed per model) on a 640x480 one-face photo and a group photo,
batch throughput on LFW images, and peak memory.

Usage: .venv/bin/python -m benchmarks.stages [--repeat 20] [--batch-images 256] [--compare previous|tensorflow]
Writes benchmarks/results/stages.json and prints a table. ``--compare`` instead times other engines against the
current ones (MTCNN, FaceNet and dlib's ResNet in ONNX Runtime) interleaved in one run, checks that they give the
same faces and embeddings, and writes benchmarks/results/stages_compare_<other>.json: ``previous`` = the engines
before the performance work (mtcnn's eager code, dlib-bin, models one after the other), ``tensorflow`` = the same
graphs run by TensorFlow (``FACEPRINT_ENGINE=tensorflow``)."""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from benchmarks.common import DATASETS, peak_memory_mb, photo_640x480, timed, timed_interleaved, write_result
from faceprint.alignment import align_face
from faceprint.detection import MTCNNDetector
from faceprint.embedding import DEFAULT_MODELS, get_embedder
from faceprint.embedding.base import shipped_centres
from faceprint.embedding.dlib_resnet import DlibEmbedder
from faceprint.embedding.facenet import FaceNetEmbedder
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


def other_pipeline(kind: str) -> FacePipeline:
    """``previous``: the engines before the performance work (mtcnn's eager code, dlib-bin, FaceNet in TensorFlow,
    one model after the other). ``tensorflow``: today's pipeline with every network run by TensorFlow."""
    centres = shipped_centres()
    facenet = FaceNetEmbedder(engine="tensorflow", centre=centres.get("facenet"))
    if kind == "previous":
        embedders = {"facenet": facenet, "dlib": DlibEmbedder(engine="dlib", centre=centres.get("dlib"))}
        return FacePipeline(detector=MTCNNDetector(compiled=False), embedders=embedders, concurrent_models=False)
    embedders = {"facenet": facenet, "dlib": DlibEmbedder(engine="tensorflow", centre=centres.get("dlib"))}
    return FacePipeline(detector=MTCNNDetector(engine="tensorflow"), embedders=embedders)


def compare(image: np.ndarray, repeat: int, kind: str) -> dict:
    """Another pipeline vs the current one on one image, interleaved: detect, each model's embedding, end to end;
    and how far apart their outputs are."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    encoded = buffer.getvalue()
    before, after = other_pipeline(kind), FacePipeline()
    faces_before, faces_after = before.detector.detect(image), after.detector.detect(image)
    assert len(faces_before) == len(faces_after), "the two detectors disagree on the number of faces"
    box_diff = max(
        (float(np.max(np.abs(np.subtract(a.box, b.box)))) for a, b in zip(faces_before, faces_after)), default=0.0
    )
    vectors_before, vectors_after = before.embed_image(encoded), after.embed_image(encoded)
    embedding_diff = max(
        float(np.max(np.abs(a.vectors[m] - b.vectors[m])))
        for a, b in zip(vectors_before, vectors_after)
        for m in DEFAULT_MODELS
    )
    result = {
        "faces": len(faces_after),
        "max_box_difference_px": round(box_diff, 6),
        "max_embedding_difference": embedding_diff,
        "detect": timed_interleaved(
            {kind: lambda: before.detector.detect(image), "current": lambda: after.detector.detect(image)}, repeat
        ),
    }
    for name in DEFAULT_MODELS:
        old, new = before.embedder(name), after.embedder(name)
        crops = np.stack([align_face(image, f.landmarks, new.template) for f in faces_after])
        result[f"embed_{name}"] = timed_interleaved(
            {kind: lambda e=old, c=crops: e.embed(c), "current": lambda e=new, c=crops: e.embed(c)}, repeat
        )
    result["end_to_end"] = timed_interleaved(
        {kind: lambda: before.embed_image(encoded), "current": lambda: after.embed_image(encoded)}, repeat
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch-images", type=int, default=256)
    parser.add_argument(
        "--compare", choices=("previous", "tensorflow"), help="other engines vs the current ones, interleaved"
    )
    args = parser.parse_args()
    if args.compare:
        return main_compare(args.repeat, args.compare)
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


def main_compare(repeat: int, kind: str) -> None:
    from faceprint.imaging import load_image

    one_face = photo_640x480(DATASETS / "samples" / "people" / "obama" / "obama1.jpg")
    group = load_image(DATASETS / "samples" / "group" / "compreface_015_6.jpg")
    results = {
        "one_face_640x480": compare(one_face, repeat, kind),
        "group_photo": compare(group, max(5, repeat // 3), kind),
    }
    path = write_result(f"stages_compare_{kind}", results)
    for label, row in results.items():
        print(
            f"{label} ({row['faces']} face(s)); max box difference {row['max_box_difference_px']} px, "
            f"max embedding difference {row['max_embedding_difference']:.2e}"
        )
        for stage in ("detect", *(f"embed_{name}" for name in DEFAULT_MODELS), "end_to_end"):
            for variant, timing in row[stage].items():
                print(
                    f"  {stage:13s} {variant:10s} median {timing['median_ms']:8.1f} ms p95 {timing['p95_ms']:8.1f} ms "
                    f"x{timing['speedup_vs_first']}"
                )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
