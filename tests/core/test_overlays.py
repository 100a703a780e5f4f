"""Staging overlays: isolation, commit/discard, drift, restarts, undo, script overlays."""

from __future__ import annotations

import random

import pytest

from helpers import make_env, sync
from openprod import NotFoundError, ValidationError, Workspace, connect

CONTACTS = "contacts.Contacts"
ROOM = "schedule.Events.room"


def bundles(peer) -> int:
    return peer.ws.oplog_size().bundles


def test_writes_go_into_the_overlay_and_reads_go_through_it(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    jane = ws.create_record(CONTACTS, {"name": "Jane"})
    sync(alice, bob)
    before_bundles, before_hash = bundles(alice), ws.state_hash()
    ws.create_overlay("Try things")
    ws.set_field(jane, "contacts.Contacts.role", "Stage Manager")
    new = ws.create_record(CONTACTS, {"name": "Staged Person"})
    ws.delete_record(jane)
    assert ws.record(new).get("name") == "Staged Person"  # created in the overlay
    assert ws.record(jane) is None  # deleted in the overlay
    assert [r.get("name") for r in ws.records(CONTACTS)] == ["Staged Person"]
    assert bundles(alice) == before_bundles and ws.state_hash() == before_hash  # nothing canonical
    sync(alice, bob)
    assert bob.ws.record(new) is None and bob.ws.record(jane).get("role") is None  # never synced
    ws.stash_overlay(ws.active_overlay)
    assert ws.record(jane).get("name") == "Jane" and ws.record(new) is None


def test_one_overlay_never_sees_another(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1})
    first = ws.create_overlay("A")
    ws.set_field(cue, "lighting.LightingCues.label", "from A")
    second = ws.create_overlay("B")  # activating B stashes A
    assert ws.active_overlay == second
    assert ws.record(cue).get("label") is None
    ws.set_field(cue, "lighting.LightingCues.label", "from B")
    ws.activate_overlay(first)
    assert ws.record(cue).get("label") == "from A"
    assert {o.name: o.status for o in ws.list_overlays()} == {"A": "active", "B": "stashed"}


def test_membership_and_edges_through_the_overlay(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 11})
    act1 = ws.create_record("lighting.CueLists", {"name": "Act 1"})
    ws.create_overlay("Cue work")
    with ws.transaction() as tx:
        tx.add_to_table(cue, "sm.SMCues", {"call_text": "GO"})
        edge = tx.create_ordered_edge("lighting.in_cue_list", cue, act1)
    assert [r.id for r in ws.records("sm.SMCues")] == [cue]
    assert [e.id for e in ws.ordered_list(act1, "lighting.in_cue_list")] == [edge]
    ws.stash_overlay(ws.active_overlay)
    assert ws.records("sm.SMCues") == [] and ws.ordered_list(act1, "lighting.in_cue_list") == []


def test_discard_leaves_no_trace(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    before = (bundles(alice), ws.state_hash(), ws.oplog_size().operations)
    overlay = ws.create_overlay("Mistake")
    ws.create_record(CONTACTS, {"name": "Nobody"})
    ws.discard_overlay(overlay)
    assert ws.active_overlay is None and ws.list_overlays() == []
    assert ws.conn.execute("SELECT count(*) FROM overlay_ops").fetchone()[0] == 0
    after = (bundles(alice), ws.state_hash(), ws.oplog_size().operations)
    assert after == before
    assert ws.records(CONTACTS) == []


def test_commit_is_one_signed_bundle(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    ws.create_overlay("Import")
    ids = [ws.create_record(CONTACTS, {"name": f"Cast {i}"}) for i in range(5)]
    before = bundles(alice)
    receipt = ws.commit_overlay(ws.active_overlay)
    assert receipt is not None and bundles(alice) == before + 1
    assert ws.active_overlay is None and ws.list_overlays() == []
    sync(alice, bob)
    assert sorted(r.id for r in bob.ws.records(CONTACTS)) == sorted(ids)
    assert bob.ws.state_hash() == ws.state_hash()


def test_drift_keep_mine_and_use_canonical(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    event = ws.create_record("schedule.Events", {"title": "Rehearsal", "room": "Studio A"})
    other = ws.create_record("schedule.Events", {"title": "Fitting", "room": "Wardrobe"})
    sync(alice, bob)
    ws.create_overlay("Timings")
    ws.set_field(event, ROOM, "Main stage")
    ws.set_field(other, ROOM, "Studio C")
    assert ws.overlay_drift(ws.active_overlay) == []
    bob.ws.set_field(event, ROOM, "Studio B")
    bob.ws.set_field(other, "schedule.Events.kind", "fitting")  # a field not staged: no drift
    sync(alice, bob)
    [drift] = ws.overlay_drift(ws.active_overlay)
    assert drift.describe() == "Room changed to 'Studio B' while you were reviewing (by Bob)"
    assert (drift.mine, drift.canonical, drift.record_label) == ("Main stage", "Studio B", "Rehearsal")
    assert ws.record(event).get("room") == "Main stage"  # the overlay still shows mine
    with pytest.raises(ValidationError, match="commit refused: Room changed to 'Studio B'"):
        ws.commit_overlay(ws.active_overlay)
    ws.keep_mine(ws.active_overlay, event, ROOM)
    assert ws.overlay_drift(ws.active_overlay) == []
    bob.ws.set_field(other, ROOM, "Studio D")
    sync(alice, bob)
    [drift] = ws.overlay_drift(ws.active_overlay)
    assert drift.field == ROOM and drift.canonical == "Studio D"
    assert ws.use_canonical(ws.active_overlay, other, ROOM) == 1
    assert ws.record(other).get("room") == "Studio D"
    ws.commit_overlay(ws.active_overlay)
    sync(alice, bob)
    for peer in (alice, bob):
        assert peer.ws.record(event).get("room") == "Main stage"
        assert peer.ws.open_conflicts() == []  # keeping mine after seeing Bob's edit is not a conflict


def test_drift_is_about_values_not_just_writes(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    event = alice.ws.create_record("schedule.Events", {"title": "Rehearsal", "room": "Studio A"})
    sync(alice, bob)
    alice.ws.create_overlay("x")
    alice.ws.set_field(event, ROOM, "Studio B")
    bob.ws.set_field(event, ROOM, "Studio B")  # same value as mine
    sync(alice, bob)
    assert alice.ws.overlay_drift(alice.ws.active_overlay) == []


def test_committing_over_a_conflicted_field_resolves_it(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    event = alice.ws.create_record("schedule.Events", {"title": "Tech", "room": "A"})
    sync(alice, bob)
    alice.ws.set_field(event, ROOM, "B")
    bob.ws.set_field(event, ROOM, "C")
    sync(alice, bob)
    assert len(alice.ws.open_conflicts()) == 1
    alice.ws.create_overlay("Fix rooms")
    alice.ws.set_field(event, ROOM, "D")
    alice.ws.keep_mine(alice.ws.active_overlay, event, ROOM)
    alice.ws.commit_overlay(alice.ws.active_overlay)
    sync(alice, bob)
    for peer in (alice, bob):
        assert peer.ws.open_conflicts() == [] and peer.ws.record(event).get("room") == "D"
    assert alice.ws.history(event, ROOM)[-1].op_type == "ResolveConflict"


def test_overlay_survives_a_restart_but_is_not_reactivated(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1})
    overlay = ws.create_overlay("Overnight")
    ws.set_field(cue, "lighting.LightingCues.label", "staged")
    ws.conn.close()
    again = Workspace.open(connect(alice.path), make_env(alice.identity, alice.env.now_ms, random.Random(5)))
    assert again.active_overlay is None
    assert [(o.name, o.status, o.op_count) for o in again.list_overlays()] == [("Overnight", "stashed", 1)]
    assert again.record(cue).get("label") is None
    again.activate_overlay(overlay)
    assert again.record(cue).get("label") == "staged"


def test_overlay_undo_and_redo(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1})
    ws.create_overlay("x")
    ws.set_field(cue, "lighting.LightingCues.label", "one")
    ws.set_field(cue, "lighting.LightingCues.label", "two")
    assert ws.undo().done and ws.record(cue).get("label") == "one"
    assert ws.redo().done and ws.record(cue).get("label") == "two"
    ws.undo()
    ws.undo()
    assert ws.record(cue).get("label") is None


def test_workspace_changes_cannot_be_staged(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    overlay = ws.create_overlay("x")
    with pytest.raises(ValidationError, match="cannot be staged"):
        ws.adopt_module("[module]\nname='m'\nversion='1.0.0'\n[table.T.fields.a]\ntype='string'\n")
    ws.discard_overlay(overlay)
    with pytest.raises(NotFoundError, match="no overlay"):
        ws.commit_overlay(overlay)


def test_scenario_e_script_overlay_with_drift(peer_factory) -> None:
    """Spec walkthrough E: stash my staging, review a script's output, Use Canonical, commit, recall."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 5, "fade_time": 3})
    sync(alice, bob)
    mine = ws.create_overlay("Cue timings")  # 1. user is staging cue timings
    ws.set_field(cue, "lighting.LightingCues.fade_time", 4.5)
    script = ws.create_overlay("Generate rehearsal schedule", source="script", script="schedule.generate")
    assert [o.status for o in ws.list_overlays() if o.id == script] == ["pending"]  # 3. waits, not active
    assert ws.active_overlay == mine
    ws.activate_overlay(script)  # 4. "stash current and view"
    with ws.transaction() as tx:
        events = [tx.create_record("schedule.Events", {"title": f"Rehearsal {i}", "room": "Studio A"})
                  for i in range(15)]
    ws.stash_overlay(ws.active_overlay)
    ws.activate_overlay(script)
    assert len(ws.records("schedule.Events")) == 15
    sync(alice, bob)
    # 5. a peer changes one staged event's room (the script created it; pretend it already existed)
    bob_event = bob.ws.create_record("schedule.Events", {"title": "Shared", "room": "Studio A"})
    sync(alice, bob)
    with ws.transaction() as tx:
        tx.set_field(bob_event, ROOM, "Studio C")
    bob.ws.set_field(bob_event, ROOM, "Studio B")
    sync(alice, bob)
    [drift] = ws.overlay_drift(ws.active_overlay)  # 6. the badge
    assert drift.describe().startswith("Room changed to 'Studio B' while you were reviewing")
    ws.use_canonical(ws.active_overlay, bob_event, ROOM)  # 7.
    ws.commit_overlay(ws.active_overlay)  # 8. commit the remaining 15 events
    assert len(ws.records("schedule.Events")) == 16  # 15 staged + the shared one
    ws.activate_overlay(mine)  # 9. recall the stashed overlay
    assert ws.record(cue).get("fade_time") == 4.5
    ws.stash_overlay(ws.active_overlay)
    assert ws.record(cue).get("fade_time") == 3
    sync(alice, bob)
    assert len(bob.ws.records("schedule.Events")) == 16 and events
