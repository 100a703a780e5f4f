"""Typing new rows into the grid the way a stage manager types a contact sheet or a cue list into
Google Sheets: across with Tab, Enter for the next row; and a paste that cannot be done. Both engines.

The + row becomes a record as soon as it has its required cell (the Name here, a cue's number); the
rest of what is typed across that row must go to that record, not to the next new row, and Enter after
the Tabs starts the next row in the column the Tabs began in (session 16, helper user16)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

FIELDS = ["Name", "Role", "Department", "Email", "Phone"]
# A paste as the grid receives one (Ctrl+V), the same in both engines: WebDriver cannot fill the clipboard.
PASTE = """(text) => {
    const event = new Event('paste', { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'clipboardData', { value: { getData: () => text } });
    document.querySelector('table.grid').dispatchEvent(event);
}"""
ROWS = [["Ophelia Jones", "Ophelia", "Cast", "ophelia@example.org", "555-0110"],
        ["Horatio Smith", "Horatio", "Cast", "horatio@example.org", "555-0111"]]


def test_rows_typed_across_with_tab_and_enter_become_whole_records(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Typed rows")  # opens on Contacts: Name (required), Role, Department, Email, Phone
    page, keys = app.page, app.page.keyboard
    assert [h.replace("*", "").strip() for h in page.locator("table.grid thead th").all_inner_texts()[1:6]] == FIELDS
    page.locator("table.grid tr.draft-row td").first.click()
    for row in ROWS:  # typed straight through, as fast as the keys arrive: no waiting between cells
        for i, value in enumerate(row):
            keys.type(value)
            keys.press("Tab" if i < len(row) - 1 else "Enter")
    bar = page.locator(".cell-where")
    expect(bar).to_have_text("New record › Name")  # Enter went back to the column the Tabs began in
    expect(app.records_shown()).to_have_count(2)  # not a third record made of the rows' tails
    expect(app.cell("Horatio Smith", "Phone")).to_have_text("555-0111")  # the last cell typed
    app.wait_saved()

    # saved in the records, not held in the + row (which a reload empties)
    page.reload()
    app.wait_grid()
    expect(app.records_shown()).to_have_count(2)
    for field, column in zip(FIELDS, zip(*ROWS, strict=True), strict=True):
        assert app.column_values(field) == list(column), field
    assert all(not t.strip() for t in page.locator("table.grid tr.draft-row td").all_inner_texts())

    # a paste that cannot be done says why, and only that (its dialog showed a stray line "null")
    page.locator("table.grid tr.draft-row td").first.click()
    page.evaluate(PASTE, "\tStage hand")  # a new row without its Name
    dialog = page.get_by_role("dialog", name="Nothing was pasted")
    expect(dialog).to_contain_text("which needs Name")
    assert "null" not in dialog.inner_text()
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()
    expect(app.records_shown()).to_have_count(2)
    assert app.errors == []


IN_GRID = "() => document.activeElement && document.activeElement.closest('table.grid') !== null"
IN_INFO = "() => document.activeElement && document.activeElement.closest('.cell-info') !== null"


def test_tab_on_a_selected_cell_moves_along_the_row_and_leaves_only_past_its_end(profile: Any, server: Any) -> None:
    """Tab on a selected (not edited) cell moves along the row as in Sheets, so an empty column is
    skipped and what is typed next goes into the next cell. Before, that Tab left the grid for a
    button below it and the typing went nowhere (session 16, user16). Past the row's last column,
    and to a staged cell's own buttons, Tab still leaves the grid: no keyboard trap."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Tabbing")
    page, keys = app.page, app.page.keyboard
    bar = page.locator(".cell-where")
    page.locator("table.grid tr.draft-row td").first.click()
    keys.type("Ophelia Jones")
    keys.press("Tab")  # saved, Role selected
    keys.press("Tab")  # Role left empty
    expect(bar).to_have_text(re.compile(r"› Department$"))
    keys.type("Props")
    keys.press("Enter")
    expect(bar).to_have_text("New record › Name")  # back where the run of Tabs began
    expect(app.cell("Ophelia Jones", "Department")).to_have_text("Props")
    expect(app.cell("Ophelia Jones", "Role")).to_have_text("")
    expect(app.records_shown()).to_have_count(1)

    app.cell("Ophelia Jones", "Email").click()
    keys.press("Shift+Tab")
    expect(bar).to_have_text("Ophelia Jones › Department")
    assert page.evaluate(IN_GRID)
    keys.press("End")  # the row's last column (Notes)
    expect(bar).to_have_text("Ophelia Jones › Notes")
    keys.press("Tab")  # past it: out of the grid
    page.wait_for_function(f"!({IN_GRID})()")

    # a staged cell's explanation has a button: Tab goes to it, as before
    toggle = page.get_by_role("button", name="Review before saving", exact=True)
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    app.edit_cell("Ophelia Jones", "Role", "Ghost")
    expect(app.cell("Ophelia Jones", "Role")).to_have_class(re.compile(r"\bstaged\b"))
    app.cell("Ophelia Jones", "Name").click()
    keys.press("ArrowRight")
    expect(page.locator(".cell-info").get_by_role("button").first).to_be_visible()
    keys.press("Tab")
    page.wait_for_function(IN_INFO)
    assert app.errors == []
