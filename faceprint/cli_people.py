"""The ``faceprint`` commands about people: enroll, recognize (against a gallery or a folder of known people)
and people (list, rename, delete, add a confirmed face)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from faceprint.cli_common import (
    IMAGE_SUFFIXES,
    Parents,
    add_annotate_option,
    add_collection_option,
    annotator,
    expand_images,
    gallery_from_args,
    pipeline_from_args,
    print_json,
    report_per_image,
)
from faceprint.errors import FaceprintError


def _recognizer(args: argparse.Namespace, create: bool = False, gallery: str | None = None):
    """The recognizer on ``--gallery`` (or ``gallery``) and ``--collection``. Commands that only read refuse a
    gallery file or collection that does not exist rather than create an empty one from a mistyped name; for the
    default gallery that does not exist yet they get None."""
    from faceprint.recognizer import FaceRecognizer

    url = gallery_from_args(args, create=create, gallery=gallery)
    return None if url is None else FaceRecognizer(gallery=url, pipeline=pipeline_from_args(args, None))


def _outcome_text(photo) -> str:
    if not photo.accepted:
        several = " faces found; choose one" in (photo.reason or "")
        return f"rejected: {photo.reason}" + (" with --face (faceprint detect shows the numbers)" if several else "")
    return "enrolled" if photo.created else "already enrolled (nothing changed)"


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
    recognizer = _recognizer(args, create=True)
    results = []
    with tqdm(total=sum(len(p) for _, p in jobs), unit="photo", disable=args.quiet or len(jobs) == 1) as bar:
        for name, photos in jobs:
            results.append(recognizer.enroll(name, photos, face=face, store_image=args.store_image))
            bar.update(len(photos))
    accepted = sum(r.accepted for r in results)
    total = sum(len(r.photos) for r in results)
    if args.json:
        print_json({"people": [r.to_dict() for r in results], "accepted": accepted, "rejected": total - accepted})
    else:
        for result in results:
            for photo in result.photos:
                if not photo.accepted or len(jobs) == 1:
                    print(f"{photo.source}: {_outcome_text(photo)}")
            added = sum(p.accepted and p.created for p in result.photos)
            already = sum(p.accepted and not p.created for p in result.photos)
            note = f" ({already} already enrolled, nothing changed)" if already else ""
            print(f"{result.name}: {added} of {len(result.photos)} photo(s) added{note}")
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
        raise FaceprintError(f"--face must be a face number (1 = the largest) or a box x,y,w,h, not '{text}'")
    return box


def _known_people(folder: str) -> list[tuple[str, list[str]]]:
    """``--known DIR``: one sub-folder per person (named after them), or photos named after the person
    (``ada.jpg``, ``ada_2.jpg``), as face_recognition's command expects."""
    root = Path(folder)
    if not root.is_dir():
        raise FaceprintError(f"--known {folder}: not a folder")
    people: dict[str, list[str]] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            photos = [path for path, problem in expand_images([entry]) if problem is None]
            if photos:
                people.setdefault(entry.name, []).extend(photos)
        elif entry.suffix.lower() in IMAGE_SUFFIXES and not entry.name.startswith("."):
            name = entry.stem.rsplit("_", 1)[0] if entry.stem.rsplit("_", 1)[-1].isdigit() else entry.stem
            people.setdefault(name.replace("_", " "), []).append(str(entry))
    if not people:
        raise FaceprintError(f"--known {folder}: no photos (expected {folder}/<name>.jpg or {folder}/<name>/*.jpg)")
    return sorted(people.items())


def cmd_recognize(args: argparse.Namespace) -> int:
    if args.fpir is not None:
        from faceprint.scoring import check_fpir

        check_fpir(args.fpir)  # before any model loads
    if args.known is not None:
        if args.gallery is not None or args.collection is not None:
            raise FaceprintError("give either --gallery/--collection or --known, not both")
        with tempfile.TemporaryDirectory(prefix="faceprint-known-") as folder:
            recognizer = _recognizer(args, create=True, gallery=f"sqlite:///{Path(folder) / 'known.db'}")
            for name, photos in _known_people(args.known):
                result = recognizer.enroll(name, photos, check_quality=False)
                for photo in result.photos:
                    if not photo.accepted:
                        print(f"faceprint: warning: --known {photo.source}: {photo.reason}", file=sys.stderr)
            return _recognize_with(recognizer, args)
    recognizer = _recognizer(args)
    if recognizer is None:
        raise FaceprintError(
            "no one is enrolled yet: enroll people first (faceprint enroll NAME PHOTO...) or use --known DIR"
        )
    return _recognize_with(recognizer, args)


def _recognize_with(recognizer, args: argparse.Namespace) -> int:
    def analyse(source: str) -> dict:
        return {"faces": recognizer.recognize(source, threshold=args.threshold, fpir=args.fpir)}

    def describe(face: dict) -> str:
        x, y, w, h = face["box"]
        who = face["identity"] or "unknown"
        best = f"similarity {face['similarity']:.0f}" if face["similarity"] is not None else "gallery empty"
        line = (
            f"{who:24s} {best} (threshold {face['threshold']:g})  box {x:.0f},{y:.0f},{w:.0f},{h:.0f}  "
            f"{face['quality']['size']:.0f} px"
        )
        return line + (f"\n     {face['hint']}" if face.get("hint") else "")

    def label(face: dict) -> str:
        if face["identity"]:
            return f"{face['identity']} {face['similarity']:.0f}"
        return f"unknown ({face['closest']}?)" if face.get("closest") else "unknown"

    annotate = annotator(args, label, lambda face: bool(face["identity"]))
    return report_per_image(args.images, analyse, describe, args, annotate=annotate)


def cmd_people(args: argparse.Namespace) -> int:
    needed = {"list": 0, "rename": 2, "delete": 1, "add-face": 2}[args.action]
    if len(args.names) != needed:
        usage = {"rename": "OLD NEW", "delete": "NAME", "add-face": "NAME IMAGE", "list": ""}[args.action]
        raise FaceprintError(f"usage: faceprint people {args.action} {usage}".rstrip())
    recognizer = _recognizer(args, create=args.action == "add-face")
    if recognizer is None:
        if args.json:
            print_json({"people": []})
        else:
            print("no one is enrolled yet: faceprint enroll NAME PHOTO...")
        return 0
    if args.action == "add-face":
        face = int(args.face) if args.face is not None and args.face.isdigit() else _box(args.face)
        outcome = recognizer.add_face(args.names[0], args.names[1], face=face)
        if args.json:
            print_json(outcome.to_dict())
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
        print_json({"people": people})
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


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add enroll, recognize and people to the ``faceprint`` parser."""
    common, gallery = parents.common, parents.gallery

    p = sub.add_parser("enroll", parents=[common, gallery], help="add a person from one or more photos")
    p.add_argument("name", nargs="?", metavar="NAME", help="the person's name")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="photos of them, one face each")
    p.add_argument("--dir", help="enroll everyone in DIR: one sub-folder per person, named after them")
    p.add_argument(
        "--face",
        help="which face when a photo shows several: its number as faceprint detect numbers them (1 = the largest), "
        "or its box x,y,w,h",
    )
    p.add_argument("--store-image", action="store_true", help="also keep the original photo in the gallery")
    add_collection_option(p)
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("recognize", parents=[common, gallery], help="who is every face in these photos?")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos, or folders searched recursively for photos")
    p.add_argument(
        "--known",
        metavar="DIR",
        help="recognise against the people in DIR instead of a gallery (one sub-folder per person, or photos named "
        "after them: DIR/ada.jpg); nothing is stored",
    )
    operating_point = p.add_mutually_exclusive_group()
    operating_point.add_argument(
        "--threshold",
        type=float,
        help="similarity (0-100) from which a face is named (default: at most 1%% of strangers named for the "
        "gallery's size, 0.5%% for faces of 64 px and more, 2.5%% below; see docs/recognition.md)",
    )
    operating_point.add_argument(
        "--fpir",
        type=float,
        metavar="RATE",
        help="choose the operating point by the share of strangers that may be named as someone, for this gallery's "
        "size and every face size alike: e.g. 0.001 (stricter) or 0.05 (names more hard faces); 0.0001 to 0.5",
    )
    add_annotate_option(p)
    add_collection_option(p)
    p.set_defaults(func=cmd_recognize)

    p = sub.add_parser(
        "people",
        parents=[parents.output, gallery],
        help="list, rename or delete enrolled people; add a confirmed face to one",
        description="people list | people rename OLD NEW | people delete NAME | people add-face NAME IMAGE [--face N]",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "rename", "delete", "add-face"],
        default="list",
        help="list (default), rename OLD NEW, delete NAME, add-face NAME IMAGE",
    )
    p.add_argument("names", nargs="*", metavar="ARG", help="the names (and, for add-face, the photo) the action takes")
    p.add_argument("--face", help="add-face: which face when the photo shows several: its number (1 = largest) or box")
    add_collection_option(p)
    p.set_defaults(func=cmd_people)
