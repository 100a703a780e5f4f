"""Text and list CRDT fields: concurrent edits merge, never conflict, and survive rebuilds."""

from __future__ import annotations

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
    assert alice.ws.record(rid).get("notes") == bob.ws.record(rid).get("notes") == "Hello dear stage!"
    assert alice.ws.state_hash() == bob.ws.state_hash()
    assert alice.ws.open_conflicts() == []  # CRDT fields merge; they never conflict
    before = alice.ws.state_hash()
    alice.ws.rebuild()
    assert alice.ws.state_hash() == before
    assert alice.ws.record(rid).get("notes") == "Hello dear stage!"


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
    merged = alice.ws.record(rid).get("tags")
    assert merged == bob.ws.record(rid).get("tags")
    # the old "sharp" is gone; each side's new items are kept (Bob's reset re-added its own "sharp")
    assert sorted(merged) == ["act 2", "blunt", "rubber", "sharp"]


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
        (lambda tx, rid: tx.clear_field(rid, NOTES), "CRDT"),
    ],
)
def test_bad_crdt_edits_are_refused(pair, edit, message) -> None:
    alice, _bob, rid = pair
    before = alice.ws.state_hash()
    with pytest.raises(ValidationError, match=message), alice.ws.transaction() as tx:
        edit(tx, rid)
    assert alice.ws.state_hash() == before
    assert alice.ws.record(rid).get("notes") == "Hello world"
