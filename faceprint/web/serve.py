"""``faceprint serve``: the web app under waitress (or Flask's development server), models loaded and warmed up
before the first request is accepted; refuses to listen beyond this machine without API keys."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from faceprint.web.keys import default_key_file, generate_key_file, load_keys
from faceprint.web.settings import ConfigurationError, load_settings

log = logging.getLogger("faceprint.web")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_keys(host: str, settings: Mapping[str, Any], generate: bool) -> dict[str, Any]:
    """Settings that are safe for ``host``: on a non-loopback host keys are required; ``generate`` writes a key
    file in the per-user data folder (or reuses it) and uses it."""
    if is_loopback(host) or load_keys(settings).configured:
        return dict(settings)
    if not generate:
        raise ConfigurationError(
            f"refusing to serve on {host} without API keys: anyone on the network could change the gallery. Set "
            "FACEPRINT_ADMIN_KEY and FACEPRINT_RECOGNIZE_KEY (or FACEPRINT_API_KEYS_FILE), or add --generate-keys "
            f"to write new keys to {default_key_file()}"
        )
    path = generate_key_file()
    print(f"faceprint: API keys are in {path} (readable only by you)", file=sys.stderr)
    return {**settings, "FACEPRINT_API_KEYS_FILE": str(path)}


def cmd_serve(args: argparse.Namespace) -> int:
    """Build the app, load and warm up the models, then serve until interrupted."""
    from faceprint.web.app import RECOGNIZER_EXTENSION, create_app, warm_up

    overrides = {"FACEPRINT_GALLERY": args.gallery} if args.gallery else {}
    settings = check_keys(args.host, load_settings(overrides), args.generate_keys)
    app = create_app({key: value for key, value in settings.items() if key.startswith("FACEPRINT_")})
    started = time.perf_counter()
    print("faceprint: loading the models ...", file=sys.stderr, flush=True)
    warm_up(app.extensions[RECOGNIZER_EXTENSION])
    url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}/"
    keys = "API keys required" if load_keys(settings).configured else "no API keys (loopback only)"
    print(
        f"faceprint: models ready in {time.perf_counter() - started:.0f} s; serving on {url} ({keys}); "
        "press Ctrl+C to stop",
        file=sys.stderr,
        flush=True,
    )
    if args.dev:
        app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)
        return 0
    import waitress

    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
        ident="faceprint",
        _quiet=True,
    )
    return 0


def register(sub: argparse._SubParsersAction, gallery_parent: argparse.ArgumentParser) -> None:
    """Add ``faceprint serve`` to the command line."""
    p = sub.add_parser("serve", parents=[gallery_parent], help="run the web app and JSON API (waitress)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("FACEPRINT_PORT", 8000)), help="default 8000")
    p.add_argument("--threads", type=int, default=4, help="request threads (default 4; inference runs one at a time)")
    p.add_argument("--dev", action="store_true", help="use Flask's development server instead of waitress")
    p.add_argument(
        "--generate-keys",
        action="store_true",
        help="on a public address without keys: write new API keys to the per-user data folder and use them",
    )
    p.set_defaults(func=cmd_serve)
