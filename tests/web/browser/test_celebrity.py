"""Celebrity look-alike page in a real browser: per face the three closest celebrities with confidence bars."""

from __future__ import annotations

import json
import re

import pytest
from conftest import new_page
from layout import LABEL_PROBLEMS, NUMBERS, WIDTHS
from playwright.sync_api import expect

from faceprint.recognizer import __file__ as recognizer_file

LABELS = json.loads(
    (__import__("pathlib").Path(recognizer_file).parent / "data" / "celebrity" / "labels.json").read_text()
)


def test_three_look_alikes_with_bars(page, samples, screenshot):
    page.goto("/celebrity")
    expect(page.locator(".notice")).to_contain_text("look-alike game, not an identification")
    page.get_by_label("Photo", exact=True).set_input_files(samples / "people" / "obama" / "obama2.jpg")

    expect(page.locator("#celebrity-status")).to_have_text("1 face matched.", timeout=120_000)
    faces = page.locator(".celebrity-face")
    expect(faces).to_have_count(1)
    rows = faces.first.locator(".matches li")
    expect(rows).to_have_count(3)
    names = [rows.nth(i).locator(".match-name").inner_text() for i in range(3)]
    assert len(set(names)) == 3 and set(names) <= set(LABELS), names
    values = [int(rows.nth(i).locator(".match-value").inner_text().rstrip("%")) for i in range(3)]
    assert values == sorted(values, reverse=True) and sum(values) <= 101, values
    widths = [rows.nth(i).locator(".bar-fill").bounding_box()["width"] for i in range(3)]
    track = rows.first.locator(".bar").bounding_box()["width"]
    for value, width in zip(values, widths):
        assert abs(width - track * value / 100) <= max(2.0, track * 0.01), (values, widths, track)
    expect(faces.first.locator("h3")).to_have_text(f"Face 1: looks most like {names[0]}")
    expect(page.locator("#celebrity-stage .face-box")).to_have_count(1)
    expect(page.locator("#celebrity-notice")).to_have_text(re.compile(r"\w+"))
    screenshot(page, "celebrity", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_names_are_fully_visible_and_a_bad_upload_clears_them(browser, server, samples, tmp_path, width):
    page = new_page(browser, server, width=width, height=900)
    try:
        page.goto("/celebrity")
        page.get_by_label("Photo", exact=True).set_input_files(samples / "group" / "compreface_011_3.jpg")
        expect(page.locator("#celebrity-status")).to_contain_text("matched", timeout=120_000)
        page.wait_for_timeout(300)
        names = page.locator(".match-name, .celebrity-face h3")
        assert names.count() >= 3
        hidden = names.evaluate_all(
            """(elements) => elements.filter((el) => {
                const r = el.getBoundingClientRect();
                return !r.width || el.scrollWidth > el.clientWidth + 1 || r.left < 0 || r.right > innerWidth;
            }).map((el) => el.textContent)"""
        )
        assert hidden == []
        stage = page.locator("#celebrity-stage")
        count = page.locator(".celebrity-face").count()
        assert stage.evaluate(NUMBERS) == [str(i + 1) for i in range(count)]
        assert stage.evaluate(LABEL_PROBLEMS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        notes = tmp_path / "notes.txt"
        notes.write_text("not a photo")
        page.get_by_label("Photo", exact=True).set_input_files(notes)
        expect(page.locator("#celebrity-status")).to_have_attribute("data-kind", "error")
        expect(page.locator("#celebrity-results")).to_be_hidden()
        expect(page.locator(".celebrity-face")).to_have_count(0)
    finally:
        errors = list(page.console_errors)
        page.context.close()
    assert not errors, f"errors in the browser console: {errors}"
