"""Text and list CRDT fields: concurrent edits merge, never conflict, and survive rebuilds."""

from __future__ import annotations

from itertools import pairwise

import pytest

from helpers import sync
from openprod import ValidationError

NOTES_MODULE = """
[module]
name = "props"
version = "1.0.0"

[table.Props.fields.item]
type = "string"
required = true

[table.Props.fields.notes]
type = "string"
crdt = "text"

[table.Props.fields.tags]
type = "list"
crdt = "list"
item_type = "string"
"""
NOTES = "props.Props.notes"
TAGS = "props.Props.tags"


@pytest.fixture
def pair(peer_factory):
    alice = peer_factory("Alice")
    alice.ws.adopt_module(NOTES_MODULE)
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    rid = alice.ws.create_record("props.Props", {"item": "Dagger"})
    with alice.ws.transaction() as tx:
        tx.set_text(rid, NOTES, "Hello world")
    sync(alice, bob)
    return alice, bob, rid


def test_concurrent_text_edits_merge(pair) -> None:
    alice, bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(5, 0, " dear")])
    with bob.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(11, 0, "!"), (6, 5, "stage")])
    sync(alice, bob)
    assert alice.ws.records.get(rid).get("notes") == bob.ws.records.get(rid).get("notes") == "Hello dear stage!"
    assert alice.ws.state_hash() == bob.ws.state_hash()
    assert alice.ws.conflicts.open() == []  # CRDT fields merge; they never conflict
    before = alice.ws.state_hash()
    alice.ws.rebuild()
    assert alice.ws.state_hash() == before
    assert alice.ws.records.get(rid).get("notes") == "Hello dear stage!"


def test_list_resets_keep_concurrent_additions(pair) -> None:
    alice, bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["sharp"])
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["blunt", "rubber"])
    with bob.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["sharp", "act 2"])
    sync(alice, bob)
    merged = alice.ws.records.get(rid).get("tags")
    assert merged == bob.ws.records.get(rid).get("tags")
    # set_list is the smallest element edit: Alice removed "sharp" and Bob left it alone, so it is
    # gone; each side's additions are kept, once each
    assert sorted(merged) == ["act 2", "blunt", "rubber"]


def test_two_people_adding_a_tag_never_duplicate_the_tags_already_there(pair) -> None:
    alice, bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["act 1"])
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["act 1", "sharp"])
    with bob.ws.transaction() as tx:
        tx.add_to_list(rid, TAGS, "prop")
    sync(alice, bob)
    merged = alice.ws.records.get(rid).get("tags")
    assert merged == bob.ws.records.get(rid).get("tags")
    assert merged[0] == "act 1" and sorted(merged) == ["act 1", "prop", "sharp"]


def test_the_specs_clear_and_add_example(peer_factory) -> None:
    """conflicts.md: Alice adds "urgent" @100, Bob ClearAndAdd(["low"]) @150 (not having seen it),
    Alice adds "important" @200 -> ["low", "important"], whatever order the peers sync in."""
    from helpers import ManualClock

    alice_clock, bob_clock = ManualClock(), ManualClock()
    alice = peer_factory("Alice", own_clock=alice_clock)
    alice.ws.adopt_module(NOTES_MODULE)
    rid = alice.ws.create_record("props.Props", {"item": "Dagger"})
    bob = peer_factory("Bob", workspace_from=alice, own_clock=bob_clock)
    sync(alice, bob)
    base = max(alice_clock.now, bob_clock.now)
    alice_clock.now = base + 100
    with alice.ws.transaction() as tx:
        tx.add_to_list(rid, TAGS, "urgent")
    bob_clock.now = base + 150
    with bob.ws.transaction() as tx:
        tx.clear_and_add(rid, TAGS, ["low"])
    alice_clock.now = base + 200
    with alice.ws.transaction() as tx:
        tx.add_to_list(rid, TAGS, "important")
    carol = peer_factory("Carol", workspace_from=alice, own_clock=ManualClock(base + 300))
    for wire in [b.wire for b in bob.ws.oplog.bundles()][-1:] + [b.wire for b in alice.ws.oplog.bundles()]:
        carol.ws.ingest(wire)  # Bob's clear first, then everything of Alice's
    sync(alice, bob)
    for peer in (alice, bob, carol):
        assert sorted(peer.ws.records.get(rid).get("tags")) == ["important", "low"], peer.name
    assert alice.ws.state_hash() == bob.ws.state_hash() == carol.ws.state_hash()
    alice.ws.rebuild()
    assert sorted(alice.ws.records.get(rid).get("tags")) == ["important", "low"]


def test_list_edits_by_position_move_and_remove(pair) -> None:
    alice, _bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["a", "b", "c", "d"])
        tx.move_in_list(rid, TAGS, 0, 3)
        tx.remove_from_list(rid, TAGS, 1)
        tx.edit_list(rid, TAGS, [(0, 1, ["x", "y"]), (3, 0, ["z"])])
    assert alice.ws.records.get(rid).get("tags") == ["x", "y", "d", "z", "a"]
    with pytest.raises(ValidationError, match="outside the list"), alice.ws.transaction() as tx:
        tx.edit_list(rid, TAGS, [(9, 1, [])])
    with pytest.raises(ValidationError, match="cannot move"), alice.ws.transaction() as tx:
        tx.move_in_list(rid, TAGS, 0, 5)
    assert alice.ws.records.get(rid).get("tags") == ["x", "y", "d", "z", "a"]


def test_list_and_text_edits_are_undoable_per_person(pair) -> None:
    alice, bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["act 1"])
    with alice.ws.transaction() as tx:
        tx.add_to_list(rid, TAGS, "sharp")
    with alice.ws.transaction() as tx:
        tx.set_text(rid, NOTES, "Hello stage")
    assert alice.ws.undo().done and alice.ws.records.get(rid).get("notes") == "Hello world"
    assert alice.ws.undo().done and alice.ws.records.get(rid).get("tags") == ["act 1"]
    assert alice.ws.redo().done and alice.ws.records.get(rid).get("tags") == ["act 1", "sharp"]
    with alice.ws.transaction() as tx:
        tx.clear_and_add(rid, TAGS, ["blunt"])
    assert alice.ws.undo().done and alice.ws.records.get(rid).get("tags") == ["act 1", "sharp"]
    # once someone else changed the list, undo says so instead of taking their change back
    with alice.ws.transaction() as tx:
        tx.add_to_list(rid, TAGS, "rubber")
    sync(alice, bob)
    with bob.ws.transaction() as tx:
        tx.add_to_list(rid, TAGS, "bob's")
    sync(alice, bob)
    result = alice.ws.undo()
    assert not result.done and "Bob" in result.message
    assert alice.ws.records.get(rid).get("tags") == ["act 1", "sharp", "rubber", "bob's"]


def test_clear_and_add_is_staged_like_any_edit(pair) -> None:
    alice, _bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["act 1", "act 2"])
    overlay = alice.ws.staging.create("Reset tags")
    alice.ws.staging.activate(overlay)
    with alice.ws.transaction() as tx:
        tx.clear_and_add(rid, TAGS, ["tour"])
    assert alice.ws.records.get(rid).get("tags") == ["tour"]
    alice.ws.staging.stash(overlay)
    assert alice.ws.records.get(rid).get("tags") == ["act 1", "act 2"]


def test_lists_written_before_stamps_still_read_and_edit(pair) -> None:
    """A list whose elements are bare values (written before element stamps) reads as it was."""
    from openprod import operations as o

    alice, _bob, rid = pair
    backend = alice.ws._cx.crdt.require()
    doc = backend.new_doc("list")
    legacy = backend.edit_list(doc, [(0, 0, ["old 1", "old 2"])])
    with alice.ws.transaction() as tx:
        entity = bytes.fromhex(rid.replace("-", ""))
        tx.add(o.ApplyCrdt, entity=entity, field=TAGS, crdt_type="list", delta=legacy)
    assert alice.ws.records.get(rid).get("tags") == ["old 1", "old 2"]
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["old 1", "new"])
    assert alice.ws.records.get(rid).get("tags") == ["old 1", "new"]


def test_state_hash_covers_crdt_content(pair) -> None:
    alice, bob, rid = pair
    with bob.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(0, 0, "x")])
    assert alice.ws.state_hash() != bob.ws.state_hash()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda tx, rid: tx.set_field(rid, NOTES, "plain"), "CRDT"),
        (lambda tx, rid: tx.edit_text(rid, NOTES, [(50, 0, "x")]), "outside the text"),
        (lambda tx, rid: tx.edit_text(rid, NOTES, [(0, 99, "")]), "outside the text"),
        (lambda tx, rid: tx.edit_text(rid, NOTES, [("0", 0, "x")]), "index, delete count"),
        (lambda tx, rid: tx.edit_text(rid, TAGS, [(0, 0, "x")]), "not a collaborative text"),
        (lambda tx, rid: tx.set_list(rid, TAGS, [1, 2]), "expected text"),
        (lambda tx, rid: tx.set_list(rid, TAGS, "a tag"), "takes a list"),
        (lambda tx, rid: tx.clear_and_add(rid, TAGS, [None]), "remove a value"),
        (lambda tx, rid: tx.clear_and_add(rid, NOTES, ["x"]), "not a collaborative list"),
        (lambda tx, rid: tx.edit_list(rid, TAGS, [(0, 0, "x")]), "takes a list"),
        (lambda tx, rid: tx.clear_field(rid, NOTES), "CRDT"),
    ],
)
def test_bad_crdt_edits_are_refused(pair, edit, message) -> None:
    alice, _bob, rid = pair
    before = alice.ws.state_hash()
    with pytest.raises(ValidationError, match=message), alice.ws.transaction() as tx:
        edit(tx, rid)
    assert alice.ws.state_hash() == before
    assert alice.ws.records.get(rid).get("notes") == "Hello world"


def test_number_lists_read_the_same_on_every_runtime(peer_factory) -> None:
    """Yrs (pycrdt) hands numbers back as floats and Yjs as ints: a list reads as ints wherever it
    is whole, so the state hash agrees between the relay (CPython) and a browser (Pyodide + Yjs)."""
    alice = peer_factory("Alice")
    alice.ws.adopt_module(NOTES_MODULE.replace('[table.Props.fields.tags]', '''[table.Props.fields.levels]
type = "list"
crdt = "list"
item_type = "number"

[table.Props.fields.tags]'''))
    rid = alice.ws.create_record("props.Props", {"item": "Dimmer"})
    with alice.ws.transaction() as tx:
        tx.set_list(rid, "props.Props.levels", [1, 2.5, 100])
    levels = alice.ws.records.get(rid).get("levels")
    assert levels == [1, 2.5, 100] and [type(v) for v in levels] == [int, float, int]


@pytest.mark.parametrize("bob_first", [True, False], ids=["bob-stamped-earlier", "bob-stamped-later"])
def test_undo_never_takes_back_a_concurrent_edit_merged_after_it(pair, bob_first: bool) -> None:
    """Bob's edits, made without seeing Alice's, are merged whichever clock stamps they carry. Alice's
    undo of her list edit says Bob changed the list since (it used to delete Bob's element when his
    stamp was the earlier one: undo looked for writes after hers in canonical order only); her undo
    of her text edit takes back her characters alone and keeps Bob's."""
    alice, bob, rid = pair
    with alice.ws.transaction() as tx:
        tx.set_list(rid, TAGS, ["act 1"])
    sync(alice, bob)
    edits = [(bob, lambda tx: tx.edit_text(rid, NOTES, [(0, 0, "Y ")])),
             (alice, lambda tx: tx.edit_text(rid, NOTES, [(11, 0, " X")])),
             (bob, lambda tx: tx.add_to_list(rid, TAGS, "bob's")),
             (alice, lambda tx: tx.add_to_list(rid, TAGS, "sharp"))]
    order = edits if bob_first else [edits[1], edits[0], edits[3], edits[2]]
    for peer, edit in order:
        with peer.ws.transaction() as tx:
            edit(tx)
    sync(alice, bob)
    merged = alice.ws.records.get(rid)
    assert merged.get("notes") == "Y Hello world X" and sorted(merged.get("tags")) == ["act 1", "bob's", "sharp"]
    result = alice.ws.undo()  # the list edit
    assert not result.done and "Bob" in result.message
    assert sorted(alice.ws.records.get(rid).get("tags")) == ["act 1", "bob's", "sharp"]
    assert alice.ws.undo().done  # the text edit: " X" goes, Bob's "Y " stays
    assert alice.ws.records.get(rid).get("notes") == "Y Hello world"
    assert alice.ws.redo().done
    assert alice.ws.records.get(rid).get("notes") == "Y Hello world X"
    sync(alice, bob)
    assert bob.ws.records.get(rid).get("notes") == "Y Hello world X"
    assert bob.ws.state_hash() == alice.ws.state_hash()


def test_undo_of_a_text_edit_made_after_seeing_a_concurrent_one_still_works(pair) -> None:
    alice, bob, rid = pair
    with bob.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(0, 0, "Y ")])
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(13, 0, " X")])
    assert alice.ws.undo().done
    assert alice.ws.records.get(rid).get("notes") == "Y Hello world"


def test_who_changed_a_text_or_list_field_names_each_edit_in_time_order(pair) -> None:
    """"Who changed this?" on a collaborative field (the app's History button) lists each edit by
    its author; it used to raise a bare StopIteration, as these edits write no value register."""
    alice, bob, rid = pair
    with bob.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(11, 0, "!")])
    with alice.ws.transaction() as tx:
        tx.set_field(rid, "item", "Rapier")
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.clear_and_add(rid, TAGS, ["sharp"])
    sync(alice, bob)
    for peer in (alice, bob):
        text = peer.ws.history.field(rid, NOTES)
        assert [c.describe() for c in text] == ["Alice added 'Hello world'", "Bob added '!'"]
        assert [(c.old, c.new) for c in text] == [("", "Hello world"), ("Hello world", "Hello world!")]
        assert [c.collaborative for c in text] == ["text", "text"] and text[0].hlc < text[1].hlc
        assert [c.describe() for c in peer.ws.history.field(rid, TAGS)] == ["Alice changed the list"]
        assert [c.describe() for c in peer.ws.history.field(rid, "item")][-1] == \
            "Alice changed it from 'Dagger' to 'Rapier'"


def test_a_text_edit_in_the_history_says_what_it_added_removed_or_replaced(pair) -> None:
    """Each edit of a collaborative text shows the text just before and after it, edits made apart
    merged in time order, so "who changed this?" can say what each person typed."""
    alice, bob, rid = pair
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(0, 5, "Goodbye")])  # "Hello world" -> "Goodbye world"
    with bob.ws.transaction() as tx:  # apart: Bob has not seen Alice's edit
        tx.edit_text(rid, NOTES, [(6, 5, "")])  # "Hello world" -> "Hello "
    sync(alice, bob)
    with bob.ws.transaction() as tx:
        tx.edit_text(rid, NOTES, [(0, 0, "Lights: ")])
    sync(alice, bob)
    shown = alice.ws.records.get(rid).get("notes")
    assert shown == bob.ws.records.get(rid).get("notes") == "Lights: Goodbye "
    for peer in (alice, bob):
        text = peer.ws.history.field(rid, NOTES)
        assert [c.describe() for c in text] == [
            "Alice added 'Hello world'", "Alice replaced 'Hello' with 'Goodbye' in the text",
            "Bob removed 'world'", "Bob added 'Lights: '"]
        assert text[-1].new == shown and all(a.new == b.old for a, b in pairwise(text))
