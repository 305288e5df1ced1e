"""The ``faceprint`` command: the parser, its sub-commands (registered by the modules that implement them) and
one-line errors. Commands are imported lazily, so those that need no model start fast."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from faceprint.errors import FaceprintError

log = logging.getLogger("faceprint")

EXAMPLES = """examples:
  faceprint enroll "Ada Lovelace" ada1.jpg ada2.jpg ada3.jpg    add a person from photos
  faceprint recognize party.jpg holidays/                       who is every face (files and folders)
  faceprint recognize --known people/ unknown/                  no gallery: one photo or folder per person
  faceprint recognize group.jpg --annotate group-named.jpg      also draw boxes, numbers and names
  faceprint verify a.jpg b.jpg                                  same person? (similarity 0-100)
  faceprint people list                                         who is enrolled, and how well
  faceprint celebrity me.jpg                                    which of 31 celebrities do I look like?
  faceprint serve                                               the web app on http://127.0.0.1:8000

'faceprint COMMAND --help' shows a command's options; --json (or --jsonl) prints the JSON API's fields."""


def _version() -> str:
    from faceprint.version import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    from faceprint.cli_common import parents
    from faceprint.cli_faces import register as register_face_commands
    from faceprint.cli_people import register as register_people_commands

    parser = argparse.ArgumentParser(
        prog="faceprint",
        description="Face detection, recognition and verification, offline, on the CPU.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"faceprint {_version()}")
    shared = parents()
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_face_commands(sub, shared)  # detect, embed, verify, lfw, calibrate, models
    register_people_commands(sub, shared)  # enroll, recognize, people
    from faceprint.gallery.cli import register as register_gallery_commands

    register_gallery_commands(sub, shared.output, shared.gallery)  # gallery export|import|info
    from faceprint.celebrity.cli import register as register_celebrity_commands

    register_celebrity_commands(sub, shared.common)  # prepare, train, evaluate, celebrity
    from faceprint.web.serve import register as register_serve_command

    register_serve_command(sub, shared.gallery)  # serve
    from faceprint.library.cli import register as register_library_commands

    register_library_commands(sub, shared)  # index, photos, clusters
    from faceprint.video.cli import register as register_video_command

    register_video_command(sub, shared.common, shared.gallery)  # video
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answered before any command module is imported
        print(f"faceprint {_version()}")
        return 0
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
