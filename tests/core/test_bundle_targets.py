"""The records each bundle's ops are about are kept once per bundle (`bundle_targets`), not as an
index entry per op (`oplog_target`, gone): one B-tree insert per bundle and record instead of one
per op. Readers of a register's writes (history, undo guards, CRDT documents, conflict recomputes,
rules) go target -> bundles -> their ops by seq range, and must find exactly the ops the old index
found. Files written before are moved once at open.

`data/before_bundle_targets.db` was written by the core of 6f1903f (with `oplog_target`) running
`data/make_before_bundle_targets.py`: Alice and Bob, a conflict on a phone, a text field typed by
both, one bundle creating two records, a merge and a write to the merged-away record made apart
from it, synced both ways; the WAL checkpointed and the file vacuumed. The expected figures were
printed by that same run (the history digests are sha256 of `repr(ws.history.field(...))`)."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_oplog_convergence import action, run_schedule
from test_oplog_layout import open_as_alice

from helpers import sync
from openprod import Workspace, oplog

OLD_FILE = Path(__file__).parent / "data" / "before_bundle_targets.db"
STATE_HASH = "06dbdefcca23513190ec604a86214a8371bd057b941fa5a0a44550af366b9bc2"
WIRES_SHA256 = "39076ce71fa2ee729d670ba83b5fa114659e9562f47c000554ea1652a365c88e"
JANE = "01a0c450-6c24-7007-a3e6-b605b99e8306"
TOM = "01a0c450-6c2e-7287-bdc8-c0388fe881c3"
TOM2 = "01a0c450-6c35-71c2-9492-a875f74ac6f3"
HISTORIES = {  # (record, field): (sha256 of the history's repr, how many writes)
    (JANE, "phone"): ("630835d41c443484693e095102aa18a98a38f2aa4eea07df959aff7a615f7051", 3),
    (TOM, "phone"): ("b99c2acdb3a08012946c054590dcd696b0c6af1b87f3ba3fdc403925ea72f40a", 2),
    (TOM, "name"): ("ce02c97ed7361d0cfc9abbf71f794e6d2f5f9d44491f9377d0c4a756c3d2c985", 2),
    (TOM2, "email"): ("2d012eb1fae9196e69dbef7c685a1a37cb5a09ebed68d5348c0c5bdafce2304d", 1),
}
DETAILS = "Note: Allergic to nuts. Call first."

# The old core's plain reading of a register's writes (what the `oplog_target` index answered):
# the reference the new join must equal.
OLD_WRITES_TO = """
    SELECT l.ord, b.writer, l.op_type, l.payload, b.bundle_id FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq
    WHERE l.target = ? AND l.field IN ({marks}) AND l.ord > ?
    UNION
    SELECT l.ord, b.writer, l.op_type, l.payload, b.bundle_id FROM op_touches t
    JOIN oplog l ON l.seq = t.op_seq JOIN bundles b ON b.seq = l.bundle_seq
    WHERE t.target = ? AND t.field IN ({marks}) AND t.ord > ?
    ORDER BY 1
"""


def _layout(path: Path) -> tuple[bool, bool]:
    """(the oplog_target index exists, the bundle_targets table exists), read with a plain connection."""
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name IN"
                                            " ('oplog_target', 'bundle_targets')")}
        return "oplog_target" in names, "bundle_targets" in names
    finally:
        conn.close()


def _rows_match_the_ops(conn: sqlite3.Connection) -> None:
    """bundle_targets holds each bundle's distinct op targets, nothing else."""
    kept = sorted(conn.execute("SELECT target, bundle_seq FROM bundle_targets"))
    expected = sorted(conn.execute("SELECT DISTINCT target, bundle_seq FROM oplog WHERE target IS NOT NULL"))
    assert kept == expected


def _histories(ws: Workspace) -> dict[tuple[str, str], tuple[str, int]]:
    out = {}
    for record, field in HISTORIES:
        history = ws.history.field(record, field)
        # as 6f1903f's core printed them: `Change.collaborative` came after (None for these fields)
        printed = repr(history).replace(", collaborative=None", "")
        out[(record, field)] = (hashlib.sha256(printed.encode()).hexdigest(), len(history))
    return out


def test_a_file_from_before_bundle_targets_opens_with_the_same_histories_texts_and_state(tmp_path, peer_factory,
                                                                                          clock) -> None:
    path = tmp_path / "old.db"
    shutil.copy(OLD_FILE, path)
    assert _layout(path) == (True, False)
    with open_as_alice(path, clock) as ws:
        assert _layout(path) == (False, True)
        _rows_match_the_ops(ws.conn)
        assert ws.state_hash() == STATE_HASH
        wires = [b.wire for b in ws.oplog.bundles()]
        assert hashlib.sha256(b"".join(wires)).hexdigest() == WIRES_SHA256
        assert _histories(ws) == HISTORIES
        assert ws.records.get(JANE).get("details") == DETAILS  # the text document, read back from its ops
        assert ws.records.get(TOM).get("phone") == "555-0199"
        assert len(ws.conflicts.open()) == 3
        # after the move: one more edit here and one received, both in the history and the text
        carol = peer_factory("Carol", workspace_from=_Held(ws))
        assert {carol.ws.ingest(w).status for w in wires} == {"applied"}
        assert carol.ws.state_hash() == STATE_HASH
        ws.set_field(JANE, "contacts.Contacts.phone", "555-0133")
        with carol.ws.transaction() as tx:
            tx.edit_text(JANE, "contacts.Contacts.details", [(0, 0, "! ")])
            tx.set_field(TOM, "contacts.Contacts.name", "Thomas Roe")
        mine = [b.wire for b in ws.oplog.bundles()][-1]
        theirs = [b.wire for b in carol.ws.oplog.bundles()][-1]
        assert ws.ingest(theirs).status == "applied" and carol.ws.ingest(mine).status == "applied"
        assert ws.state_hash() == carol.ws.state_hash()
        assert [c.new for c in ws.history.field(JANE, "phone")][-1] == "555-0133"
        assert [c.new for c in ws.history.field(TOM, "name")][-1] == "Thomas Roe"
        assert ws.records.get(JANE).get("details") == "! " + DETAILS
        _rows_match_the_ops(ws.conn)
        expected = ws.state_hash()
    with open_as_alice(path, clock) as again:  # the move happens once; reopening reads the same
        assert _layout(path) == (False, True)
        assert again.state_hash() == expected
        assert again.records.get(JANE).get("details") == "! " + DETAILS


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=5, max_size=30), st.integers(0, 10_000))
def test_every_register_s_writes_are_found_as_the_old_index_found_them(actions: list[tuple], seed: int) -> None:
    """Random schedules of three writers (conflicts, resolutions, deletes and restores, table
    removals with defaults, edges, ordered lists, merges), plus text typed by two of them and
    bundles about several records: on every peer, for every register any op writes, the writes
    read through bundle_targets are the old plain reading's, row for row, after any point."""
    peers = run_schedule(actions, seed)
    rng = random.Random(seed)
    for peer in peers[:2]:
        records = [r.id for r in peer.ws.records.all("contacts.Contacts")]
        if len(records) >= 2:
            with peer.ws.transaction() as tx:  # one bundle about several records, and text
                tx.edit_text(records[0], "contacts.Contacts.details", [(0, 0, peer.name)])
                tx.set_field(records[1], "contacts.Contacts.email", f"{peer.name}@example.org")
                tx.set_field(records[0], "contacts.Contacts.status", "active")
    for i in range(3):
        for j in range(3):
            if i != j:
                sync(peers[i], peers[j])
    assert len({p.ws.state_hash() for p in peers}) == 1
    texts = {tuple(str(r.get("details")) for r in p.ws.records.all("contacts.Contacts")) for p in peers}
    assert len(texts) == 1
    for peer in peers:
        conn = peer.ws.conn
        _rows_match_the_ops(conn)
        registers = sorted(set(conn.execute("SELECT target, field FROM oplog WHERE target IS NOT NULL"))
                           | set(conn.execute("SELECT target, field FROM op_touches")))
        ords = [r[0] for r in conn.execute("SELECT ord FROM oplog ORDER BY ord")]
        for target, field in registers:
            after = rng.choice([b"", *ords])
            old = list(conn.execute(OLD_WRITES_TO.format(marks="?"), (target, field, after, target, field, after)))
            assert list(oplog.writes_to(conn, target, [field], after)) == old
        fields = sorted({f for _t, f in registers})
        for target in {t for t, _f in registers}:  # several fields at once, as mapped fields are read
            old = list(conn.execute(OLD_WRITES_TO.format(marks=",".join("?" * len(fields))),
                                    (target, *fields, b"", target, *fields, b"")))
            assert list(oplog.writes_to(conn, target, fields)) == old


class _Held:
    """Stands in for a Peer whose workspace a new peer joins (only its id is read)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
