"""``faceprint video`` on clips made from the sample photos, with the real models."""

from __future__ import annotations

import contextlib
import io
import json

import av
import pytest

from faceprint.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["video", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def clip_answer(clip, gallery_url) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["video", str(clip), "--gallery", gallery_url, "--json", "--quiet"]) == 0
    return json.loads(out.getvalue())


def test_each_person_is_one_track_named_from_the_gallery_and_the_stranger_is_unknown(clip_answer):
    tracks = clip_answer["tracks"]
    assert clip_answer["fps"] == 25 and clip_answer["duration"] == pytest.approx(3.0, abs=0.1)
    assert len(tracks) == 3, [(t["identity"], t["start"], t["end"]) for t in tracks]
    by_name = {t["identity"]: t for t in tracks}
    assert set(by_name) == {"Obama", "Biden", None}
    assert by_name["Obama"]["start"] < 0.3 and by_name["Obama"]["end"] > 2.6
    assert 0.7 <= by_name["Biden"]["start"] <= 0.8 + 0.7  # a new face is looked for every 0.6 s
    assert by_name[None]["similarity"] < clip_answer["threshold"]
    for track in tracks:
        assert track["faces"] == len(track["boxes"]) >= 2
        assert {"id", "identity", "similarity", "start", "end", "faces", "boxes"} <= set(track)
        assert all(len(box) == 5 for box in track["boxes"])
    assert clip_answer["threshold"] == 60.0  # the photo identification threshold of a small gallery


def test_obama_is_named_with_photo_scale_similarity(clip_answer):
    obama = next(t for t in clip_answer["tracks"] if t["identity"] == "Obama")
    assert 60 <= obama["similarity"] <= 100 and obama["votes"] >= 3


def test_fewer_frames_are_analysed_than_decoded(clip_answer):
    assert 5 <= clip_answer["analysed_frames"] < 75 / 2


def test_text_output_and_annotated_video(capsys, clip, gallery_url, tmp_path):
    target = tmp_path / "named.mp4"
    code, out, err = run(capsys, str(clip), "--gallery", gallery_url, "--annotate", str(target), "--quiet")
    assert code == 0, err
    assert "3 tracks" in out and "Obama" in out and "Biden" in out and "unknown" in out
    with av.open(str(target)) as written:
        stream = written.streams.video[0]
        assert (stream.width, stream.height) == (480, 360)
        assert sum(1 for _ in written.decode(stream)) == 75


def test_without_a_gallery_faces_are_tracked_and_unnamed(capsys, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPRINT_GALLERY", f"sqlite:///{tmp_path / 'none.db'}")
    code, out, err = run(capsys, str(clip), "--json", "--quiet")
    assert code == 0, err
    tracks = json.loads(out)["tracks"]
    assert len(tracks) == 3 and all(t["identity"] is None and t["similarity"] is None for t in tracks)


def test_a_video_without_faces_has_no_tracks(capsys, empty_clip, gallery_url):
    code, out, _ = run(capsys, str(empty_clip), "--gallery", gallery_url, "--json")
    assert code == 0 and json.loads(out)["tracks"] == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--annotate", "out.avi"], "--annotate: give an .mp4"),
        (["--timeout", "0"], "--timeout must be a positive"),
        (["--duration", "-1"], "--duration must be a positive"),
    ],
)
def test_bad_options_are_one_line_errors(capsys, clip, argv, message):
    code, out, err = run(capsys, str(clip), *argv)
    assert code == 2 and out == ""
    assert err.startswith("faceprint: error: ") and message in err and err.count("\n") == 1


def test_a_stream_cannot_be_annotated(capsys):
    code, _, err = run(capsys, "rtsp://127.0.0.1:9/cam", "--annotate", "x.mp4")
    assert code == 2 and "needs a video file" in err


def test_a_named_gallery_that_does_not_exist_is_refused(capsys, clip, tmp_path):
    code, _, err = run(capsys, str(clip), "--gallery", f"sqlite:///{tmp_path / 'typo.db'}")
    assert code == 2 and "no gallery at" in err
