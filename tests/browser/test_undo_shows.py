"""Undo and redo in the app say what they undid, in a stage manager's words, and show it: undo is
per person across the workspace (spec: operations.md, Undo/Redo), so, as in Google Sheets, the
app goes to the table and row it changed and marks the cell; on a document or the calling view it
offers a Show button instead of moving the person away."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
CUES = "lighting.LightingCues"
SHOTS = Path("/tmp/undo17/shots")


def tablet(app: AppPage) -> Any:
    """UNDO_SHOTS=1180x820 (or 820x1180): the test runs at that size and keeps screenshots of the
    states a person sees (to look at; never compared). Unset: a no-op."""
    size = os.environ.get("UNDO_SHOTS")
    if not size:
        return lambda name: None
    width, height = (int(n) for n in size.split("x"))
    app.page.set_viewport_size({"width": width, "height": height})
    SHOTS.mkdir(parents=True, exist_ok=True)
    return lambda name: app.shot(SHOTS, f"{name}-{app.engine}-{size}")


def selected(app: AppPage) -> dict[str, Any]:
    """The grid's selected cell (row id, field), and whether it is marked as just changed."""
    found: dict[str, Any] = app.page.evaluate(
        """() => {
          const active = document.querySelector('table.grid .active');
          return {row: active && active.closest('tr').dataset.id, field: active && active.dataset.field,
                  block: document.querySelectorAll('table.grid .in-range').length,
                  marked: [...document.querySelectorAll('table.grid .just-changed')].map(
                    (c) => c.closest('tr').dataset.id + ' ' + (c.dataset.field || ''))};
        }""")
    return found


def paste(app: AppPage, text: str) -> None:
    """What Ctrl+V delivers to the grid (a paste event with the copied text), in both engines."""
    app.page.evaluate("""t => {
      const data = new DataTransfer();
      data.setData('text/plain', t);
      document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true}));
    }""", text)


def test_undo_and_redo_say_what_they_did_for_an_edit_a_new_record_and_a_paste(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page())
    shot = tablet(app)
    app.open(server.url)
    app.ensure_identity()
    app.create_workspace("Words")
    page, keys, toast = app.page, app.page.keyboard, app.page.locator("#toast")
    jane = app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane Doe"})["id"]
    page.reload()
    app.wait_grid()

    app.edit_cell("Jane Doe", "Phone", "555-0101")
    keys.press("Control+z")
    expect(toast).to_have_text("Undid: Jane Doe's Phone, back to empty")
    shot("undo-edit")
    expect(app.cell("Jane Doe", "Phone")).to_have_text("")
    assert selected(app)["row"] == jane and selected(app)["field"] == f"{CONTACTS}.phone"  # the cell it changed
    assert selected(app)["block"] == 0
    keys.press("Control+Shift+z")
    expect(toast).to_have_text('Redid: Jane Doe\'s Phone, now "555-0101"')

    app.new_record({"Name": "Ben Ray"})
    expect(app.cell("Ben Ray", "Name")).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    expect(toast).to_have_text("Undid: adding Ben Ray to Contacts")
    expect(app.records_shown()).to_have_count(1)
    page.get_by_role("button", name="Redo").click()
    expect(toast).to_have_text("Redid: adding Ben Ray to Contacts")
    expect(app.records_shown()).to_have_count(2)
    page.get_by_role("button", name="Undo").click()
    expect(app.records_shown()).to_have_count(1)

    app.cell("Jane Doe", "Name").click()  # a block from Sheets: Jane's row, then two new ones
    paste(app, "Jane Doe\tCrew\r\nAnn Lee\tCrew\r\nBo Park\tCrew")
    expect(app.records_shown()).to_have_count(3)
    app.wait_saved()
    app.cell("Jane Doe", "Name").click()
    keys.press("Control+z")
    expect(toast).to_have_text("Undid: 3 pasted rows in Contacts")
    expect(app.records_shown()).to_have_count(1)
    expect(app.cell("Jane Doe", "Role")).to_have_text("")
    expect(app.cell("Jane Doe", "Role")).to_have_class(re.compile(r"\bjust-changed\b"))  # the row that stays
    shot("undo-paste")
    keys.press("Control+Shift+z")
    expect(toast).to_have_text("Redid: 3 pasted rows in Contacts")
    expect(app.records_shown()).to_have_count(3)
    assert app.errors == []


def test_undo_of_a_change_on_another_screen_goes_there_and_marks_it(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page())
    shot = tablet(app)
    app.open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Where")
    page, keys, toast = app.page, app.page.keyboard, app.page.locator("#toast")
    for number in ("1", "2", "5", "9"):
        app.call("create_record", table=CUES, values={f"{CUES}.cue_number": number})
    cue = app.call("create_record", table=CUES, values={f"{CUES}.cue_number": "17A", f"{CUES}.label": "Preset"})["id"]
    page.goto(f"{server.url}#/w/{ws}/t/{CUES}")
    app.wait_grid()
    app.edit_cell("Preset", "Label", "Sunset build")

    page.goto(f"{server.url}#/w/{ws}/t/{CONTACTS}")  # another table: the cue is not on screen
    expect(page.locator("#table-title")).to_have_text("Contacts")
    app.wait_grid()
    keys.press("Control+z")
    expect(toast).to_have_text('Undid: Cue 17A\'s Label, back to "Preset"')
    page.wait_for_url(re.compile(".*" + re.escape(f"/t/{CUES}")))  # taken to the table it changed
    expect(app.cell("17A", "Label")).to_have_text("Preset")
    expect(app.cell("17A", "Label")).to_have_class(re.compile(r"\bjust-changed\b"))  # marked, and selected
    assert selected(app)["row"] == cue and selected(app)["field"] == f"{CUES}.label"
    assert selected(app)["block"] == 0  # that one cell, not a block from where the selection was
    shot("undo-went-there")
    page.wait_for_function("() => !document.querySelector('table.grid .just-changed')")  # the mark fades

    sheet = page.locator("#sidebar a", has_text="Contact sheet").first.get_attribute("href")
    page.goto(f"{server.url}{sheet}")  # a document: nothing moves unasked
    page.wait_for_url(re.compile(r".*/v/.*"))
    expect(page.locator("main h1")).to_contain_text("Contact sheet")
    keys.press("Control+Shift+z")
    expect(toast).to_contain_text('Redid: Cue 17A\'s Label, now "Sunset build"')
    show = toast.get_by_role("button", name="Show")
    expect(show).to_be_visible()
    assert "/v/" in page.url  # still on the document
    shot("redo-offers-show")
    show.click()
    page.wait_for_url(re.compile(".*" + re.escape(f"/t/{CUES}")))
    expect(app.cell("17A", "Label")).to_have_text("Sunset build")
    expect(app.cell("17A", "Label")).to_have_class(re.compile(r"\bjust-changed\b"))
    assert app.errors == []

