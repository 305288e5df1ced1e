"""Pages on a server that needs keys: sign in, and a recognize-only key sees no controls it may not use."""

from __future__ import annotations

import re

from conftest import ADMIN_KEY, RECOGNIZE_KEY, enroll, new_page
from playwright.sync_api import expect


def test_recognize_key_can_look_but_not_change(browser, playwright_driver, keyed_server, samples, screenshot):
    admin = playwright_driver.request.new_context(base_url=keyed_server, extra_http_headers={"X-API-Key": ADMIN_KEY})
    enroll(admin, "Barack Obama", samples / "people" / "obama" / "obama.jpg")
    admin.dispose()

    page = new_page(browser, keyed_server)
    page.goto("/people")
    expect(page).to_have_url(re.compile(r"/signin\?next=(/|%2F)people$"))
    page.get_by_label("Key").fill(RECOGNIZE_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{keyed_server}/people")

    # The recognize key may not list the gallery: no names, no thumbnails, no controls.
    expect(page.locator("#people-forbidden")).to_be_visible()
    expect(page.locator('.person[data-name="Barack Obama"]')).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto("/enroll")
    expect(page.locator("#enroll-forbidden")).to_be_visible()
    expect(page.get_by_role("button", name="Enroll", exact=True)).to_be_disabled()

    # Recognition works with the session: the page's fetch carries the cookie and the CSRF token.
    page.goto("/recognize")
    page.get_by_label("Photo to recognise").set_input_files(samples / "people" / "obama" / "obama2.jpg")
    expect(page.locator("#photo-stage .face-box", has_text="Barack Obama")).to_have_count(1, timeout=120_000)

    page.get_by_role("button", name="Sign out").click()
    page.goto("/recognize")
    expect(page).to_have_url(re.compile(r"/signin"))
    assert not page.console_errors
    page.context.close()
