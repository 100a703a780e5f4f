"""The copy of the last grid shown (kept for the next opening, js/opening.js) is written by the tab that
keeps the workspace on its own open connection, between log writes, never beside one: WebKit's
IndexedDB commits one writer at a time, and the copy (hundreds of KB for a 1,000-row grid) written on a
connection of its own made an edit's append wait for it (docs/benchmarks.md, session 11, helper grid11).
Both engines.
"""

from __future__ import annotations

from typing import Any

import pytest
from appdriver import AppPage

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
NAME = f"{CONTACTS}.name"
# Edits as a person makes them with the grid showing: each re-reads the grid ('changed'), and the worker
# keeps a copy of it every 2 s at most. The pauses let the copy fall between and beside the edits.
EDITS = """async ([record, n, pauseMs]) => {
    for (let i = 0; i < n; i += 1) {
        await window.openprod.api.call('set_cell', {record, field: 'NAME', value: `Ann ${i}`});
        await new Promise((r) => setTimeout(r, pauseMs));
    }
}""".replace("NAME", NAME)


def wait_kept(app: AppPage, ws: str, name: str, timeout_s: float = 30) -> None:
    """Until the kept copy of the grid shows `name` (the copy is written a moment after the grid is read)."""
    app.wait_kept_screen(ws, lambda rows: name in [r["values"].get(NAME) for r in rows], f"showed {name!r}", timeout_s)


def test_the_grid_copy_is_written_on_the_workspace_connection_never_beside_a_log_write(
        profile: Any, engine: str, debug_server: Any) -> None:
    app = AppPage(profile.new_page()).open(debug_server.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Screen copy")
    for i in range(30):
        app.call("create_record", table=CONTACTS, values={NAME: f"Person {i}"})
    record = app.call("rows", table=CONTACTS)["rows"][0]["id"]
    app.page.goto(f"{debug_server.url}#/w/{ws}/t/{CONTACTS}")
    app.wait_grid()
    wait_kept(app, ws, "Person 29")
    app.page.evaluate(EDITS, [record, 12, 300])  # ~4 s: the copy is due twice or more meanwhile
    wait_kept(app, ws, "Ann 11")

    # a burst: a copy falls due while the edits' appends follow each other back to back (it waits for a gap)
    app.call("rows", table=CONTACTS)  # the grid read again: its copy is due in 0.5-2 s
    app.page.evaluate(EDITS.replace("setTimeout(r, pauseMs)", "r()"), [record, 300, 0])
    wait_kept(app, ws, "Ann 299")

    writes = app.stats()["workspace"]["writes"]
    # written through the host's connection (counted there): the old copy opened connections of its own
    assert writes.get("screen", 0) >= 2, writes
    # and never begun while another write (an edit's log append, marks, a snapshot) was in flight
    assert writes.get("screenOverlaps", 0) == 0, writes
    assert writes.get("log", 0) >= 312, writes
