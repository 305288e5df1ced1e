"""Measure alignment and preprocessing choices on LFW View 1 (the numbers behind BENCHMARKS.md's choices).

For each variant it embeds every image of the View 1 pairs (original and mirrored crop, separately), then
reports accuracy on DevTrain (best threshold) and on DevTest (threshold from DevTrain), per model and fused.

Usage: python tools/lfw_experiments.py embed --variants facenet-fixed,dlib   (slow; results cached)
       python tools/lfw_experiments.py report
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from faceprint.alignment import align_face
from faceprint.cache import ArrayCache
from faceprint.detection import central_face
from faceprint.embedding.dlib_resnet import DlibEmbedder
from faceprint.embedding.facenet import FaceNetEmbedder
from faceprint.lfw import image_path, read_pairs
from faceprint.pipeline import FacePipeline
from faceprint.verification import best_accuracy_threshold, fit_fusion

DATASETS = Path(
    os.environ.get("FACEPRINT_DATASETS", Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets")
)
LFW = DATASETS / "lfw"
OUT = Path(os.environ.get("FACEPRINT_EXPERIMENTS", Path.home() / ".cache" / "faceprint" / "experiments"))


def box_crop(image: np.ndarray, face, margin: int = 32, size: int = 160) -> np.ndarray:
    """FaceNet's original preprocessing: MTCNN box plus margin, resized (not aligned)."""
    x, y, w, h = face.box
    height, width = image.shape[:2]
    x1, y1 = int(max(x - margin / 2, 0)), int(max(y - margin / 2, 0))
    x2, y2 = int(min(x + w + margin / 2, width)), int(min(y + h + margin / 2, height))
    return cv2.resize(image[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_LINEAR)


VARIANTS = {
    "facenet-fixed": (lambda: FaceNetEmbedder("fixed", flip=False), "align"),
    "facenet-prewhiten": (lambda: FaceNetEmbedder("prewhiten", flip=False), "align"),
    "facenet-boxcrop": (lambda: FaceNetEmbedder("fixed", flip=False), "box"),
    "facenet-aspect": (lambda: FaceNetEmbedder("fixed", flip=False), "align"),
    "dlib": (lambda: DlibEmbedder(flip=False), "align"),
}


def all_paths() -> list[Path]:
    pairs = read_pairs(LFW / "pairsDevTrain.txt").pairs + read_pairs(LFW / "pairsDevTest.txt").pairs
    return sorted(
        {image_path(LFW / "images", p.name_a, p.index_a) for p in pairs}
        | {image_path(LFW / "images", p.name_b, p.index_b) for p in pairs}
    )


def embed(variants: list[str], batch: int = 64) -> None:
    pipeline = FacePipeline(cache=ArrayCache())
    paths = all_paths()
    OUT.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        embedder = VARIANTS[variant][0]()
        mode = VARIANTS[variant][1]
        plain, mirrored, found = [], [], []
        for start in tqdm(range(0, len(paths), batch), desc=variant):
            images = [pipeline.load(p) for p in paths[start : start + batch]]
            faces = [central_face(f, i.pixels.shape) for f, i in zip(pipeline.detect_many(images), images)]
            crops = []
            for image, face in zip(images, faces):
                if face is None:
                    height, width = image.pixels.shape[:2]
                    face_box = (width * 0.3, height * 0.3, width * 0.4, height * 0.4)
                    crop = cv2.resize(
                        image.pixels[
                            int(face_box[1]) : int(face_box[1] + face_box[3]),
                            int(face_box[0]) : int(face_box[0] + face_box[2]),
                        ],
                        (embedder.template.size,) * 2,
                    )
                elif mode == "box":
                    crop = box_crop(image.pixels, face)
                else:
                    crop = align_face(image.pixels, face.landmarks, embedder.template)
                crops.append(crop)
                found.append(face is not None)
            crops = np.stack(crops)
            plain.append(embedder.embed(crops))
            mirrored.append(embedder.embed(crops[:, :, ::-1]))
        np.savez(
            OUT / f"{variant}.npz",
            paths=np.array([str(p) for p in paths]),
            plain=np.concatenate(plain),
            mirrored=np.concatenate(mirrored),
            found=np.array(found),
        )


def similarities(variant: str, flip: bool, pairs, centre: bool = False) -> np.ndarray:
    """Cosine similarity of each pair; ``centre`` subtracts the mean DevTrain embedding first (FaceNet's
    validate_on_lfw --subtract_mean)."""
    data = np.load(OUT / f"{variant}.npz")
    vectors = data["plain"] + data["mirrored"] if flip else data["plain"]
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {p: i for i, p in enumerate(data["paths"])}
    if centre:
        train = read_pairs(LFW / "pairsDevTrain.txt").pairs
        used = sorted(
            {index[str(image_path(LFW / "images", p.name_a, p.index_a))] for p in train}
            | {index[str(image_path(LFW / "images", p.name_b, p.index_b))] for p in train}
        )
        vectors = vectors - vectors[used].mean(axis=0)
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    a = [index[str(image_path(LFW / "images", p.name_a, p.index_a))] for p in pairs]
    b = [index[str(image_path(LFW / "images", p.name_b, p.index_b))] for p in pairs]
    return np.sum(vectors[a] * vectors[b], axis=1)


def report() -> None:
    train = read_pairs(LFW / "pairsDevTrain.txt").pairs
    test = read_pairs(LFW / "pairsDevTest.txt").pairs
    same_train = np.array([p.same for p in train])
    same_test = np.array([p.same for p in test])
    columns = {}
    print(f"{'variant':28s} {'DevTrain':>9s} {'DevTest':>9s}")
    for variant in VARIANTS:
        if not (OUT / f"{variant}.npz").exists():
            continue
        for flip, centre in ((False, False), (True, False), (True, True)):
            s_train, s_test = similarities(variant, flip, train, centre), similarities(variant, flip, test, centre)
            threshold, acc_train = best_accuracy_threshold(s_train, same_train)
            acc_test = np.mean((s_test >= threshold) == same_test)
            name = f"{variant}{' +flip' if flip else ''}{' +centre' if centre else ''}"
            columns[name] = (s_train, s_test)
            print(f"{name:28s} {acc_train:9.4f} {acc_test:9.4f}")
    names = list(columns)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a.split("-")[0] == b.split("-")[0]:
                continue
            fusion = fit_fusion(np.stack([columns[a][0], columns[b][0]], 1), same_train, (a, b), fars=())
            acc_train = np.mean(
                (fusion.score(np.stack([columns[a][0], columns[b][0]], 1)) >= fusion.threshold) == same_train
            )
            acc_test = np.mean(
                (fusion.score(np.stack([columns[a][1], columns[b][1]], 1)) >= fusion.threshold) == same_test
            )
            print(f"fused {a} & {b}: {acc_train:.4f} {acc_test:.4f}")


def devtrain_vectors(variant: str, flip: bool) -> np.ndarray:
    """The (flip-summed, normalised) embeddings of every image that LFW DevTrain's pairs use."""
    data = np.load(OUT / f"{variant}.npz")
    vectors = data["plain"] + data["mirrored"] if flip else data["plain"]
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {p: i for i, p in enumerate(data["paths"])}
    train = read_pairs(LFW / "pairsDevTrain.txt").pairs
    paths = {image_path(LFW / "images", p.name_a, p.index_a) for p in train}
    paths |= {image_path(LFW / "images", p.name_b, p.index_b) for p in train}
    return vectors[sorted(index[str(p)] for p in paths)]


def write_centres(choices: dict[str, str]) -> None:
    """Write faceprint/data/embedding_centres.json: per model, the mean DevTrain embedding of the chosen variant."""
    import json

    centres, used = {}, {}
    for model, variant in choices.items():
        vectors = devtrain_vectors(variant, flip=True)
        centres[model] = [round(float(v), 7) for v in vectors.mean(axis=0)]
        used[model] = {"variant": variant, "images": len(vectors)}
    target = Path(__file__).resolve().parents[1] / "faceprint" / "data" / "embedding_centres.json"
    provenance = {
        "what": "mean L2-normalised (mirror-augmented) embedding of the LFW View 1 DevTrain images, per model",
        "command": "python tools/lfw_experiments.py embed && python tools/lfw_experiments.py centres",
        "models": used,
    }
    target.write_text(json.dumps({"provenance": provenance, "centres": centres}) + "\n")
    print(f"wrote {target}")


def seed_cache(choices: dict[str, str]) -> None:
    """Store the experiment's embeddings in faceprint's cache under the keys the pipeline uses, so that
    `faceprint calibrate` and `faceprint lfw` on View 1 reuse them instead of embedding every image again."""
    from faceprint.cache import array_key
    from faceprint.embedding import get_embedder

    cache = ArrayCache()
    pipeline = FacePipeline(cache=cache)
    datasets = {model: np.load(OUT / f"{variant}.npz") for model, variant in choices.items()}
    stored = 0
    paths = all_paths()
    for start in tqdm(range(0, len(paths), 64), desc="detect"):
        chunk = [pipeline.load(p) for p in paths[start : start + 64]]
        pipeline.detect_many(chunk)
    for row, path in enumerate(tqdm(paths, desc="seed")):
        image = pipeline.load(path)
        face = central_face(pipeline.detect(image), image.pixels.shape)
        if face is None:
            continue
        for model, data in datasets.items():
            assert data["paths"][row] == str(path)
            embedder = get_embedder(model)
            vector = (data["plain"][row] + data["mirrored"][row])[None, :]
            vector = vector / np.linalg.norm(vector)
            if embedder.centre is not None:
                vector = vector - embedder.centre
                vector = vector / np.linalg.norm(vector)
            cache.put(array_key(image.digest, embedder.version, face.landmarks), vector[0].astype(np.float32))
            stored += 1
    print(f"seeded {stored} embeddings")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["embed", "report", "detect", "centres", "seed"])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if args.command == "embed":
        embed(args.variants.split(","))
    elif args.command == "detect":
        pipeline = FacePipeline(cache=ArrayCache())
        paths = all_paths()
        for start in tqdm(range(0, len(paths), 64), desc="detect"):
            pipeline.detect_many([pipeline.load(p) for p in paths[start : start + 64]])
    elif args.command == "seed":
        seed_cache({"facenet": "facenet-aspect", "dlib": "dlib"})
    elif args.command == "centres":
        write_centres({"facenet": "facenet-aspect"})
    else:
        report()
