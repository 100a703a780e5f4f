"""A tab whose opening cannot go on says so, in words, instead of "Opening the workspace…" for ever; and
the worker uses the app database one transaction at a time (WebKit can leave a database unable to run
any transaction when a worker ends with a readwrite and a readonly transaction in flight: worker/store.js
SerialDb). Storage that stops answering is made here, in both engines, by another tab holding a readwrite
transaction on the app database's `workspaces` store (every read of it then waits, as in the WebKit fault).
A workspace's own storage that answers late (its sync settings, read for the storage banner) does not hold
its screen back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

# Keeps one readwrite transaction on database `name`'s store `storeName` alive (a read issued as each one answers)
# until window.releaseHold(); resolves once the transaction is running.
HOLD_JS = """([name, storeName]) => new Promise((resolve, reject) => {
  const open = indexedDB.open(name);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(storeName, 'readwrite');
    const store = tx.objectStore(storeName);
    let held = true;
    window.releaseHold = () => { held = false; };
    tx.oncomplete = () => { db.close(); window.holdEnded = true; };
    const again = () => { if (held) store.get('none').onsuccess = again; };
    store.get('none').onsuccess = () => { again(); resolve(true); };
  };
})"""
STUCK_WAIT_MS = 60_000  # the screen speaks and the storage probe gives up well within this on a loaded machine
# The app's thresholds (20 s until the screen speaks, 8 s for the storage probe) shortened, as only TEST
# builds allow (js/opening.js testTimes): each of the four looks at the stuck screen below would wait 28 s.
# The probe stays seconds long: a read of a few bytes answers well within it unless storage is stuck.
QUICK_OPENING = "?opening-ms=3000,2000"


def test_stuck_storage_is_said_in_words_and_opening_goes_on_once_it_answers(
        profile: Any, engine: str, server_factory: Any, debug_bundle: Path, screenshot_dir: Path) -> None:
    device = server_factory(debug_bundle)  # the TEST build: it honours QUICK_OPENING
    app = AppPage(profile.new_page()).open(device.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Hamlet")
    page = app.page
    page.goto(f"{device.url}#/w/{ws}/sync")
    expect(page.locator(".backup-section")).to_be_visible()
    # many reads and writes of the app database at once: the worker runs them one after another
    page.evaluate("""() => {
        const api = window.openprod.api;
        return Promise.all([api.identity(), api.listWorkspaces(), api.saveIdentity('Alice Stage'),
            api.identity(), api.listWorkspaces(), api.call('info', {})]);
    }""")
    assert app.stats()["appTransactionsAtOnce"] == 1

    other = profile.new_page()  # another tab of this browser holds the app database's workspaces
    other.goto(f"{device.url}#/")
    other.evaluate(HOLD_JS, ["openprod", "workspaces"])
    # the quick thresholds in this tab's address, then a reload (as before; the reloads below keep them). Not
    # a goto: WebKit would keep the old page, which holds the workspace, in its back-forward cache.
    page.evaluate(f"history.replaceState(null, '', {QUICK_OPENING!r} + location.hash)")
    page.reload()
    status = page.locator("#opening-status")
    expect(status).to_contain_text("This browser's storage has stopped answering", timeout=STUCK_WAIT_MS)
    expect(status).to_contain_text("quit the browser completely")
    assert page.evaluate("document.body.dataset.openingStuck") == "storage"
    app.tablet_shots(screenshot_dir, "49-opening-stuck", lambda: expect(status).to_contain_text(
        "This browser's storage has stopped answering", timeout=STUCK_WAIT_MS), ready=False)

    other.evaluate("() => window.releaseHold()")  # storage answers again: opening goes on, the words go
    expect(page.locator(".backup-section")).to_be_visible(timeout=STUCK_WAIT_MS)
    expect(status).to_be_hidden()
    assert page.evaluate("document.body.dataset.openingStuck === undefined")
    assert app.errors == []


def test_a_workspace_opens_while_its_sync_settings_cannot_be_read_yet(
        profile: Any, server_factory: Any) -> None:
    """The storage banner reads whether the workspace is shared (its `sync` store) before the screen is
    drawn, but waits for it only briefly: after a tab closed mid catch-up, a workspace's storage answered
    no read for minutes in Chromium, and the tab opening it said "Opening the workspace…" all that time.
    Held here by another tab's readwrite transaction on that store: the grid is there anyway, and the
    read ends once the hold does."""
    device = server_factory()
    app = AppPage(profile.new_page()).open(device.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Hamlet")
    page = app.page
    other = profile.new_page()
    other.goto(f"{device.url}#/")
    other.evaluate(HOLD_JS, [f"openprod-ws-{ws}", "sync"])

    page.reload()
    app.wait_ready()
    expect(page.locator("table.grid")).to_be_visible()
    steps = [step[1] for step in page.evaluate("window.openprodOpening")]
    assert "storage: not read yet, opened without it" in steps, steps
    assert page.evaluate("window.openprod.app.shared") is None  # the read still waits on the hold

    other.evaluate("() => window.releaseHold()")
    page.wait_for_function("window.openprod.app.shared === false", timeout=STUCK_WAIT_MS)
    assert app.errors == []
