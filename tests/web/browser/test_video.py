"""Video on the Recognise page in a real browser: a clip made from sample photos is uploaded and shown as a time line
of who appears when; the live camera's names come from a vote over each face's recent frames."""

from __future__ import annotations

import re

import pytest
from conftest import enroll, new_page
from layout import WIDTHS
from playwright.sync_api import expect

from faceprint.video.synthetic import Actor, make_video

ANALYSIS_MS = 180_000  # a clip is analysed on two shared cores while other tests run


@pytest.fixture(scope="module")
def clip(samples, tmp_path_factory):
    """2.4 s, 480x360, 25 fps WebM (VP8, which every Chromium plays): Obama from the start, Biden (a stranger
    here: nobody enrolls him in these tests) from 1 s."""
    people = samples / "people"
    actors = [
        Actor(people / "obama" / "obama.jpg", 0.0, 2.4, (0.05, 0.1), (0.15, 0.15), 190),
        Actor(people / "biden" / "biden.jpg", 1.0, 2.4, (0.6, 0.3), (0.55, 0.25), 170),
    ]
    return make_video(tmp_path_factory.mktemp("clip") / "visit.webm", actors, 2.4, size=(480, 360), codec="libvpx")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_clip_becomes_a_time_line_of_who_appears_when(browser, server, samples, api, clip, width, screenshot):
    obama = samples / "people" / "obama"
    enroll(api, "Barack Obama", obama / "obama1.jpg", obama / "obama2.jpg")
    page = new_page(browser, server, width=width, height=800)
    try:
        page.goto("/recognize")
        page.get_by_label("Video clip to recognise").set_input_files(clip)
        status = page.locator("#video-status")
        expect(status).to_contain_text("followed in 2.4 s of video", timeout=ANALYSIS_MS)
        expect(status).to_contain_text("2 faces followed in 2.4 s of video: Barack Obama, 1 unknown.")
        rows = page.locator("#video-tracks li")
        expect(rows).to_have_count(2)
        obama, stranger = rows.nth(0), rows.nth(1)  # in order of appearance
        expect(obama).to_have_class(re.compile(r"\bknown\b"))
        expect(obama.locator(".track-who")).to_contain_text(re.compile(r"Barack Obama similarity \d+"))
        expect(stranger).to_have_class(re.compile(r"\bunknown\b"))
        expect(stranger.locator(".track-who")).to_contain_text("Unknown person")
        for row in (obama, stranger):  # each track's best face is shown, decoded, square
            face = row.locator("img.track-face")
            expect(face).to_be_visible()
            assert face.evaluate("img => img.complete && img.naturalWidth === 96 && img.naturalHeight === 96")

        # The bars sit where each face is on screen: Obama from the start, the stranger from about 1 s of 2.4.
        lane = obama.locator(".track-lane").bounding_box()
        first, second = obama.locator(".track-bar").bounding_box(), stranger.locator(".track-bar").bounding_box()
        assert first["x"] - lane["x"] < 0.05 * lane["width"], (lane, first)
        assert 0.3 < (second["x"] - lane["x"]) / lane["width"] < 0.65, (lane, second)
        assert first["width"] > 0.8 * lane["width"]

        # Nothing is cut or pushed sideways, on a laptop or a phone.
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        for row in (obama, stranger):
            box = row.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        if width == WIDTHS[0]:
            screenshot(page.locator("section", has=page.locator("#video-tracks")), "video")

        # A row plays the clip from when that face appears.
        player = page.locator("#video-player")
        expect(player).to_be_visible()
        stranger.get_by_role("button", name=re.compile(r"^Play Unknown person from 1\.\d s$")).click()
        page.wait_for_function("() => document.getElementById('video-player').currentTime >= 0.9")
        errors = list(page.console_errors)
    finally:
        page.context.close()
    assert not errors, errors


def test_files_that_are_not_clips_are_explained_and_clear_old_results(page, samples, clip, tmp_path):
    page.goto("/recognize")
    field = page.get_by_label("Video clip to recognise")
    field.set_input_files(clip)
    expect(page.locator("#video-tracks li")).to_have_count(2, timeout=ANALYSIS_MS)

    field.set_input_files(samples / "people" / "obama" / "obama.jpg")  # refused in the page: not a video
    expect(page.locator("#video-status")).to_have_text("obama.jpg: not a video. Choose an MP4, WebM, MOV or MKV clip.")
    expect(page.locator("#video-tracks li")).to_have_count(0)
    expect(page.locator("#video-player")).to_be_hidden()

    broken = tmp_path / "broken.mp4"  # a video by its name, refused by the server
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing that FFmpeg can read")
    field.set_input_files(broken)
    expect(page.locator("#video-status")).to_contain_text("broken.mp4", timeout=ANALYSIS_MS)
    expect(page.locator("#video-status")).to_have_attribute("data-kind", "error")
    expect(page.locator("#video-timeline")).to_be_hidden()


VOTE = """async () => {
    const { LiveTracks } = await import("/static/js/tracks.js");
    const tracks = new LiveTracks();
    const face = (box, name, similarity, other = 40) => ({
        box, threshold: 60, identity: similarity >= 60 ? name : null, similarity,
        candidates: [{ name, similarity }, { name: name === "Ann" ? "Bob" : "Ann", similarity: other }],
    });
    const shown = [];
    let now = 0;
    const frame = (...faces) => { now += 400; shown.push(tracks.update(faces, now)); };
    for (let i = 0; i < 4; i++) frame(face([100, 100, 80, 80], "Ann", 74), face([400, 120, 60, 60], "Bob", 30, 20));
    frame(face([104, 102, 80, 80], "Bob", 61, 58), face([402, 121, 60, 60], "Ann", 62, 30));  // one doubtful frame
    frame(face([300, 300, 70, 70], "Bob", 80));  // a new face elsewhere; the others are no longer seen
    now += 2000;
    frame(face([106, 104, 80, 80], "Bob", 70, 40));  // Ann's place, long after her track ended
    return shown.map((faces) => faces.map((f) => [f.track, f.identity, f.frame.identity]));
}"""


def test_live_camera_names_come_from_each_faces_recent_frames(page):
    page.goto("/recognize")
    shown = page.evaluate(VOTE)
    assert shown[0] == [[1, "Ann", "Ann"], [2, None, None]]
    assert shown[3] == [[1, "Ann", "Ann"], [2, None, None]]
    # One frame that names Bob (and one where the stranger looks like Ann) changes no name on screen.
    assert shown[4] == [[1, "Ann", "Bob"], [2, None, "Ann"]]
    assert shown[5] == [[3, "Bob", "Bob"]]
    # A face where a track ended long ago starts a new track, named from its own frames only.
    assert shown[6] == [[4, "Bob", "Bob"]]
