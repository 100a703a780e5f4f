"""Parked bundles (waiting for earlier ones) cannot be made into a weapon: storing a bundle reads
only the parked bundles waiting for it, the waiting room is capped per author and per workspace
(in rows and bytes) with a clear refusal, parked bundles expire, and nothing honest is lost by any
of it: a refused or expired bundle applies when it is sent again after what it waits for."""

from __future__ import annotations

import dataclasses
import random

import pytest

from helpers import ManualClock, Peer, make_peer, sync
from openprod import Workspace, connect, receive
from openprod.parked import ParkingLimits

TABLE = "contacts.Contacts"
HOUR = 3_600_000


def with_limits(peer: Peer, limits: ParkingLimits) -> Peer:
    """The same peer, reopened with other parking limits (they are handed in, like every limit)."""
    peer.ws.close()
    env = dataclasses.replace(peer.env, parking=limits)
    return Peer(peer.name, Workspace.open(connect(peer.path), env), peer.path, peer.identity, env)


def chain(author: Peer, n: int) -> list[bytes]:
    """`n` bundles by `author`, each after the one before it on the same device."""
    wires = []
    for i in range(n):
        author.ws.create_record(TABLE, {"name": f"{author.name} {i}"})
        wires.append(author.ws.last_receipt.wire)
    return wires


@pytest.fixture
def crew(tmp_path, clock: ManualClock) -> tuple[Peer, list[Peer]]:
    """Alice (the receiver) and three members in sync with her."""
    alice = make_peer("Alice", str(tmp_path / "alice.db"), clock, seed=1, modules=("contacts",))
    members = [make_peer(name, str(tmp_path / f"{name}.db"), clock, seed=seed, workspace_from=alice,
                         rng=random.Random(seed)) for seed, name in ((2, "Bob"), (3, "Cleo"), (4, "Dev"))]
    for member in members:
        sync(alice, member)
    return alice, members


def test_storing_a_bundle_reads_only_the_parked_bundles_waiting_for_it(crew, monkeypatch) -> None:
    alice, (bob, cleo, _dev) = crew
    alice = with_limits(alice, ParkingLimits(per_author=5_000, per_workspace=5_000))
    held_back = chain(bob, 1)[0]
    parked = chain(bob, 300)  # each waits for the one before it; the first for `held_back`
    results = alice.ws.ingest_many(parked)
    assert {r.status for r in results} == {"pending"}
    decoded = []
    real = receive.decode_bundle
    monkeypatch.setattr(receive, "decode_bundle", lambda data: decoded.append(data) or real(data))
    for wire in chain(cleo, 20):  # unrelated writes: no parked bundle is read, however many wait
        assert alice.ws.ingest(wire).status == "applied"
    assert len(decoded) == 20  # each received bundle itself, and nothing else
    decoded.clear()
    result = alice.ws.ingest(held_back)  # the missing link: the whole chain applies, each read once
    assert result.status == "applied" and len(result.applied) == 301
    assert len(decoded) == 301
    assert alice.ws.oplog.size().pending == 0
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_a_bundle_woken_for_one_dependency_waits_on_for_the_next(crew) -> None:
    """Bob's bundle follows Cleo's and Dev's: it wakes when one arrives and applies after both."""
    alice, (bob, cleo, dev) = crew
    from_cleo = chain(cleo, 1)[0]
    from_dev = chain(dev, 1)[0]
    sync(cleo, bob)
    sync(dev, bob)
    after_both = chain(bob, 1)[0]
    assert alice.ws.ingest(after_both).status == "pending"
    assert alice.ws.ingest(from_cleo).status == "applied"
    assert alice.ws.oplog.size().pending == 1
    result = alice.ws.ingest(from_dev)
    assert result.status == "applied" and len(result.applied) == 2
    assert alice.ws.oplog.size().pending == 0


def test_parked_bundles_are_capped_per_author_with_a_clear_refusal(crew) -> None:
    alice, (bob, cleo, _dev) = crew
    alice = with_limits(alice, ParkingLimits(per_author=3, per_workspace=100))
    bob_first = chain(bob, 1)[0]
    bobs = chain(bob, 5)
    results = alice.ws.ingest_many(bobs)
    assert [r.status for r in results] == ["pending"] * 3 + ["rejected"] * 2
    refused = results[3]
    assert refused.reason == "too_many_parked"
    assert "3 bundles by this author already wait" in refused.detail and "sent again" in refused.detail
    assert alice.ws.oplog.quarantined() == []  # not kept: nothing is wrong with it, and keeping it defeats the cap
    assert alice.ws.oplog.size().pending == 3
    cleo_first = chain(cleo, 1)[0]
    assert alice.ws.ingest_many(chain(cleo, 2))[0].status == "pending"  # another author still has room
    # Nothing is lost: once what they wait for is here, the parked ones apply and the refused
    # ones apply when sent again (as the next catch-up does).
    assert len(alice.ws.ingest(bob_first).applied) == 4
    assert [r.status for r in alice.ws.ingest_many(bobs[3:])] == ["applied", "applied"]
    assert len(alice.ws.ingest(cleo_first).applied) == 3
    sync(alice, bob)
    sync(alice, cleo)
    assert alice.ws.state_hash() == bob.ws.state_hash() == cleo.ws.state_hash()


def test_parked_bundles_are_capped_per_workspace_in_rows_and_bytes(crew) -> None:
    alice, (bob, cleo, dev) = crew
    alice = with_limits(alice, ParkingLimits(per_author=100, per_workspace=4))
    chain(bob, 1)
    chain(cleo, 1)
    statuses = [r.status for r in alice.ws.ingest_many(chain(bob, 3) + chain(cleo, 3))]
    assert statuses == ["pending"] * 4 + ["rejected"] * 2
    refused = alice.ws.ingest(chain(dev, 2)[1])
    assert refused.status == "rejected"
    assert "4 bundles already wait for earlier ones in this workspace" in refused.detail
    small = with_limits(alice, ParkingLimits(max_bytes=1))
    refused = small.ws.ingest(chain(dev, 1)[0])
    assert refused.reason == "too_many_parked" and "bytes" in refused.detail


def test_parked_bundles_expire(crew, clock: ManualClock) -> None:
    alice, (bob, cleo, _dev) = crew
    alice = with_limits(alice, ParkingLimits(max_age_ms=HOUR))
    bob_first = chain(bob, 1)[0]
    old = chain(bob, 2)
    assert {r.status for r in alice.ws.ingest_many(old)} == {"pending"}
    clock.advance(HOUR + 1)
    cleo_first = chain(cleo, 1)[0]
    assert alice.ws.ingest(chain(cleo, 1)[0]).status == "pending"  # parking again sweeps the old ones out
    assert alice.ws.oplog.size().pending == 1
    assert len(alice.ws.ingest(bob_first).applied) == 1  # the expired ones are gone: only itself applies
    assert [r.status for r in alice.ws.ingest_many(old)] == ["applied", "applied"]  # sent again: applied
    assert len(alice.ws.ingest(cleo_first).applied) == 2


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_author"):
        ParkingLimits(per_author=0)
    with pytest.raises(ValueError, match="max_age_ms"):
        ParkingLimits(max_age_ms=True)


def test_a_file_from_before_the_index_drops_its_parked_rows(tmp_path, clock: ManualClock) -> None:
    """Parked rows without what they wait for cannot be woken: a file from before is upgraded by
    dropping them (a peer holding them sends them again)."""
    path = str(tmp_path / "old.db")
    peer = make_peer("Alice", path, clock, seed=1, modules=("contacts",))
    conn = peer.ws.conn
    conn.execute("DROP TABLE pending")
    conn.execute("CREATE TABLE pending (bundle_id BLOB PRIMARY KEY, actor BLOB NOT NULL, hlc BLOB NOT NULL,"
                 " data BLOB NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID")
    conn.execute("INSERT INTO pending VALUES (x'01', x'02', x'03', x'04', 5)")
    peer.ws.close()
    reopened = Workspace.open(connect(path), peer.env)
    assert reopened.oplog.size().pending == 0
    columns = {row[1] for row in reopened.conn.execute("PRAGMA table_info(pending)")}
    assert {"wait_writer", "wait_hlc", "wait_exact", "size"} <= columns


def test_a_released_chain_can_apply_in_steps(crew) -> None:
    """With a drain step (a relay's setting), one arriving bundle applies at most that many parked
    ones; `drain_parked` applies the rest, a step at a time, so a server can do other work between."""
    alice, (bob, _cleo, _dev) = crew
    alice = with_limits(alice, ParkingLimits(drain_step=50))
    head = chain(bob, 1)[0]
    assert {r.status for r in alice.ws.ingest_many(chain(bob, 120))} == {"pending"}
    assert len(alice.ws.ingest(head).applied) == 1 + 50
    assert alice.ws.oplog.size().pending == 70
    steps = []
    while applied := alice.ws.drain_parked():
        steps.append(len(applied))
    assert steps == [50, 20]
    assert alice.ws.oplog.size().pending == 0
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()
