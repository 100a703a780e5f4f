"""The workspace a tab is opening is read while Python starts (the page reads it under the workspace's
lock once the last screen is drawn and hands it to the worker, whose address names it:
`worker.js?open=<id>`); the worker's host takes that read and the lock over; a read the page does not
open is given back, lock and all. Both engines.

Python is held back with `?hold-engine` (TEST builds only), so the states are waited for, not raced.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect
from test_opening import open_held, wait_screen_kept

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
HELD_LOCKS = "async () => (await navigator.locks.query()).held.map((l) => l.name)"
# A worker of the app started by hand with `?open=<id>` (Python held), handed the workspace as main.js
# does, and Comlink to talk to it.
START_WORKER = """async (ws) => {
    const Comlink = await import('./vendor/comlink.mjs');
    const { handOver } = await import('./js/worker/preopen.js');
    const worker = new Worker(`./js/worker.js?hold-engine&open=${encodeURIComponent(ws)}`, { type: 'module' });
    await handOver(ws, worker);
    window.handWorker = worker;
    window.handApi = Comlink.wrap(worker);
    return true;
}"""


def wait_lock(app: AppPage, name: str, held: bool, timeout_s: float = 60) -> None:
    """Until this browser's Web Lock `name` is held (or free)."""
    deadline = time.monotonic() + timeout_s
    while (name in app.page.evaluate(HELD_LOCKS)) != held:
        if time.monotonic() > deadline:
            raise AssertionError(f"lock {name} was never {'held' if held else 'free'}")
        app.page.wait_for_timeout(100)


def test_the_worker_reads_the_workspace_it_opens_as_it_starts_and_gives_back_what_it_does_not_open(
        profile: Any, engine: str, debug_server: Any) -> None:
    app = AppPage(profile.new_page()).open(debug_server.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Early read")
    for name in ("Ann", "Ben", "Cas"):
        app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": name})
    grid = f"{debug_server.url}#/w/{ws}/t/{CONTACTS}"
    app.page.goto(grid)
    app.page.reload()
    app.wait_grid()
    assert app.stats()["workspace"]["startup"]["readEarly"] is True  # a normal start reads early too
    wait_screen_kept(app, ws, 3)
    app.page.close()

    # Python held: the workspace's lock is taken and it is read; once Python runs, that read is used
    held = open_held(profile, grid)
    lock = f"openprod-ws-{ws}"
    wait_lock(held, lock, held=True)
    held.api("releaseEngine")
    held.wait_ready()
    held.wait_grid()
    startup = held.stats()["workspace"]["startup"]
    assert startup["readEarly"] is True and held.stats()["workspace"]["role"] == "owner"
    assert startup["at"]["read"] <= startup["at"]["pythonReady"]  # read beside Python's start, not after
    held.edit_cell("Ben", "Role", "Lighting")
    held.page.goto(grid)  # a plain start (no hold)
    held.page.reload()
    held.wait_grid()
    expect(held.cell("Ben", "Role")).to_have_text("Lighting")
    assert held.stats()["workspace"]["startup"]["readEarly"] is True
    held.page.close()

    # A worker that read a workspace its page then does not open gives the lock back: another tab owns it
    other = AppPage(profile.new_page()).open(debug_server.url)
    wait_lock(other, lock, held=False)
    other.page.evaluate(START_WORKER, ws)
    wait_lock(other, lock, held=True)
    other.page.evaluate("window.handApi.forgetOpening()")
    wait_lock(other, lock, held=False)
    other.page.evaluate("window.handWorker.terminate()")
    again = AppPage(profile.new_page()).open(grid)
    again.wait_grid()
    assert again.stats()["workspace"]["role"] == "owner"
    expect(again.cell("Ben", "Role")).to_have_text("Lighting")
    assert held.errors == [] and other.errors == [] and again.errors == []
