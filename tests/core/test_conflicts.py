"""Conflicts: causal concurrency per semantic field, branch tips, resolution, reopening."""

from __future__ import annotations

import pytest

from helpers import sync
from openprod import ValidationError

STATUS = "contacts.Contacts.status"


@pytest.fixture
def team(peer_factory):
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    carol = peer_factory("Carol", workspace_from=alice)
    sync(alice, bob)
    sync(alice, carol)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Task", "status": "todo"})
    sync(alice, bob)
    sync(alice, carol)
    return alice, bob, carol, rid


def values(conflict) -> list:
    return sorted(c.value for c in conflict.competitors)


def test_branch_tips_are_the_latest_value_of_each_branch(team) -> None:
    alice, bob, _carol, rid = team
    for value in ("blocked", "wontfix", "blocked"):  # Alice, offline
        alice.ws.set_field(rid, STATUS, value)
    for value in ("in_progress", "done"):  # Bob, online
        bob.ws.set_field(rid, STATUS, value)
    sync(alice, bob)
    for peer in (alice, bob):
        [conflict] = peer.ws.conflicts.open()
        assert values(conflict) == ["blocked", "done"]
        # unresolved, the field shows the last writer's value, flagged
        assert peer.ws.records.get(rid).get("status") == conflict.current
        assert conflict.current == max(conflict.competitors, key=lambda c: c.hlc).value
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_sequential_edits_do_not_conflict(team) -> None:
    alice, bob, _carol, rid = team
    alice.ws.set_field(rid, STATUS, "blocked")
    sync(alice, bob)
    bob.ws.set_field(rid, STATUS, "done")  # Bob had seen Alice's edit
    sync(alice, bob)
    assert alice.ws.conflicts.open() == [] and bob.ws.conflicts.open() == []


def test_concurrent_edits_to_different_fields_do_not_conflict(team) -> None:
    alice, bob, _carol, rid = team
    alice.ws.set_field(rid, STATUS, "blocked")
    bob.ws.set_field(rid, "contacts.Contacts.email", "task@x")
    sync(alice, bob)
    assert alice.ws.conflicts.open() == []
    assert alice.ws.records.get(rid).get("status") == "blocked" and alice.ws.records.get(rid).get("email") == "task@x"


def test_same_value_on_both_sides_is_not_a_conflict(team) -> None:
    alice, bob, _carol, rid = team
    alice.ws.set_field(rid, STATUS, "done")
    bob.ws.set_field(rid, STATUS, "done")
    sync(alice, bob)
    assert alice.ws.conflicts.open() == []


def test_three_way_conflict_and_its_sentence(team) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "a")
    bob.ws.set_field(rid, STATUS, "b")
    carol.ws.set_field(rid, STATUS, "c")
    sync(alice, bob)
    sync(bob, carol)
    sync(alice, bob)
    for peer in (alice, bob, carol):
        [conflict] = peer.ws.conflicts.open()
        assert values(conflict) == ["a", "b", "c"]
    [conflict] = alice.ws.conflicts.open()
    assert conflict.describe() == "Task's Status was edited by Alice (a), Bob (b) and Carol (c)"
    assert conflict.table == "Contacts" and conflict.field_name == "Status"
    assert {c.when[-2:] for c in conflict.competitors}  # times are shown per value


def test_resolution_closes_late_edit_reopens_informed_edit_does_not(team) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "blocked")
    bob.ws.set_field(rid, STATUS, "done")
    sync(alice, bob)
    [conflict] = alice.ws.conflicts.open()
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, pick=next(c.op_id for c in conflict.competitors if c.value == "done"))
    assert alice.ws.conflicts.open() == []
    assert alice.ws.records.get(rid).get("status") == "done"
    # Carol never saw any of this: her edit is concurrent with the resolution -> reopened
    carol.ws.set_field(rid, STATUS, "cancelled")
    sync(alice, bob)
    sync(alice, carol)
    sync(alice, bob)
    for peer in (alice, bob, carol):
        [reopened] = peer.ws.conflicts.open()
        assert values(reopened) == ["cancelled", "done"]
    assert len({p.ws.state_hash() for p in (alice, bob, carol)}) == 1
    # resolve again; then Bob, having seen the resolution, edits: no new conflict
    [reopened] = bob.ws.conflicts.open()
    with bob.ws.transaction() as tx:
        tx.resolve_conflict(reopened, value="archived")
    bob.ws.set_field(rid, STATUS, "archived for good")
    sync(alice, bob)
    sync(bob, carol)
    assert [p.ws.conflicts.open() for p in (alice, bob, carol)] == [[], [], []]
    history = alice.ws.history.field(rid, STATUS)
    assert [c.op_type for c in history].count("ResolveConflict") == 2


def test_only_the_first_of_two_concurrent_resolutions_counts(team) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "x")
    bob.ws.set_field(rid, STATUS, "y")
    sync(alice, bob)
    sync(bob, carol)
    [ca] = alice.ws.conflicts.open()
    [cb] = bob.ws.conflicts.open()
    assert ca.id == cb.id  # the same conflict state
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(ca, value="from Alice")
    with bob.ws.transaction() as tx:
        tx.resolve_conflict(cb, value="from Bob")
    first = min((alice, "from Alice"), (bob, "from Bob"), key=lambda pv: pv[0].ws.conflicts.resolved()[0].hlc)[1]
    # deliver in both orders to two different peers
    sync(alice, carol)
    sync(bob, carol)
    sync(alice, bob)
    for peer in (alice, bob, carol):
        assert peer.ws.conflicts.open() == []
        assert peer.ws.records.get(rid).get("status") == first
        assert [r.accepted for r in peer.ws.conflicts.resolved()].count(False) == 1
    assert len({p.ws.state_hash() for p in (alice, bob, carol)}) == 1


def test_conflict_across_mapped_fields_is_one_conflict(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    with alice.ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "Jane Doe"})
        tx.confirm_field_mapping("contacts.Contacts.name", "schedule.Attendees.name")
    sync(alice, bob)
    alice.ws.set_field(rid, "contacts.Contacts.name", "John Smith")
    bob.ws.set_field(rid, "schedule.Attendees.name", "J. Smith")
    sync(alice, bob)
    for peer in (alice, bob):
        [conflict] = peer.ws.conflicts.open()
        assert values(conflict) == ["J. Smith", "John Smith"]
        assert peer.ws.conflicts.get(rid, "schedule.Attendees.name") == conflict
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="John Smith")
    sync(alice, bob)
    assert bob.ws.records.get(rid, "schedule.Attendees").get("name") == "John Smith"
    assert bob.ws.conflicts.open() == []


def test_confirming_a_mapping_later_turns_concurrent_writes_into_one_conflict(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    with alice.ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "Jane"})
    sync(alice, bob)
    alice.ws.set_field(rid, "contacts.Contacts.email", "a@x")
    bob.ws.set_field(rid, "schedule.Attendees.email", "b@x")
    sync(alice, bob)
    assert alice.ws.conflicts.open() == []  # separate fields so far
    with alice.ws.transaction() as tx:
        tx.confirm_field_mapping("contacts.Contacts.email", "schedule.Attendees.email")
    sync(alice, bob)
    for peer in (alice, bob):
        [conflict] = peer.ws.conflicts.open()
        assert values(conflict) == ["a@x", "b@x"]
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_edge_property_conflicts(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    actor = alice.ws.create_record("contacts.Contacts", {"name": "Romeo Actor"})
    scene = alice.ws.create_record("scenes.Scenes", {"title": "Balcony"})
    with alice.ws.transaction() as tx:
        edge = tx.create_edge("scenes.appears_in", actor, scene, {"character": "Romeo"})
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.set_edge_property(edge, "entrance", "SL")
    with bob.ws.transaction() as tx:
        tx.set_edge_property(edge, "entrance", "SR")
    sync(alice, bob)
    [conflict] = bob.ws.conflicts.open()
    assert conflict.is_edge and values(conflict) == ["SL", "SR"]
    assert conflict.record_label == "Romeo Actor → Balcony"
    with bob.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="USL")
    sync(alice, bob)
    assert alice.ws.conflicts.open() == []
    assert alice.ws.records.edges_to(scene)[0].properties["entrance"] == "USL"


def test_rebuild_reproduces_conflicts_and_resolutions(team) -> None:
    alice, bob, carol, rid = team
    alice.ws.set_field(rid, STATUS, "x")
    bob.ws.set_field(rid, STATUS, "y")
    carol.ws.set_field(rid, "contacts.Contacts.email", "c@x")
    carol.ws.set_field(rid, "contacts.Contacts.role", "r1")
    alice.ws.set_field(rid, "contacts.Contacts.role", "r2")
    sync(alice, bob)
    sync(alice, carol)
    [first, *_] = alice.ws.conflicts.open()
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(first, value="settled")
    before = alice.ws.state_hash()
    conflicts_before = [(c.key, values(c)) for c in alice.ws.conflicts.open()]
    alice.ws.rebuild()
    assert alice.ws.state_hash() == before
    assert [(c.key, values(c)) for c in alice.ws.conflicts.open()] == conflicts_before


def test_bad_resolutions_are_refused(team) -> None:
    alice, bob, _carol, rid = team
    alice.ws.set_field(rid, STATUS, "x")
    bob.ws.set_field(rid, STATUS, "y")
    sync(alice, bob)
    [conflict] = alice.ws.conflicts.open()
    with pytest.raises(ValidationError, match="either"), alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict)
    with pytest.raises(ValidationError, match="not one of"), alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, pick=b"\x00" * 16)
    with pytest.raises(ValidationError, match="expected text"), alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value=12)
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="z")
    with pytest.raises(ValidationError, match="already resolved"), alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="again")


def test_many_conflicts_between_the_same_people_are_grouped(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    with alice.ws.transaction() as tx:
        cues = [tx.create_record("lighting.LightingCues", {"cue_number": n}) for n in range(120)]
    sync(alice, bob)
    with alice.ws.transaction(kind="script") as tx:  # a renumbering script
        for n, cue in enumerate(cues):
            tx.set_field(cue, "lighting.LightingCues.cue_number", n + 1000)
    with bob.ws.transaction() as tx:  # a colleague renumbering by hand
        for n, cue in enumerate(cues):
            tx.set_field(cue, "lighting.LightingCues.cue_number", n + 2000)
    sync(alice, bob)
    [(people, group)] = bob.ws.conflicts.groups()
    assert sorted(people) == ["Alice", "Bob"] and len(group) == 120
    with bob.ws.transaction() as tx:
        assert tx.resolve_all(group, take=alice.ws.actor_id) == 120
    sync(alice, bob)
    assert alice.ws.conflicts.open() == []
    assert sorted(r.get("cue_number") for r in alice.ws.records.all("lighting.LightingCues")) == [
        str(n) for n in range(1000, 1120)]


def test_a_conflict_on_a_cue_label_names_the_cue_not_a_disputed_value(peer_factory) -> None:
    """The row is named by what does not disagree ("Cue 18"), as the stage manager knows it; a field
    that is not a naming field keeps the record's own label."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    cue = alice.ws.create_record("lighting.LightingCues", {"cue_number": 18, "label": "Blackout"})
    sync(alice, bob)
    alice.ws.set_field(cue, "lighting.LightingCues.label", "Slow blackout")
    bob.ws.set_field(cue, "lighting.LightingCues.label", "Snap blackout")
    bob.ws.set_field(cue, "lighting.LightingCues.intensity", 60)
    alice.ws.set_field(cue, "lighting.LightingCues.intensity", 80)
    sync(alice, bob)
    by_field = {c.field_name: c for c in alice.ws.conflicts.open()}
    assert by_field["Label"].record_label == "Cue 18"
    assert by_field["Label"].describe().startswith("Cue 18's Label was edited by ")
    assert by_field["Intensity"].record_label == alice.ws.records.label(cue) != "Cue 18"
