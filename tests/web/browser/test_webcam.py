"""Live webcam recognition in a real browser, fed by Chromium's fake camera playing a real photo."""

from __future__ import annotations

import itertools
import re

import pytest
from conftest import enroll, launch, new_page
from fakecam import photo_to_y4m
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def camera_browser(playwright_driver, samples, tmp_path_factory):
    """A separate Chromium whose camera shows a photo of Alex Lacamoire (permission granted, no prompt)."""
    video = photo_to_y4m(
        samples / "people" / "alex_lacamoire" / "img1.jpg", tmp_path_factory.mktemp("fakecam") / "alex.y4m"
    )
    browser = launch(
        playwright_driver,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    yield browser
    browser.close()


@pytest.fixture
def camera_page(camera_browser, server):
    page = new_page(camera_browser, server)
    yield page
    errors = list(page.console_errors)
    page.context.close()
    assert not errors, f"errors in the browser console: {errors}"


def redrawn_box(locator, attempts: int = 30) -> dict:
    """The bounding box of an element that the page replaces with every recognised frame (about twice a second):
    a measurement that falls between a removal and its replacement finds nothing, so it is taken again."""
    for _ in range(attempts):
        box = locator.bounding_box(timeout=5_000)
        if box is not None:
            return box
        locator.page.wait_for_timeout(100)
    raise AssertionError("the face box never stayed on the page long enough to be measured")


def test_live_recognition_names_the_person_on_camera(camera_page, samples, api, screenshot):
    page = camera_page
    enroll(api, "Alex Lacamoire", samples / "people" / "alex_lacamoire" / "alex_lacamoire1.jpg")
    in_flight, most_in_flight, sent = 0, 0, []

    def started(request):
        nonlocal in_flight, most_in_flight
        if request.url.endswith("/api/v1/recognize"):
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)

    def finished(request):
        nonlocal in_flight
        if request.url.endswith("/api/v1/recognize"):
            in_flight -= 1
            sent.append(request.timing["startTime"] / 1000)  # the browser's clock, not when Python heard of it

    def failed(request):
        nonlocal in_flight
        if request.url.endswith("/api/v1/recognize"):
            in_flight -= 1

    page.on("request", started)
    page.on("requestfinished", finished)
    page.on("requestfailed", failed)

    page.goto("/recognize")
    page.get_by_role("button", name="Start camera").click()
    expect(page.get_by_role("button", name="Stop camera")).to_be_visible()
    video = page.locator("#camera-video")
    expect(video).to_be_visible()
    assert video.evaluate("v => v.videoWidth") == 640

    label = page.locator("#camera-stage .face-box", has_text="Alex Lacamoire")
    expect(label).to_have_count(1, timeout=120_000)
    expect(label).to_have_class(re.compile(r"\bface-known\b"))
    expect(page.locator("#camera-people")).to_have_text("In view: Alex Lacamoire.")
    # The box is drawn over the face in the middle of the video, not somewhere else.
    frame, box = video.bounding_box(), redrawn_box(label)
    centre_x = (box["x"] + box["width"] / 2 - frame["x"]) / frame["width"]
    assert 0.3 < centre_x < 0.7, (frame, box)
    screenshot(page.locator("section", has=page.locator("#camera-stage")), "webcam")

    # Frames keep flowing, one request at a time and no faster than about 2.5 a second.
    count = len(sent)
    page.wait_for_timeout(2500)
    assert len(sent) > count, "live recognition stopped sending frames"
    assert most_in_flight == 1
    gaps = [b - a for a, b in itertools.pairwise(sorted(sent))]
    assert min(gaps) >= 0.3, gaps

    page.get_by_role("button", name="Stop camera").click()
    expect(page.locator("#camera-status")).to_have_text("Camera off.")
    expect(page.locator("#camera-stage")).to_be_hidden()
    assert video.evaluate("v => v.srcObject") is None
    stopped = len(sent)
    page.wait_for_timeout(1200)
    assert len(sent) <= stopped + 1


def test_celebrity_snapshot_from_the_camera(camera_page):
    page = camera_page
    page.goto("/celebrity")
    page.get_by_role("button", name="Start camera").click()
    page.get_by_role("button", name="Take snapshot").click()
    expect(page.locator("#celebrity-status")).to_have_text("1 face matched.", timeout=120_000)
    expect(page.locator(".celebrity-face .matches li")).to_have_count(3)
    picture = page.locator("#celebrity-image")
    expect(picture).to_have_attribute("alt", "your snapshot, with a numbered box on every face")
    page.get_by_role("button", name="Stop camera").click()
    expect(page.get_by_role("button", name="Take snapshot")).to_be_hidden()
