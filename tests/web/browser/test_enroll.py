"""Enroll page in a real browser: photos chosen and dropped, face previews, per-photo outcomes, the result."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import expect


def drop_file(page, selector: str, path) -> None:
    """Drop a file on an element the way a drag from the desktop does (a DataTransfer holding a File)."""
    payload = base64.b64encode(path.read_bytes()).decode()
    page.eval_on_selector(
        selector,
        """(zone, [name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
            }
        }""",
        [path.name, payload],
    )


def test_enroll_two_photos_and_a_rejected_one(page, server, samples, screenshot, api):
    obama = samples / "people" / "obama"
    page.goto("/enroll")
    expect(page.get_by_role("heading", level=1)).to_have_text("Enroll a person")
    page.get_by_label("Name", exact=True).fill("Barack Obama")
    page.get_by_label("Photos", exact=True).set_input_files(
        [obama / "obama.jpg", samples / "no-face" / "pilatus800.jpg"]
    )
    drop_file(page, "[data-dropzone]", obama / "obama1.jpg")

    previews = page.locator(".preview")
    expect(previews).to_have_count(3)
    by_name = {name: previews.filter(has_text=name) for name in ("obama.jpg", "pilatus800.jpg", "obama1.jpg")}
    # The detector's answer is shown before anything is sent: a box on each face, a warning for the landscape.
    expect(by_name["obama.jpg"].locator(".preview-status")).to_have_text("One face found.")
    expect(by_name["obama1.jpg"].locator(".preview-status")).to_have_text("One face found.")
    expect(by_name["pilatus800.jpg"].locator(".preview-status")).to_contain_text("No face found")
    expect(by_name["obama.jpg"].locator(".face-box")).to_have_count(1)
    expect(by_name["pilatus800.jpg"].locator(".face-box")).to_have_count(0)
    box = by_name["obama.jpg"].locator(".face-box").bounding_box()
    picture = by_name["obama.jpg"].locator("img").bounding_box()
    assert picture["width"] * 0.1 < box["width"] < picture["width"] * 0.9, (box, picture)

    page.get_by_role("button", name="Enroll", exact=True).click()
    status = page.locator("#enroll-status")
    expect(status).to_contain_text("Enrolled Barack Obama from 2 of 3 photos", timeout=120_000)
    accepted = re.compile(r"^Accepted(\.| \(this photo was already enrolled\)\.)$")  # other tests may enroll it too
    expect(by_name["obama.jpg"].locator(".preview-result")).to_have_text(accepted)
    expect(by_name["obama1.jpg"].locator(".preview-result")).to_have_text(accepted)
    rejected = by_name["pilatus800.jpg"].locator(".preview-result")
    expect(rejected).to_contain_text("Rejected")
    expect(rejected).to_contain_text("no face found")
    screenshot(page, "enroll", full_page=True)

    people = api.get("/api/v1/people").json()["people"]
    assert {
        k: v for k, v in next(p for p in people if p["name"] == "Barack Obama").items() if k in ("name", "photos")
    } == {"name": "Barack Obama", "photos": 2}
    status.get_by_role("link", name="See everyone on the People page").click()
    expect(page).to_have_url(f"{server}/people")
    expect(page.locator(".person", has_text="Barack Obama")).to_contain_text("2 photos")


def test_enroll_explains_what_is_missing(page, samples):
    page.goto("/enroll")
    page.get_by_role("button", name="Enroll", exact=True).click()
    expect(page.locator("#enroll-status")).to_have_text("Enter the person's name.")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.get_by_label("Name", exact=True).fill("Nobody")
    page.get_by_role("button", name="Enroll", exact=True).click()
    expect(page.locator("#enroll-status")).to_have_text("Add at least one photo of the person.")

    # Only a photo without a face: the API refuses it, and the page says why, per photo and overall.
    page.get_by_label("Photos", exact=True).set_input_files(samples / "no-face" / "pilatus800.jpg")
    page.get_by_role("button", name="Enroll", exact=True).click()
    expect(page.locator("#enroll-status")).to_contain_text("Nothing was enrolled", timeout=120_000)
    expect(page.locator(".preview-result")).to_contain_text("Rejected")
    page.get_by_role("button", name="Remove pilatus800.jpg").click()
    expect(page.locator(".preview")).to_have_count(0)
