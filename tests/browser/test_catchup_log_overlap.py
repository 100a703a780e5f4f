"""A browser catching up keeps ingesting while its log write is in flight, and acknowledges nothing unlogged.

During a catch-up the worker's loop logs what it stored (one IndexedDB transaction, strict
durability) every `durableEveryMs` of work and only then sends the frames that acknowledge it. It
used to wait for that write before the next slice: on a 100k-op join about a tenth of the time
(docs/benchmarks.md, "Session 10: a browser joining a 100k-op workspace"). Now the write and the
next slices overlap; the frames still leave only once the write is done.

The test holds the worker's log writes (a TEST-ONLY hook of the debug build, worker/debug.js) once
the catch-up is under way, and waits, on states, until ingest slices have run after a held write
began waiting (before the change: none ever do, the loop waits on the write) while no frame has
left meanwhile. Then it lets the writes go: the join ends in sync with the author's state hash and
every bundle logged.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from conftest import start_server

from helpers import seeded_identity
from openprod import Env, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier
from openprod.starter import starter_manifests
from openprod_server.client import RelayClient

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
BUNDLES = 1_200

# At the first status saying the catch-up is under way with plenty to come: hold the log writes.
HOOK = """() => {
    const app = window.openprod.app;
    const seen = { held: null, error: null };
    window.logHold = seen;
    const show = app.showSync.bind(app);
    app.showSync = (status) => {
        show(status);
        if (status.state === 'catching-up' && seen.held === null && status.progress
                && status.progress.received >= 100 && status.progress.remaining >= 600) {
            seen.held = status.progress;
            window.openprod.api.debugPeer('hold_log', {}).catch((err) => { seen.error = String(err); });
        }
    };
}"""


def _in_thread(coro: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _publish(origin: str, tmp_path: Path) -> Workspace:
    identity = seeded_identity("Alice Stage", 7)
    env = Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name="Alice Stage")
    ws = Workspace.create(connect(str(tmp_path / "alice.db")), env, "Hamlet")
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(starter_manifests()["contacts"])
    with ws.transaction() as tx:
        ids = [tx.create_record(CONTACTS, {"name": f"Person {i}"}) for i in range(20)]
    for n in range(BUNDLES - 3):
        with ws.transaction() as tx:
            tx.set_field(ids[n % len(ids)], f"{CONTACTS}.phone", f"555-{n:05d}")

    async def upload() -> None:
        client = RelayClient(origin, ws)
        await client.publish()
        await client.sync()

    _in_thread(upload())
    return ws


def test_a_catch_up_ingests_while_its_log_write_is_in_flight_and_sends_nothing_unlogged(
        profile: Any, debug_bundle: Path, tmp_path: Path) -> None:
    server = start_server(tmp_path / "relay", debug_bundle)
    try:
        alice = _publish(server.origin, tmp_path)
        ws = str(uuid.UUID(bytes=alice.workspace_id))
        app = AppPage(profile.new_page()).open(server.url)
        app.ensure_identity("Bob Sound")
        app.page.evaluate(HOOK)
        app.api("configure", {"statusEveryMs": 0})  # every status reaches the page: the hold is set early
        app.api("joinWorkspace", {"invite": f"{server.origin}/#/join/{ws}", "code": ""})
        app.page.evaluate(f"location.hash = '#/w/{ws}/sync'")
        app.page.wait_for_function("window.logHold.held !== null || window.logHold.error !== null", timeout=300_000)
        # A write is held, and ingest slices ran after it began waiting (without the overlap the loop
        # waits on the write and no slice ever runs: this wait times out).
        # The same session throughout (a session that stalled would end, and a new one ingest again).
        app.page.evaluate("""() => {
            const poll = async () => {
                const h = await window.openprod.api.debugPeer('log_hold', {});
                if (h && h.waiting > 0 && (h.now.workTurns >= h.first.workTurns + 3 || h.now.links !== h.first.links)) {
                    window.logHold.seen = h;
                } else {
                    setTimeout(poll, 50);
                }
            };
            poll();
        }""")
        app.page.wait_for_function("Boolean(window.logHold.seen)", timeout=120_000, polling=100)
        hold = app.page.evaluate("window.logHold.seen")
        assert app.page.evaluate("window.logHold.error") is None
        assert hold["first"]["links"] and hold["now"]["links"] == hold["first"]["links"], hold
        assert hold["now"]["workTurns"] >= hold["first"]["workTurns"] + 3, hold
        # Nothing left while the write was held: the frames taken with it wait for it.
        assert hold["now"]["framesSent"] == hold["first"]["framesSent"], hold
        assert app.api("debugPeer", "release_log", {}) is True
        app.page.wait_for_function(
            "window.openprod.app.syncStatus && window.openprod.app.syncStatus.state === 'in-sync'", timeout=300_000)
        assert app.call("state_hash") == alice.state_hash()
        stats = app.api("stats")["workspace"]
        assert stats["persisted"]["records"] >= alice.oplog.size().bundles - 1, stats["persisted"]  # all but genesis
        assert app.errors == []
    finally:
        server.stop()
