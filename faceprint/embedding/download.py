"""Resumable, checksum-verified downloads of model weights into the model cache.

Bytes go to ``<file>.part``; an interrupted download resumes from there with an HTTP Range request, and only a file
whose MD5 matches the published one is renamed (atomically) to its final name."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from faceprint.errors import FaceprintError

CHUNK = 1 << 16


class DownloadError(FaceprintError):
    """A model file could not be downloaded (offline, server error, interrupted transfer)."""

    code = "download_failed"
    http_status = 502


class ChecksumError(DownloadError):
    """A downloaded or given model file is not the published one (its MD5 differs)."""

    code = "checksum_mismatch"


def file_md5(path: Path) -> str:
    """MD5 of a file, read in chunks (the checksum the model's publishers give)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _open(url: str, start: int, timeout: float, hint: str):
    """The HTTP response for ``url`` from byte ``start`` on (None when the server says the file is complete)."""
    from faceprint.version import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"faceprint/{__version__}"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to send: the partial file is already complete
            return None
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}. {hint}".strip()) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {url} ({reason}); is this machine offline? {hint}".strip()) from None


def _resumes(response, start: int) -> bool:
    """Whether the server answered the Range request with the bytes from ``start`` on."""
    return response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {start}-")


def download(url: str, dest: Path, md5: str, progress: bool = True, timeout: float = 30.0, hint: str = "") -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part`` if present), verify its MD5 and rename it into place.

    Raises DownloadError (with ``hint`` appended: what to do instead) when the server cannot be reached or the
    transfer stops early, leaving the partial file to resume from; ChecksumError, deleting it, when the MD5 differs."""
    from tqdm import tqdm

    dest = Path(dest)
    if dest.is_file() and file_md5(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    response = _open(url, start, timeout, hint)
    total = start
    if response is not None:
        with response:
            if start and not _resumes(response, start):
                start = 0  # the server sent the whole file: start again
            length = response.headers.get("Content-Length")
            total = start + int(length) if length and length.isdigit() else None
            received = start
            try:
                with (
                    open(part, "ab" if start else "wb") as handle,
                    tqdm(
                        total=total, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                    ) as bar,
                ):
                    while chunk := response.read(CHUNK):
                        handle.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"the download of {url} stopped after {received} bytes ({exc}); run the command again to resume"
                ) from None
    size = part.stat().st_size if part.is_file() else 0
    if total is not None and size < total:
        raise DownloadError(
            f"the download of {url} is truncated ({size} of {total} bytes); run the command again to resume"
        )
    digest = file_md5(part)
    if digest != md5:
        part.unlink()
        raise ChecksumError(
            f"{url} has md5 {digest}, not the published {md5}: the file is damaged or not the expected one, "
            "so it was deleted. Run the command again, or get the file another way. " + hint
        )
    os.replace(part, dest)
    return dest
