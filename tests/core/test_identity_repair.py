"""Identity repair: merge (smaller id survives, redirects, conflicts) and split (exceptions)."""

from __future__ import annotations

import random

import pytest

from helpers import ManualClock, make_peer, sync
from openprod import ValidationError
from openprod.ids import from_str

CONTACT_NAME = "contacts.Contacts.name"
ATTENDEE_NAME = "schedule.Attendees.name"


def test_scenario_b_link_confirm_merge_resolve(peer_factory) -> None:
    """Spec walkthrough B: one person in two tables under two names, merged and settled."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    contact = ws.create_record("contacts.Contacts", {"name": "John Smith", "email": "john@show.org"})
    attendee = ws.create_record("schedule.Attendees", {"name": "J. Smith", "call_time": "2026-03-01T18:00:00Z"})
    with ws.transaction() as tx:  # 3-4: first link suggests name; the user confirms it
        suggestions = tx.suggested_mappings("contacts.Contacts", "schedule.Attendees")
        assert (CONTACT_NAME, ATTENDEE_NAME, "name") in suggestions
        tx.link_tables("contacts.Contacts", "schedule.Attendees")
        tx.confirm_field_mapping(CONTACT_NAME, ATTENDEE_NAME)
    with ws.transaction() as tx:  # 5-6: same person: merge
        survivor = tx.merge_records(contact, attendee)
    assert survivor == min(contact, attendee, key=from_str)
    merged = ws.records.get(survivor)
    assert merged.tables == ["contacts.Contacts", "schedule.Attendees"]
    [conflict] = ws.conflicts.open()  # 7: "John Smith" vs "J. Smith"
    assert sorted(c.value for c in conflict.competitors) == ["J. Smith", "John Smith"]
    with ws.transaction() as tx:  # 8
        tx.resolve_conflict(conflict, pick=next(c.op_id for c in conflict.competitors if c.value == "John Smith"))
    sync(alice, bob)
    for peer in (alice, bob):  # 9: both modules see "John Smith"
        assert peer.ws.records.get(survivor, "contacts.Contacts").get("name") == "John Smith"
        assert peer.ws.records.get(survivor, "schedule.Attendees").get("name") == "John Smith"
        assert peer.ws.records.get(survivor).get("email") == "john@show.org"
        assert peer.ws.records.get(survivor).get("call_time") == "2026-03-01T18:00:00Z"
        assert peer.ws.conflicts.open() == []
    absorbed = attendee if survivor == contact else contact
    assert bob.ws.records.get(absorbed).id == survivor  # the absorbed id redirects transparently
    with pytest.raises(ValidationError, match="was merged into"):
        bob.ws.set_field(absorbed, CONTACT_NAME, "x")


def test_partitions_merging_the_same_pair_agree_and_chains_resolve(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ids = sorted((alice.ws.create_record("contacts.Contacts", {"name": f"P{i}"}) for i in range(3)), key=from_str)
    a, b, c = ids
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.merge_records(a, b)
    with bob.ws.transaction() as tx:
        tx.merge_records(b, a)  # the same pair, independently
    with bob.ws.transaction() as tx:
        tx.merge_records(a, c)  # and a chain on Bob's side
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()
    for peer in (alice, bob):
        assert [r.id for r in peer.ws.records.all("contacts.Contacts")] == [a]
        assert {peer.ws.records.get(x).id for x in ids} == {a}


def test_chained_merges_from_two_partitions(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    a, b, c = sorted((alice.ws.create_record("contacts.Contacts", {"name": f"P{i}"}) for i in range(3)),
                     key=from_str)
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.merge_records(a, b)  # A+B here
    with bob.ws.transaction() as tx:
        tx.merge_records(b, c)  # B+C there: the survivor there is B
    sync(alice, bob)
    assert alice.ws.state_hash() == bob.ws.state_hash()
    assert {alice.ws.records.get(x).id for x in (a, b, c)} == {a}
    assert len(alice.ws.records.all("contacts.Contacts")) == 1


def test_a_late_edit_to_the_absorbed_record_lands_on_the_survivor(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    a, b = sorted((alice.ws.create_record("contacts.Contacts", {"name": n}) for n in ("Ann", "Anne")), key=from_str)
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.merge_records(a, b)
    bob.ws.set_field(b, "contacts.Contacts.phone", "555")  # Bob has not heard of the merge
    sync(alice, bob)
    for peer in (alice, bob):
        assert peer.ws.records.get(a).get("phone") == "555"
    assert alice.ws.state_hash() == bob.ws.state_hash()
    before = alice.ws.state_hash()
    alice.ws.rebuild()
    assert alice.ws.state_hash() == before


def test_split_distributes_tables_and_fields_and_records_an_exception(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    rid = ws.create_record("contacts.Contacts", {"name": "Jane Doe", "email": "jane@x", "phone": "1"})
    with ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "Jane Doe", "call_time": "2026-03-01T18:00:00Z"})
    with ws.transaction() as tx:
        new = tx.split_record(rid, tables=["schedule.Attendees"], move=["schedule.Attendees.call_time"],
                              copy=["schedule.Attendees.name"])
    assert ws.records.get(rid).tables == ["contacts.Contacts"]
    assert ws.records.get(new).tables == ["schedule.Attendees"]
    merged = ws.records.get(new)
    assert merged.get("call_time") == "2026-03-01T18:00:00Z" and merged.get("name") == "Jane Doe"
    assert ws.records.get(rid).get("email") == "jane@x"
    assert ws.merges.exceptions() == {tuple(sorted((rid, new)))}
    sync(alice, bob)
    assert bob.ws.state_hash() == ws.state_hash()
    with pytest.raises(ValidationError, match="at least one table"), ws.transaction() as tx:
        tx.split_record(rid, tables=["contacts.Contacts"])


def test_any_delivery_order_with_merges_gives_one_state() -> None:
    clock = ManualClock()
    alice = make_peer("Alice", ":memory:", clock, seed=1)
    bob = make_peer("Bob", ":memory:", clock, seed=2, workspace_from=alice)
    carol = make_peer("Carol", ":memory:", clock, seed=3, workspace_from=alice)
    ids = [alice.ws.create_record("contacts.Contacts", {"name": f"N{i}"}) for i in range(4)]
    for p in (bob, carol):
        sync(alice, p)
    bob.ws.set_field(ids[1], CONTACT_NAME, "from Bob")
    carol.ws.set_field(ids[2], CONTACT_NAME, "from Carol")
    with alice.ws.transaction() as tx:
        tx.merge_records(ids[1], ids[2])
    with carol.ws.transaction() as tx:
        tx.merge_records(ids[2], ids[3])
    for p in (bob, carol):
        sync(alice, p)
    sync(bob, carol)
    reference = alice.ws.state_hash()
    assert bob.ws.state_hash() == carol.ws.state_hash() == reference
    wires = list(b.wire for b in alice.ws.oplog.bundles())
    for seed in range(5):
        shuffled = wires[:]
        random.Random(seed).shuffle(shuffled)
        fresh = make_peer("Dana", ":memory:", ManualClock(), seed=10 + seed, workspace_from=alice)
        for wire in shuffled:
            fresh.ws.ingest(wire)
        assert fresh.ws.state_hash() == reference
