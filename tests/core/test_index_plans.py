"""The reads a sync, a catch-up or a keystroke runs never scan the oplog's tables whole.

Every op and bundle stored writes the `oplog` row and its `op_id` UNIQUE index, the `bundles` row,
its `bundle_id` UNIQUE index and `bundles_writer_hlc`, and a `bundle_targets` row. Session 12
("btree12" in docs/benchmarks.md) weighed each index against its readers: together they cost about
7 % of a keystroke's CPU and about 4 % of a caught-up bundle's, and each is the only access path
of a read made per received bundle or op (a duplicate check, a tip's author, a catch-up delta),
which without it scans the table (1.5-14 ms instead of a few µs at 100k ops). This test keeps it
so: it runs those flows through the public API, captures every statement they run, and fails if
SQLite's plan for any of them reads `bundles`, `oplog`, `bundle_targets` or `op_touches` with a
full SCAN (e.g. after an index is dropped, or a query rewritten so that no index fits it).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from helpers import Peer, sync
from openprod import Conflict, Workspace, connect, receive
from openprod.bundle import decode_bundle

STATUS = "contacts.Contacts.status"
BIG = ("bundles", "oplog", "bundle_targets", "op_touches")
_ALIAS = re.compile(r"\b(bundles|oplog|bundle_targets|op_touches)\s+(?:AS\s+)?([a-z_]\w*)", re.IGNORECASE)
_NOT_ALIAS = {"where", "join", "on", "order", "group", "left", "inner", "cross", "using", "limit", "set",
              "values", "union", "select", "natural"}


@contextmanager
def statements(conn: sqlite3.Connection) -> Iterator[list[str]]:
    """Every statement run on `conn` inside the block (bound values written in, as SQLite expands them)."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def full_scans(conn: sqlite3.Connection, sql: str) -> list[str]:
    """The plan steps of `sql` that read one of the oplog's tables whole (by its name or alias)."""
    if not sql.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
        return []
    names = {name.lower() for name in BIG}
    names |= {alias.lower() for _table, alias in _ALIAS.findall(sql) if alias.lower() not in _NOT_ALIAS}
    scans = []
    for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
        words = str(row[3]).split()
        if len(words) >= 2 and words[0] == "SCAN" and words[1].lower() in names:
            scans.append(f"{row[3]}  <-  {' '.join(sql.split())[:160]}")
    return scans


def assert_indexed(peer: Peer, flow: Callable[[], object]) -> int:
    """Run `flow`, then check the plan of every statement it ran on `peer`'s connection."""
    conn = peer.ws.conn
    with statements(conn) as seen:
        flow()
    assert seen, "the flow ran no statement: the capture is broken"
    bad = [scan for sql in seen for scan in full_scans(conn, sql)]
    assert not bad, "full scans of the oplog's tables:\n" + "\n".join(bad)
    return len(seen)


def test_the_capture_sees_a_scan_when_there_is_one(peer_factory) -> None:
    """The checker itself: a read by an unindexed column is reported, by table name and by alias."""
    alice = peer_factory("Alice")
    conn = alice.ws.conn
    assert full_scans(conn, "SELECT seq FROM bundles WHERE received_at = 1")
    assert full_scans(conn, "SELECT b.seq FROM bundles b WHERE b.op_count = 3")
    assert full_scans(conn, "SELECT l.seq FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq WHERE l.idx = 7")
    assert not full_scans(conn, "SELECT header FROM bundles WHERE seq = 1")


def test_receiving_and_serving_bundles_reads_through_indexes(peer_factory) -> None:
    alice: Peer = peer_factory("Alice")
    bob: Peer = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Task", "status": "todo"})
    sync(alice, bob)
    for value in ("blocked", "wontfix"):  # apart: a conflict on `status`
        alice.ws.set_field(rid, STATUS, value)
    bob.ws.set_field(rid, STATUS, "done")
    alice.ws.set_field(rid, "contacts.Contacts.email", "task@x")
    theirs = [b.wire for b in alice.ws.oplog.bundles()]
    known = {b.wire for b in bob.ws.oplog.bundles()}
    new = [w for w in theirs if w not in known]
    assert len(new) == 3

    # one at a time (the relay's live path), then a duplicate, then a batch (a catch-up)
    assert assert_indexed(bob, lambda: [bob.ws.ingest(w) for w in new[:1]]) > 0
    assert_indexed(bob, lambda: bob.ws.ingest(new[0]))
    assert_indexed(bob, lambda: bob.ws.ingest_many(new[1:] + new[:1]))
    assert bob.ws.oplog.size().bundles == len(theirs) + 1
    # the conflict is found through tips and their authors (op ids), and read back
    [conflict] = assert_conflicts(bob)
    assert sorted(c.value for c in conflict.competitors) == ["done", "wontfix"]

    # serving: what a peer lacks (per writer behind), what only this device holds, a field's history
    clock = dict(alice.ws._cx._vc)
    behind = {writer: hlc for writer, hlc in bob.ws._cx._vc.items() if writer != bob.ws._cx.writer}
    assert_indexed(bob, lambda: list(bob.ws.oplog.bundles_lacked(behind)))
    assert_indexed(alice, lambda: list(alice.ws.oplog.bundles_lacked({})))
    assert_indexed(alice, lambda: alice.ws.oplog.unshared_count(min(clock.values())))
    assert_indexed(bob, lambda: bob.ws.history.field(rid, "status"))

    # a received bundle whose predecessor in its chain is older than the newest stored (a fork's check)
    second = decode_bundle(new[1])
    assert second.header.clock.get(second.header.writer) not in (None, bob.ws._cx._vc[second.header.writer])
    assert_indexed(bob, lambda: receive.blocker(bob.ws._cx, second))

    # reopening: the local commits the clock row does not hold yet are read per writer
    alice.ws.set_field(rid, "contacts.Contacts.email", "task@y")
    alice.ws.close()
    conn = connect(alice.path)
    with statements(conn) as seen:
        reopened = Workspace.open(conn, alice.env)
    bad = [scan for sql in seen for scan in full_scans(conn, sql)]
    assert not bad, "full scans at open:\n" + "\n".join(bad)
    reopened.close()


def assert_conflicts(peer: Peer) -> list[Conflict]:
    found: list[Conflict] = []
    assert_indexed(peer, lambda: found.extend(peer.ws.conflicts.open()))
    return found
