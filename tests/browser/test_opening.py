"""While Python starts (8-10 s in WebKit), the last grid shows at once from this browser's storage,
read-only and labelled; a cell edit typed meanwhile is kept on disk, survives the tab being closed
before Python ever ran, and is applied exactly once when the app is ready; what cannot wait is refused
in words and never lost. Both engines.

Python is held back with `?hold-engine`, which only TEST builds (`build.py --debug-peer`) honour, so
the opening screen is tested as a state, not raced against a boot that takes 3 s in one engine and 10 s
in the other.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
MARK_GONE_JS = """() => {
    window.openingMarkGone = [];
    new MutationObserver(() => {
        if (document.body.dataset.opening || window.openingMarkGone.length) return;
        window.openingMarkGone.push({copy: Boolean(document.querySelector('.opening-notice')),
                                     grid: Boolean(document.querySelector('table.grid'))});
    }).observe(document.body, {attributes: true, attributeFilter: ['data-opening']});
}"""


def wait_screen_kept(app: AppPage, ws: str, rows: int, timeout_s: float = 30) -> None:
    """Until the worker has written the grid it showed to this browser's storage."""
    app.wait_kept_screen(ws, lambda kept: len(kept) == rows, f"had {rows} rows", timeout_s)


def open_held(profile: Any, url: str) -> AppPage:
    """A new tab whose Python waits for `releaseEngine()`: only the opening screen can show."""
    app = AppPage(profile.new_page())
    base, _, route = url.partition("#")
    app.page.goto(f"{base}?hold-engine#{route}")
    app.page.wait_for_selector("body[data-opening=preview]", timeout=60_000)
    return app


def kept_grid(profile: Any, url: str, name: str, fill: Any, rows: int) -> tuple[str, str]:
    """A new workspace `name` whose contacts grid (filled by `fill(app)`, `rows` rows) this browser has
    shown and kept for the next opening; (workspace id, the grid's address). Its tab is closed."""
    app = AppPage(profile.new_page()).open(url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace(name)
    fill(app)
    grid = f"{url}#/w/{ws}/t/{CONTACTS}"
    app.page.goto(grid)
    app.page.reload()
    app.wait_grid()
    wait_screen_kept(app, ws, rows)
    app.page.close()
    return ws, grid


def test_the_last_grid_shows_while_python_starts_and_edits_typed_meanwhile_are_kept(
        profile: Any, engine: str, debug_server: Any, screenshot_dir: Path) -> None:
    def three(app: AppPage) -> None:
        for name in ("Ann", "Ben", "Cas"):
            app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": name})

    ws, grid = kept_grid(profile, debug_server.url, "Opening", three, 3)

    # Python held back: the last grid at once, labelled; nothing else runs
    held = open_held(profile, grid)
    page, keys = held.page, held.page.keyboard
    notice = page.locator(".opening-notice")
    expect(notice).to_contain_text(
        "Opening… You can look around. Cell edits you type now are kept and saved in a moment")
    expect(held.cell("Ben", "Name")).to_be_visible()
    expect(page.locator(".row-count")).to_have_text("3 records")
    expect(page.locator("#engine-status")).to_have_text("Starting the engine…")

    def opening() -> None:
        page.wait_for_selector("body[data-opening=preview]", timeout=60_000)
        expect(page.locator(".opening-notice")).to_be_visible()

    held.tablet_shots(screenshot_dir, "44-opening", opening, ready=False)

    # a cell edit: kept on disk, and said so (not "saved")
    held.cell("Ben", "Role").click()
    keys.type("Lighting")
    keys.press("Enter")
    status = page.locator("#save-status")
    expect(status).to_have_attribute("data-state", "queued")
    expect(status).to_have_text("Kept on this device: 1 change typed while opening, saved in a moment")
    expect(held.cell("Ben", "Role")).to_have_class(re.compile(r"\bqueued\b"))  # marked: kept, not yet saved
    expect(held.cell("Ben", "Role")).to_contain_text("Lighting (kept, saved once the app has opened)")
    # one the core will refuse (Name is required): kept too, refused with the reason once it is checked
    held.cell("Cas", "Name").click()
    keys.press("F2")
    page.locator("input.cell-editor").fill("")
    keys.press("Enter")
    expect(status).to_contain_text("Kept on this device: 2 changes")
    # what cannot wait is refused in words, and what was typed stays where it was typed
    page.locator("table.grid tr.draft-row td").first.click()
    keys.type("Dee")
    keys.press("Enter")
    expect(page.locator("#toast")).to_contain_text("New record not saved: Openprod is still opening")
    keys.press("Control+z")
    expect(page.locator("#toast")).to_contain_text("Openprod is still opening")
    held.shot(screenshot_dir, f"45-opening-edit-kept-{engine}")
    page.close()  # closed before Python ever ran

    # the next start applies them once, in order; the refusal is said with what was typed
    again = AppPage(profile.new_page()).open(grid)
    again.wait_grid()
    toast = again.page.locator("#toast")
    expect(toast).to_contain_text("Saved the change you typed while Openprod was opening.")
    expect(toast).to_contain_text("Not saved: Cas › Name (“”): ")
    expect(toast).to_contain_text("required")
    expect(again.cell("Ben", "Role")).to_have_text("Lighting")
    expect(again.cell("Cas", "Name")).to_have_text("Cas")
    expect(again.page.locator("#save-status")).to_have_attribute("data-state", "saved")
    ben = again.page.locator("table.grid tbody tr[data-id]", has_text="Ben").first.get_attribute("data-id")
    role = f"{CONTACTS}.role"
    assert [(c["new"], c["display_name"]) for c in again.call("history", record=ben, field=role)] == [
        ("Lighting", "Alice Stage")]
    seq = again.stats()["workspace"]["loggedSeq"]
    again.page.reload()
    again.wait_grid()
    assert again.stats()["workspace"]["loggedSeq"] == seq  # nothing applied twice
    wait_screen_kept(again, ws, 3)
    again.page.close()

    # held, then let go in the same tab: the real grid takes over and the kept edit is saved
    held = open_held(profile, grid)
    held.cell("Ann", "Phone").click()
    held.page.keyboard.type("555-0101")
    held.page.keyboard.press("Enter")
    expect(held.page.locator("#save-status")).to_have_attribute("data-state", "queued")
    # the opening mark goes only once the real grid is drawn (tests wait for it; a scroll test once
    # scrolled the copy while the real rows were still being read): what was on screen when it went
    held.page.evaluate(MARK_GONE_JS)
    held.api("releaseEngine")
    held.wait_ready()
    held.page.wait_for_function("!document.body.dataset.opening")
    assert held.page.evaluate("window.openingMarkGone") == [{"copy": False, "grid": True}]
    expect(held.page.locator("#save-status")).to_have_attribute("data-state", "saved")
    expect(held.page.locator(".opening-notice")).to_have_count(0)
    expect(held.cell("Ann", "Phone")).to_have_text("555-0101")
    ann = held.page.locator("table.grid tbody tr[data-id]", has_text="Ann").first.get_attribute("data-id")
    assert [c["new"] for c in held.call("history", record=ann, field=f"{CONTACTS}.phone")] == ["555-0101"]
    held.edit_cell("Ann", "Department", "Sound")  # and editing works as usual
    assert held.errors == [] and again.errors == []


SCROLLER_JS = "() => { const s = document.querySelector('.grid-scroll'); return [s.scrollTop, s.scrollLeft]; }"
FIRST_ROW_JS = """() => {
    const s = document.querySelector('.grid-scroll');
    const top = s.getBoundingClientRect().top + document.querySelector('table.grid thead').offsetHeight;
    const rows = [...document.querySelectorAll('table.grid tbody tr[data-id]')];
    const row = rows.find((r) => r.getBoundingClientRect().bottom > top + 1);
    return row ? row.querySelector('td').textContent : null;
}"""


def test_the_real_grid_opens_where_the_copy_was_scrolled_to(profile: Any, debug_server: Any) -> None:
    """Someone scrolls down the copy shown while opening; when the app takes over, the grid stays there."""
    def many(app: AppPage) -> None:
        text = "Name,Role\n" + "\n".join(f"Person {i:03d},Crew {i % 7}" for i in range(300))
        assert app.call("import_csv", table=CONTACTS, text=text, match_on=[])["new"] == 300
        assert app.call("stage_commit")["committed"]

    _, grid = kept_grid(profile, debug_server.url, "Scrolled", many, 300)

    held = open_held(profile, grid)
    held.page.locator(".grid-scroll").evaluate("(s) => { s.scrollTop = 4000; }")
    held.page.wait_for_function(f"(() => {{ const f = ({FIRST_ROW_JS})(); return f && f !== 'Person 000'; }})()")
    top, _ = held.page.evaluate(SCROLLER_JS)
    first = held.page.evaluate(FIRST_ROW_JS)
    assert top > 3000 and first and first != "Person 000"
    held.page.evaluate(MARK_GONE_JS)
    held.api("releaseEngine")
    held.wait_ready()
    held.page.wait_for_function("!document.body.dataset.opening")
    assert held.page.evaluate("window.openingMarkGone") == [{"copy": False, "grid": True}]
    assert held.page.evaluate(SCROLLER_JS)[0] == top
    assert held.page.evaluate(FIRST_ROW_JS) == first
    assert held.errors == []
