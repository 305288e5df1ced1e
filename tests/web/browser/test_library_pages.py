"""Photo library in a real browser, as a new user tries it: index a folder from the Library page (progress survives
a reload), name two groups of unknown faces on the Unknown faces page, then open "Photos of" each person and see
their face boxed in every photo; at laptop and phone widths, with the keyboard where a user would use it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import new_page, start_server
from layout import WIDTHS
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from library_folder import PEOPLE, PHOTOS_EACH, make_library_folder

from faceprint import FaceRecognizer

INDEX_TIMEOUT_MS = 400_000  # 19 files on two shared cores

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
BOXES_ON_FACES = """(items) => items.map((item) => {
    const img = item.querySelector("img");
    const box = item.querySelector(".library-box").getBoundingClientRect();
    const pic = img.getBoundingClientRect();
    const inside = box.left >= pic.left - 1 && box.right <= pic.right + 1 && box.top >= pic.top - 1
        && box.bottom <= pic.bottom + 1;
    return img.complete && img.naturalWidth > 0 && box.width > 8 && box.height > 8 && inside;
})"""


@pytest.fixture(scope="module")
def folder(datasets, tmp_path_factory) -> Path:
    return make_library_folder(datasets, tmp_path_factory.mktemp("browser-library"))


@pytest.fixture
def library_server(pipeline, folder, tmp_path):
    """An app with its own empty gallery that may index under the folder's parent."""
    recognizer = FaceRecognizer(gallery=f"sqlite:///{tmp_path / 'library.db'}", pipeline=pipeline)
    live = start_server(recognizer, FACEPRINT_LIBRARY_ROOTS=str(folder.parent))
    yield live.url
    live.close()
    recognizer.gallery.close()


# Screenshots go to the test's folder only: they show the server's temporary paths, so they are not for the docs.
@pytest.mark.parametrize("width", WIDTHS)
def test_index_a_folder_name_two_groups_and_open_their_photos(browser, library_server, folder, width, tmp_path):
    page = new_page(browser, library_server, width=width, height=900)
    phone = width < 700
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()
    expect(page.locator("#library-counts")).to_have_text("Nothing is indexed yet.")

    # Index the folder; the run goes on in the background and the page finds it again after a reload.
    field = page.get_by_label("Folder on the server")
    expect(page.locator("#index-hint")).to_contain_text(str(folder.parent))
    field.fill(str(folder))
    if phone:
        field.press("Enter")  # the keyboard submits the form
    else:
        page.get_by_role("button", name="Index", exact=True).click()
    progress = page.locator("#index-text")
    expect(progress).to_contain_text(str(folder))
    page.reload()
    expect(page.locator("#index-progress")).to_be_visible()
    expect(progress).to_contain_text(
        f"Indexed {folder}: {len(PEOPLE) * PHOTOS_EACH} photos added", timeout=INDEX_TIMEOUT_MS
    )
    expect(progress).to_contain_text("1 file could not be read")
    expect(page.locator("#library-counts")).to_contain_text(f"{len(PEOPLE) * PHOTOS_EACH} photos with")
    expect(page.locator("#library-folders")).to_contain_text(str(folder))
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=tmp_path / f"library-{width}.png", full_page=True)

    # Name two groups of unknown faces: one from the keyboard, one with the button.
    page.get_by_role("link", name="Unknown faces", exact=True).click()
    groups = page.locator(".cluster")
    expect(groups.first).to_be_visible()
    assert groups.count() >= 2
    expect(groups.first).not_to_contain_text("null")
    sizes = {}
    for index, name in enumerate(("Ada Lovelace", "Grace Hopper")):
        group = groups.nth(0)  # a named group leaves the list, so the next one moves up
        number = group.get_attribute("data-cluster")
        sizes[name] = int(group.locator(".cluster-heading .muted").inner_text().split()[0])
        name_field = group.get_by_label(f"Who is in group {number}?")
        name_field.fill(name)
        if index == 0:
            name_field.press("Enter")
        else:
            group.get_by_role("button", name="Name", exact=True).click()
        expect(page.locator("#clusters-status")).to_have_text(f"Named {sizes[name]} faces of group {number} as {name}.")
        expect(page.locator(f'.cluster[data-cluster="{number}"]')).to_have_count(0)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=tmp_path / f"clusters-{width}.png", full_page=True)

    # A face is selected from the keyboard (Space on a focused face) and split off into a group of its own.
    group = groups.first
    number = group.get_attribute("data-cluster")
    face = group.locator(".cluster-face").first
    face.focus()
    page.keyboard.press("Space")
    expect(face).to_have_attribute("aria-pressed", "true")
    split = group.get_by_role("button", name=f"Move the selected faces of group {number} to a new group")
    expect(split).to_be_enabled()
    split.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#clusters-status")).to_contain_text(f"Moved 1 face of group {number} to group")

    # Each named person is on the Library page with a face; "Photos of" shows every photo with the face boxed.
    page.get_by_role("link", name="Library", exact=True).last.click()
    for name in ("Ada Lovelace", "Grace Hopper"):
        page.get_by_role("link", name=f"Photos of {name}").click()
        expect(page.get_by_role("heading", name=f"Photos of {name}", level=1)).to_be_visible()
        items = page.locator(".library-photo")
        expect(items).to_have_count(sizes[name])
        expect(page.locator("#person-status")).to_have_text(f"{name} appears in {sizes[name]} indexed photos.")
        for item in items.all():
            item.scroll_into_view_if_needed()
            expect(item.locator("img")).to_have_js_property("complete", True)
        assert all(items.evaluate_all(BOXES_ON_FACES)), f"a box is missing or off its photo for {name}"
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        if name == "Ada Lovelace":
            page.screenshot(path=tmp_path / f"library-person-{width}.png", full_page=True)
        page.get_by_role("link", name="Library", exact=True).last.click()
    errors = list(page.console_errors)
    page.context.close()
    assert not errors, f"errors in the browser console: {errors}"
