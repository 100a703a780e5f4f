"""The grid on a tablet, both ways up, light and dark: explanations beside the cell, nothing important
below the fold, touch targets of at least 44 px, a collapsible sidebar, dark mode that keeps its
contrast (axe). Screenshots of each state go to test-artifacts/screenshots/tablet/ (the ones in
docs/screenshots/ were taken by this test)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect
from test_a11y import AXE, violations

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
SIZES = [(1180, 820), (820, 1180)]


def peer(app: AppPage, action: str, **args: Any) -> Any:
    return app.api("debugPeer", action, args)


def rid(app: AppPage, text: str) -> str:
    value: str = app.page.locator("table.grid tbody tr[data-id]", has_text=text).first.get_attribute("data-id")
    return value


def shot(app: AppPage, folder: Path, name: str) -> None:
    """A screenshot of the screen as a person sees it, without the passing notice (toast) over it."""
    app.page.evaluate("document.getElementById('toast').hidden = true")
    app.shot(folder, name)


def in_view(page: Any, box: dict[str, float] | None) -> bool:
    size = page.viewport_size
    return bool(box) and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5 \
        and box["y"] + box["height"] <= size["height"] + 0.5  # type: ignore[index]


CONTROLS = ("header button, header a, main button, main a, main input, main select, nav a, .staging-banner button, "
            ".staging-banner a, dialog button, dialog a, dialog input, dialog select")
SMALL = """(selector) => [...document.querySelectorAll(selector)]
  .filter((el) => el.offsetParent !== null && !el.closest('td, .problem-list'))
  .filter((el) => {
    const r = el.getBoundingClientRect();
    const wide = ['text', 'search', 'file'].includes(el.type) || el.tagName === 'SELECT';
    return r.height < 43.5 || (!wide && r.width < 43.5 && el.type !== 'checkbox');
  })
  .map((el) => {
    const r = el.getBoundingClientRect();
    const name = (el.textContent || el.getAttribute('aria-label') || el.type).trim().slice(0, 30);
    return `${el.tagName.toLowerCase()} “${name}” ${Math.round(r.width)}x${Math.round(r.height)}`;
  })"""


def small_targets(page: Any) -> list[str]:
    """Visible controls outside the grid's cells smaller than 44 x 44 px (text inputs: 44 px high)."""
    found: list[str] = page.evaluate(SMALL, CONTROLS)
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("width", "height"), SIZES, ids=["landscape", "portrait"])
@pytest.mark.chromium_only(
    reason=("touch-enabled pages and forced dark mode (Playwright's has_touch, color_scheme); WebKit tablet "
            "screenshots come from the lane's own tests"))
def test_tablet_layout_explanations_beside_the_cell_and_dark_mode(new_context: Any, debug_server: Any, tmp_path: Path,
                                                                 screenshot_dir: Path, width: int, height: int,
                                                                 scheme: str) -> None:
    context = new_context(viewport={"width": width, "height": height}, color_scheme=scheme, has_touch=True)
    shots = screenshot_dir / "tablet"
    shots.mkdir(parents=True, exist_ok=True)
    tag = f"{width}x{height}-{scheme}"
    app = AppPage(context.new_page()).open(debug_server.url)
    page = app.page
    app.ensure_identity()
    ws = app.create_workspace("Hamlet")
    for name, role, phone in (("Jane Doe", "Stage manager", "555-0100"), ("Kim Props", "Props", "555-0111"),
                              ("Lee Sound", "Sound designer", "555-0122"), ("Max Lights", "LX designer", "")):
        app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": name, f"{CONTACTS}.role": role,
                                                          f"{CONTACTS}.phone": phone})
    page.reload()
    app.wait_grid()
    dark = page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor")
    assert (dark == "rgb(27, 22, 34)") == (scheme == "dark")  # follows the system setting
    sidebar = page.locator("#sidebar")
    if width < height:  # portrait: the sidebar is closed, and opens over the screen on demand
        expect(sidebar).to_be_hidden()
        page.get_by_role("button", name="Tables").click()
        expect(sidebar).to_be_visible()
        page.keyboard.press("Escape")
        expect(sidebar).to_be_hidden()
    else:
        expect(sidebar).to_be_visible()
        page.get_by_role("button", name="Tables").click()
        expect(sidebar).to_be_hidden()  # collapsible, and remembered on this device
        page.reload()
        app.wait_grid()
        expect(sidebar).to_be_hidden()
        page.get_by_role("button", name="Tables").click()
        expect(sidebar).to_be_visible()

    # a conflict: its explanation and Resolve… sit beside the cell, in view
    peer(app, "create", display_name="Jordan")
    app.edit_cell("Jane Doe", "Phone", "555-0101")
    peer(app, "set_field", record=rid(app, "Jane Doe"), field=f"{CONTACTS}.phone", value="555-0199")
    peer(app, "deliver")
    phone = app.cell("Jane Doe", "Phone")
    expect(phone).to_have_class(re.compile(r"\bconflict\b"))
    phone.tap()
    if page.locator("input.cell-editor").count():  # it was the selected cell: that tap edits (as in Sheets)
        page.keyboard.press("Escape")  # the editor closes, the cell stays selected
    info = page.locator(".cell-info")
    expect(info).to_contain_text("Jane Doe's Phone was edited by Alice Stage (555-0101) and Jordan (555-0199)")
    cell, note = phone.bounding_box(), info.bounding_box()
    assert cell and note and in_view(page, note)
    assert note["y"] >= cell["y"] + cell["height"] - 1 or note["y"] + note["height"] <= cell["y"] + 1  # beside it
    assert note["x"] < cell["x"] + cell["width"] and note["x"] + note["width"] > cell["x"]  # under / over it
    assert in_view(page, info.get_by_role("button", name="Resolve…").bounding_box())
    assert in_view(page, page.locator(".grid-scroll").bounding_box())  # the whole grid: nothing below the fold
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # no sideways page scrolling
    assert small_targets(page) == []
    shot(app, shots, f"grid-conflict-{tag}")
    found = violations(app, f"grid with a conflict ({tag})") if AXE.exists() else []

    # staging: a staged edit that changed underneath, with Keep mine / Use the saved value beside it
    page.get_by_role("button", name="Review before saving", exact=True).click()
    app.edit_cell("Kim Props", "Role", "Props master")
    peer(app, "set_field", record=rid(app, "Kim Props"), field=f"{CONTACTS}.role", value="Props supervisor")
    peer(app, "deliver")
    role = app.cell("Kim Props", "Role")
    expect(role).to_have_class(re.compile(r"\bdrift\b"))
    role.tap()
    expect(info.get_by_role("button", name=re.compile("^Keep mine"))).to_be_visible()
    assert in_view(page, info.get_by_role("button", name=re.compile("^Use the saved value")).bounding_box())
    assert small_targets(page) == []
    shot(app, shots, f"grid-drift-{tag}")
    found += violations(app, f"staging with drift ({tag})") if AXE.exists() else []
    page.get_by_role("region", name="Review before saving", exact=True).get_by_role("button", name="Discard").click()
    page.get_by_role("dialog").get_by_role("button", name="Discard these changes").click()

    # the import check with problems
    bad = tmp_path / "crew.csv"
    bad.write_text('Name,Role,Phone\nAnn Lee,Crew,555-0001\nBo Diaz,"Crew,555-0002\n'
                   "Cy Park,Crew,555-0003,extra\nDee Ng,Crew,555-0004\n")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import into Contacts")
    dialog.get_by_label("File (CSV or tab-separated)").set_input_files(str(bad))
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.locator(".import-problems li")).to_have_count(1)
    assert small_targets(page) == []
    shot(app, shots, f"import-problems-{tag}")
    found += violations(app, f"import problems ({tag})") if AXE.exists() else []
    dialog.get_by_role("button", name="Close").click()

    # cue numbers, sorted as theatres read them, with a block selected
    for number in ("17A", "10.10", "0.5", "17", "10.1", "2", "17B", "18"):
        values = {"lighting.LightingCues.cue_number": number, "lighting.LightingCues.label": f"Cue {number}"}
        app.call("create_record", table="lighting.LightingCues", values=values)
    page.goto(f"{debug_server.url}#/w/{ws}/t/lighting.LightingCues")
    app.wait_grid()
    page.get_by_role("button", name=re.compile(r"^Cue # \(required\): sort")).click()
    assert app.column_values("Cue #") == ["0.5", "2", "10.1", "10.10", "17", "17A", "17B", "18"]
    app.cell("Cue 10.1", "Label").click()
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowRight")
    shot(app, shots, f"cues-{tag}")
    found += violations(app, f"cue list ({tag})") if AXE.exists() else []
    assert found == [], "\n".join(found)
    assert app.errors == []
