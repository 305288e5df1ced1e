"""What every ``faceprint`` command shares: the pipeline from the common options, JSON output, and running a
command over many images and folders so that one bad file is reported in its place and never loses the rest."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import FaceprintError

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm", ".pnm", ".gif", ".tif", ".tiff", ".heic", ".heif",
}  # fmt: skip


@dataclass(frozen=True)
class Parents:
    """The shared option groups a command's parser can inherit."""

    output: argparse.ArgumentParser
    """--json, --jsonl, --quiet."""
    common: argparse.ArgumentParser
    """Output plus detection options (--min-face-size, --min-score, --no-cache)."""
    gallery: argparse.ArgumentParser
    """--gallery URL."""


def parents() -> Parents:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON (the field names of the JSON API)")
    output.add_argument("--jsonl", action="store_true", help="print one JSON object per image, one per line")
    output.add_argument("--quiet", action="store_true", help="no progress bars")
    common = argparse.ArgumentParser(add_help=False, parents=[output])
    common.add_argument(
        "--min-face-size", type=int, default=20, metavar="PX", help="smallest face to detect (default 20)"
    )
    common.add_argument("--min-score", type=float, default=0.9, help="lowest detection score to keep (default 0.9)")
    common.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    gallery = argparse.ArgumentParser(add_help=False)
    gallery.add_argument(
        "--gallery", help="gallery URL: sqlite:///path.db or postgresql://... (default $FACEPRINT_GALLERY or per-user)"
    )
    return Parents(output, common, gallery)


def add_collection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--collection",
        metavar="NAME",
        help="which collection of the gallery: a separate set of people (lowercase letters, digits, - and _; "
        "default: 'default'); enrolling into a new one creates it",
    )


def gallery_from_args(args: argparse.Namespace, create: bool = False, gallery: str | None = None) -> str | None:
    """The URL of the gallery collection that ``--gallery`` (or ``gallery``) and ``--collection`` name.

    Commands that only read (``create`` false) refuse a gallery file or a collection that does not exist rather than
    create an empty one from a mistyped name; for the default gallery that does not exist yet they get None."""
    from faceprint.gallery import (
        DEFAULT_COLLECTION,
        check_collection,
        collection_url,
        default_gallery_url,
        require_collection,
        sqlite_path,
    )

    named = gallery or getattr(args, "gallery", None)
    url = (named or default_gallery_url()).strip()
    collection = check_collection(getattr(args, "collection", None))
    if not create and collection == DEFAULT_COLLECTION:
        if url.lower().startswith("sqlite:") and not sqlite_path(url).exists():
            if named is None:
                return None
            raise FaceprintError(
                f"no gallery at {sqlite_path(url)}: check --gallery, or enroll someone first (faceprint enroll)"
            )
    elif not create:
        hint = f"check --collection, or enroll someone into it to create it: faceprint enroll --collection {collection}"
        require_collection(url, collection, hint)
    return collection_url(url, collection)


def pipeline_from_args(args: argparse.Namespace, models: Sequence[str] | None = None):
    """The face pipeline the detection options ask for (models load lazily, on the first image)."""
    from faceprint.cache import ArrayCache
    from faceprint.detection import MTCNNDetector
    from faceprint.embedding import DEFAULT_MODELS
    from faceprint.pipeline import FacePipeline

    detector = MTCNNDetector(
        min_face_size=getattr(args, "min_face_size", 20), min_score=getattr(args, "min_score", 0.9)
    )
    cache = None if getattr(args, "no_cache", False) else ArrayCache()
    return FacePipeline(detector=detector, models=models or DEFAULT_MODELS, cache=cache)


def json_text(data: object, compact: bool | None = None) -> str:
    """JSON with the API's field names: indented on a terminal, one compact line when piped (``compact`` forces)."""
    if compact is None:
        compact = not sys.stdout.isatty()
    if compact:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(data, ensure_ascii=False, indent=2)


def print_json(data: object, compact: bool | None = None) -> None:
    print(json_text(data, compact))


def expand_images(paths: Sequence[str | Path]) -> list[tuple[str, str | None]]:
    """Every image the arguments name, in order: files as given, folders searched recursively for image files
    (by suffix, sorted). Each entry is (path, error): a missing path or a folder without images is kept, with the
    reason, so it can be reported in its place. Nothing is opened or decoded here."""
    entries: list[tuple[str, str | None]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            entries += [(p, None) for p in found] or [(str(raw), f"{raw}: no image files in this folder")]
        elif path.is_file():
            entries.append((str(raw), None))
        elif path.exists():
            entries.append((str(raw), f"{raw}: not a file or folder"))
        else:
            entries.append((str(raw), f"{raw}: no such file or folder"))
    return entries


def _results(entries: list[tuple[str, str | None]], analyse: Callable[[str], dict]) -> Iterator[dict]:
    for source, problem in entries:
        if problem is not None:
            yield {"image": source, "error": {"code": "not_found", "message": problem}}
            continue
        try:
            yield {"image": source, **analyse(source)}
        except FaceprintError as exc:
            yield {"image": source, "error": {"code": exc.code, "message": exc.message}}


def report_per_image(
    sources: Sequence[str],
    analyse: Callable[[str], dict],
    describe_face: Callable[[dict], str],
    args: argparse.Namespace,
    no_face_code: int = 0,
    annotate: Callable[[str, dict, bool], str] | None = None,
) -> int:
    """Run ``analyse`` on every image the arguments name (files and folders), then print each result: one JSON
    document (``--json``), one JSON line per image (``--jsonl``) or a few lines per image; errors in their place
    (stderr in text). Paths are checked before anything is analysed, so models load only if some image exists.
    ``annotate`` is called with each successful result. Exit code 1 when any image failed, else ``no_face_code``
    when no image showed a face, else 0."""
    entries = expand_images(sources)
    as_json, as_lines = getattr(args, "json", False), getattr(args, "jsonl", False)
    results, failed = [], 0
    for result in _results(entries, analyse):
        failed += "error" in result
        if annotate is not None and "error" not in result:
            try:
                result["annotated"] = annotate(result["image"], result, len(entries) > 1)
            except FaceprintError as exc:
                result["annotation_error"] = exc.message
                failed += 1
        if as_lines:
            print(json_text(result, compact=True), flush=True)
        elif not as_json:
            _print_text(result, describe_face)
        results.append(result)
    if as_json and not as_lines:
        print_json({"images": results})
    if failed:
        return 1
    return 0 if any(result.get("faces") for result in results) else no_face_code


def _print_text(result: dict, describe_face: Callable[[dict], str]) -> None:
    if "error" in result:
        print(f"faceprint: error: {result['error']['message']}", file=sys.stderr)
        return
    faces = result["faces"]
    print(f"{result['image']}: {len(faces)} face{'' if len(faces) == 1 else 's'}")
    for number, face in enumerate(faces, start=1):
        print(f"  {number}. {describe_face(face)}")
    if result.get("annotated"):
        print(f"  annotated: {result['annotated']}")
    if result.get("annotation_error"):
        print(f"faceprint: error: {result['annotation_error']}", file=sys.stderr)


def add_annotate_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--annotate",
        metavar="OUT",
        help="also write each photo with its faces boxed, numbered and labelled: a file for one photo, a folder for "
        "several (OUT/<name>.annotated.jpg)",
    )


def annotator(
    args: argparse.Namespace, label: Callable[[dict], str], known: Callable[[dict], bool]
) -> Callable[[str, dict, bool], str] | None:
    """The ``--annotate`` writer for ``report_per_image`` (None without the option): draws every face of a result
    with ``label(face)``, in the known colour when ``known(face)``, and returns where it wrote the picture."""
    target = getattr(args, "annotate", None)
    if not target:
        return None

    def annotate(source: str, result: dict, several: bool) -> str:
        from faceprint.annotate import annotation_path, draw_faces, save_annotated
        from faceprint.imaging import load_image

        faces = result["faces"]
        picture = draw_faces(load_image(source), faces, [label(f) for f in faces], [known(f) for f in faces])
        path = annotation_path(target, source, several)
        save_annotated(picture, path)
        return str(path)

    return annotate
