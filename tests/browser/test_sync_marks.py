"""Sync's marks are written at most every `marksEveryMs`, and kept when the workspace closes, in both engines.

While a workspace is in sync, every status refresh moves its marks (when it was last in sync, the shared
HLC, the synced log position), several times a second around edits. Each move was a strict IndexedDB
write of its own beside the edits' log appends: about three a second at one edit a second (the bench's
split, docs/benchmarks.md session 10). Now a refresh changes the marks in memory and they are written at
most every `marksEveryMs`, and at once when the workspace closes. Asserted on counts of IndexedDB writes
and the stored record, never on durations."""

from __future__ import annotations

from typing import Any

import pytest
from appdriver import AppPage

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
IN_SYNC = ("() => { const s = window.openprod.app.syncStatus;"
           " return s && s.state === 'in-sync' && s.unshared === 0 && s.lastSyncAt > (window.__lastSync || 0); }")
STORED_MARKS = """async (ws) => new Promise((resolve, reject) => {
    const req = indexedDB.open(`openprod-ws-${ws}`);
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
        const db = req.result;
        const get = db.transaction('sync').objectStore('sync').get('marks');
        get.onsuccess = () => { db.close(); resolve(get.result || null); };
        get.onerror = () => reject(get.error);
    };
})"""


def _marks_written(app: AppPage) -> int:
    return int(app.stats()["workspace"]["writes"].get("marks", 0))


def test_status_refreshes_in_sync_do_not_each_write_the_marks(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Hamlet")
    app.api("configure", {"statusEveryMs": 0, "marksEveryMs": 3_600_000})  # every status reaches the page
    app.call("sync:publish", relay=server.origin, joinMode="open")
    app.page.wait_for_function(IN_SYNC, timeout=180_000)
    before = _marks_written(app)

    # five edits, each shared and acknowledged: every "in sync" after one is a status refresh that
    # moved the marks (lastSyncAt is newer each time)
    for i in range(5):
        app.page.evaluate("() => { window.__lastSync = window.openprod.app.syncStatus.lastSyncAt; }")
        app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"Person {i}"})
        app.page.wait_for_function(IN_SYNC, timeout=120_000)
    last = app.page.evaluate("() => window.openprod.app.syncStatus.lastSyncAt")
    assert _marks_written(app) - before <= 1, app.stats()["workspace"]["writes"]

    # what was noted in memory is written when the workspace closes
    app.api("closeWorkspace")
    stored = app.page.evaluate(STORED_MARKS, ws)
    assert stored is not None and stored["lastSyncAt"] >= last, (stored, last)
    assert app.errors == []
