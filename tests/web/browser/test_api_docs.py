"""The interactive API documentation in a real browser: Swagger UI starts under the strict CSP (the page fixture
fails on any CSP or script error), lists the endpoints, and "Try it out" really calls the API."""

from __future__ import annotations

import pytest
from conftest import new_page
from playwright.sync_api import expect


@pytest.mark.parametrize("width", [1280, 390])
def test_try_it_out_calls_the_api(browser, server, samples, width):
    page = new_page(browser, server, width=width)
    try:
        page.goto("/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="API", exact=True).click()
        expect(page).to_have_url(f"{server}/api/v1/docs")
        expect(page.get_by_role("heading", level=1)).to_contain_text("faceprint API")
        health = page.locator(".opblock", has_text="/api/v1/health").first
        expect(health).to_be_visible()
        expect(page.locator(".opblock", has_text="/api/v1/recognize").first).to_be_visible()

        health.locator(".opblock-summary").first.click()
        health.get_by_role("button", name="Try it out").click()
        health.get_by_role("button", name="Execute").click()
        expect(health.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
        expect(health.locator(".live-responses-table")).to_contain_text('"status": "ok"')

        # A post from the page passes the CSRF check: detect the faces of a photo.
        detect = page.locator(".opblock", has_text="/api/v1/detect").first
        detect.locator(".opblock-summary").first.click()
        detect.get_by_role("button", name="Try it out").click()
        detect.locator('input[type="file"]').first.set_input_files(samples / "people" / "obama" / "obama.jpg")
        detect.get_by_role("button", name="Execute").click()
        expect(detect.locator(".live-responses-table tbody .response-col_status").first).to_have_text(
            "200", timeout=120_000
        )
        expect(detect.locator(".live-responses-table")).to_contain_text('"landmarks"')
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    finally:
        errors = list(page.console_errors)
        page.context.close()
    assert not errors, f"errors in the browser console: {errors}"
