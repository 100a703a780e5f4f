"""What a local commit keeps between keystrokes while nothing else writes on the connection
(`Context.since_commit`, issue 19 target 6), instead of asking SQLite on every commit: the next op
seq (`SELECT max(seq) FROM oplog`), and that the record written is live, not merged away and in
the field's table (two SELECTs). Each must be dropped whenever anything else writes: received
bundles, a rolled-back transaction, a refused signature, a reopen, and any local change other
than a field's content; the oplog's seqs stay one unbroken run and every stored bundle reads
back exactly as it was signed."""

from __future__ import annotations

import itertools
import random
import sqlite3

import pytest

from helpers import Peer, make_env, sync
from openprod import SignerError, ValidationError, Workspace, connect

NAME = "contacts.Contacts.name"
PHONE = "contacts.Contacts.phone"


def _queries(conn: sqlite3.Connection, *marks: str) -> list[str]:
    """Every statement naming one of `marks` run on `conn` from now on (the list fills as they run)."""
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if any(m in sql for m in marks) else None)
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
    seen = _queries(alice.ws._cx.conn, "max(seq) FROM oplog")
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


PROPS = """
[module]
name = "props"
version = "1.0.0"

[table.Props.fields.item]
type = "string"

[table.Props.fields.notes]
type = "string"
crdt = "text"

[table.Store.fields.shelf]
type = "string"
"""
NOTES = "props.Props.notes"
ITEM = "props.Props.item"
SMALLEST = "00000000-0000-7000-8000-000000000001"


@pytest.fixture
def typing(peer_factory) -> tuple[Peer, Peer, str]:
    """Alice and Bob share a prop in two tables; Alice has typed into its notes."""
    alice = peer_factory("Alice")
    alice.ws.adopt_module(PROPS)
    bob = peer_factory("Bob", workspace_from=alice)
    with alice.ws.transaction() as tx:
        rid = tx.create_record("props.Store", {"shelf": "A"})
        tx.add_to_table(rid, "props.Props", {"item": "Dagger"})
    _type(alice, rid, "Hi")
    sync(alice, bob)
    return alice, bob, rid


def _type(peer: Peer, rid: str, text: str, at: int | None = None) -> None:
    """Type `text` at `at` (the end of the notes unless given), a transaction per character."""
    if at is None:
        at = len(peer.ws.records.value(rid, NOTES) or "")
    for char in text:
        with peer.ws.transaction() as tx:
            tx.edit_text(rid, NOTES, [(at, 0, char)])
        at += 1


def test_keystrokes_in_a_row_read_neither_the_record_nor_its_tables(typing) -> None:
    alice, _bob, rid = typing
    _type(alice, rid, " ")
    seen = _queries(alice.ws._cx.conn, "FROM entities", "FROM facets")
    _type(alice, rid, "there", at=3)
    for n in range(3):
        alice.ws.set_field(rid, ITEM, f"Dagger {n}")
    alice.ws._cx.conn.set_trace_callback(None)
    assert seen == []
    assert alice.ws.records.value(rid, NOTES) == "Hi there"
    assert alice.ws.records.value(rid, ITEM) == "Dagger 2"


def _edit(peer: Peer, rid: str, what: str) -> None:
    with peer.ws.transaction() as tx:
        if what == "text":
            tx.edit_text(rid, NOTES, [(0, 0, "x")])
        else:
            tx.set_field(rid, ITEM, "Sword")


@pytest.mark.parametrize("what", ["text", "field"])
@pytest.mark.parametrize("change", ["delete", "remove from table", "merge"])
def test_a_record_changed_by_another_device_is_checked_again(typing, change: str, what: str) -> None:
    alice, bob, rid = typing
    alice.ws.set_field(rid, ITEM, "Dagger 2")  # checked here
    with bob.ws.transaction() as tx:
        if change == "delete":
            tx.delete_record(rid)
        elif change == "remove from table":
            tx.remove_from_table(rid, "props.Props")
        else:  # the smaller id survives a merge: `rid` is merged away
            other = tx.create_record("props.Props", {"item": "Knife"}, record_id=SMALLEST)
            assert tx.merge_records(rid, other) == SMALLEST
    sync(alice, bob)
    with pytest.raises(ValidationError):
        _edit(alice, rid, what)


@pytest.mark.parametrize("what", ["text", "field"])
@pytest.mark.parametrize("change", ["delete", "remove from table"])
def test_a_record_changed_here_is_checked_again(typing, change: str, what: str) -> None:
    alice, _bob, rid = typing
    alice.ws.set_field(rid, ITEM, "Dagger 2")  # checked here
    with alice.ws.transaction() as tx:
        if change == "delete":
            tx.delete_record(rid)
        else:
            tx.remove_from_table(rid, "props.Props")
    with pytest.raises(ValidationError):
        _edit(alice, rid, what)
    assert alice.ws.undo().done
    _type(alice, rid, "!")  # back again: typing goes on
    assert alice.ws.records.value(rid, NOTES) == "Hi!"


@pytest.mark.parametrize("what", ["text", "field"])
def test_a_record_deleted_earlier_in_the_same_transaction_is_checked_again(typing, what: str) -> None:
    alice, _bob, rid = typing
    alice.ws.set_field(rid, ITEM, "Dagger 2")  # checked here
    with pytest.raises(ValidationError), alice.ws.transaction() as tx:
        tx.delete_record(rid)
        if what == "text":
            tx.edit_text(rid, NOTES, [(0, 0, "x")])
        else:
            tx.set_field(rid, ITEM, "Sword")
    assert alice.ws.records.value(rid, NOTES) == "Hi"
    _type(alice, rid, "!")
    assert alice.ws.records.value(rid, NOTES) == "Hi!"
