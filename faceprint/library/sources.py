"""Where the photos of a distributed index run live: local paths (on storage every worker mounts at the same path,
such as NFS) or URLs of any filesystem that ``pyarrow.fs`` opens (``file://``, ``s3://``, ``gs://``, ``hdfs://``).

A photo is recorded under its local path when it is on a local filesystem (``file:///photos/a.jpg`` is stored as
``/photos/a.jpg``, as the local engine stores it, so both engines keep one library) and under its full URL
otherwise. Listing and reading happen through the same filesystem, on the driver and on every worker."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from faceprint.errors import FaceprintError
from faceprint.library.indexer import SUFFIXES, stamp_of, walk


@dataclass(frozen=True)
class PhotoFile:
    """A photo file as listed: where it is recorded, its size in bytes and its change stamp (size:mtime_ns)."""

    path: str
    size: int
    stamp: str


def is_url(path: str | os.PathLike) -> bool:
    return "://" in str(path)


def _pyarrow_fs():
    try:
        from pyarrow import fs
    except ImportError:
        raise FaceprintError("photo URLs need pyarrow: pip install 'faceprint[ray]'") from None
    return fs


def open_url(url: str):
    """The filesystem of ``url``, the path inside it, and the prefix that turns such a path back into the URL
    (``""`` for a local filesystem, whose paths are recorded as they are)."""
    fs = _pyarrow_fs()
    url = url.rstrip("/") if not url.endswith(":///") else url
    try:
        filesystem, inner = fs.FileSystem.from_uri(url)
    except (ValueError, OSError) as exc:
        raise FaceprintError(f"cannot open {url}: {exc}") from None
    if isinstance(filesystem, fs.LocalFileSystem):
        return filesystem, inner, ""
    prefix = url[: len(url) - len(inner)] if url.endswith(inner) else url.split("://", 1)[0] + "://"
    return filesystem, inner, prefix


def list_photos(paths: Sequence[str | os.PathLike]) -> tuple[list[str], list[PhotoFile], list[dict]]:
    """The roots (as recorded), every photo file under them (sorted by recorded path) and the arguments that name
    nothing. Local paths are walked like the local engine walks them; URLs are listed through ``pyarrow.fs``."""
    local = [p for p in paths if not is_url(p)]
    roots, names, problems = walk(local)
    files: dict[str, PhotoFile] = {}
    for name in names:
        try:
            stamp = stamp_of(name)
        except OSError as exc:
            problems.append({"path": name, "reason": exc.strerror or str(exc)})
            continue
        files[name] = PhotoFile(name, int(stamp.split(":")[0]), stamp)
    for url in (str(p) for p in paths if is_url(p)):
        _list_url(url, roots, files, problems)
    return roots, sorted(files.values(), key=lambda f: f.path), problems


def _list_url(url: str, roots: list[str], files: dict[str, PhotoFile], problems: list[dict]) -> None:
    fs = _pyarrow_fs()
    filesystem, inner, prefix = open_url(url)
    try:
        info = filesystem.get_file_info(inner)
        if info.type == fs.FileType.Directory:
            found = filesystem.get_file_info(fs.FileSelector(inner, recursive=True))
        elif info.type == fs.FileType.File:
            found = [info]
        else:
            problems.append({"path": url, "reason": "no such file or folder"})
            return
    except OSError as exc:
        problems.append({"path": url, "reason": str(exc)})
        return
    roots.append(prefix + inner)
    for item in found:
        if item.type == fs.FileType.File and os.path.splitext(item.base_name)[1].lower() in SUFFIXES:
            path = prefix + item.path
            files[path] = PhotoFile(path, int(item.size), f"{item.size}:{item.mtime_ns}")


class Reader:
    """Reads photo files by recorded path; one filesystem per URL prefix, opened on first use (workers keep one)."""

    def __init__(self) -> None:
        self._filesystems: dict[str, object] = {}

    def read(self, path: str) -> bytes:
        """The bytes of a photo (``OSError`` when it cannot be read)."""
        if not is_url(path):
            with open(path, "rb") as handle:
                return handle.read()
        prefix = next((p for p in self._filesystems if path.startswith(p)), None)
        if prefix is None:
            filesystem, _, prefix = open_url(path)
            self._filesystems[prefix] = filesystem
        filesystem = self._filesystems[prefix]
        with filesystem.open_input_file(path[len(prefix) :]) as handle:  # type: ignore[attr-defined]
            return handle.readall()
