"""Web app fixtures: apps over the session's real models, each test module with its own SQLite gallery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_settings import ISOLATED

from faceprint import FaceRecognizer
from faceprint.web import create_app


@pytest.fixture(scope="module")
def recognizer(pipeline, tmp_path_factory) -> FaceRecognizer:
    """A recognizer on the session's loaded models with a fresh SQLite gallery for this module."""
    gallery = f"sqlite:///{tmp_path_factory.mktemp('web-gallery') / 'gallery.db'}"
    return FaceRecognizer(gallery=gallery, pipeline=pipeline)


@pytest.fixture(scope="module")
def make_app(recognizer) -> Callable[..., Flask]:
    """``make_app(**settings)``: an app over the module's recognizer; rate limits off unless asked for."""

    def make(**settings) -> Flask:
        app = create_app({**ISOLATED, "RECOGNIZER": recognizer, **settings})
        app.testing = True
        return app

    return make


@pytest.fixture(scope="module")
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def photos(samples) -> dict[str, Path]:
    people = samples / "people"
    return {
        "obama": people / "obama" / "obama.jpg",
        "obama_480p": people / "obama" / "obama-480p.jpg",
        "obama_other": people / "obama" / "obama1.jpg",
        "biden": people / "biden" / "biden.jpg",
        "stranger": people / "rose_leslie" / "img1.jpg",
        "group": samples / "group" / "obama_and_biden_2.jpg",
        "two_people": samples / "group" / "two_people_2.jpg",
        "no_face": samples / "no-face" / "pilatus800.jpg",
    }
