"""Every page in a real browser: navigation, accessibility basics, keyboard use, strict CSP, small screens."""

from __future__ import annotations

import re

import pytest
from conftest import enroll, new_page
from playwright.sync_api import expect

PAGES = {
    "/": "Recognise faces in photos and live from your camera",
    "/enroll": "Enroll a person",
    "/recognize": "Recognise faces",
    "/celebrity": "Celebrity look-alike",
    "/people": "People",
    "/library": "Library",
    "/clusters": "Unknown faces",
}

UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => el.type !== "hidden")
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
        && !el.getAttribute("aria-labelledby") && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML)"""


@pytest.fixture(scope="module")
def someone_enrolled(playwright_driver, server, samples):
    context = playwright_driver.request.new_context(base_url=server)
    enroll(context, "Barack Obama", samples / "people" / "obama" / "obama.jpg")
    context.dispose()


def test_home_links_to_every_page(page):
    page.goto("/")
    main = page.get_by_role("main")
    for label, heading in [
        ("Enroll", "Enroll a person"),
        ("Recognise", "Recognise faces"),
        ("Celebrity match", "Celebrity look-alike"),
        ("People", "People"),
    ]:
        page.goto("/")
        main.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        current = page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True)
        expect(current).to_have_attribute("aria-current", "page")


@pytest.mark.parametrize("path", PAGES)
def test_page_is_accessible_and_self_contained(page, server, api, path, someone_enrolled):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(path)
    assert response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp, csp
    expect(page.get_by_role("heading", level=1)).to_have_text(PAGES[path])
    assert page.locator("h1").count() == 1
    page.wait_for_load_state("networkidle")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert page.locator("main").count() == 1 and page.locator("html").get_attribute("lang") == "en"
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token, "the page must hand its scripts a CSRF token"
    # Nothing comes from another origin; no inline scripts, handlers or styles (the CSP would block them).
    assert requests and all(url.startswith(server) or url.startswith(("blob:", "data:")) for url in requests), requests
    html = api.get(path).text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert not re.search(r"\sstyle=", html), "inline style attribute"


KEYBOARD_TARGETS = {
    "/enroll": ["#person-name", "#enroll-photos", "#enroll-submit"],
    "/recognize": ["#recognize-photo", "#camera-toggle"],
    "/celebrity": ["#celebrity-photo", "#celebrity-camera"],
    "/people": ["#people-enroll-link", ".rename-button", ".delete-button"],
}


@pytest.mark.parametrize("path", KEYBOARD_TARGETS)
def test_keyboard_reaches_the_main_controls(page, path, someone_enrolled):
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    reached, outlines = set(), []
    for _ in range(40):
        page.keyboard.press("Tab")
        hit = page.evaluate(
            """(selectors) => selectors.filter((s) => document.activeElement.matches(s))""", KEYBOARD_TARGETS[path]
        )
        if hit:
            reached.update(hit)
            outlines.append(page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle"))
        if reached == set(KEYBOARD_TARGETS[path]):
            break
    assert reached == set(KEYBOARD_TARGETS[path])
    assert "none" not in outlines, "focused controls must show a visible focus ring"


def test_people_dialog_works_from_the_keyboard(page, someone_enrolled):
    page.goto("/people")
    delete = page.locator(".delete-button").first
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(delete).to_be_focused()


def test_phone_screen(browser, server, samples, screenshot, someone_enrolled):
    page = new_page(browser, server, width=375, height=812)
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 375, f"{path} scrolls sideways on a phone ({overflow} px wide)"
    page.goto("/recognize")
    page.get_by_label("Photo to recognise").set_input_files(samples / "group" / "obama_and_biden_2.jpg")
    expect(page.locator("#photo-status")).to_contain_text("recognised", timeout=120_000)
    expect(page.locator("#photo-stage .face-box", has_text="Barack Obama")).to_have_count(1)
    assert page.locator("#photo-image").bounding_box()["width"] <= 375
    page.locator("#photo-stage").scroll_into_view_if_needed()
    screenshot(page, "mobile")
    assert not page.console_errors
    page.context.close()


def test_unknown_page_is_helpful(page):
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.get_by_role("link", name="Go to the home page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PAGES["/"])
