"""Sync's state hash waits for the person's pause (web/js/worker/sync.js `hashWait`), in both engines.

On a large workspace one reading of the state hash is about a second of worker turns; read after every
edit of someone editing at their own pace, it kept the worker busy between all of them and an edit
could wait behind a page of it. The reading now waits until the page has made no call for
`hashQuietMs`. Here that pause is made long: an edit is sent and acknowledged by the relay with no
hash read (the old loop read it right after sending the edit, before the acknowledgement came back),
while the page says in sync (that comes from the acknowledgements); once the pause is over the hash is
read. The waiting rule itself (`hashDelay`) is checked case by case. At the end of a join's catch-up the
person is waiting for "in sync", which needs the hash: it is read at once, not after their pause (the
page's own reads after the catch-up put it off 1.5 s on every join: docs/benchmarks.md, session 12).
Asserted on states, turn counts and the rule's answers, never on durations."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage

from helpers import seeded_identity
from openprod import Env, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier
from openprod.starter import starter_manifests
from openprod_server.client import RelayClient

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
SYNC_STATE = "() => window.openprod.app.syncStatus && window.openprod.app.syncStatus.state"


# hashDelay's answers for a person at work, pausing, and editing without a pause (the policy's defaults:
# hashAfterMs 120, hashBurstGapMs 250, hashQuietMs 1500, hashWaitMaxMs 30000). Times in ms.
DELAYS = """async () => {
    const { hashDelay, SYNC_POLICY } = await import('/js/worker/sync.js');
    const at = (now, extra) => hashDelay({ now, wants: true, wantedAt: 1000, activeAt: 1000, activeGapMs: 5000,
                                           personAt: 1000, ...extra }, SYNC_POLICY);
    return {
        policy: ['hashAfterMs', 'hashBurstGapMs', 'hashQuietMs', 'hashWaitMaxMs'].map((k) => SYNC_POLICY[k]),
        loneEditJustMade: at(1000),
        loneEditPersonStillThere: at(2000),
        personPaused: at(2600),
        burstJustPaused: at(2600, { activeAt: 2550, activeGapMs: 100 }),
        notWanted: at(1000, { wants: false }),
        wantedLongAgoPersonBusy: at(40000, { personAt: 39990, activeAt: 39000 }),
        nearTheBound: at(30500, { wantedAt: 1000, personAt: 30400, activeAt: 20000 }),
        caughtUpPersonBusy: at(1000, { caughtUp: true, activeGapMs: 100 }),
        caughtUpNotWanted: at(1000, { caughtUp: true, wants: false, activeGapMs: 100 }),
    };
}"""


def test_the_hash_waits_for_a_pause_in_frames_and_in_the_persons_calls(profile: Any, server: Any) -> None:
    page = profile.new_page()
    page.goto(server.url)
    page.wait_for_selector("body[data-ready]", timeout=180_000)
    got = page.evaluate(DELAYS)
    assert got["policy"] == [120, 250, 1500, 30000]
    assert got["loneEditJustMade"] == 1500  # a lone edit: frames would let it start, the person does not
    assert got["loneEditPersonStillThere"] == 500
    assert got["personPaused"] <= 0
    assert got["burstJustPaused"] == 70  # the person has paused, the burst of frames not yet (120 - 50)
    assert got["notWanted"] <= 0  # nothing to read: no reason to wait (the caller reads nothing)
    assert got["wantedLongAgoPersonBusy"] <= 0  # put off for 30 s already: read now, busy or not
    assert got["nearTheBound"] == 500  # the person would put it off 1,400 ms, the bound comes first
    assert got["caughtUpPersonBusy"] == 0  # a catch-up just ended: neither the person nor the burst puts it off
    assert got["caughtUpNotWanted"] == 120  # nothing to read: the rule for frames as before


def _hash_turns(app: AppPage) -> int:
    totals = app.stats()["workspace"]["turns"]["totals"]
    return int(totals.get("sync:hash", {}).get("n", 0))


def test_an_edit_is_shared_and_shown_in_sync_while_the_hash_waits_for_the_pause(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Alice Stage")
    app.create_workspace("Hamlet")
    app.api("configure", {"statusEveryMs": 0})  # every status reaches the page
    app.call("sync:publish", relay=server.origin, joinMode="open")
    app.page.wait_for_function(f"() => ({SYNC_STATE})() === 'in-sync'", timeout=180_000)

    # the hash of the published state read (after the page's last call, as below), then a person at
    # work: the pause the hash waits for is made longer than this test
    app.page.wait_for_function("() => window.openprod.api.stats().then((s) => s.workspace.sync.hashWanted === false)",
                               timeout=120_000)
    # no turn is spent on the hash while it is current: the cycle this `configure` starts reads none
    before = _hash_turns(app)
    app.api("configure", {"hashQuietMs": 3_600_000, "hashWaitMaxMs": 3_600_000})
    app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane Doe"})
    # the relay has the edit (its acknowledgement came back) and the page says in sync, hash or no hash
    app.page.wait_for_function(
        "() => { const s = window.openprod.app.syncStatus;"
        " return s && s.state === 'in-sync' && s.unshared === 0; }", timeout=120_000)
    assert _hash_turns(app) == before, "the state hash was read while the person was at work"
    assert app.stats()["workspace"]["sync"]["hashWanted"] is True  # and it is wanted: the edit changed the state

    # the person pauses: the hash is read (then the sessions' convergence check can use it)
    app.api("configure", {"hashQuietMs": 0})
    app.page.wait_for_function(
        "n => window.openprod.api.stats().then((s) => ((s.workspace.turns.totals['sync:hash'] || {}).n || 0) > n)",
        arg=before, timeout=120_000)
    assert app.page.evaluate(SYNC_STATE) == "in-sync"
    assert app.errors == []


def _publish_small(server: Any, tmp_path: Path) -> Workspace:
    """Alice's workspace on CPython, 40 bundles, published to the relay (a join catches up on them)."""
    identity = seeded_identity("Alice Stage", 7)
    env = Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name="Alice Stage")
    ws = Workspace.create(connect(str(tmp_path / "alice.db")), env, "Hamlet")
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(starter_manifests()["contacts"])
    for i in range(38):
        with ws.transaction() as tx:
            tx.create_record(CONTACTS, {"name": f"Person {i}"})

    async def upload() -> None:
        client = RelayClient(server.origin, ws)
        await client.publish()
        await client.sync()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs a loop in this thread
        pool.submit(asyncio.run, upload()).result()
    return ws


def test_a_join_is_in_sync_at_the_end_of_its_catch_up_without_waiting_for_the_persons_pause(
        profile: Any, server_factory: Any, tmp_path: Path) -> None:
    server = server_factory()
    alice = _publish_small(server, tmp_path)
    ws = str(uuid.UUID(bytes=alice.workspace_id))
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Bob Sound")
    # the person's pause made an hour long: a hash that waited for it would hold the sessions' check (and
    # so "in sync") for the whole test; the page's own calls on opening the workspace count as the person's
    app.api("configure", {"hashQuietMs": 3_600_000, "hashWaitMaxMs": 3_600_000})
    app.api("joinWorkspace", {"invite": f"{server.origin}/#/join/{ws}", "code": ""})
    app.page.evaluate(f"location.hash = '#/w/{ws}/sync'")
    app.call("info")  # a person's call after joining, whatever the page does by itself
    app.page.wait_for_function(f"() => ({SYNC_STATE})() === 'in-sync'", timeout=120_000)
    assert _hash_turns(app) > 0  # read by the worker's steps, not in one long call
    assert app.call("state_hash") == alice.state_hash()
    assert app.errors == []
