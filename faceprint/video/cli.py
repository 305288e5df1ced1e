"""``faceprint video``: who appears when in a video file, stream or webcam."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from faceprint.errors import FaceprintError


def _recognizer(args: argparse.Namespace, folder: str):
    """The recognizer on ``--gallery`` (or the default gallery) and ``--collection``. A SQLite gallery file or a
    collection that does not exist is refused when named, and the default gallery that does not exist yet is replaced
    by an empty one (faces are still tracked, every track unknown)."""
    from faceprint.cli_common import gallery_from_args
    from faceprint.pipeline import FacePipeline
    from faceprint.recognizer import FaceRecognizer

    url = gallery_from_args(args) or f"sqlite:///{folder}/empty.db"
    return FaceRecognizer(gallery=url, pipeline=FacePipeline())


def _settings(args: argparse.Namespace):
    from faceprint.video.analyse import VideoSettings

    if args.duration is not None and args.duration <= 0:
        raise FaceprintError("--duration must be a positive number of seconds")
    if args.timeout <= 0:
        raise FaceprintError("--timeout must be a positive number of seconds")
    return VideoSettings(
        min_face_size=args.min_face_size,
        max_duration=args.duration,
        timeout=args.timeout,
        interval=VideoSettings.interval if args.interval is None else args.interval,
        busy_interval=min(VideoSettings.busy_interval, args.interval or VideoSettings.busy_interval),
    )


def _describe(track: dict) -> str:
    who = track["identity"] or "unknown"
    similarity = "" if track["similarity"] is None else f" (similarity {track['similarity']:.0f})"
    return f"track {track['id']}: {who}{similarity}, {track['start']:.1f}-{track['end']:.1f} s, {track['faces']} faces"


def cmd_video(args: argparse.Namespace) -> int:
    from faceprint.video.analyse import analyse_video
    from faceprint.video.decode import is_live

    settings = _settings(args)
    if args.min_face_size < 12:
        raise FaceprintError("--min-face-size must be at least 12 pixels")
    if args.annotate and is_live(args.source):
        raise FaceprintError("--annotate needs a video file (a stream or webcam cannot be read twice)")
    if args.annotate and not args.annotate.lower().endswith((".mp4", ".mkv", ".mov")):
        raise FaceprintError("--annotate: give an .mp4, .mkv or .mov file name")
    with tempfile.TemporaryDirectory(prefix="faceprint-video-") as folder:
        recognizer = _recognizer(args, folder)
        progress = None
        if not args.quiet and not args.json:

            def progress(seconds: float) -> None:
                print(f"\r{seconds:7.1f} s", end="", file=sys.stderr, flush=True)

        try:
            result = analyse_video(args.source, recognizer, settings, threshold=args.threshold, progress=progress)
        finally:
            if progress is not None:
                print("\r", end="", file=sys.stderr, flush=True)
        answer = result.to_dict()
        if args.annotate:
            from faceprint.video.annotate import write_annotated

            answer["annotated"] = str(write_annotated(args.source, result, args.annotate))
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=None if not sys.stdout.isatty() else 2))
        return 0
    for warning in answer.get("warnings", []):
        print(f"faceprint: warning: {warning}", file=sys.stderr)
    tracks = answer["tracks"]
    print(
        f"{args.source}: {answer['duration']:.1f} s at {answer['fps']:g} fps, {len(tracks)} "
        f"track{'' if len(tracks) == 1 else 's'} ({answer['processing_seconds']:.1f} s to analyse)"
    )
    for track in tracks:
        print(f"  {_describe(track)}")
    if answer.get("annotated"):
        print(f"  annotated: {answer['annotated']}")
    return 0


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser, gallery: argparse.ArgumentParser
) -> None:
    """Add ``video`` to the ``faceprint`` parser (``common``: --json, --quiet and detection options; ``gallery``)."""
    from faceprint.cli_common import add_collection_option

    p = sub.add_parser(
        "video",
        parents=[common, gallery],
        help="who appears when in a video file, stream (rtsp://, http://) or webcam (/dev/video0)",
    )
    p.add_argument("source", metavar="PATH|URL", help="a video file, a stream URL or a capture device")
    add_collection_option(p)
    p.add_argument(
        "--threshold",
        type=float,
        help="similarity (0-100) from which a track is named (default: the photo identification threshold)",
    )
    p.add_argument("--annotate", metavar="OUT.mp4", help="also write the video with every track's box and name")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of video (streams, webcams)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="give up on a silent stream after S s")
    p.add_argument(
        "--interval",
        type=float,
        metavar="S",
        help="seconds between looks at followed faces (default 0.3; 0.1 after a face appears or while one moves fast)",
    )
    p.set_defaults(func=cmd_video)
