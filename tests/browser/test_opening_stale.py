"""The opening screen is a copy kept from the last visit, and a copy can be out of date (another tab
or a sync changed the workspace after it was kept). Once Python is ready the real grid replaces the
copy: rows and values that changed show as they are now, a row that no longer exists goes, and an
edit typed on the copy is applied to the real record (only the cell typed in), or refused in words
when its record is gone. Nothing from the copy is ever written back. Both engines.

The copy is made stale by rewriting it in IndexedDB, the only way to get a known stale copy without
racing the worker's own writes of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
NAME, ROLE, PHONE = (f"{CONTACTS}.{f}" for f in ("name", "role", "phone"))
GONE = "00000000-0000-4000-8000-00000000dead"

MAKE_STALE = """async ([ws, kept, name, role, gone]) => {
    for (const row of kept.data.rows) {
        if (row.values[name] === 'Ben') row.values[name] = 'Ben (yesterday)';
        if (row.values[name] === 'Ann') row.values[role] = 'Old role';
    }
    kept.data.rows.push({ ...kept.data.rows[0], id: gone, values: { [name]: 'Gone Person' } });
    const db = await new Promise((ok, no) => { const r = indexedDB.open(`openprod-ws-${ws}`);
        r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
    try {
        const tx = db.transaction('screen', 'readwrite');
        tx.objectStore('screen').put(kept, 'last');
        await new Promise((ok, no) => { tx.oncomplete = ok; tx.onerror = () => no(tx.error); });
        return kept.data.rows.length;
    } finally { db.close(); }
}"""


def wait_kept(app: AppPage, ws: str, rows: int, timeout_s: float = 30) -> dict[str, Any]:
    """Until the worker has kept the grid it showed (written a moment after the grid settles); the copy."""
    return app.wait_kept_screen(ws, lambda kept: len(kept) == rows, f"had {rows} rows", timeout_s)


def test_a_stale_kept_screen_is_replaced_by_the_real_grid_and_edits_typed_on_it_go_to_the_real_records(
        profile: Any, engine: str, debug_server: Any, screenshot_dir: Path) -> None:
    app = AppPage(profile.new_page()).open(debug_server.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Stale copy")
    ids = {name: app.call("create_record", table=CONTACTS, values={NAME: name})["id"] for name in ("Ann", "Ben", "Cas")}
    app.call("set_cell", record=ids["Ann"], field=ROLE, value="Director")
    grid = f"{debug_server.url}#/w/{ws}/t/{CONTACTS}"
    app.page.goto(grid)
    app.page.reload()
    app.wait_grid()
    kept = wait_kept(app, ws, 3)
    assert app.page.evaluate(MAKE_STALE, [ws, kept, NAME, ROLE, GONE]) == 4
    app.page.close()

    # Python held back: the stale copy shows, as kept, read-only but for cell edits (kept)
    held = AppPage(profile.new_page())
    base, _, route = grid.partition("#")
    held.page.goto(f"{base}?hold-engine#{route}")
    page, keys = held.page, held.page.keyboard
    page.wait_for_selector("body[data-opening=preview]", timeout=60_000)
    expect(page.locator(".opening-notice")).to_contain_text("Opening…")
    expect(held.cell("Ben (yesterday)", "Name")).to_be_visible()
    expect(held.cell("Ann", "Role")).to_have_text("Old role")
    expect(page.locator(".row-count")).to_have_text("4 records")
    held.cell("Ben (yesterday)", "Phone").click()
    keys.type("555-0202")
    keys.press("Enter")
    held.cell("Gone Person", "Role").click()
    keys.type("Props")
    keys.press("Enter")
    expect(page.locator("#save-status")).to_contain_text("Kept on this device: 2 changes")
    held.shot(screenshot_dir, f"46-opening-stale-copy-{engine}")

    # Python ready: the real grid, as it is now; the copy's old values are gone, not saved
    held.api("releaseEngine")
    held.wait_ready()
    page.wait_for_function("!document.body.dataset.opening")
    toast = page.locator("#toast")
    expect(toast).to_contain_text("Saved the change you typed while Openprod was opening.")
    expect(toast).to_contain_text("Not saved: Gone Person › Role (“Props”): ")
    expect(page.locator(".row-count")).to_have_text("3 records")
    expect(page.locator("table.grid tbody tr[data-id]", has_text="Ben (yesterday)")).to_have_count(0)
    expect(page.locator("table.grid tbody tr[data-id]", has_text="Gone Person")).to_have_count(0)
    expect(held.cell("Ann", "Role")).to_have_text("Director")
    expect(held.cell("Ben", "Phone")).to_have_text("555-0202")
    real = held.call("rows", table=CONTACTS)
    shown = sorted(held.column_values("Name"))
    assert shown == sorted(r["values"][NAME] for r in real["rows"]) == ["Ann", "Ben", "Cas"]
    # only the cell typed in was written: Ben's name and Ann's role never took the copy's values
    assert [c["new"] for c in held.call("history", record=ids["Ben"], field=PHONE)] == ["555-0202"]
    assert [c["new"] for c in held.call("history", record=ids["Ben"], field=NAME)] == ["Ben"]
    assert [c["new"] for c in held.call("history", record=ids["Ann"], field=ROLE)] == ["Director"]
    held.edit_cell("Cas", "Role", "Sound")  # the grid is live
    expect(held.cell("Cas", "Role")).to_have_text("Sound")
    assert held.errors == []
