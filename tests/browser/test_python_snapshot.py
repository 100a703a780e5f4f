"""Python's start snapshot (web/js/worker/python.js, pysnapshot.js): a start with none makes one and keeps
it once the app is interactive; the next start restores it; a kept snapshot that is damaged, truncated, of
another app build or refused by Pyodide is dropped and the app starts normally, with nothing for the person
to do. Both engines.

The damage is written into IndexedDB by the page, the only way to get a known bad snapshot; which start
was which is read from the worker's own report (`api.stats().boot.snapshot`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
DB = "openprod-pyodide"

FORGET = f"""async () => {{
    await new Promise((ok, no) => {{ const r = indexedDB.deleteDatabase('{DB}');
        r.onsuccess = ok; r.onerror = () => no(r.error); }});
    return true;
}}"""

# Damage the kept snapshot one way; returns what was kept before ({key, size}).
DAMAGE = f"""async (kind) => {{
    const db = await new Promise((ok, no) => {{ const r = indexedDB.open('{DB}');
        r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); }});
    try {{
        const get = (name) => new Promise((ok, no) => {{
            const g = db.transaction('start').objectStore('start').get(name);
            g.onsuccess = () => ok(g.result); g.onerror = () => no(g.error); }});
        const meta = await get('meta');
        const before = {{ key: meta.key, size: meta.size }};
        let bytes = new Uint8Array(await get('bytes'));
        const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
        if (kind === 'flipped') {{ bytes[bytes.length >> 1] ^= 0xff; }}
        else if (kind === 'truncated') {{ bytes = bytes.slice(0, bytes.length >> 1); }}
        else if (kind === 'other-build') {{ meta.key = 'an-older-build/pyodide-' + meta.key.split('pyodide-')[1]; }}
        else if (kind === 'refused') {{
            // another Pyodide build's image: its build id (bytes 16-47) differs; size and SHA-256 made to match
            for (let i = 16; i < 48; i += 1) bytes[i] ^= 0x5a;
            meta.sha256 = hex(await crypto.subtle.digest('SHA-256', bytes));
        }} else throw new Error('unknown damage ' + kind);
        const tx = db.transaction('start', 'readwrite');
        tx.objectStore('start').put(bytes.buffer, 'bytes');
        tx.objectStore('start').put(meta, 'meta');
        await new Promise((ok, no) => {{ tx.oncomplete = ok; tx.onerror = () => no(tx.error); }});
        return before;
    }} finally {{ db.close(); }}
}}"""

REASONS = {
    "flipped": "damaged: its SHA-256 does not match",
    "truncated": "damaged: ",
    "other-build": "made by another build (an-older-build/",
    "refused": "restore failed: Snapshot build id mismatch",
}


def start_report(app: AppPage) -> dict[str, Any]:
    snapshot: dict[str, Any] = app.stats()["boot"]["snapshot"]
    return snapshot


def wait_kept(app: AppPage, timeout_s: float = 60) -> dict[str, Any]:
    """Until this start's snapshot is written (the page asks once it is interactive)."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = start_report(app)
        if report["kept"]:
            assert "error" not in report["kept"], report
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"the start snapshot was not kept: {report}")
        app.page.wait_for_timeout(200)


def reopen(profile: Any, app: AppPage, url: str) -> AppPage:
    """Close the tab (its worker, and the workspace's lock, go with it) and open `url` in a new one."""
    app.page.close()
    again = AppPage(profile.new_page())
    again.page.goto(url)
    again.wait_ready()
    again.wait_grid()
    return again


def works(app: AppPage, name: str, role: str) -> None:
    """The person's view: the grid is there and an edit is saved."""
    expect(app.cell(name, "Name")).to_be_visible()
    app.edit_cell(name, "Role", role)
    expect(app.cell(name, "Role")).to_have_text(role)
    assert app.call("rows", table=CONTACTS)["rows"][0]["values"][f"{CONTACTS}.role"] == role


def make_fresh(profile: Any, server: Any) -> tuple[AppPage, str]:
    """A workspace with one record, open on its grid, with no start snapshot kept (the WebKit profile is
    the module's: an earlier test may have kept one)."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Snapshot")
    app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Ann"})
    wait_kept_or_restored(app)
    assert app.page.evaluate(FORGET)
    url = f"{server.url}#/w/{ws}/t/{CONTACTS}"
    return reopen(profile, app, url), url


def wait_kept_or_restored(app: AppPage) -> None:
    """A start that made a snapshot has finished writing it (so deleting the database is not blocked)."""
    if start_report(app)["state"] == "made":
        wait_kept(app)


def test_the_second_open_starts_python_from_the_snapshot_the_first_made(
        profile: Any, engine: str, server: Any) -> None:
    app, url = make_fresh(profile, server)
    first = start_report(app)
    assert first["state"] == "made" and first["reason"] == "none stored", first
    assert first["key"].endswith("/pyodide-314.0.7")
    kept = wait_kept(app)["kept"]
    assert kept["bytes"] == first["bytes"] > 10_000_000
    works(app, "Ann", "Director")

    app = reopen(profile, app, url)
    second = start_report(app)
    assert second["state"] == "restored", second
    assert second["key"] == first["key"] and second["bytes"] == first["bytes"]
    assert second["reason"] == "" and second["kept"] is None  # nothing new to keep
    assert second["readMs"] is not None and second["checkMs"] is not None and second["restoreMs"] is not None
    assert second["screenWaitMs"] is not None  # its bytes were read once the page had drawn its screen
    works(app, "Ann", "Lighting")
    assert app.errors == []


@pytest.mark.parametrize("kind", list(REASONS))
def test_a_bad_kept_snapshot_is_dropped_and_the_app_starts_normally(
        profile: Any, engine: str, server: Any, kind: str, screenshot_dir: Path) -> None:
    app, url = make_fresh(profile, server)
    wait_kept(app)
    before = app.page.evaluate(DAMAGE, kind)
    assert before["size"] > 10_000_000

    app = reopen(profile, app, url)
    report = start_report(app)
    assert report["state"] == "made", report  # a normal start, which made a new one
    assert report["reason"].startswith(REASONS[kind]), report
    works(app, "Ann", f"Stage {kind}")
    assert wait_kept(app)["kept"]["bytes"] == before["size"]  # a new one, in its place
    assert app.errors == []
    if kind == "refused":  # Pyodide itself refused it: the next start uses the new one
        app.shot(screenshot_dir, f"48-python-snapshot-refused-{engine}")
        app = reopen(profile, app, url)
        assert start_report(app)["state"] == "restored"
        works(app, "Ann", "Sound")
        assert app.errors == []
