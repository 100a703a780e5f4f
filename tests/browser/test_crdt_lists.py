"""A list field edited at the same time in a browser (Yjs) and on a CPython peer (pycrdt), through a
real relay: both additions are kept, nothing is duplicated, and every side reads the same list
and the same state hash (so each runtime applied the other's updates exactly)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_sync import person, wait_state

from helpers import seeded_identity
from openprod import Workspace, connect
from openprod.context import Env
from openprod.signer_nacl import NaclSigner, NaclVerifier

pytestmark = pytest.mark.browser

REPORTS = "reports.Reports"
TAGS = f"{REPORTS}.tags"


def _cli(*args: str, db: Path, identity: Path, relay: str) -> None:
    result = subprocess.run([sys.executable, "-m", "openprod_server.cli", *args, "--db", str(db), "--identity",
                             str(identity), "--relay", relay], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"


@pytest.mark.chromium_only(reason="one engine is enough to show pycrdt <-> Yjs through the relay; the core's Yjs "
                                  "path runs in every WebKit test that opens a workspace")
def test_a_browser_and_a_cpython_peer_add_tags_at_once(rtc_context: Any, server: Any, tmp_path: Path) -> None:
    alice = person(rtc_context, server, "Alice Stage")
    ws = alice.create_workspace("Lists")
    report = alice.call("create_record", table=REPORTS,
                        values={f"{REPORTS}.title": "Rehearsal 3", TAGS: ["act 1"]})["id"]
    alice.call("sync:publish", relay=server.origin, joinMode="open")
    wait_state(alice, "in-sync")

    # Bob, on CPython (pycrdt): joins through the relay with the command line, catches up
    identity = seeded_identity("Bob Sound", 7)
    identity_path, db = tmp_path / "bob.json", tmp_path / "bob.db"
    identity_path.write_text(identity.to_json())
    env = Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)
    Workspace.join(connect(str(db)), env, uuid.UUID(ws).bytes).close()
    _cli("join", "--workspace", ws, db=db, identity=identity_path, relay=server.origin)
    _cli("sync", db=db, identity=identity_path, relay=server.origin)
    with Workspace.open(connect(str(db)), env) as bob:
        assert bob.records.get(report).get("tags") == ["act 1"]  # Yjs-made update, read by pycrdt
        with bob.transaction() as tx:
            # saved as "these are the tags now", as a form does, offline, before seeing Alice's change
            # below (whole-list rewrites on both sides used to give ['act 1', 'sharp', 'act 1', 'prop'])
            tx.set_list(report, TAGS, ["act 1", "sharp"])

    # Alice adds a tag in the browser meanwhile (as the form saves it: the whole list she sees)
    alice.call("set_cell", record=report, field=TAGS, value=["act 1", "prop"])
    wait_state(alice, "in-sync")
    _cli("sync", db=db, identity=identity_path, relay=server.origin)  # Bob sends his and gets hers

    with Workspace.open(connect(str(db)), env) as bob:
        bobs = bob.records.get(report).get("tags")
        bob_hash = bob.state_hash()
    assert bobs[0] == "act 1" and sorted(bobs) == ["act 1", "prop", "sharp"], bobs  # once each
    alice.page.wait_for_function(
        """([record, field]) => window.openprod.api.call('record', {record}).then(
               r => r && (r.values[field] || []).length === 3)""", arg=[report, TAGS], timeout=60_000)
    alices = alice.call("record", record=report)["values"][TAGS]
    assert alices == bobs  # pycrdt-made update, read by Yjs; same order on both
    assert alice.call("state_hash") == bob_hash
    assert alice.errors == []
