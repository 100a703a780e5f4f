"""Staging overlays: isolation, commit/discard, drift, restarts, undo, script overlays."""

from __future__ import annotations

import random

import pytest

from helpers import make_env, sync
from openprod import NotFoundError, ValidationError, Workspace, connect

CONTACTS = "contacts.Contacts"
ROOM = "schedule.Events.room"


def bundles(peer) -> int:
    return peer.ws.oplog.size().bundles


def test_writes_go_into_the_overlay_and_reads_go_through_it(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    jane = ws.create_record(CONTACTS, {"name": "Jane"})
    sync(alice, bob)
    before_bundles, before_hash = bundles(alice), ws.state_hash()
    ws.staging.create("Try things")
    ws.set_field(jane, "contacts.Contacts.role", "Stage Manager")
    new = ws.create_record(CONTACTS, {"name": "Staged Person"})
    ws.delete_record(jane)
    assert ws.records.get(new).get("name") == "Staged Person"  # created in the overlay
    assert ws.records.get(jane) is None  # deleted in the overlay
    assert [r.get("name") for r in ws.records.all(CONTACTS)] == ["Staged Person"]
    assert bundles(alice) == before_bundles and ws.state_hash() == before_hash  # nothing canonical
    sync(alice, bob)
    assert bob.ws.records.get(new) is None and bob.ws.records.get(jane).get("role") is None  # never synced
    ws.staging.stash(ws.staging.active)
    assert ws.records.get(jane).get("name") == "Jane" and ws.records.get(new) is None


def test_one_overlay_never_sees_another(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1})
    first = ws.staging.create("A")
    ws.set_field(cue, "lighting.LightingCues.label", "from A")
    second = ws.staging.create("B")  # activating B stashes A
    assert ws.staging.active == second
    assert ws.records.get(cue).get("label") is None
    ws.set_field(cue, "lighting.LightingCues.label", "from B")
    ws.staging.activate(first)
    assert ws.records.get(cue).get("label") == "from A"
    assert {o.name: o.status for o in ws.staging.list()} == {"A": "active", "B": "stashed"}


def test_membership_and_edges_through_the_overlay(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 11})
    act1 = ws.create_record("lighting.CueLists", {"name": "Act 1"})
    ws.staging.create("Cue work")
    with ws.transaction() as tx:
        tx.add_to_table(cue, "sm.SMCues", {"call_text": "GO"})
        edge = tx.create_ordered_edge("lighting.in_cue_list", cue, act1)
    assert [r.id for r in ws.records.all("sm.SMCues")] == [cue]
    assert [e.id for e in ws.records.ordered_list(act1, "lighting.in_cue_list")] == [edge]
    ws.staging.stash(ws.staging.active)
    assert ws.records.all("sm.SMCues") == [] and ws.records.ordered_list(act1, "lighting.in_cue_list") == []


def test_discard_leaves_no_trace(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    before = (bundles(alice), ws.state_hash(), ws.oplog.size().operations)
    overlay = ws.staging.create("Mistake")
    ws.create_record(CONTACTS, {"name": "Nobody"})
    ws.staging.discard(overlay)
    assert ws.staging.active is None and ws.staging.list() == []
    assert ws.conn.execute("SELECT count(*) FROM overlay_ops").fetchone()[0] == 0
    after = (bundles(alice), ws.state_hash(), ws.oplog.size().operations)
    assert after == before
    assert ws.records.all(CONTACTS) == []


def test_commit_is_one_signed_bundle(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    ws.staging.create("Import")
    ids = [ws.create_record(CONTACTS, {"name": f"Cast {i}"}) for i in range(5)]
    before = bundles(alice)
    receipt = ws.commit_overlay(ws.staging.active)
    assert receipt is not None and bundles(alice) == before + 1
    assert ws.staging.active is None and ws.staging.list() == []
    sync(alice, bob)
    assert sorted(r.id for r in bob.ws.records.all(CONTACTS)) == sorted(ids)
    assert bob.ws.state_hash() == ws.state_hash()


def test_drift_keep_mine_and_use_canonical(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    event = ws.create_record("schedule.Events", {"title": "Rehearsal", "room": "Studio A"})
    other = ws.create_record("schedule.Events", {"title": "Fitting", "room": "Wardrobe"})
    sync(alice, bob)
    ws.staging.create("Timings")
    ws.set_field(event, ROOM, "Main stage")
    ws.set_field(other, ROOM, "Studio C")
    assert ws.staging.drift(ws.staging.active) == []
    bob.ws.set_field(event, ROOM, "Studio B")
    bob.ws.set_field(other, "schedule.Events.kind", "fitting")  # a field not staged: no drift
    sync(alice, bob)
    [drift] = ws.staging.drift(ws.staging.active)
    assert drift.describe() == "Room changed to 'Studio B' while you were reviewing (by Bob)"
    assert (drift.mine, drift.canonical, drift.record_label) == ("Main stage", "Studio B", "Rehearsal")
    assert ws.records.get(event).get("room") == "Main stage"  # the overlay still shows mine
    with pytest.raises(ValidationError, match="commit refused: Room changed to 'Studio B'"):
        ws.commit_overlay(ws.staging.active)
    ws.staging.keep_mine(ws.staging.active, event, ROOM)
    assert ws.staging.drift(ws.staging.active) == []
    bob.ws.set_field(other, ROOM, "Studio D")
    sync(alice, bob)
    [drift] = ws.staging.drift(ws.staging.active)
    assert drift.field == ROOM and drift.canonical == "Studio D"
    assert ws.staging.use_canonical(ws.staging.active, other, ROOM) == 1
    assert ws.records.get(other).get("room") == "Studio D"
    ws.commit_overlay(ws.staging.active)
    sync(alice, bob)
    for peer in (alice, bob):
        assert peer.ws.records.get(event).get("room") == "Main stage"
        assert peer.ws.conflicts.open() == []  # keeping mine after seeing Bob's edit is not a conflict


def test_drift_is_about_values_not_just_writes(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    event = alice.ws.create_record("schedule.Events", {"title": "Rehearsal", "room": "Studio A"})
    sync(alice, bob)
    alice.ws.staging.create("x")
    alice.ws.set_field(event, ROOM, "Studio B")
    bob.ws.set_field(event, ROOM, "Studio B")  # same value as mine
    sync(alice, bob)
    assert alice.ws.staging.drift(alice.ws.staging.active) == []


def test_committing_over_a_conflicted_field_resolves_it(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    event = alice.ws.create_record("schedule.Events", {"title": "Tech", "room": "A"})
    sync(alice, bob)
    alice.ws.set_field(event, ROOM, "B")
    bob.ws.set_field(event, ROOM, "C")
    sync(alice, bob)
    assert len(alice.ws.conflicts.open()) == 1
    alice.ws.staging.create("Fix rooms")
    alice.ws.set_field(event, ROOM, "D")
    alice.ws.staging.keep_mine(alice.ws.staging.active, event, ROOM)
    alice.ws.commit_overlay(alice.ws.staging.active)
    sync(alice, bob)
    for peer in (alice, bob):
        assert peer.ws.conflicts.open() == [] and peer.ws.records.get(event).get("room") == "D"
    assert alice.ws.history.field(event, ROOM)[-1].op_type == "ResolveConflict"


def test_overlay_survives_a_restart_but_is_not_reactivated(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1})
    overlay = ws.staging.create("Overnight")
    ws.set_field(cue, "lighting.LightingCues.label", "staged")
    ws.conn.close()
    again = Workspace.open(connect(alice.path), make_env(alice.identity, alice.env.now_ms, random.Random(5)))
    assert again.staging.active is None
    assert [(o.name, o.status, o.op_count) for o in again.staging.list()] == [("Overnight", "stashed", 1)]
    assert again.records.get(cue).get("label") is None
    again.staging.activate(overlay)
    assert again.records.get(cue).get("label") == "staged"


def test_overlay_undo_and_redo(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1})
    ws.staging.create("x")
    ws.set_field(cue, "lighting.LightingCues.label", "one")
    ws.set_field(cue, "lighting.LightingCues.label", "two")
    assert ws.undo().done and ws.records.get(cue).get("label") == "one"
    assert ws.redo().done and ws.records.get(cue).get("label") == "two"
    ws.undo()
    ws.undo()
    assert ws.records.get(cue).get("label") is None


def test_workspace_changes_cannot_be_staged(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    overlay = ws.staging.create("x")
    with pytest.raises(ValidationError, match="cannot wait for review"):
        ws.adopt_module("[module]\nname='m'\nversion='1.0.0'\n[table.T.fields.a]\ntype='string'\n")
    ws.staging.discard(overlay)
    with pytest.raises(NotFoundError, match="no overlay"):
        ws.commit_overlay(overlay)


def test_scenario_e_script_overlay_with_drift(peer_factory) -> None:
    """Spec walkthrough E: stash my staging, review a script's output, Use Canonical, commit, recall."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 5, "fade_time": 3})
    sync(alice, bob)
    mine = ws.staging.create("Cue timings")  # 1. user is staging cue timings
    ws.set_field(cue, "lighting.LightingCues.fade_time", 4.5)
    script = ws.staging.create("Generate rehearsal schedule", source="script", script="schedule.generate")
    assert [o.status for o in ws.staging.list() if o.id == script] == ["pending"]  # 3. waits, not active
    assert ws.staging.active == mine
    ws.staging.activate(script)  # 4. "stash current and view"
    with ws.transaction() as tx:
        events = [tx.create_record("schedule.Events", {"title": f"Rehearsal {i}", "room": "Studio A"})
                  for i in range(15)]
    ws.staging.stash(ws.staging.active)
    ws.staging.activate(script)
    assert len(ws.records.all("schedule.Events")) == 15
    sync(alice, bob)
    # 5. a peer changes one staged event's room (the script created it; pretend it already existed)
    bob_event = bob.ws.create_record("schedule.Events", {"title": "Shared", "room": "Studio A"})
    sync(alice, bob)
    with ws.transaction() as tx:
        tx.set_field(bob_event, ROOM, "Studio C")
    bob.ws.set_field(bob_event, ROOM, "Studio B")
    sync(alice, bob)
    [drift] = ws.staging.drift(ws.staging.active)  # 6. the badge
    assert drift.describe().startswith("Room changed to 'Studio B' while you were reviewing")
    ws.staging.use_canonical(ws.staging.active, bob_event, ROOM)  # 7.
    ws.commit_overlay(ws.staging.active)  # 8. commit the remaining 15 events
    assert len(ws.records.all("schedule.Events")) == 16  # 15 staged + the shared one
    ws.staging.activate(mine)  # 9. recall the stashed overlay
    assert ws.records.get(cue).get("fade_time") == 4.5
    ws.staging.stash(ws.staging.active)
    assert ws.records.get(cue).get("fade_time") == 3
    sync(alice, bob)
    assert len(bob.ws.records.all("schedule.Events")) == 16 and events
