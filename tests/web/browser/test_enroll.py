"""Enroll page in a real browser: photos chosen and dropped, face previews, per-photo outcomes, the result."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import pytest
from conftest import new_page
from layout import NUMBERS, WIDTHS
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


@pytest.mark.parametrize("width", WIDTHS)
def test_pick_the_face_to_enroll_in_a_photo_with_two(browser, server, samples, api, width):
    photo = samples / "group" / "two_people_2.jpg"
    name = f"Second Face {width}"
    page = new_page(browser, server, width=width, height=900)
    try:
        page.goto("/enroll")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Photos", exact=True).set_input_files(photo)
        preview = page.locator(".preview")
        expect(preview.locator(".preview-status")).to_have_text(
            "2 faces found: click the face of the person to enroll, or remove this photo.", timeout=120_000
        )
        first = preview.get_by_role("button", name="Use face 1")
        second = preview.get_by_role("button", name="Use face 2")
        expect(first).to_have_attribute("aria-pressed", "false")
        expect(second).to_have_attribute("aria-pressed", "false")
        assert page.eval_on_selector(".preview .stage", NUMBERS) == ["1", "2"]  # counted from 1, as in the status

        # Enroll before choosing: the page asks for a choice instead of sending a photo that would be refused.
        page.get_by_role("button", name="Enroll", exact=True).click()
        expect(page.locator("#enroll-status")).to_contain_text("several faces: click the face of")
        expect(first).to_be_focused()

        # From the keyboard, then with a click (or a tap) on the other face.
        page.keyboard.press("Enter")
        expect(preview.get_by_role("button", name="Use face 1")).to_have_attribute("aria-pressed", "true")
        expect(preview.locator(".preview-status")).to_contain_text("Face 1 of 2 chosen")
        second.click()
        expect(preview.get_by_role("button", name="Use face 2")).to_have_attribute("aria-pressed", "true")
        expect(preview.get_by_role("button", name="Use face 1")).to_have_attribute("aria-pressed", "false")
        expect(preview.locator(".preview-status")).to_contain_text("Face 2 of 2 chosen")
        expect(page.locator("#enroll-status")).to_have_text("Face 2 of 2 chosen in two_people_2.jpg.")

        page.get_by_role("button", name="Enroll", exact=True).click()
        expect(page.locator("#enroll-status")).to_contain_text(f"Enrolled {name} from 1 of 1 photo", timeout=120_000)
        expect(preview.locator(".preview-result")).to_have_text(re.compile(r"^Accepted"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        errors = list(page.console_errors)
        page.context.close()
    assert not errors, f"errors in the browser console: {errors}"

    # The face enrolled is the second one: recognising the photo names that face and not the other.
    image = {"name": photo.name, "mimeType": "image/jpeg", "buffer": photo.read_bytes()}
    detected = api.post("/api/v1/detect", multipart={"image": image}).json()["faces"]
    recognized = api.post("/api/v1/recognize", multipart={"image": image}).json()["faces"]
    named = [face for face in recognized if (face["identity"] or "").startswith("Second Face")]  # either width's
    try:
        assert len(named) == 1, recognized
        assert max(range(2), key=lambda i: iou(detected[i]["box"], named[0]["box"])) == 1
    finally:
        # The face is one the other tests enroll under its real name: leave the shared gallery as it was.
        assert api.delete(f"/api/v1/people/{quote(name)}").ok


def test_a_rejection_for_several_faces_counts_from_one_and_says_what_to_do(page, samples):
    """A photo whose faces were not yet found when it was sent is refused by the server; the page's reason says how
    to pick a face here, not how the API does it."""
    page.goto("/enroll")
    page.route("**/api/v1/detect", lambda route: route.abort())  # no preview: the photo goes unchecked
    page.get_by_label("Name", exact=True).fill("Nobody In Particular")
    page.get_by_label("Photos", exact=True).set_input_files(samples / "group" / "two_people_2.jpg")
    expect(page.locator(".preview-status")).to_have_attribute("data-kind", "error")
    page.get_by_role("button", name="Enroll", exact=True).click()
    result = page.locator(".preview-result")
    expect(result).to_have_text(
        "Rejected: 2 faces found: click the face to use in the photo above, then press Enroll again.", timeout=120_000
    )
    expect(page.locator("#enroll-status")).to_contain_text("Nothing was enrolled")
    assert "index" not in page.locator("#enroll-status").inner_text()


def iou(a, b) -> float:
    """Overlap of two [x, y, w, h] boxes (intersection over union)."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
