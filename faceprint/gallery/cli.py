"""``faceprint gallery export FILE`` / ``import FILE``: move a gallery (one collection) to and from one file;
``faceprint gallery info``: what it holds, its schema version and each model's recorded network version;
``faceprint gallery collections``: the collections it has."""

from __future__ import annotations

import argparse
import json

from faceprint.errors import FaceprintError


def _open(args: argparse.Namespace, create: bool = False):
    """The collection the options name; commands that only read refuse one that does not exist."""
    from faceprint.cli_common import gallery_from_args
    from faceprint.gallery import default_gallery_url, open_gallery

    url = gallery_from_args(args, create=create)
    if url is None:  # the default gallery, never written: nothing to read
        raise FaceprintError(f"no gallery yet at {default_gallery_url()}: enroll someone first (faceprint enroll)")
    return open_gallery(url)


def _progress(args: argparse.Namespace, total: int | None, what: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc=what, disable=args.quiet or args.json, leave=False)


def cmd_export(args: argparse.Namespace) -> int:
    from faceprint.gallery.transfer import export_gallery

    gallery = _open(args)
    try:
        with _progress(args, gallery.count(), "export") as bar:
            summary = export_gallery(gallery, args.file, progress=bar.update)
    finally:
        gallery.close()
    _report(args, summary.to_dict(), f"exported {summary.people} people, {summary.photos} photo(s) to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from faceprint.gallery.transfer import import_gallery

    gallery = _open(args, create=True)
    try:
        with _progress(args, None, "import") as bar:
            summary = import_gallery(gallery, args.file, progress=bar.update)
    finally:
        gallery.close()
    text = (
        f"imported {args.file}: {summary.people_added} new people, {summary.photos_added} new photo(s), "
        f"{summary.photos_present} already present, {summary.embeddings_added} embedding(s) stored"
    )
    _report(args, summary.to_dict(), text)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    gallery = _open(args)  # opening applies any pending schema upgrade
    try:
        stored = gallery.models()
        data = {
            "gallery": gallery.url,
            "schema_version": gallery.schema_version(),
            "people": len(gallery.people()),
            "photos": gallery.count(),
            "models": [
                {"name": name, "version": version, "has_vectors": name in stored}
                for name, version in sorted(gallery.model_versions().items())
            ],
        }
    finally:
        gallery.close()
    lines = [f"{data['gallery']}: schema version {data['schema_version']}"]
    lines.append(f"{data['people']} people, {data['photos']} photo(s)")
    for model in data["models"]:
        version = model["version"] or "version not recorded (stored before versions were kept; may mix versions)"
        lines.append(f"model {model['name']}: {version}")
    _report(args, data, "\n".join(lines))
    return 0


def cmd_collections(args: argparse.Namespace) -> int:
    from faceprint.gallery import default_gallery_url, list_collections

    url = args.gallery or default_gallery_url()
    names = list_collections(url)
    text = "\n".join(names) if names else "no collections yet: enroll someone first (faceprint enroll)"
    _report(args, {"collections": names}, text)
    return 0


def _report(args: argparse.Namespace, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
        return
    print(text)
    for warning in data.get("warnings", []):
        print(f"warning: {warning}")


def cmd_gallery(args: argparse.Namespace) -> int:
    if args.gallery_action is None:
        raise FaceprintError("say what to do: faceprint gallery export FILE, import FILE, info, or collections")
    return args.gallery_func(args)


def register(sub, common: argparse.ArgumentParser, gallery_parent: argparse.ArgumentParser) -> None:
    """Add ``faceprint gallery export|import FILE``, ``faceprint gallery info`` (with ``--gallery URL``,
    ``--collection NAME`` and ``--json``) and ``faceprint gallery collections`` to the command."""
    from faceprint.cli_common import add_collection_option

    parser = sub.add_parser(
        "gallery", help="export the gallery to a file, or import one (backups, moving stores); show what it holds"
    )
    actions = parser.add_subparsers(dest="gallery_action")
    p = actions.add_parser(
        "export",
        parents=[common, gallery_parent],
        help="write every person, photo and embedding to FILE (a versioned .zip)",
    )
    p.add_argument("file", metavar="FILE")
    add_collection_option(p)
    p.set_defaults(gallery_func=cmd_export)
    p = actions.add_parser(
        "import",
        parents=[common, gallery_parent],
        help="add everything in an export FILE to the gallery (checked first; re-importing adds nothing)",
    )
    p.add_argument("file", metavar="FILE")
    add_collection_option(p)
    p.set_defaults(gallery_func=cmd_import)
    p = actions.add_parser(
        "info",
        parents=[common, gallery_parent],
        help="people, photos, schema version and each model's network version (upgrading an older gallery)",
    )
    add_collection_option(p)
    p.set_defaults(gallery_func=cmd_info)
    p = actions.add_parser(
        "collections", parents=[common, gallery_parent], help="list the gallery's collections (separate sets of people)"
    )
    p.set_defaults(gallery_func=cmd_collections)
    parser.set_defaults(func=cmd_gallery, gallery_action=None)
