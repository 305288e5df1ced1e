"""Import TensorFlow once, quietly, with thread settings that suit a small CPU machine."""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cache
from types import ModuleType


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ start-up banner bypasses Python logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@cache
def tensorflow() -> ModuleType:
    """The ``tensorflow`` module, imported without its start-up noise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        try:
            import tensorflow as tf
        except ImportError:
            from faceprint.errors import ModelUnavailableError

            raise ModelUnavailableError(
                "this needs TensorFlow, which a plain installation leaves out: pip install 'faceprint[convert]' to "
                "prepare the networks, 'faceprint[train]' to train the celebrity model"
            ) from None

        tf.get_logger().setLevel("ERROR")
        with contextlib.suppress(Exception):
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
    return tf
