"""``faceprint serve``: the web app under waitress (or Flask's development server), models loaded and warmed up
before the first request is accepted; refuses to listen beyond this machine without API keys."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from faceprint.web.keys import default_key_file, generate_key_file, load_keys
from faceprint.web.settings import LOOPBACK_HOSTS, ConfigurationError, load_settings

DEFAULT_THREADS = 48
DEFAULT_CONNECTION_LIMIT = 500
CHANNEL_TIMEOUT_S = 30

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


def default_allowed_hosts(host: str) -> tuple[str, ...]:
    """The names a browser may use for a server bound to ``host``: loopback names, the address itself, and on a
    wildcard address this machine's host names."""
    names = list(LOOPBACK_HOSTS)
    if is_loopback(host):
        return tuple(names)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        names.append(host.lower())
    else:
        if address.is_unspecified:
            names += [socket.gethostname().lower(), socket.getfqdn().lower()]
        else:
            names.append(f"[{address}]" if address.version == 6 else str(address))
    return tuple(dict.fromkeys(name for name in names if name))


def reserve_threads(threads: int) -> int:
    """Request threads kept free of requests waiting for the models, so that cheap requests (health, pages, the
    people list) are answered at once under load."""
    return max(2, threads // 6)


def _json_error_task():
    """Waitress's own error answers (a body over the limit, a malformed request) as JSON like the app's."""
    from waitress.task import ErrorTask

    codes = {400: "invalid_request", 413: "request_too_large", 431: "request_too_large"}

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            message = f"{error.reason.lower()}: {error.body}"
            if error.code == 413:
                limit = self.channel.server.adj.max_request_body_size
                message = f"the request body is larger than the {limit / 1024 / 1024:.0f} MB limit"
            payload = {"error": {"code": codes.get(error.code, "invalid_request"), "message": message}}
            body = json.dumps(payload).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.extend([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    return JsonErrorTask


def make_server(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = DEFAULT_THREADS,
    connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    **adjustments: Any,
) -> Any:
    """A waitress server for ``app`` (not yet running: call ``run``): the app's body limit enforced before the
    body is read, errors in JSON, idle connections closed after ``CHANNEL_TIMEOUT_S``."""
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer, create_server

    class JsonErrorChannel(HTTPChannel):
        error_task_class = _json_error_task()

    settings = {
        "max_request_body_size": app.config["MAX_CONTENT_LENGTH"],
        "connection_limit": connection_limit,
        "channel_timeout": CHANNEL_TIMEOUT_S,
        "ident": "faceprint",
        "clear_untrusted_proxy_headers": True,
        **adjustments,
    }
    server = create_server(app, host=host, port=port, threads=threads, **settings)
    for each in [server, *getattr(server, "map", {}).values()]:
        if isinstance(each, BaseWSGIServer):
            each.channel_class = JsonErrorChannel
    return server


def cmd_serve(args: argparse.Namespace) -> int:
    """Build the app, load and warm up the models, then serve until interrupted."""
    from faceprint.web.access_log import access_log_wanted, enable_access_log
    from faceprint.web.app import RECOGNIZER_EXTENSION, create_app, warm_up

    overrides: dict[str, Any] = {"FACEPRINT_GALLERY": args.gallery} if args.gallery else {}
    if not os.environ.get("FACEPRINT_ALLOWED_HOSTS"):
        overrides["FACEPRINT_ALLOWED_HOSTS"] = default_allowed_hosts(args.host)
    if not os.environ.get("FACEPRINT_MAX_QUEUE"):
        overrides["FACEPRINT_MAX_QUEUE"] = max(1, args.threads - reserve_threads(args.threads))
    settings = check_keys(args.host, load_settings(overrides), args.generate_keys)
    app = create_app({key: value for key, value in settings.items() if key.startswith("FACEPRINT_")})
    started = time.perf_counter()
    print("faceprint: loading the models ...", file=sys.stderr, flush=True)
    warm_up(app.extensions[RECOGNIZER_EXTENSION])
    url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}/"
    keys = "API keys required" if load_keys(settings).configured else "no API keys (loopback only)"
    hosts = ", ".join(app.config["FACEPRINT_ALLOWED_HOSTS"])
    print(
        f"faceprint: models ready in {time.perf_counter() - started:.0f} s; serving on {url} ({keys}; "
        f"host names allowed: {hosts}); press Ctrl+C to stop",
        file=sys.stderr,
        flush=True,
    )
    if access_log_wanted() and not args.no_access_log:
        enable_access_log()
    if args.dev:
        app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)
        return 0
    server = make_server(
        app, host=args.host, port=args.port, threads=args.threads, connection_limit=args.connection_limit
    )
    try:
        server.run()
    finally:
        server.close()
    return 0


def register(sub: argparse._SubParsersAction, gallery_parent: argparse.ArgumentParser) -> None:
    """Add ``faceprint serve`` to the command line."""
    p = sub.add_parser("serve", parents=[gallery_parent], help="run the web app and JSON API (waitress)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("FACEPRINT_PORT", 8000)), help="default 8000")
    p.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"request threads (default {DEFAULT_THREADS}); how many compute at once is FACEPRINT_INFERENCE_SLOTS",
    )
    p.add_argument(
        "--connection-limit",
        type=int,
        default=DEFAULT_CONNECTION_LIMIT,
        help=f"open connections at most (default {DEFAULT_CONNECTION_LIMIT})",
    )
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="write no line per request to stderr (also FACEPRINT_ACCESS_LOG=0)",
    )
    p.add_argument("--dev", action="store_true", help="use Flask's development server instead of waitress")
    p.add_argument(
        "--generate-keys",
        action="store_true",
        help="on a public address without keys: write new API keys to the per-user data folder and use them",
    )
    p.set_defaults(func=cmd_serve)
