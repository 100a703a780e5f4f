"""This device's vector clock row is written by one local commit in `CLOCK_ROW_EVERY`, not by each
(issue 19 target 6: one statement and one B-tree page less per keystroke). What the row does not
hold yet is derived from this device's bundles stored after it (`Context._reload`), so the vector
clock and the chain digest are the same as a row per commit would give: after a reopen (the
process gone after its last commit), after a rolled-back transaction, after a rebuild, and when
this device's own bundles come back from a copy of its file."""

from __future__ import annotations

import random
import shutil
import sqlite3

import pytest

from helpers import Peer, make_env
from openprod import Workspace, connect
from openprod.context import CLOCK_ROW_EVERY
from openprod.oplog import NO_DIGEST, header_digest, xor

NOTES = "props.Props.notes"
PROPS = """
[module]
name = "props"
version = "1.0.0"

[table.Props.fields.notes]
type = "string"
crdt = "text"
"""


def _chain(conn: sqlite3.Connection, writer: bytes) -> tuple[bytes, bytes]:
    """(max HLC, digest) of `writer`'s stored bundles, computed from all of them (what a row per
    commit, and a rebuild, hold)."""
    digest, top = NO_DIGEST, b""
    for hlc, header in conn.execute("SELECT hlc, header FROM bundles WHERE writer = ?", (writer,)):
        digest, top = xor(digest, header_digest(header)), max(top, hlc)
    return top, digest


def _reopen(peer: Peer, path: str | None = None, seed: int = 7) -> Peer:
    """The file opened again by a new process (nothing kept in memory): `peer.ws` is dropped
    without a write, as a killed process would leave it."""
    path = path or peer.path
    env = make_env(peer.identity, peer.env.now_ms, random.Random(seed))
    return Peer(peer.name, Workspace.open(connect(path), env), path, peer.identity, env)


def _type(peer: Peer, rid: str, text: str) -> None:
    at = len(peer.ws.records.value(rid, NOTES) or "")
    for char in text:
        with peer.ws.transaction() as tx:
            tx.edit_text(rid, NOTES, [(at, 0, char)])
        at += 1


@pytest.fixture
def alice(peer_factory) -> tuple[Peer, str]:
    alice = peer_factory("Alice")
    alice.ws.adopt_module(PROPS)
    rid = alice.ws.create_record("props.Props", {})
    return alice, rid


def _row(peer: Peer) -> tuple[bytes, bytes] | None:
    cx = peer.ws._cx
    return cx.conn.execute("SELECT hlc, digest FROM vector_clock WHERE writer = ?", (cx.writer,)).fetchone()


def test_keystrokes_write_the_clock_row_once_in_clock_row_every(alice) -> None:
    peer, rid = alice
    seen: list[str] = []
    peer.ws._cx.conn.set_trace_callback(lambda sql: seen.append(sql) if "vector_clock" in sql else None)
    _type(peer, rid, "x" * (3 * CLOCK_ROW_EVERY))
    peer.ws._cx.conn.set_trace_callback(None)
    assert 2 <= len(seen) <= 3
    # and what is kept in memory is what every bundle stored says
    cx = peer.ws._cx
    top, digest = _chain(cx.conn, cx.writer)
    assert cx.vector_clock[cx.writer] == top and peer.ws.chain_digests[cx.writer] == digest


def test_a_reopen_after_commits_not_in_the_row_gives_the_same_clock_text_and_state(alice) -> None:
    peer, rid = alice
    _type(peer, rid, "Hello, world")
    assert _row(peer) != _chain(peer.ws._cx.conn, peer.ws._cx.writer)  # the last commits are not in the row
    clock, digests, text, state = peer.ws.vector_clock, peer.ws.chain_digests, \
        peer.ws.records.value(rid, NOTES), peer.ws.state_hash()
    again = _reopen(peer)
    assert again.ws.vector_clock == clock and again.ws.chain_digests == digests
    assert again.ws.records.value(rid, NOTES) == text == "Hello, world"
    assert again.ws.state_hash() == state
    # typing on after the reopen, and again, still adds up
    _type(again, rid, "!" * (CLOCK_ROW_EVERY + 3))
    third = _reopen(again, seed=8)
    cx = third.ws._cx
    assert third.ws.vector_clock[cx.writer] == _chain(cx.conn, cx.writer)[0]
    assert third.ws.chain_digests[cx.writer] == _chain(cx.conn, cx.writer)[1]
    assert third.ws.records.value(rid, NOTES) == "Hello, world" + "!" * (CLOCK_ROW_EVERY + 3)
    assert third.ws.state_hash() == again.ws.state_hash()


def test_a_rolled_back_transaction_keeps_the_commits_not_in_the_row(alice) -> None:
    peer, rid = alice
    _type(peer, rid, "abc")
    clock, digests = peer.ws.vector_clock, peer.ws.chain_digests
    with pytest.raises(RuntimeError), peer.ws.transaction() as tx:  # the caches are re-read from SQLite
        tx.edit_text(rid, NOTES, [(0, 0, "never")])
        raise RuntimeError("cancelled")
    assert peer.ws.vector_clock == clock and peer.ws.chain_digests == digests
    _type(peer, rid, "d")
    cx = peer.ws._cx
    assert (cx.vector_clock[cx.writer], peer.ws.chain_digests[cx.writer]) == _chain(cx.conn, cx.writer)


def test_a_rebuild_and_a_peer_that_syncs_see_the_same_chain(alice, peer_factory) -> None:
    peer, rid = alice
    _type(peer, rid, "typed")
    digests = peer.ws.chain_digests
    peer.ws.rebuild()
    assert peer.ws.chain_digests == digests
    bob = peer_factory("Bob", workspace_from=peer)
    for wire in (b.wire for b in peer.ws.oplog.bundles()):
        bob.ws.ingest(wire)
    assert bob.ws.vector_clock == peer.ws.vector_clock and bob.ws.chain_digests == digests


def test_own_bundles_coming_back_from_a_copy_of_the_file_keep_the_chain(alice, tmp_path, clock) -> None:
    """A copy of this file (same device) typed on elsewhere: its bundles come back here as
    received bundles of this very writer, older than a commit made here meanwhile."""
    peer, rid = alice
    _type(peer, rid, "ab")
    copy_path = str(tmp_path / "copy.db")
    with sqlite3.connect(copy_path) as target:
        peer.ws._cx.conn.backup(target)
    copy = _reopen(peer, copy_path, seed=9)
    _type(copy, rid, "cd")  # older HLCs than what is typed here next
    clock.advance(1_000)
    _type(peer, rid, "e")  # not in the row yet
    for wire in (b.wire for b in copy.ws.oplog.bundles()):
        peer.ws.ingest(wire)
    cx = peer.ws._cx
    expected = _chain(cx.conn, cx.writer)
    assert (cx.vector_clock[cx.writer], peer.ws.chain_digests[cx.writer]) == expected
    again = _reopen(peer, seed=10)
    cx = again.ws._cx
    assert (cx.vector_clock[cx.writer], again.ws.chain_digests[cx.writer]) == expected
    assert again.ws.state_hash() == peer.ws.state_hash()
    assert _chain(cx.conn, cx.writer)[1] != NO_DIGEST


def test_a_file_written_with_a_row_per_commit_opens_and_types_on(tmp_path, clock) -> None:
    """The format is unchanged (the row holds a prefix of the chain; before, always all of it):
    a file from before opens with its clock as stored, and commits here go on from it."""
    from test_oplog_layout import OLD_FILE, open_as_alice

    path = tmp_path / "old.db"
    shutil.copy(OLD_FILE, path)
    with open_as_alice(path, clock) as ws:
        cx = ws._cx
        assert (cx.vector_clock[cx.writer], ws.chain_digests[cx.writer]) == _chain(cx.conn, cx.writer)
        stored = dict(cx.conn.execute("SELECT writer, digest FROM vector_clock"))
        assert ws.chain_digests == stored
        rid = ws.create_record("contacts.Contacts", {"name": "Joe"})
        for n in range(3):
            ws.set_field(rid, "contacts.Contacts.phone", str(n))
        clock_now, digests, state = ws.vector_clock, ws.chain_digests, ws.state_hash()
    with open_as_alice(path, clock) as ws:
        assert (ws.vector_clock, ws.chain_digests, ws.state_hash()) == (clock_now, digests, state)


def test_another_person_opening_the_file_sees_the_commits_not_in_its_row(alice, peer_factory) -> None:
    """A file typed in by Alice (the last commits not in her row, and the process gone), then
    opened by Bob on the same machine: Bob's clock holds all of Alice's bundles, and Alice's
    after Bob typed too."""
    peer, rid = alice
    _type(peer, rid, "Alice")
    writer = peer.ws._cx.writer
    chain = _chain(peer.ws._cx.conn, writer)
    other = peer_factory("Bob")  # only for Bob's identity
    env = make_env(other.identity, peer.env.now_ms, random.Random(11))
    bob = Peer("Bob", Workspace.open(connect(peer.path), env), peer.path, other.identity, env)
    assert (bob.ws.vector_clock[writer], bob.ws.chain_digests[writer]) == chain
    _type(bob, rid, " and Bob")
    again = _reopen(peer, seed=12)
    cx = again.ws._cx
    for who in (writer, bob.ws._cx.writer):
        assert (again.ws.vector_clock[who], again.ws.chain_digests[who]) == _chain(cx.conn, who)
    assert again.ws.records.value(rid, NOTES) == "Alice and Bob"
    assert again.ws.state_hash() == bob.ws.state_hash()
