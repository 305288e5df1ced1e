"""Recognise page in a real browser: boxes and names on every face of an uploaded photo, "unknown" for strangers."""

from __future__ import annotations

import re

import pytest
from conftest import enroll, new_page
from layout import LABEL_PROBLEMS, NUMBERS, WIDTHS
from playwright.sync_api import expect


def test_group_photo_names_the_enrolled_person_and_not_the_other(page, samples, api, screenshot):
    enroll(api, "Barack Obama", samples / "people" / "obama" / "obama.jpg", samples / "people" / "obama" / "obama1.jpg")
    page.goto("/recognize")
    page.get_by_label("Photo to recognise").set_input_files(samples / "group" / "obama_and_biden_2.jpg")

    status = page.locator("#photo-status")
    expect(status).to_contain_text("recognised", timeout=120_000)
    boxes = page.locator("#photo-stage .face-box")
    known = boxes.filter(has_text="Barack Obama")
    expect(known).to_have_count(1)
    expect(known).to_have_class(re.compile(r"\bface-known\b"))
    assert re.search(r" \d{1,3}$", known.get_attribute("data-label"))
    unknown = boxes.filter(has_text="unknown")
    expect(unknown.first).to_be_visible()
    assert boxes.count() == known.count() + unknown.count() >= 2
    expect(status).to_contain_text(f"{boxes.count()} faces found, 1 recognised.")
    # The text list says the same for screen readers.
    expect(page.locator("#photo-faces li.known")).to_have_count(1)
    expect(page.locator("#photo-faces li.known")).to_contain_text("Barack Obama, similarity")

    # The box sits on Obama, the right-hand one of the two big faces in this photo.
    picture = page.locator("#photo-image").bounding_box()
    box = known.bounding_box()
    centre = (box["x"] + box["width"] / 2 - picture["x"]) / picture["width"]
    assert 0.5 < centre < 0.75, centre
    screenshot(page.locator("section", has=page.locator("#photo-stage")), "recognize")


def test_a_stranger_is_unknown(page, samples, api):
    enroll(api, "Barack Obama", samples / "people" / "obama" / "obama.jpg")
    page.goto("/recognize")
    page.get_by_label("Photo to recognise").set_input_files(samples / "people" / "kit_harington" / "john1.jpeg")
    expect(page.locator("#photo-status")).to_contain_text("1 face found, 0 recognised.", timeout=120_000)
    boxes = page.locator("#photo-stage .face-box")
    expect(boxes).to_have_count(1)
    expect(boxes.first).to_have_class(re.compile(r"\bface-unknown\b"))
    expect(boxes.first.locator(".face-label")).to_contain_text("unknown")
    expect(page.locator("#photo-faces li")).to_contain_text("unknown. Closest enrolled person:")


def test_errors_are_explained(page, samples, tmp_path):
    page.goto("/recognize")
    page.get_by_label("Photo to recognise").set_input_files(samples / "no-face" / "pilatus800.jpg")
    expect(page.locator("#photo-status")).to_contain_text("No face found in this photo", timeout=120_000)

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    page.get_by_label("Photo to recognise").set_input_files(broken)
    status = page.locator("#photo-status")
    expect(status).to_have_attribute("data-kind", "error")
    expect(status).not_to_contain_text("Traceback")
    assert len(status.inner_text()) > 20

    page.locator("summary", has_text="Threshold").click()
    page.get_by_label("Match threshold (0 to 100)").fill("300")
    page.get_by_label("Photo to recognise").set_input_files(samples / "people" / "obama" / "obama.jpg")
    expect(status).to_have_text("The threshold must be a number from 0 to 100, or empty for the default.")


def test_camera_unavailable_is_explained(page):
    """Without a camera (and without permission) the page says what to do instead of failing silently."""
    page.goto("/recognize")
    page.get_by_role("button", name="Start camera").click()
    status = page.locator("#camera-status")
    expect(status).to_have_attribute("data-kind", "error")
    expect(status).to_contain_text("camera")
    expect(page.get_by_role("button", name="Start camera")).to_be_enabled()
    expect(page.locator("#camera-stage")).to_be_hidden()


@pytest.mark.parametrize("width", WIDTHS)
def test_boxes_are_numbered_as_the_list_and_labels_never_cover_faces(browser, server, samples, width):
    page = new_page(browser, server, width=width, height=900)
    try:
        page.goto("/recognize")
        page.get_by_label("Photo to recognise").set_input_files(samples / "group" / "compreface_015_6.jpg")
        expect(page.locator("#photo-status")).to_contain_text("faces found", timeout=120_000)
        items = page.locator("#photo-faces li")
        count = items.count()
        assert count >= 4
        stage = page.locator("#photo-stage")
        page.wait_for_timeout(300)  # the labels are arranged again once the picture has its size
        assert stage.evaluate(NUMBERS) == [str(i + 1) for i in range(count)]
        for i in range(count):
            expect(items.nth(i)).to_contain_text(f"Face {i + 1}:")
        assert stage.evaluate(LABEL_PROBLEMS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        errors = list(page.console_errors)
        page.context.close()
    assert not errors, f"errors in the browser console: {errors}"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_bad_upload_clears_the_old_photo_and_results(browser, server, samples, tmp_path, width):
    page = new_page(browser, server, width=width, height=900)
    try:
        page.goto("/recognize")
        chooser = page.get_by_label("Photo to recognise")
        status = page.locator("#photo-status")
        for bad in ("notes.txt", "broken.jpg"):
            chooser.set_input_files(samples / "group" / "obama_and_biden_2.jpg")
            expect(status).to_contain_text("faces found", timeout=120_000)
            expect(page.locator("#photo-faces li").first).to_be_visible()
            path = tmp_path / bad
            path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
            chooser.set_input_files(path)
            expect(status).to_have_attribute("data-kind", "error", timeout=120_000)
            expect(page.locator("#photo-stage")).to_be_hidden()
            expect(page.locator("#photo-faces li")).to_have_count(0)
            expect(page.locator("#photo-stage .face-box")).to_have_count(0)
    finally:
        errors = list(page.console_errors)
        page.context.close()
    assert not errors, f"errors in the browser console: {errors}"
