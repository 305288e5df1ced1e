"""People page in a real browser: the list, rename inline, add and remove photos, delete after confirming."""

from __future__ import annotations

from conftest import enroll, new_page
from playwright.sync_api import expect


def test_rename_add_photos_and_delete(page, samples, api, screenshot):
    rose = samples / "people" / "rose_leslie"
    enroll(api, "Rose Leslie", rose / "img1.jpg")
    page.goto("/people")
    card = page.locator('.person[data-name="Rose Leslie"]')
    expect(card).to_contain_text("1 photo")
    expect(card.locator(".person-enrollment")).to_contain_text("Enrollment: fair — add 2 more clear photos")
    expect(card.get_by_role("img", name="Face of Rose Leslie")).to_be_visible()
    assert card.get_by_role("img").evaluate("img => img.naturalWidth") == 96

    # Rename inline; a name in use would be refused, a new one is taken.
    card.get_by_role("button", name="Rename Rose Leslie").click()
    field = page.get_by_label("New name for Rose Leslie")
    expect(field).to_be_focused()
    field.fill("Rose L.")
    field.press("Enter")
    renamed = page.locator('.person[data-name="Rose L."]')
    expect(renamed.locator(".person-feedback")).to_have_text("Renamed Rose Leslie to Rose L.")
    expect(page.locator('.person[data-name="Rose Leslie"]')).to_have_count(0)

    # Add a photo from the card's file input.
    renamed.get_by_label("Add photos of Rose L.").set_input_files(rose / "img2.jpg")
    expect(renamed.locator(".person-feedback")).to_have_text("Added 1 of 1 photo to Rose L.", timeout=120_000)
    expect(renamed).to_contain_text("2 photos")
    renamed.get_by_role("button", name="Show photos of Rose L.").click()
    expect(renamed.locator(".photo")).to_have_count(2)
    screenshot(page, "people", full_page=True)

    # Remove one photo (confirmed); the person stays with the other.
    renamed.get_by_role("button", name="Remove photo 2 of Rose L.").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(renamed.locator(".person-feedback")).to_have_text("Removed photo 2 of Rose L.")
    expect(renamed).to_contain_text("1 photo ")
    expect(renamed.locator(".photo")).to_have_count(1)

    # Delete asks first: cancelling keeps the person, confirming removes them.
    renamed.get_by_role("button", name="Delete Rose L.").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete Rose L.?")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(renamed).to_be_visible()
    renamed.get_by_role("button", name="Delete Rose L.").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#people-status")).to_have_text("Deleted Rose L.")
    expect(page.locator('.person[data-name="Rose L."]')).to_have_count(0)
    assert all(p["name"] != "Rose L." for p in api.get("/api/v1/people").json()["people"])


def test_rename_to_a_name_in_use_shows_the_error(page, samples, api):
    enroll(api, "Barack Obama", samples / "people" / "obama" / "obama.jpg")
    enroll(api, "Alex Lacamoire", samples / "people" / "alex_lacamoire" / "alex_lacamoire1.jpg")
    page.goto("/people")
    card = page.locator('.person[data-name="Alex Lacamoire"]')
    card.get_by_role("button", name="Rename Alex Lacamoire").click()
    page.get_by_label("New name for Alex Lacamoire").fill("Barack Obama")
    card.get_by_role("button", name="Save").click()
    feedback = card.locator(".person-feedback")
    expect(feedback).to_have_attribute("data-kind", "error")
    expect(feedback).to_contain_text("Barack Obama")
    card.get_by_role("button", name="Cancel").click()
    expect(card.get_by_role("button", name="Rename Alex Lacamoire")).to_be_focused()


def test_empty_state(browser, empty_server, samples):
    page = new_page(browser, empty_server)
    page.goto("/recognize")
    page.get_by_label("Photo to recognise").set_input_files(samples / "people" / "obama" / "obama.jpg")
    status = page.locator("#photo-status")
    expect(status).to_contain_text("Nobody is enrolled yet, so every face is unknown.", timeout=120_000)
    expect(page.locator("#photo-stage .face-box")).to_have_text("1 unknown")  # numbered like the list
    page.goto("/people")
    empty = page.locator("#people-empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("Nobody is enrolled yet")
    empty.get_by_role("link", name="Enroll someone").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enroll a person")
    assert not page.console_errors
    page.context.close()
