"""The first UI slice by keyboard and by touch-sized controls: grid, form, tables, history, print, gate."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

FOCUSED = "document.activeElement"


def _active(app: AppPage) -> dict[str, Any]:
    result: dict[str, Any] = app.page.evaluate(
        f"(() => {{ const c = {FOCUSED}.closest('[data-row]'); const tr = c && c.closest('tr');"
        " return c ? {row: tr.dataset.id, text: c.textContent, field: c.dataset.field || null,"
        " editing: !!document.querySelector('input.cell-editor')} : {row: null, editing: false}; })()")
    return result


def test_grid_keyboard_editing_sort_and_filter(profile: Any, engine: str, server: Any, screenshot_dir: Path) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    app.create_workspace("Keyboard")
    for name in ("Ann", "Ben", "Cas"):
        app.call("create_record", table="contacts.Contacts", values={"contacts.Contacts.name": name})
    app.page.reload()
    app.wait_grid()
    expect(app.page.locator("table.grid tbody tr[data-id]")).to_have_count(3)
    keys = app.page.keyboard
    seq0 = app.stats()["workspace"]["loggedSeq"]

    app.cell("Ann", "Department").click()  # a tap selects (a second tap would edit)
    assert _active(app)["field"] == "contacts.Contacts.department" and not _active(app)["editing"]
    keys.press("ArrowLeft")  # Role of Ann
    assert _active(app)["field"] == "contacts.Contacts.role"
    keys.type("Director")  # typing starts editing with what is typed
    assert _active(app)["editing"]
    keys.press("Tab")  # saves, moves right
    app.wait_saved()
    assert _active(app)["field"] == "contacts.Contacts.department" and not _active(app)["editing"]
    expect(app.cell("Ann", "Role")).to_have_text("Director")

    keys.press("ArrowLeft")
    keys.press("Enter")  # edit the existing value
    app.page.locator("input.cell-editor").fill("Nobody")
    keys.press("Escape")  # cancels: nothing saved
    expect(app.cell("Ann", "Role")).to_have_text("Director")
    assert not _active(app)["editing"]

    keys.press("F2")
    app.page.locator("input.cell-editor").fill("Designer")
    keys.press("Enter")  # saves, moves down to Ben's Role
    app.wait_saved()
    expect(app.cell("Ann", "Role")).to_have_text("Designer")
    active = _active(app)
    assert active["field"] == "contacts.Contacts.role" and active["row"] == _rid(app, "Ben")
    keys.type("Actor")
    keys.press("Enter")
    app.wait_saved()
    keys.press("ArrowUp")
    keys.press("ArrowUp")  # Ann's Role again
    keys.press("Delete")  # clears it: one more bundle
    app.wait_saved()
    expect(app.cell("Ann", "Role")).to_have_text("")
    # Required fields cannot be cleared: said in plain words, nothing written.
    keys.press("Home")
    keys.press("ArrowRight")  # Name
    keys.press("Delete")
    expect(app.page.locator("#toast")).to_contain_text("required")
    expect(app.cell("Ann", "Name")).to_have_text("Ann")
    expect(app.page.locator("#save-status")).to_have_attribute("data-state", "saved")  # refused, nothing lost
    # Director, Designer, Actor, clear: four cell saves, four bundles.
    assert app.stats()["workspace"]["loggedSeq"] == seq0 + 4

    # Undo (Ctrl+Z) reverses my latest change as a new bundle; redo puts it back.
    keys.press("Control+z")
    expect(app.cell("Ann", "Role")).to_have_text("Designer")
    keys.press("Control+Shift+z")
    expect(app.cell("Ann", "Role")).to_have_text("")
    assert app.stats()["workspace"]["loggedSeq"] == seq0 + 6

    # Sorting by a header button, then filtering.
    app.page.get_by_role("button", name=re.compile("^Role")).click()
    expect(app.page.locator("th[aria-sort=ascending]")).to_have_count(1)
    assert app.column_values("Name")[:2] == ["Ben", "Ann"] or app.column_values("Role")[0] == "Actor"
    app.page.get_by_role("button", name=re.compile("^Name")).click()
    app.page.get_by_role("button", name=re.compile("^Name")).click()
    expect(app.page.locator("th[aria-sort=descending]")).to_have_count(1)
    assert app.column_values("Name") == ["Cas", "Ben", "Ann"]
    app.page.get_by_label("Filter", exact=True).fill("be")
    expect(app.page.locator("table.grid tbody tr[data-id]")).to_have_count(1)
    expect(app.page.locator(".row-count")).to_have_text("1 of 3 records")
    app.page.get_by_label("Filter", exact=True).fill("")
    expect(app.page.locator("table.grid tbody tr[data-id]")).to_have_count(3)
    app.cell("Ben", "Role").click()
    app.shot(screenshot_dir, f"03-grid-{engine}")
    assert app.errors == []


def _rid(app: AppPage, text: str) -> str:
    value: str = app.page.locator("table.grid tbody tr[data-id]", has_text=text).first.get_attribute("data-id")
    return value


def test_record_form_tables_history_and_print(profile: Any, engine: str, server: Any, screenshot_dir: Path) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Forms")
    app.new_record({"Name": "Jane Doe", "Email": "jane@example.org"})
    app.page.get_by_role("link", name="Open Jane Doe").click()
    expect(app.page.get_by_role("heading", name="Contacts: Jane Doe")).to_be_visible()

    seq0 = app.stats()["workspace"]["loggedSeq"]
    app.field("Role").fill("Stage manager")
    app.field("Phone").fill("555-0101")
    app.page.get_by_role("button", name="Save", exact=True).click()
    expect(app.page.locator(".form-status")).to_have_text("Saved 2 changes.")
    assert app.stats()["workspace"]["loggedSeq"] == seq0 + 1  # the whole form is one bundle

    # Also in Attendees: that table needs its own Name first.
    add = app.page.locator("form.add-to-table", has_text="Add to Attendees")
    add.get_by_label("Name").fill("Jane Doe")
    add.get_by_role("button", name="Add to Attendees").click()
    expect(app.page.get_by_role("button", name="Remove from Attendees")).to_be_visible()
    app.shot(screenshot_dir, f"04-record-form-{engine}", full_page=True)
    app.page.get_by_role("button", name="Remove from Attendees").click()
    expect(app.page.locator("form.add-to-table", has_text="Add to Attendees")).to_be_visible()

    app.field("Email").fill("jane@theatre.example")
    app.page.get_by_role("button", name="Save", exact=True).click()
    expect(app.page.locator(".form-status")).to_have_text("Saved 1 change.")
    app.page.get_by_role("button", name="Who changed Email?").click()
    dialog = app.page.get_by_role("dialog")
    expect(dialog).to_contain_text("Who changed Email?")
    expect(dialog.locator("li.change")).to_have_count(2)
    expect(dialog.locator("li.change").first).to_contain_text("Alice Stage")
    expect(dialog.locator("li.change").first).to_contain_text("jane@theatre.example")
    app.shot(screenshot_dir, f"05-history-{engine}")
    app.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Shared notes (a collaborative text field): its history names who typed what
    seq = app.stats()["workspace"]["loggedSeq"]
    app.field("Notes").fill("Allergic to peanuts")
    app.page.keyboard.press("Tab")  # leaving the field ends the typing burst: it is saved
    deadline = time.monotonic() + 30
    while app.stats()["workspace"]["loggedSeq"] == seq:
        assert time.monotonic() < deadline, "the typed notes were not saved within 30 s"
        time.sleep(0.1)
    app.page.get_by_role("button", name="Who changed Notes?").click()
    expect(dialog).to_contain_text("Who changed Notes?")
    expect(dialog.locator("li.change")).to_have_count(1)
    expect(dialog.locator("li.change").first).to_contain_text("Alice Stage")
    expect(dialog.locator("li.change").first).to_contain_text("added Allergic to peanuts")

    def notes_history() -> None:
        app.page.get_by_role("button", name="Who changed Notes?").click()
        expect(app.page.get_by_role("dialog").locator("li.change").first).to_contain_text("added Allergic to peanuts")

    app.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    app.tablet_shots(screenshot_dir, "05-history-text", notes_history)

    app.page.goto(f"{server.url}#/w/{ws}/t/contacts.Contacts/print")
    expect(app.page.locator(".print-table tbody tr")).to_have_count(1)
    expect(app.page.locator(".print-view h1")).to_have_text("Contacts")
    app.page.emulate_media(media="print")
    expect(app.page.locator(".app-header")).to_be_hidden()
    expect(app.page.locator(".print-actions")).to_be_hidden()
    app.shot(screenshot_dir, f"06-print-{engine}", full_page=True)
    app.page.emulate_media(media="screen")
    assert app.errors == []


@pytest.mark.chromium_only(
    reason="needs an insecure origin on loopback (Chromium's --host-resolver-rules); MiniBrowser has no such switch")
def test_plain_http_off_localhost_explains_https(new_context: Any, server: Any, screenshot_dir: Path) -> None:
    context = new_context(viewport={"width": 1024, "height": 700})
    page = context.new_page()
    port = server.url.rsplit(":", 1)[1].strip("/")
    page.goto(f"http://insecure.openprod.test:{port}/")
    page.wait_for_selector("body[data-ready=blocked]", timeout=30_000)
    assert page.evaluate("window.isSecureContext") is False
    expect(page.get_by_role("heading", name="Openprod cannot start here")).to_be_visible()
    expect(page.locator("main")).to_contain_text("HTTPS")
    expect(page.locator("main")).to_contain_text(f"https://insecure.openprod.test:{port}/")
    page.screenshot(path=str(screenshot_dir / "08-needs-https.png"))
