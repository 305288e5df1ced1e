"""``faceprint index``, ``faceprint photos`` and ``faceprint clusters``: the photo library on the command line."""

from __future__ import annotations

import argparse
import sys

from faceprint.errors import FaceprintError


def _library(args: argparse.Namespace):
    from faceprint.cli_common import pipeline_from_args
    from faceprint.library.library import PhotoLibrary
    from faceprint.recognizer import FaceRecognizer

    recognizer = FaceRecognizer(gallery=args.gallery, pipeline=pipeline_from_args(args))
    return PhotoLibrary(recognizer, batch_size=getattr(args, "batch", 16))


def _print(args: argparse.Namespace, data: dict, text: str) -> None:
    from faceprint.cli_common import print_json

    if getattr(args, "json", False):
        print_json(data)
    else:
        print(text)


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.engine != "ray" and (args.ray_address or args.ray_workers):
        raise FaceprintError("--ray-address and --ray-workers go with --engine ray")
    if args.engine != "ray" and any("://" in str(p) for p in args.paths):
        raise FaceprintError("photo URLs (file://, s3://, ...) are read by the Ray engine: add --engine ray")
    library = _library(args)
    bar = tqdm(unit="photo", desc="indexing", disable=args.quiet or args.json, smoothing=0.1)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        if args.engine == "ray":
            from faceprint.library.ray_engine import index_with_ray

            summary = index_with_ray(library, args.paths, progress, address=args.ray_address, workers=args.ray_workers)
        else:
            summary = library.index(args.paths, progress)
    finally:
        bar.close()
    data = summary.to_dict()
    text = (
        f"{summary.photos_added} photo(s) added, {summary.photos_unchanged} unchanged, {summary.photos_moved} moved, "
        f"{summary.photos_removed} removed; {summary.faces} face(s) found, {summary.named} named"
    )
    if summary.errors and not args.json:
        for error in summary.errors:
            print(f"faceprint: skipped {error['path']}: {error['reason']}", file=sys.stderr)
    _print(args, data, text)
    return 0


def cmd_photos(args: argparse.Namespace) -> int:
    photos = [{k: v for k, v in p.items() if k != "face_id"} for p in _library(args).photos(args.name)]
    text = "\n".join(f"{p['photo']}  box {p['box']}  similarity {p['similarity']}" for p in photos)
    _print(args, {"name": args.name, "photos": photos}, text or f"no indexed photo of {args.name}")
    return 0


def _cluster_text(clusters: list[dict]) -> str:
    lines = []
    for cluster in clusters:
        flag = " (ignored)" if cluster.get("ignored") else ""
        lines.append(f"cluster {cluster['id']}: {cluster['size']} faces{flag}")
        lines += [f"  {face['face_id']}: {face['photo']} {face['box']}" for face in cluster["faces"][:5]]
        if cluster["size"] > 5:
            lines.append(f"  ... and {cluster['size'] - 5} more")
    return "\n".join(lines) or "no clusters of unknown faces"


def cmd_clusters(args: argparse.Namespace) -> int:
    library = _library(args)
    action = args.action or "list"
    if action == "list":
        clusters = library.clusters(include_ignored=args.all)
        _print(args, {"clusters": clusters}, _cluster_text(clusters))
        return 0
    numbers = _integers(args.values) if action != "name" else []
    if action == "name":
        if len(args.values) < 2:
            raise FaceprintError("usage: faceprint clusters name ID NAME")
        result = library.name_cluster(_integers(args.values[:1])[0], " ".join(args.values[1:]))
        _print(args, result, f"cluster {result['cluster']} is now {result['name']} ({result['faces']} faces)")
    elif action == "merge":
        if len(numbers) < 2:
            raise FaceprintError("usage: faceprint clusters merge TARGET SOURCE...")
        library.merge(numbers[0], numbers[1:])
        _print(args, {"cluster": numbers[0], "merged": numbers[1:]}, f"merged {numbers[1:]} into {numbers[0]}")
    elif action in ("split", "remove"):
        if len(numbers) < 2:
            raise FaceprintError(f"usage: faceprint clusters {action} ID FACE_ID...")
        if action == "split":
            new = library.split(numbers[0], numbers[1:])
            _print(args, {"cluster": numbers[0], "new_cluster": new}, f"faces {numbers[1:]} moved to cluster {new}")
        else:
            library.remove_faces(numbers[0], numbers[1:])
            _print(args, {"cluster": numbers[0], "removed": numbers[1:]}, f"removed {numbers[1:]}")
    elif action in ("ignore", "unignore"):
        if len(numbers) != 1:
            raise FaceprintError(f"usage: faceprint clusters {action} ID")
        library.ignore(numbers[0], action == "ignore")
        _print(args, {"cluster": numbers[0], "ignored": action == "ignore"}, f"cluster {numbers[0]}: {action}d")
    return 0


def _integers(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise FaceprintError(f"cluster and face ids are whole numbers (got {' '.join(values)})") from None


def register(sub: argparse._SubParsersAction, parents) -> None:
    """Add index, photos and clusters to the ``faceprint`` parser."""
    common, gallery = parents.common, parents.gallery
    p = sub.add_parser(
        "index",
        parents=[common, gallery],
        help="index photo folders: find, embed and name every face; incremental (unchanged files are skipped)",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="photo files or folders (searched recursively)")
    p.add_argument("--batch", type=int, default=16, metavar="N", help="photos analysed and committed together")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: Ray workers analyse the photos (pip install 'faceprint[ray]')",
    )
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: start a local one)")
    p.add_argument("--ray-workers", type=int, metavar="N", help="analysing Ray workers (default: one per CPU)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("photos", parents=[common, gallery], help="every indexed photo where a person appears")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_photos)

    p = sub.add_parser(
        "clusters",
        parents=[common, gallery],
        help="groups of unknown faces: list, name ID NAME, merge TARGET SOURCE..., split ID FACE..., "
        "remove ID FACE..., ignore ID, unignore ID",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "name", "merge", "split", "remove", "ignore", "unignore"],
        help="what to do",
    )
    p.add_argument("values", nargs="*", metavar="ARG", help="cluster id(s), face ids or a name")
    p.add_argument("--all", action="store_true", help="list ignored clusters too")
    p.set_defaults(func=cmd_clusters)
