"""A settled conflict that a late edit reopens keeps its identity and its resolution (conflicts.md).

"Late-arriving edits from peers unaware of a resolution extend the existing conflict", "last
resolved state is favored over LWW", and "the full lineage is preserved: original conflict ->
first resolution -> later override". Rebuilds and late joiners must reproduce all of it.
"""

from __future__ import annotations

import pytest

from helpers import sync

STATUS = "contacts.Contacts.status"


@pytest.fixture
def team(peer_factory, clock):
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    carol = peer_factory("Carol", workspace_from=alice)
    sync(alice, bob)
    sync(alice, carol)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Task", "status": "todo"})
    sync(alice, bob)
    sync(alice, carol)
    return alice, bob, carol, rid


def everyone(*peers) -> None:
    for _ in range(2):
        for a in peers:
            for b in peers:
                if a is not b:
                    sync(a, b)


def test_a_late_edit_reopens_the_same_conflict_which_keeps_showing_its_resolution(team, clock) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "blocked")
    bob.ws.set_field(rid, STATUS, "done")
    sync(alice, bob)
    [original] = alice.ws.conflicts.open()
    assert bob.ws.conflicts.open()[0].id == original.id
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(original, pick=next(c.op_id for c in original.competitors if c.value == "done"))
    [first] = alice.ws.conflicts.resolved()
    assert (first.conflict_id, first.value, first.supersedes) == (original.id, "done", None)
    clock.advance(60_000)  # Carol edits offline, later in time than the resolution, never having seen it
    carol.ws.set_field(rid, STATUS, "cancelled")
    everyone(alice, bob, carol)
    for peer in (alice, bob, carol):
        [reopened] = peer.ws.conflicts.open()
        assert reopened.id == original.id  # the same conflict, extended, on every peer
        assert reopened.resolution_id == first.id
        assert sorted(c.value for c in reopened.competitors) == ["cancelled", "done"]
        assert reopened.current == "done"  # the last resolved value, not the newer late edit
        assert peer.ws.records.get(rid).get("status") == "done"
        assert peer.ws.views.query('status == "done"') == [rid]
        assert "settled as done by Alice, but Carol (cancelled) changed it" in reopened.describe()
    assert len({p.ws.state_hash() for p in (alice, bob, carol)}) == 1
    # Bob settles it again: a later override that names the resolution it supersedes
    [reopened] = bob.ws.conflicts.open()
    with bob.ws.transaction() as tx:
        tx.resolve_conflict(reopened, value="archived")
    everyone(alice, bob, carol)
    for peer in (alice, bob, carol):
        assert peer.ws.conflicts.open() == []
        assert peer.ws.records.get(rid).get("status") == "archived"
        lineage = peer.ws.conflicts.resolved(rid)
        assert [(r.conflict_id, r.value, r.supersedes, r.accepted) for r in lineage] == [
            (original.id, "done", None, True), (original.id, "archived", first.id, True)]
        assert lineage[1].describe() == ("Bob chose 'archived' over Alice's 'done' and Carol's 'cancelled', "
                                         "replacing an earlier decision")
    hashes = {p.ws.state_hash() for p in (alice, bob, carol)}
    assert len(hashes) == 1


def test_rebuild_and_a_late_joiner_reproduce_reopened_conflicts_exactly(team, clock, peer_factory) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "blocked")
    bob.ws.set_field(rid, STATUS, "done")
    sync(alice, bob)
    [original] = alice.ws.conflicts.open()
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(original, value="on hold")
    clock.advance(60_000)
    carol.ws.set_field(rid, STATUS, "cancelled")
    everyone(alice, bob, carol)
    expected = (alice.ws.state_hash(), [(c.id, c.current, c.resolution_id) for c in alice.ws.conflicts.open()],
                [(r.id, r.conflict_id, r.supersedes) for r in alice.ws.conflicts.resolved()])
    assert expected[1] == [(original.id, "on hold", expected[2][0][0])]
    for peer in (alice, bob, carol):
        peer.ws.rebuild()
        assert (peer.ws.state_hash(), [(c.id, c.current, c.resolution_id) for c in peer.ws.conflicts.open()],
                [(r.id, r.conflict_id, r.supersedes) for r in peer.ws.conflicts.resolved()]) == expected
    dana = peer_factory("Dana", workspace_from=alice)
    for stored in reversed(list(carol.ws.oplog.bundles())):  # newest first: parked, then applied in order
        dana.ws.ingest(stored.wire)
    assert dana.ws.oplog.size().pending == 0
    assert (dana.ws.state_hash(), [(c.id, c.current, c.resolution_id) for c in dana.ws.conflicts.open()],
            [(r.id, r.conflict_id, r.supersedes) for r in dana.ws.conflicts.resolved()]) == expected


def test_an_edit_made_after_seeing_the_resolution_starts_a_new_conflict(team) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "blocked")
    bob.ws.set_field(rid, STATUS, "done")
    sync(alice, bob)
    [original] = alice.ws.conflicts.open()
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(original, value="done")
    everyone(alice, bob, carol)
    bob.ws.set_field(rid, STATUS, "reopened by Bob")  # both had seen the resolution
    carol.ws.set_field(rid, STATUS, "reopened by Carol")
    everyone(alice, bob, carol)
    [fresh] = alice.ws.conflicts.open()
    assert fresh.id != original.id and fresh.resolution_id is None
    assert sorted(c.value for c in fresh.competitors) == ["reopened by Bob", "reopened by Carol"]
    assert fresh.current == max(fresh.competitors, key=lambda c: c.hlc).value  # unresolved: last writer wins


def test_a_reopened_conflict_across_mapped_fields_shows_the_resolution_in_both_tables(peer_factory, clock) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    carol = peer_factory("Carol", workspace_from=alice)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    with alice.ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "Jane Doe"})
        tx.confirm_field_mapping("contacts.Contacts.name", "schedule.Attendees.name")
    everyone(alice, bob, carol)
    alice.ws.set_field(rid, "contacts.Contacts.name", "Jane Smith")
    bob.ws.set_field(rid, "schedule.Attendees.name", "J. Doe")
    sync(alice, bob)
    [original] = alice.ws.conflicts.open()
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(original, value="Jane Doe-Smith")
    clock.advance(60_000)
    carol.ws.set_field(rid, "schedule.Attendees.name", "Janie")  # late, through the other table's field
    everyone(alice, bob, carol)
    for peer in (alice, bob, carol):
        [reopened] = peer.ws.conflicts.open()
        assert reopened.id == original.id and reopened.current == "Jane Doe-Smith"
        assert peer.ws.records.get(rid, "contacts.Contacts").get("name") == "Jane Doe-Smith"
        assert peer.ws.records.get(rid, "schedule.Attendees").get("name") == "Jane Doe-Smith"
    assert len({p.ws.state_hash() for p in (alice, bob, carol)}) == 1
    alice.ws.rebuild()
    assert alice.ws.state_hash() == bob.ws.state_hash()
