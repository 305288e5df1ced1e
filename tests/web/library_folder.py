"""A small photo folder for the library's web tests: three LFW people, six photos each, and one unreadable file."""

from __future__ import annotations

import shutil
from pathlib import Path

PEOPLE = ("Ricardo_Lagos", "Paul_Wolfowitz", "Jennifer_Lopez")
PHOTOS_EACH = 6


def make_library_folder(datasets: Path, root: Path) -> Path:
    """``root/photos`` with the people's photos mixed in one folder (file names say nothing), and a broken
    file; returns the folder."""
    folder = root / "photos"
    folder.mkdir(parents=True)
    n = 0
    for person in PEOPLE:
        for path in sorted((datasets / "lfw" / "images" / person).glob("*.jpg"))[:PHOTOS_EACH]:
            n += 1
            shutil.copy(path, folder / f"IMG_{n:04d}.jpg")
    (folder / "IMG_9999.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    return folder
