"""Where faceprint keeps its per-user files, named without importing anything heavy (the command-line parser and
the model list use it)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$FACEPRINT_CACHE_DIR``, else the per-user cache directory."""
    if "FACEPRINT_CACHE_DIR" in os.environ:
        return Path(os.environ["FACEPRINT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "faceprint"
