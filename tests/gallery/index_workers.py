"""Code that the index tests run in a child process: another process writing to the same SQLite gallery."""

from __future__ import annotations

import numpy as np

from faceprint.gallery import open_gallery


def add_and_delete(url: str, vectors: np.ndarray, delete: list[str]) -> None:
    """Add one photo per row of ``vectors`` (person ``Newcomer i``), then delete the people named in ``delete``."""
    gallery = open_gallery(url)
    try:
        for index, vector in enumerate(vectors):
            gallery.add_photo(f"Newcomer {index}", f"new-{index}", {"facenet": vector})
        for name in delete:
            gallery.delete(name)
    finally:
        gallery.close()
