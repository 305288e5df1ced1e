"""The app for any WSGI server (``faceprint.web.wsgi:app``), configured from ``FACEPRINT_*`` environment variables;
the models are loaded and warmed up when the module is imported, before the server takes requests.

The key policy is the app's own, whatever server runs it: without API keys every request from another machine is
refused (403) and only loopback host names are allowed, so a keyless app on a public address serves nobody but
this machine."""

from __future__ import annotations

from faceprint.web.app import RECOGNIZER_EXTENSION, create_app, warm_up

app = create_app()
warm_up(app.extensions[RECOGNIZER_EXTENSION])
