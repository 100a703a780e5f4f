"""Undo/redo per actor, on bundles; skipped (with a reason) when someone else changed the data."""

from __future__ import annotations

from helpers import sync

CONTACTS = "contacts.Contacts"
PHONE = "contacts.Contacts.phone"


def test_undo_and_redo_a_field_edit(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    rid = ws.create_record(CONTACTS, {"name": "Jane", "phone": "1"})
    ws.set_field(rid, PHONE, "2")
    assert ws.undo().done and ws.records.get(rid).get("phone") == "1"
    assert ws.redo().done and ws.records.get(rid).get("phone") == "2"
    assert ws.undo().done and ws.undo().done  # the edit, then the creation
    assert ws.records.get(rid) is None
    assert ws.redo().done and ws.records.get(rid).get("phone") == "1"


def test_a_new_edit_clears_redo(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    rid = ws.create_record(CONTACTS, {"name": "Jane"})
    ws.set_field(rid, PHONE, "2")
    ws.undo()
    ws.set_field(rid, PHONE, "3")
    assert not ws.can_redo()
    nothing = ws.redo()  # reported like a skipped step, not raised
    assert not nothing.done and nothing.message == "Nothing to redo" and nothing.bundle_id is None


def test_undo_is_skipped_when_another_person_changed_the_field(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane Doe", "phone": "1"})
    alice.ws.set_field(rid, PHONE, "2")
    sync(alice, bob)
    bob.ws.set_field(rid, PHONE, "3")
    sync(alice, bob)
    result = alice.ws.undo()
    assert not result.done
    assert result.message == "Cannot undo: Contacts › Jane Doe › Phone was changed by Bob since"
    assert alice.ws.records.get(rid).get("phone") == "3"
    # the skipped entry is gone; the next undo reaches the creation, which Bob also touched
    assert "Bob" in alice.ws.undo().message


def test_undoing_a_delete_restores_cascaded_edges_unless_the_other_end_is_gone(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    ws = alice.ws
    actor = ws.create_record(CONTACTS, {"name": "Romeo Actor"})
    balcony = ws.create_record("scenes.Scenes", {"title": "Balcony"})
    tomb = ws.create_record("scenes.Scenes", {"title": "Tomb"})
    with ws.transaction() as tx:
        tx.create_edge("scenes.appears_in", actor, balcony, {"character": "Romeo"})
        tx.create_edge("scenes.appears_in", actor, tomb, {"character": "Romeo"})
    ws.delete_record(actor)
    assert ws.records.edges_from(actor) == []
    sync(alice, bob)
    bob.ws.delete_record(tomb)  # meanwhile the other end of one cascaded edge goes away
    sync(alice, bob)
    result = ws.undo()
    assert result.done, result.message
    assert ws.records.get(actor) is not None
    assert [ws.records.label(e.target) for e in ws.records.edges_from(actor)] == ["Balcony"]
    assert ws.records.edges_from(actor)[0].properties == {"character": "Romeo"}


def test_undo_depth_is_one_hundred(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    rid = ws.create_record(CONTACTS, {"name": "Jane"})
    for i in range(120):
        ws.set_field(rid, PHONE, str(i))
    undone = 0
    while ws.can_undo():
        assert ws.undo().done
        undone += 1
    assert undone == 100
    assert ws.records.get(rid).get("phone") == "19"


def test_undo_stops_at_a_change_it_cannot_reverse_instead_of_reaching_past_it(peer_factory) -> None:
    """Ctrl+Z after a change with no undo used to reverse the change before it, which the person
    did not ask for; now it says why it stops, and the earlier change stays."""
    ws = peer_factory("Alice").ws
    rid = ws.create_record(CONTACTS, {"name": "Jane", "phone": "1"})
    ws.set_field(rid, PHONE, "2")
    assert ws.can_undo()
    with ws.transaction(kind="script") as tx:  # a rule, created here by a script, has no undo
        tx.set_field(rid, PHONE, "3")
        tx.create_rule("Crew", when='table == "contacts.Contacts"', table="scenes.Scenes")
    assert not ws.can_undo() and not ws.can_redo()
    result = ws.undo()
    assert not result.done and result.bundle_id is None
    assert result.message == ("Nothing more to undo: the script's changes can't be undone, "
                              "so earlier changes stay as they are")
    assert ws.records.get(rid).get("phone") == "3"
    ws.set_field(rid, PHONE, "4")  # a later change is undoable again, back to the stop
    assert ws.undo().done and ws.records.get(rid).get("phone") == "3"
    assert "can't be undone" in ws.undo().message and ws.records.get(rid).get("phone") == "3"
    assert ws.redo().done and ws.records.get(rid).get("phone") == "4"
