"""The next op seq is kept in memory between local commits (`Context.known_op_seq`, issue 19
target 6) instead of asked of SQLite (`SELECT max(seq) FROM oplog`) on every keystroke. It must
be dropped whenever anything else writes: received bundles, a rolled-back transaction, a failed
signature, a reopen; the oplog's seqs stay one unbroken run and every stored bundle reads back
exactly as it was signed."""

from __future__ import annotations

import itertools
import random
import sqlite3

import pytest

from helpers import Peer, make_env
from openprod import SignerError, Workspace, connect

NAME = "contacts.Contacts.name"
PHONE = "contacts.Contacts.phone"


def _max_seq_queries(conn: sqlite3.Connection) -> list[str]:
    """Every `max(seq)` statement run on `conn` from now on (the list fills as they run)."""
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if "max(seq) FROM oplog" in sql else None)
    return seen


def _check_oplog(peer: Peer, receipts: list[bytes]) -> None:
    """Op seqs 1..n with no gap or overlap, each bundle's range holding its own ops, and every
    bundle committed here read back byte for byte."""
    conn = peer.ws._cx.conn
    count, top = conn.execute("SELECT count(*), max(seq) FROM oplog").fetchone()
    assert count == top == conn.execute("SELECT sum(op_count) FROM bundles").fetchone()[0]
    ranges = conn.execute("SELECT first_op, op_count FROM bundles ORDER BY first_op").fetchall()
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(ranges))
    assert conn.execute("SELECT count(*) FROM oplog l JOIN bundles b ON l.bundle_seq = b.seq"
                        " WHERE l.seq < b.first_op OR l.seq >= b.first_op + b.op_count").fetchone()[0] == 0
    stored = {b.wire for b in peer.ws.oplog.bundles()}
    assert set(receipts) <= stored


def _committed(peer: Peer, receipts: list[bytes]) -> None:
    assert peer.ws.last_receipt is not None
    receipts.append(peer.ws.last_receipt.wire)


def test_consecutive_local_commits_ask_sqlite_for_the_next_op_seq_once(peer_factory) -> None:
    alice = peer_factory("Alice")
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    seen = _max_seq_queries(alice.ws._cx.conn)
    for n in range(5):
        alice.ws.set_field(rid, PHONE, str(n))
    alice.ws._cx.conn.set_trace_callback(None)
    assert seen == []
    _check_oplog(alice, [])


def test_the_next_op_seq_stays_right_after_received_bundles_rollbacks_undo_and_a_reopen(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    receipts: list[bytes] = []
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    _committed(alice, receipts)
    alice.ws.set_field(rid, PHONE, "1")
    _committed(alice, receipts)
    # bundles received between two local commits take the seqs the kept one would have given
    for wire in (b.wire for b in alice.ws.oplog.bundles()):
        bob.ws.ingest(wire)
    bob.ws.set_field(rid, NAME, "Jane B")
    bob.ws.set_field(rid, PHONE, "2")
    for wire in (b.wire for b in bob.ws.oplog.bundles()):
        alice.ws.ingest(wire)
    alice.ws.set_field(rid, PHONE, "3")
    _committed(alice, receipts)
    _check_oplog(alice, receipts)
    # a transaction rolled back after its writes, and one whose signature was refused
    with pytest.raises(RuntimeError), alice.ws.transaction() as tx:
        tx.set_field(rid, PHONE, "never")
        raise RuntimeError("cancelled")
    tx = alice.ws.begin()
    tx.set_field(rid, PHONE, "never either")
    prepared = alice.ws.prepare(tx)
    assert prepared is not None
    with pytest.raises(SignerError):
        alice.ws.commit(prepared, b"not a signature")
    alice.ws.set_field(rid, PHONE, "4")
    _committed(alice, receipts)
    assert alice.ws.undo().done
    _committed(alice, receipts)
    alice.ws.set_field(rid, PHONE, "5")
    _committed(alice, receipts)
    _check_oplog(alice, receipts)
    # reopened: nothing kept from before
    alice.ws.close()
    env = make_env(alice.identity, alice.env.now_ms, random.Random(7))
    alice = Peer(alice.name, Workspace.open(connect(alice.path), env), alice.path, alice.identity, env)
    alice.ws.set_field(rid, PHONE, "6")
    _committed(alice, receipts)
    more = bob.ws.create_record("contacts.Contacts", {"name": "Joe"})
    for wire in (b.wire for b in bob.ws.oplog.bundles()):
        alice.ws.ingest(wire)
    alice.ws.set_field(more, PHONE, "7")
    _committed(alice, receipts)
    _check_oplog(alice, receipts)
    assert alice.ws.records.value(rid, PHONE) == "6" and alice.ws.records.value(more, PHONE) == "7"
    # what Alice stored rebuilds the same state elsewhere
    carol = peer_factory("Carol", workspace_from=alice)
    for wire in (b.wire for b in alice.ws.oplog.bundles()):
        carol.ws.ingest(wire)
    assert carol.ws.state_hash() == alice.ws.state_hash()
