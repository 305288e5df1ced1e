"""Flask app factory: configuration, the shared FaceRecognizer, blueprints, security and error handling."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from faceprint.recognizer import FaceRecognizer
from faceprint.web.runtime import COLLECTIONS_EXTENSION, RECOGNIZER_EXTENSION, SCHEDULER_EXTENSION, Collections


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides defaults and ``FACEPRINT_*`` environment settings; pass
    ``RECOGNIZER`` (a FaceRecognizer) to share already-loaded models, e.g. across tests."""
    from faceprint.web.access_log import init_access_log
    from faceprint.web.api import api
    from faceprint.web.api_docs import api_docs
    from faceprint.web.collections_api import collections as _collections  # noqa: F401  (adds /collections/...)
    from faceprint.web.errorhandlers import init_error_handlers
    from faceprint.web.keys import load_keys
    from faceprint.web.library_api import library_overview as _library  # noqa: F401  (adds /library to the api)
    from faceprint.web.library_pages import library_pages
    from faceprint.web.limits import init_limits
    from faceprint.web.pages import pages
    from faceprint.web.scheduler import InferenceScheduler, default_slots
    from faceprint.web.security import check_host, init_security
    from faceprint.web.settings import DEFAULT_HEAVY_MEGAPIXELS, load_settings
    from faceprint.web.signin import auth
    from faceprint.web.uploads import InMemoryRequest, check_body_size
    from faceprint.web.video_api import video as _video  # noqa: F401  (adds POST /video to the api blueprint)

    app = Flask(__name__)
    app.config.update(load_settings(config))
    app.request_class = InMemoryRequest
    app.json.sort_keys = False  # type: ignore[attr-defined]  # answers keep the documented field order
    keys = load_keys(app.config)
    recognizer = app.config.get("RECOGNIZER") or FaceRecognizer(gallery=app.config.get("FACEPRINT_GALLERY"))
    app.extensions[RECOGNIZER_EXTENSION] = recognizer
    app.extensions[COLLECTIONS_EXTENSION] = Collections()
    slots = app.config["FACEPRINT_INFERENCE_SLOTS"] or default_slots()
    app.extensions[SCHEDULER_EXTENSION] = InferenceScheduler(
        slots=slots if thread_safe(recognizer) else 1,
        heavy_slots=app.config["FACEPRINT_HEAVY_SLOTS"],
        heavy_cost=DEFAULT_HEAVY_MEGAPIXELS,
        max_waiting=app.config["FACEPRINT_MAX_QUEUE"],
        timeout_s=app.config["FACEPRINT_QUEUE_TIMEOUT_S"],
    )
    if app.config["FACEPRINT_TRUSTED_PROXIES"]:
        hops = app.config["FACEPRINT_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    init_access_log(app)  # times every request from before the first check
    app.before_request(check_host)  # first: only this server's names (DNS rebinding), only loopback without keys
    app.before_request(check_body_size)  # refuse a too-large body before anything reads it
    init_error_handlers(app)
    init_security(app, keys)
    init_limits(app)
    app.register_blueprint(pages)
    app.register_blueprint(library_pages)
    app.register_blueprint(auth)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(api_docs)
    return app


def thread_safe(recognizer: FaceRecognizer) -> bool:
    """Whether the recognizer's networks may run in several threads at once: ONNX Runtime and TensorFlow may,
    dlib's own network (``FACEPRINT_ENGINE=dlib``) may not."""
    try:
        embedders = [recognizer.pipeline.embedder(name) for name in recognizer.models]
    except Exception:  # a model that cannot load fails its requests later, with its own message
        return False
    return all(getattr(embedder, "engine", "onnxruntime") != "dlib" for embedder in embedders)


def warm_up(recognizer: FaceRecognizer, celebrity: bool = True) -> None:
    """Load every model and run each once on a blank image, so that the first request is not slow."""
    blank = np.full((240, 320, 3), 127, dtype=np.uint8)
    recognizer.detect(blank)
    pipeline = recognizer.pipeline
    for name in recognizer.models:
        embedder = pipeline.embedder(name)
        size = int(embedder.template.size)
        embedder.embed(np.full((1, size, size, 3), 127, dtype=np.uint8))
    _ = recognizer.gallery.count()
    if celebrity:
        with contextlib.suppress(Exception):  # an installation without the celebrity model still serves the rest
            recognizer.predict_celebrity(blank)
