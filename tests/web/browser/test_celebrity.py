"""Celebrity look-alike page in a real browser: per face the three closest celebrities with confidence bars."""

from __future__ import annotations

import json
import re

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
