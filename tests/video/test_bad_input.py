"""Bad video input: not a video, truncated, silent or dropping streams, 4K at 60 fps. Clear errors or partial
results, never a hang."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from faceprint.video import VideoError, VideoSettings, analyse_video
from faceprint.video.decode import VideoReader
from faceprint.video.synthetic import Actor, make_video


def test_a_text_file_is_not_a_video(recognizer, tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not moving pictures\n" * 50)
    with pytest.raises(VideoError, match="not a video"):
        analyse_video(path, recognizer)


def test_an_image_is_not_a_video_with_tracks(recognizer, people):
    # FFmpeg reads a JPEG as a one-frame video: it is answered, not refused, and the face is too brief for a track.
    result = analyse_video(people / "obama" / "obama.jpg", recognizer).to_dict()
    assert result["tracks"] == []


def test_an_empty_file_and_a_missing_one(recognizer, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError):
        analyse_video(tmp_path / "empty.mp4", recognizer)
    with pytest.raises(VideoError, match="no such file"):
        analyse_video(tmp_path / "absent.mp4", recognizer)


def test_a_truncated_mp4_is_refused_clearly(recognizer, clip, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # the index (moov) is at the end: lost
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        analyse_video(cut, recognizer)


def test_a_truncated_stream_file_gives_the_tracks_up_to_the_cut(recognizer, stream_clip, tmp_path):
    cut = tmp_path / "cut.ts"
    data = stream_clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 777])  # mid-packet
    result = analyse_video(cut, recognizer).to_dict()
    assert result["tracks"] and max(t["end"] for t in result["tracks"]) < 2.9
    assert result["tracks"][0]["candidates"][0]["name"] == "Obama"  # named or not: only 1.3 s, some of it blurred


def test_4k_at_60_fps_is_downscaled_and_frames_are_skipped(recognizer, people, tmp_path):
    actor = Actor(people / "obama" / "obama.jpg", 0.0, 1.0, (0.3, 0.2), (0.35, 0.2), 1100)
    video = make_video(tmp_path / "uhd.mp4", [actor], 1.0, size=(3840, 2160), fps=60)
    started = time.monotonic()
    result = analyse_video(video, recognizer).to_dict()
    assert time.monotonic() - started < 60
    assert (result["width"], result["height"], result["fps"]) == (3840, 2160, 60)
    assert result["analysed_frames"] <= 15  # of 60
    (track,) = result["tracks"]
    assert track["identity"] == "Obama"
    assert track["boxes"][0][3] > 150  # in the source's pixels (about 56 px in the analysed frame)


@contextmanager
def server(handler) -> Iterator[int]:
    """A local TCP server running ``handler(connection)`` for each client; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handler, args=(connection, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def silent(connection: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request and never answer (a stalled camera)."""
    connection.recv(4096)
    stop.wait(30)
    connection.close()


def test_a_stream_that_never_answers_times_out(recognizer):
    with server(silent) as port:
        started = time.monotonic()
        settings = VideoSettings(timeout=1.0, reconnects=1)
        with pytest.raises(VideoError, match=r"127\.0\.0\.1"):
            analyse_video(f"http://127.0.0.1:{port}/camera.ts", recognizer, settings)
        assert time.monotonic() - started < 15


def half_then_hang_up(data: bytes):
    def handle(connection: socket.socket, stop: threading.Event) -> None:
        connection.recv(4096)
        header = f"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: {len(data)}\r\n\r\n"
        try:
            connection.sendall(header.encode() + data[: len(data) // 2])
        finally:
            connection.close()

    return handle


def test_a_stream_that_drops_is_reconnected_then_answered_with_a_warning(recognizer, stream_clip):
    with server(half_then_hang_up(stream_clip.read_bytes())) as port:
        started = time.monotonic()
        settings = VideoSettings(timeout=2.0, reconnects=1, max_duration=20.0)
        result = analyse_video(f"http://127.0.0.1:{port}/camera.ts", recognizer, settings).to_dict()
        assert time.monotonic() - started < 60
    assert result["tracks"]
    assert any("reconnection" in warning for warning in result.get("warnings", []))


def test_duration_limit_stops_reading(stream_clip):
    with VideoReader(stream_clip, max_duration=1.0) as reader:
        times = [frame.time for frame in reader.frames(lambda t: False)]
    assert times[0] == 0.0 and 0.9 <= times[-1] <= 1.0


def test_frames_are_converted_only_when_wanted(clip: Path):
    with VideoReader(clip, max_side=240) as reader:
        frames = list(reader.frames(lambda t: t < 0.1))
    assert len(frames) == 75
    assert [f.pixels is not None for f in frames[:4]] == [True, True, True, False]
    assert frames[0].pixels.shape == (180, 240, 3) and frames[0].scale == 0.5


def test_an_http_error_is_a_clear_error(recognizer):
    class Missing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Missing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(VideoError, match="cannot open"):
            analyse_video(f"http://127.0.0.1:{httpd.server_port}/x.ts", recognizer, VideoSettings(timeout=2.0))
    finally:
        httpd.shutdown()
