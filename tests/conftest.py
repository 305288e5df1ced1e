"""Shared fixtures: dataset location, and real models loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("FACEPRINT_DATASETS", REPO.parent / "shared" / "datasets"))
SAMPLES = DATASETS / "samples"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"datasets not found at {DATASETS}; set FACEPRINT_DATASETS")
    return DATASETS


@pytest.fixture(scope="session")
def samples(datasets: Path) -> Path:
    return datasets / "samples"


@pytest.fixture(scope="session")
def array_cache(tmp_path_factory):
    """A cache private to this test session, so every run really computes what it checks."""
    from faceprint.cache import ArrayCache

    return ArrayCache(session_cache_dir(tmp_path_factory) / "arrays.sqlite")


def session_cache_dir(tmp_path_factory) -> Path:
    """The cache directory of this test session (also given to CLI runs, so both reuse each other's work)."""
    path = tmp_path_factory.getbasetemp() / "cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def pipeline(array_cache):
    """The real pipeline (MTCNN, FaceNet, dlib), shared by every test in the session."""
    from faceprint.pipeline import FacePipeline

    return FacePipeline(cache=array_cache)


@pytest.fixture(scope="session", autouse=True)
def networks_converted():
    """Convert the default networks to ONNX (or find them converted) in the normal cache before any test points
    FACEPRINT_CACHE_DIR elsewhere: every later load in this process reuses these sessions, and test workers that
    start together wait for one conversion instead of each doing their own."""
    from faceprint.detection import MTCNNDetector
    from faceprint.embedding import DEFAULT_MODELS, get_embedder

    MTCNNDetector()._load()
    for name in DEFAULT_MODELS:
        get_embedder(name)._load()
