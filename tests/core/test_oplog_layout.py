"""A bundle's ops are found by the range of op seqs kept in its row (`bundles.first_op`), not by
an index on `oplog.bundle_seq`; files written before that change open, are moved to the new
layout once, and read back the same bundles and state. A damaged old file is refused unchanged.

`data/before_first_op.db` was written by the core of 5a4adc0 (the layout with `oplog_bundle`):
Alice founds a workspace with the contacts module, Bob joins, both write, one field conflicts,
everything synced both ways; then the WAL was checkpointed and the file vacuumed. The expected
figures below were printed by that same run."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import ManualClock, Peer, make_env, seeded_identity
from openprod import LocalError, Workspace, connect

OLD_FILE = Path(__file__).parent / "data" / "before_first_op.db"
STATE_HASH = "231f87b58639f9300910940ab8ce4555b94fe4e84aad6c0534121fb38411ff73"
WIRES_SHA256 = "38747a559eee9e2837e30c11cddfe4fbcb05d094f0a456888d016c1d411b331b"
CHANGES = ("[PersonChanges(actor='e2aff00cd03b7257aec3b64fbed224d9c5732e028be048456c57af8de90b933d', "
           "display_name='Bob', bundles=2, operations=5, records=2)]")
JANE = "01a0c450-6c1a-719b-85c9-24c3597164c4"


def _layout(path: Path) -> tuple[bool, bool]:
    """(the oplog_bundle index exists, bundles has first_op), read with a plain connection."""
    conn = sqlite3.connect(path)
    try:
        index = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'oplog_bundle'").fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(bundles)")}
        return index is not None, "first_op" in columns
    finally:
        conn.close()


def open_as_alice(path: Path, clock: ManualClock) -> Workspace:
    """The old file's own author opening it (test_bundle_targets uses it too)."""
    return Workspace.open(connect(str(path)), make_env(seeded_identity("Alice", 1), clock, random.Random(1)))


def test_a_file_from_before_first_op_opens_in_the_new_layout_with_its_bundles_and_state(tmp_path, peer_factory,
                                                                                       clock) -> None:
    path = tmp_path / "old.db"
    shutil.copy(OLD_FILE, path)
    assert _layout(path) == (True, False)
    with open_as_alice(path, clock) as ws:
        assert _layout(path) == (False, True)
        assert ws.state_hash() == STATE_HASH
        wires = [b.wire for b in ws.oplog.bundles()]
        assert hashlib.sha256(b"".join(wires)).hexdigest() == WIRES_SHA256
        assert (ws.oplog.size().bundles, ws.oplog.size().operations) == (6, 12)
        assert repr(ws.history.changes_since(0)) == CHANGES
        # the stored bundles, read through the ranges, rebuild the same state elsewhere
        carol: Peer = peer_factory("Carol", workspace_from=_Held(ws))
        assert {carol.ws.ingest(w).status for w in wires} == {"applied"}
        assert carol.ws.state_hash() == STATE_HASH
        # new bundles after the migration: one written here, one received
        ws.set_field(JANE, "contacts.Contacts.phone", "555-0123")
        carol.ws.set_field(JANE, "contacts.Contacts.name", "Jane Q. Doe")
        mine = [b.wire for b in ws.oplog.bundles()][-1]
        theirs = [b.wire for b in carol.ws.oplog.bundles()][-1]
        assert ws.ingest(theirs).status == "applied" and carol.ws.ingest(mine).status == "applied"
        assert ws.state_hash() == carol.ws.state_hash()
        assert ws.records.get(JANE).get("name") == "Jane Q. Doe"
        assert ws.oplog.genesis_bundle() == wires[0]
    with open_as_alice(path, clock) as again:  # the move happens once; reopening reads the same
        assert _layout(path) == (False, True)
        assert again.state_hash() == carol.ws.state_hash()


def test_an_old_file_whose_bundle_ops_are_not_together_is_refused_unchanged(tmp_path, clock) -> None:
    path = tmp_path / "damaged.db"
    shutil.copy(OLD_FILE, path)
    conn = sqlite3.connect(path)
    bundle_seq, seq = conn.execute(
        "SELECT bundle_seq, max(seq) FROM oplog GROUP BY bundle_seq HAVING count(*) > 1 LIMIT 1").fetchone()
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE oplog SET seq = 100000 WHERE seq = ?", (seq,))  # a gap inside one bundle's ops
    conn.execute("UPDATE op_touches SET op_seq = 100000 WHERE op_seq = ?", (seq,))
    conn.commit()
    conn.close()
    with pytest.raises(LocalError, match=f"operations of stored bundle {bundle_seq} are not stored together"):
        open_as_alice(path, clock)
    assert _layout(path) == (True, False)


def test_a_new_file_has_no_bundle_index_and_reads_each_bundle_by_its_range(peer_factory) -> None:
    alice = peer_factory("Alice")
    alice.ws.create_record("contacts.Contacts", {"name": "Jane Doe", "phone": "555-0101"})
    assert _layout(Path(alice.path)) == (False, True)
    rows = alice.ws.conn.execute("SELECT seq, first_op, op_count FROM bundles ORDER BY seq").fetchall()
    expected_first = 1
    for seq, first, count in rows:  # consecutive ranges, in the order stored, covering every op
        assert first == expected_first
        assert [r[0] for r in alice.ws.conn.execute(
            "SELECT bundle_seq FROM oplog WHERE seq >= ? AND seq < ?", (first, first + count))] == [seq] * count
        expected_first += count
    assert expected_first - 1 == alice.ws.oplog.size().operations


class _Held:
    """Stands in for a Peer whose workspace a new peer joins (only its id is read)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
