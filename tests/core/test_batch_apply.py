"""Receiving a batch in one transaction gives exactly what receiving its bundles one at a time gives.

The batch path keeps per-batch state in memory instead of asking SQLite per bundle (which bundles
are stored, the next op seq, the vector clock rows written once before the commit, a bundle's
register winners read together, field writes applied in one pass). These tests pin the cases
where such shortcuts go wrong: a bundle that fails to apply in the middle of a batch, the same
bundle twice in one batch, conflicts and repeated writes to one register inside one batch, a
bundle whose field writes stop following their register's single tip half way, and parked
bundles released by a batch (also after the workspace was reopened)."""

from __future__ import annotations

import cbor2
import pytest

from helpers import Peer, sync
from openprod import BundleRejected, LocalError, Workspace, connect
from openprod.bundle import SIGN_CONTEXT, decode_bundle, encode_wire, op_hash
from openprod.encoding import decode

TABLE = "contacts.Contacts"
NAME, PHONE, STATUS, EMAIL = (f"{TABLE}.{f}" for f in ("name", "phone", "status", "email"))


def reopened(peer: Peer) -> Workspace:
    """The same database opened afresh: every cache read back from SQLite."""
    return Workspace.open(connect(peer.path), peer.env)


def last(peer: Peer) -> bytes:
    """The wire of the bundle `peer` wrote last."""
    assert peer.ws.last_receipt is not None
    return peer.ws.last_receipt.wire


def assert_same(batch: Peer, single: Peer) -> None:
    """Same state, same conflicts, same clock, on disk as in memory, and a rebuild changes nothing."""
    assert batch.ws.state_hash() == single.ws.state_hash()
    assert [c.id for c in batch.ws.conflicts.open()] == [c.id for c in single.ws.conflicts.open()]
    assert batch.ws.vector_clock == single.ws.vector_clock
    again = reopened(batch)
    assert again.vector_clock == batch.ws.vector_clock
    assert again.chain_digests == batch.ws.chain_digests
    again.close()
    before = batch.ws.state_hash()
    batch.ws.rebuild()
    assert batch.ws.state_hash() == before


def test_a_bundle_failing_mid_batch_is_refused_alone_and_the_clock_keeps_the_others(peer_factory) -> None:
    """Cleo's two bundles around Bob's crafted one (its op reuses the id of an op already stored,
    so it fails while being applied, after the checks): Cleo's both apply, Bob's is refused, and
    the clock rows of the bundle applied before the failure are on disk (the failure re-reads
    every cache from SQLite in the middle of the batch)."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    cleo = peer_factory("Cleo", workspace_from=alice)
    single = peer_factory("Dev", workspace_from=alice)
    for peer in (bob, cleo, single):
        sync(alice, peer)
    rid = alice.ws.create_record(TABLE, {"name": "Sam"})
    for peer in (bob, cleo, single):
        sync(alice, peer)
    stored_op = decode_bundle(alice.ws.last_receipt.wire).op_bytes[0]
    first = cleo.ws.create_record(TABLE, {"name": "Cleo 1"})
    c1 = cleo.ws.last_receipt.wire
    cleo.ws.set_field(first, PHONE, "1")
    c2 = cleo.ws.last_receipt.wire
    bob.ws.set_field(rid, PHONE, "2")
    genuine = decode_bundle(bob.ws.last_receipt.wire)
    header = decode(genuine.header_bytes)
    op = {**cbor2.loads(genuine.op_bytes[-1]), "id": cbor2.loads(stored_op)["id"]}
    ops = [*genuine.op_bytes[:-1], cbor2.dumps(op)]
    header_bytes = cbor2.dumps({**header, "ops": [op_hash(raw) for raw in ops]}, canonical=True)
    crafted = encode_wire(header_bytes, bob.env.signer.sign(SIGN_CONTEXT + header_bytes), ops)

    results = alice.ws.ingest_many([c1, crafted, c2])
    assert [r.status for r in results] == ["applied", "rejected", "applied"], results
    assert results[1].reason == "id_in_use" and "already stored" in results[1].detail
    for wire in (c1, c2):
        assert single.ws.ingest(wire).status == "applied"
    assert_same(alice, single)
    assert alice.ws.oplog.size().bundles == single.ws.oplog.size().bundles
    # the batch goes on numbering ops after the refused bundle: a later bundle applies cleanly
    cleo.ws.set_field(first, PHONE, "3")
    assert alice.ws.ingest(cleo.ws.last_receipt.wire).status == "applied"


def test_one_bundle_alone_is_applied_without_a_savepoint_and_refused_whole(peer_factory) -> None:
    """`ingest` of one bundle: its transaction is its all-or-nothing unit, so no savepoint is taken
    (receive.py `_Batch.alone`). A bundle that fails after some of its rows are written (its last
    op reuses the id of a stored op) is refused with nothing of it kept, on disk as in memory,
    and the receiver goes on: a later bundle applies, as on a peer that never saw the bad one."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    clean = peer_factory("Cleo", workspace_from=alice)
    for peer in (bob, clean):
        sync(alice, peer)
    rid = alice.ws.create_record(TABLE, {"name": "Sam"})
    for peer in (bob, clean):
        sync(alice, peer)
    stored_op = decode_bundle(last(alice)).op_bytes[0]
    statements: list[str] = []
    alice.ws.conn.set_trace_callback(statements.append)
    bob.ws.set_field(rid, PHONE, "1")
    assert alice.ws.ingest(last(bob)).status == "applied"
    assert clean.ws.ingest(last(bob)).status == "applied"
    assert not [s for s in statements if "SAVEPOINT" in s.upper()], statements
    with bob.ws.transaction() as tx:
        tx.set_field(rid, PHONE, "2")
        tx.set_field(rid, STATUS, "bad")
        tx.set_field(rid, EMAIL, "bad@x")
    genuine = decode_bundle(last(bob))
    header = decode(genuine.header_bytes)
    op = {**cbor2.loads(genuine.op_bytes[-1]), "id": cbor2.loads(stored_op)["id"]}
    ops = [*genuine.op_bytes[:-1], cbor2.dumps(op)]
    header_bytes = cbor2.dumps({**header, "ops": [op_hash(raw) for raw in ops]}, canonical=True)
    crafted = encode_wire(header_bytes, bob.env.signer.sign(SIGN_CONTEXT + header_bytes), ops)
    size, clock = alice.ws.oplog.size(), alice.ws.vector_clock
    result = alice.ws.ingest(crafted)
    alice.ws.conn.set_trace_callback(None)
    assert (result.status, result.reason) == ("rejected", "id_in_use"), result
    assert alice.ws.oplog.quarantined()[-1].reason == "id_in_use"
    assert alice.ws.oplog.size() == size and alice.ws.vector_clock == clock
    assert alice.ws.state_hash() == clean.ws.state_hash()
    assert not alice.ws.conn.in_transaction
    assert_same(alice, clean)
    alice.ws.set_field(rid, PHONE, "3")
    assert clean.ws.ingest(last(alice)).status == "applied"
    assert alice.ws.state_hash() == clean.ws.state_hash()
    cleo_rid = clean.ws.create_record(TABLE, {"name": "Next"})
    assert alice.ws.ingest(last(clean)).status == "applied"
    assert alice.ws.records.get(cleo_rid).get("name") == "Next"
    assert_same(alice, clean)


def test_the_same_bundle_twice_in_one_batch_is_applied_once(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    bob.ws.create_record(TABLE, {"name": "Twice"})
    wire = bob.ws.last_receipt.wire
    results = alice.ws.ingest_many([wire, wire])
    assert [r.status for r in results] == ["applied", "duplicate"]
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_conflicts_and_repeated_writes_inside_one_batch_match_one_at_a_time(peer_factory) -> None:
    """Alice and Bob edit the same record apart (status conflicts, other fields do not), each in
    several bundles, some writing one field twice; Cleo gets everything in one batch, Dev one
    bundle at a time. Bob's bundles write plain fields before and after the disputed one, so the
    one-pass path has to stop half way through a bundle and go on op by op."""
    alice = peer_factory("Alice")
    bob, cleo, dev = (peer_factory(n, workspace_from=alice) for n in ("Bob", "Cleo", "Dev"))
    rid = alice.ws.create_record(TABLE, {"name": "Task", "status": "todo", "phone": "0"})
    for peer in (bob, cleo, dev):
        sync(alice, peer)
    wires = []
    with alice.ws.transaction() as tx:
        tx.set_field(rid, STATUS, "doing")
        tx.set_field(rid, PHONE, "1")
        tx.set_field(rid, PHONE, "11")  # the same register twice in one bundle
    wires.append(last(alice))
    with alice.ws.transaction() as tx:
        tx.set_field(rid, STATUS, "done")
        tx.set_field(rid, EMAIL, "a@x")
    wires.append(last(alice))
    with bob.ws.transaction() as tx:
        tx.set_field(rid, NAME, "Task (Bob)")
        tx.set_field(rid, STATUS, "blocked")
        tx.set_field(rid, EMAIL, "b@x")
    wires.append(last(bob))
    with bob.ws.transaction() as tx:
        tx.set_field(rid, EMAIL, "b2@x")
        tx.set_field(rid, STATUS, "blocked!")
        tx.set_field(rid, NAME, "Task (Bob 2)")
    wires.append(last(bob))
    assert {r.status for r in cleo.ws.ingest_many(wires)} == {"applied"}
    for wire in wires:
        assert dev.ws.ingest(wire).status == "applied"
    found = {c.key: sorted(x.value for x in c.competitors) for c in cleo.ws.conflicts.open()}
    assert found == {STATUS: ["blocked!", "done"], EMAIL: ["a@x", "b2@x"]}
    [conflict] = [c for c in cleo.ws.conflicts.open() if c.key == STATUS]
    assert_same(cleo, dev)
    # the peers that wrote them see the same once they meet
    sync(alice, bob)
    assert alice.ws.state_hash() == cleo.ws.state_hash()

    # a resolution and a late edit in one batch: closed, then reopened, as one at a time
    [theirs] = [c for c in alice.ws.conflicts.open() if c.key == STATUS]
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(theirs, pick=next(c.op_id for c in theirs.competitors if c.value == "done"))
    wires = [last(alice)]
    with bob.ws.transaction() as tx:  # has not seen the resolution
        tx.set_field(rid, PHONE, "22")
        tx.set_field(rid, STATUS, "late")
    wires.append(last(bob))
    assert {r.status for r in cleo.ws.ingest_many(wires)} == {"applied"}
    for wire in wires:
        assert dev.ws.ingest(wire).status == "applied"
    assert_same(cleo, dev)
    assert conflict.id in [c.id for c in cleo.ws.conflicts.open()]
    assert cleo.ws.records.get(rid).get("status") == "done"  # a reopened conflict shows its resolution


def _apart(peer_factory):  # type: ignore[no-untyped-def]
    """Alice, Bob, Cleo and Dev with one record, all in sync, each having written once already
    (so their next bundles hold field writes only: the batch's one-read winners apply to them)."""
    alice = peer_factory("Alice")
    bob, cleo, dev = (peer_factory(n, workspace_from=alice) for n in ("Bob", "Cleo", "Dev"))
    rid = alice.ws.create_record(TABLE, {"name": "Task", "status": "todo"})
    sync(alice, bob)
    bob.ws.set_field(rid, PHONE, "0")
    for peer in (cleo, dev):
        sync(alice, peer)
        sync(bob, peer)
    sync(alice, bob)
    return alice, bob, cleo, dev, rid


def _status_conflict_in_one_batch(batch: Peer, single: Peer, wires: list[bytes]) -> None:
    """`batch` gets `wires` in one call, `single` one at a time: both show the status conflict alike."""
    assert {r.status for r in batch.ws.ingest_many(wires)} == {"applied"}
    for wire in wires:
        assert single.ws.ingest(wire).status == "applied"
    assert [c.key for c in batch.ws.conflicts.open()] == [STATUS]
    assert_same(batch, single)


def test_plain_bundles_of_two_writers_apart_in_one_batch_open_the_conflict(peer_factory) -> None:
    """After Alice's plain write to `status` is applied, Bob's write in the same batch (made
    without seeing it) must be checked against Alice's, not against the winner as it stood before
    the batch, or the conflict is lost (it caught a one-read-per-batch cache gone stale)."""
    alice, bob, cleo, dev, rid = _apart(peer_factory)
    alice.ws.set_field(rid, STATUS, "doing")
    bob.ws.set_field(rid, STATUS, "blocked")
    _status_conflict_in_one_batch(cleo, dev, [last(alice), last(bob)])


def test_a_bundle_applied_op_by_op_in_a_batch_is_seen_by_the_plain_bundles_after_it(peer_factory) -> None:
    """Alice's bundle writes `status` and then creates a record, so it is applied op by op; Bob's
    plain write after it in the same batch must still meet Alice's write (a conflict), as one
    bundle at a time does."""
    alice, bob, cleo, dev, rid = _apart(peer_factory)
    with alice.ws.transaction() as tx:
        tx.set_field(rid, STATUS, "doing")
        tx.create_record(TABLE, {"name": "Follow-up"})
    bob.ws.set_field(rid, STATUS, "blocked")
    _status_conflict_in_one_batch(cleo, dev, [last(alice), last(bob)])


def test_a_batch_releases_the_bundles_parked_before_it_even_after_a_reopen(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    wires = []
    for i in range(4):
        bob.ws.create_record(TABLE, {"name": f"Bob {i}"})
        wires.append(bob.ws.last_receipt.wire)
    # out of order in one batch: the later ones park, the first releases them
    results = alice.ws.ingest_many([wires[1], wires[0]])
    assert [r.status for r in results] == ["applied", "applied"]
    assert alice.ws.oplog.size().pending == 0
    # parked in one session, released in the next (the parking lot's counts read afresh)
    assert alice.ws.ingest(wires[3]).status == "pending"
    alice.ws.close()
    alice = Peer(alice.name, reopened(alice), alice.path, alice.identity, alice.env)
    result = alice.ws.ingest(wires[2])
    assert result.status == "applied" and len(result.applied) == 2
    assert alice.ws.oplog.size().pending == 0
    assert alice.ws.state_hash() == bob.ws.state_hash()


CONTACT_NAME, ATTENDEE_NAME = "contacts.Contacts.name", "schedule.Attendees.name"


def test_a_field_mapped_inside_a_batch_is_no_longer_a_plain_field_for_the_bundles_after_it(peer_factory) -> None:
    """Whether a field's writes are plain (unmapped, not CRDT) is remembered per field while the
    schema and the mappings stay the same objects. Cleo gets, in one batch, Alice's write to the
    attendee name (remembered as plain), Bob's write to the contact name made apart, Alice's
    confirmation mapping the two, and Alice's next attendee name write: that last one must be
    checked against the whole mapped field (Bob's write stays a competing tip), as every other
    peer does, not as the plain field it was before the mapping."""
    alice = peer_factory("Alice")
    bob, cleo = (peer_factory(n, workspace_from=alice) for n in ("Bob", "Cleo"))
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    with alice.ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "J. Doe"})
        tx.link_tables("contacts.Contacts", "schedule.Attendees")
    for peer in (bob, cleo):
        sync(alice, peer)
    bob.ws.set_field(rid, PHONE, "0")  # so Bob's next bundle is field writes only
    sync(bob, cleo)
    sync(bob, alice)
    wires = []
    alice.ws.set_field(rid, ATTENDEE_NAME, "Jane (Alice)")
    wires.append(last(alice))
    bob.ws.set_field(rid, CONTACT_NAME, "Jane (Bob)")
    wires.append(last(bob))
    with alice.ws.transaction() as tx:
        tx.confirm_field_mapping(CONTACT_NAME, ATTENDEE_NAME)
    wires.append(last(alice))
    alice.ws.set_field(rid, ATTENDEE_NAME, "Jane (Alice 2)")
    wires.append(last(alice))
    assert {r.status for r in cleo.ws.ingest_many(wires)} == {"applied"}
    sync(alice, bob)
    assert [c.key for c in alice.ws.conflicts.open()] == [CONTACT_NAME]
    assert cleo.ws.state_hash() == alice.ws.state_hash() == bob.ws.state_hash()
    assert [c.id for c in cleo.ws.conflicts.open()] == [c.id for c in alice.ws.conflicts.open()]


def test_bundles_decoded_ahead_are_checked_and_applied_as_the_wires_would_be(peer_factory) -> None:
    """The browser decodes a catch-up's next slice while the current one applies and hands the decoded
    bundles to `check_received(decoded=...)`: the same results as decoding there, a wire decoded
    ahead as refused (malformed) is refused with the same reason, a None decodes there, and a list of
    another length is refused outright."""
    alice = peer_factory("Alice")
    rid = alice.ws.create_record(TABLE, {"name": "Sam"})
    for n in range(6):
        alice.ws.set_field(rid, PHONE, f"555-{n}")
    wires = [b.wire for b in alice.ws.oplog.bundles()]
    broken = wires[-1][:-3]
    plain = peer_factory("Bob", workspace_from=alice)
    ahead = peer_factory("Cleo", workspace_from=alice)
    expected = plain.ws.apply_received(plain.ws.check_received([*wires, broken]),
                                       [True] * (len(wires)))  # every genuine one holds
    decoded: list[object] = []
    for wire in [*wires, broken]:
        try:
            decoded.append(decode_bundle(wire))
        except BundleRejected as exc:
            decoded.append(exc)
    decoded[2] = None  # not decoded ahead: decoded by the check
    received = ahead.ws.check_received([*wires, broken], decoded=decoded)
    got = ahead.ws.apply_received(received, [True] * len(received.to_verify))
    assert [(r.status, r.reason) for r in got] == [(r.status, r.reason) for r in expected]
    assert got[-1].status != "applied" and got[-1].reason == expected[-1].reason
    assert_same(ahead, plain)
    with pytest.raises(LocalError):
        ahead.ws.check_received(wires, decoded=decoded[:2])
