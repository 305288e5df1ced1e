"""Downloading model weights: resume with HTTP Range, truncated transfers and checksum mismatches rejected, and the
offline message, against a real HTTP server on 127.0.0.1 serving a file this test makes."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from typing import ClassVar

import numpy as np
import pytest

from faceprint.embedding.download import ChecksumError, DownloadError, download
from faceprint.embedding.openface import install_openface
from faceprint.embedding.weights import OPENFACE_MD5, OPENFACE_URL, WEIGHTS_ENV

PAYLOAD = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """/full honours Range; /truncate announces the whole file and stops halfway; /norange ignores Range;
    /missing is not there."""

    requests: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        Handler.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/missing":
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and self.path == "/full":
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.end_headers()
                return
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path == "/truncate" else body)
        self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_log():
    Handler.requests.clear()


def test_download_verifies_and_renames_into_place(server, tmp_path):
    dest = download(f"{server}/full", tmp_path / "model.t7", PAYLOAD_MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "model.t7.part").exists()
    download(f"{server}/full", dest, PAYLOAD_MD5, progress=False)  # already there: nothing is fetched again
    assert len(Handler.requests) == 1


def test_truncated_download_is_rejected_then_resumed(server, tmp_path):
    dest = tmp_path / "model.t7"
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download(f"{server}/truncate", dest, PAYLOAD_MD5, progress=False)
    part = tmp_path / "model.t7.part"
    assert not dest.exists() and part.stat().st_size == len(PAYLOAD) // 2
    download(f"{server}/full", dest, PAYLOAD_MD5, progress=False)
    assert Handler.requests[-1] == ("/full", f"bytes={len(PAYLOAD) // 2}-")  # only the rest was asked for
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    part = tmp_path / "model.t7.part"
    part.write_bytes(PAYLOAD[:1000])
    dest = download(f"{server}/norange", tmp_path / "model.t7", PAYLOAD_MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_a_complete_partial_file_is_verified_without_downloading_again(server, tmp_path):
    (tmp_path / "model.t7.part").write_bytes(PAYLOAD)
    dest = download(f"{server}/full", tmp_path / "model.t7", PAYLOAD_MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and Handler.requests == [("/full", f"bytes={len(PAYLOAD)}-")]


def test_checksum_mismatch_is_rejected_and_the_file_deleted(server, tmp_path):
    wrong = hashlib.md5(b"something else").hexdigest()
    with pytest.raises(ChecksumError, match=f"has md5 {PAYLOAD_MD5}, not the published {wrong}"):
        download(f"{server}/full", tmp_path / "model.t7", wrong, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_are_reported(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server}/missing", tmp_path / "model.t7", PAYLOAD_MD5, progress=False)
    assert list(tmp_path.iterdir()) == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_install_explains_how_to_get_the_weights(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/nn4.small2.v1.t7"
    with pytest.raises(DownloadError) as error:
        install_openface(url=url, progress=False, directory=tmp_path)
    message = error.value.message
    for text in (url, OPENFACE_URL, OPENFACE_MD5, "faceprint models fetch openface --weights PATH", WEIGHTS_ENV):
        assert text in message
    assert list(tmp_path.iterdir()) == []
