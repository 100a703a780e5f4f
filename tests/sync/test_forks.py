"""A device chain that forks never makes peers diverge, over the real sync protocol.

A fork is two different bundles signed after the same predecessor in one device's chain: an author
equivocating on purpose, or a database file copied to a second machine. Each peer may get a
different branch first; every branch applies once its predecessor is there, and the per-writer
digests in each check make the side holding a branch send it, even when both branches carry the
same HLC (so the vector clocks cannot tell them apart).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from simnet import SimNet, SimPeer, bundle_ids

from helpers import ManualClock
from openprod import operations as o
from openprod.bundle import build

STATUS = "contacts.Contacts.status"


def forked(mallory: SimPeer, record: str, same_hlc: bool) -> tuple[bytes, bytes]:
    """Two bundles by Mallory on her one device, each after the same predecessor."""
    ws = mallory.ws
    entity = bytes.fromhex(record.replace("-", ""))
    first_hlc = ws.clock.tick()
    second_hlc = first_hlc if same_hlc else ws.clock.tick()
    wires = []
    for value, hlc in (("told X: cancelled", first_hlc), ("told Y: confirmed", second_hlc)):
        op = o.make_op(o.SetField, ws.ids.new(), hlc, entity=entity, field=STATUS, value=value)
        unsigned = build(workspace=ws.workspace_id, bundle_id=ws.ids.new(), actor=ws.actor_id, device=ws.device,
                         kind="edit", clock=ws.vector_clock, ops=[op])
        wires.append(unsigned.seal(ws.env.signer.sign(unsigned.signing_bytes())).wire())
    return wires[0], wires[1]


@pytest.mark.parametrize("same_hlc", [False, True], ids=["later-hlc", "same-hlc"])
def test_an_equivocating_author_cannot_make_peers_diverge(tmp_path: Path, same_hlc: bool) -> None:
    clock = ManualClock()
    net = SimNet(clock, seed=7)
    alice = net.add_peer("Alice", str(tmp_path / "a.db"), 1)
    mallory = net.add_peer("Mallory", str(tmp_path / "m.db"), 2, workspace_from=alice)
    x = net.add_peer("Xavier", str(tmp_path / "x.db"), 3, workspace_from=alice)
    y = net.add_peer("Yolanda", str(tmp_path / "y.db"), 4, workspace_from=alice)
    record = alice.ws.create_record("contacts.Contacts", {"name": "Show call", "status": "draft"})
    setup = [net.link(alice, peer) for peer in (mallory, x, y)]
    net.settle()
    for link in setup:
        net.cut(link)
    first, second = forked(mallory, record, same_hlc)
    assert x.ws.ingest(first).status == "applied"  # each honest peer hears a different story first
    assert y.ws.ingest(second).status == "applied"
    x.ws.set_field(record, "contacts.Contacts.email", "after the first branch")  # built on branch one
    y.ws.set_field(record, "contacts.Contacts.phone", "after the second branch")
    net.link(x, y)
    net.run(5_000)  # several quiet checks: catch-up, then digest repair of the forked chain
    for peer in (x, y):
        assert peer.ws.oplog.size().pending == 0 and peer.ws.oplog.quarantined() == []
        assert peer.ws.records.get(record).get("email") == "after the first branch"
        assert peer.ws.records.get(record).get("phone") == "after the second branch"
    assert bundle_ids(x) == bundle_ids(y)
    assert x.ws.state_hash() == y.ws.state_hash()
    assert x.ws.chain_digests == y.ws.chain_digests


def test_the_in_sync_check_sees_a_branch_that_does_not_move_the_clock(tmp_path: Path) -> None:
    """A branch stamped before the newest bundle of its chain is stored without moving the vector
    clock; the state hash the session answers checks with must still be the one of the state now."""
    from openprod.sync import WorkspaceReplica

    clock = ManualClock()
    net = SimNet(clock, seed=7)
    alice = net.add_peer("Alice", str(tmp_path / "a.db"), 1)
    mallory = net.add_peer("Mallory", str(tmp_path / "m.db"), 2, workspace_from=alice)
    record = alice.ws.create_record("contacts.Contacts", {"name": "Show call", "status": "draft"})
    link = net.link(alice, mallory)
    net.settle()
    net.cut(link)
    first, second = forked(mallory, record, same_hlc=False)
    replica = WorkspaceReplica(alice.ws)
    assert alice.ws.ingest(second).status == "applied"
    before = replica.state_hash()
    clock_before = alice.ws.vector_clock
    assert alice.ws.ingest(first).status == "applied"  # the older branch: the clock stays where it was
    assert alice.ws.vector_clock == clock_before
    assert alice.ws.state_hash() != before  # both branches now: the two values are in conflict
    assert replica.state_hash() == alice.ws.state_hash()
