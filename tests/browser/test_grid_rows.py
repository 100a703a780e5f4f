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


NEW_ROW = "table.grid tr.draft-row td"


SPOT = """([css, index]) => {
    const el = document.querySelectorAll(css)[index];
    const r = el ? el.getBoundingClientRect() : null;
    return r ? [r.x + r.width / 2, r.y + r.height / 2] : null;
}"""


def middle(target: Any) -> tuple[float, float]:
    """The middle of a locator's element, or of the `(css, index)` element measured in one step (the
    grid may redraw a row between finding its cell and measuring it)."""
    if isinstance(target, tuple):
        spot = target[0].wait_for_function(SPOT, arg=list(target[1:]))
        x, y = spot.json_value() if hasattr(spot, "json_value") else spot
        return float(x), float(y)
    box = target.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def press_at(page: Any, target: Any, *, tap: bool = False) -> None:
    """A real click (or touch tap) at the middle of `target`, where a person's finger or pointer goes:
    pointer input at page coordinates in both engines. (WebKitWebDriver's element click is not used: in
    session 16 it sent two pointerdowns and no blur; its pointer actions send one press and the blur.)"""
    x, y = middle(target)
    if tap:
        page.touchscreen.tap(x, y)
    else:
        page.mouse.click(x, y)


def press_along(page: Any, col: int, *, tap: bool = False) -> None:
    """Click (tap) column `col` of the row being typed in: the row of the cell being edited, which the
    grid keeps where it is while it is edited (a record made from the + row is drawn after the edit)."""
    x = middle((page, "table.grid thead th", col + 1))[0]
    y = middle((page, "input.cell-editor", 0))[1]
    if tap:
        page.touchscreen.tap(x, y)
    else:
        page.mouse.click(x, y)


def test_a_new_row_typed_with_clicks_between_its_cells_stays_one_record(profile: Any, server: Any) -> None:
    """Typing a Name into the + row, then clicking another cell of that row and typing there, fills the
    same new record, as Tab does; a row begun in another column is the same. Before, the click made the
    record from the Name alone and what was typed next began a second new row, lost on reload (session
    16, user16). A click into an existing row afterwards leaves the new record as typed."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Clicked rows")
    page, keys = app.page, app.page.keyboard
    bar = page.locator(".cell-where")
    cells = page.locator(NEW_ROW)
    press_at(page, cells.first)
    expect(bar).to_have_text("New record › Name")
    keys.type("Ophelia Jones")
    for col, value in ((1, "Ophelia"), (2, "Cast"), (3, "ophelia@example.org")):
        press_along(page, col)  # the next cell of the row being typed: the + row, or the record it became
        expect(bar).to_have_text(re.compile(f"› {FIELDS[col]}$"))
        keys.type(value)
    keys.press("Enter")
    expect(app.cell("Ophelia Jones", "Email")).to_have_text("ophelia@example.org")

    # begun in the Role column: the Name typed after it makes the record, and the rest goes to it too
    press_at(page, cells.nth(1))
    expect(bar).to_have_text("New record › Role")
    keys.type("Horatio")
    press_along(page, 0)
    keys.type("Horatio Smith")
    press_along(page, 2)
    expect(bar).to_have_text(re.compile(r"› Department$"))
    keys.type("Cast")
    press_at(page, app.cell("Ophelia Jones", "Phone"))  # an existing row: the new record stays as typed
    expect(bar).to_have_text("Ophelia Jones › Phone")
    keys.type("555-0110")
    keys.press("Enter")
    expect(app.records_shown()).to_have_count(2)
    expect(app.cell("Horatio Smith", "Department")).to_have_text("Cast")
    app.wait_saved()

    page.reload()
    app.wait_grid()
    expect(app.records_shown()).to_have_count(2)
    assert app.column_values("Name") == ["Ophelia Jones", "Horatio Smith"]
    assert app.column_values("Role") == ["Ophelia", "Horatio"]
    assert app.column_values("Department") == ["Cast", "Cast"]
    assert app.column_values("Email") == ["ophelia@example.org", ""]
    assert app.column_values("Phone") == ["555-0110", ""]
    assert all(not t.strip() for t in page.locator(NEW_ROW).all_inner_texts())
    assert app.errors == []


@pytest.mark.chromium_only(reason="touch taps need a touch-enabled page (Playwright's has_touch); WebKitGTK's "
                           "WebDriver sends a touch pointer action as a mouse click (pointerType mouse, checked in "
                           "session 17); the mouse-click test runs in both engines")
def test_a_new_row_typed_with_taps_between_its_cells_stays_one_record(new_context: Any, server: Any) -> None:
    """On a tablet: a tap on another cell of the + row selects it at once (it was swallowed: a second tap
    was needed), typing or a second tap edits it, and it all goes to the record the Name made."""
    context = new_context(viewport={"width": 820, "height": 1180}, has_touch=True, is_mobile=False)
    app = AppPage(context.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Tapped rows")
    page, keys = app.page, app.page.keyboard
    bar = page.locator(".cell-where")
    cells = page.locator(NEW_ROW)
    press_at(page, cells.first, tap=True)
    expect(bar).to_have_text("New record › Name")
    keys.type("Ophelia Jones")
    press_along(page, 1, tap=True)  # one tap: selected, not swallowed
    expect(bar).to_have_text(re.compile(r"› Role$"))
    expect(page.locator("input.cell-editor")).to_have_count(0)
    keys.type("Ophelia")  # typing edits the selected cell
    press_along(page, 2, tap=True)
    expect(bar).to_have_text("Ophelia Jones › Department")  # the record the row became, drawn where it was
    press_at(page, (page, "table.grid td.active", 0), tap=True)  # a second tap edits
    expect(page.locator("input.cell-editor")).to_be_focused()
    keys.type("Cast")
    press_along(page, 3, tap=True)  # on to the next cell: saved
    expect(app.cell("Ophelia Jones", "Department")).to_have_text("Cast")
    expect(app.records_shown()).to_have_count(1)
    app.wait_saved()

    page.reload()
    app.wait_grid()
    expect(app.records_shown()).to_have_count(1)
    assert [app.column_values(f)[0] for f in FIELDS[:3]] == ["Ophelia Jones", "Ophelia", "Cast"]
    assert all(not t.strip() for t in page.locator(NEW_ROW).all_inner_texts())
    assert app.errors == []
