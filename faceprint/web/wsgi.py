"""The app for any WSGI server (``faceprint.web.wsgi:app``), configured from ``FACEPRINT_*`` environment variables;
the models are loaded and warmed up when the module is imported, before the server takes requests.

The key policy is the app's own, whatever server runs it: without API keys every request from another machine is
refused (403) and only loopback host names are allowed, so a keyless app on a public address serves nobody but
this machine."""

from __future__ import annotations

import logging

from faceprint.web.app import RECOGNIZER_EXTENSION, create_app, warm_up
from faceprint.web.security import KEYS_EXTENSION

app = create_app()
if not app.extensions[KEYS_EXTENSION].configured:
    logging.getLogger("faceprint.web").warning(
        "no API keys are configured: the app answers requests from this machine only (others get 403)"
    )
warm_up(app.extensions[RECOGNIZER_EXTENSION])
