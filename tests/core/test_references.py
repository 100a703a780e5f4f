"""Reference fields (Smart Field reference mode): show another record's field, edit through it."""

from __future__ import annotations

import pytest

from helpers import sync
from openprod import ValidationError

NAME = "contacts.Contacts.name"
ATTENDEE = "schedule.Attendees.name"


@pytest.fixture
def sheet(peer_factory):
    alice = peer_factory("Alice")
    ws = alice.ws
    actor = ws.create_record("contacts.Contacts", {"name": "Jane Do"})
    attendee = ws.create_record("schedule.Attendees", {"name": "placeholder"})
    with ws.transaction() as tx:
        tx.set_reference(attendee, ATTENDEE, actor, NAME)
    return alice, actor, attendee


def test_reference_shows_the_source_and_follows_corrections(sheet, peer_factory) -> None:
    alice, actor, attendee = sheet
    ws = alice.ws
    assert ws.records.get(attendee).get("name") == "Jane Do"
    ws.set_field(actor, NAME, "Jane Doe")  # someone corrects the spelling in Contacts
    assert ws.records.get(attendee).get("name") == "Jane Doe"
    assert ws.records.reference_of(attendee, ATTENDEE) == (actor, NAME, None)
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    assert bob.ws.records.get(attendee).get("name") == "Jane Doe"
    assert bob.ws.state_hash() == ws.state_hash()


def test_editing_a_reference_edits_its_source(sheet) -> None:
    alice, actor, attendee = sheet
    ws = alice.ws
    ws.set_field(attendee, ATTENDEE, "Jane Q. Doe")
    assert ws.records.get(actor).get("name") == "Jane Q. Doe"
    assert ws.records.reference_of(attendee, ATTENDEE) is not None  # still a reference
    with ws.transaction() as tx:
        tx.clear_reference(attendee, ATTENDEE)
    assert ws.records.reference_of(attendee, ATTENDEE) is None
    ws.set_field(actor, NAME, "Someone Else")
    assert ws.records.get(attendee).get("name") == "Jane Q. Doe"  # a plain value again


def test_reference_follows_a_merge_redirect(sheet) -> None:
    alice, actor, attendee = sheet
    ws = alice.ws
    twin = ws.create_record("contacts.Contacts", {"name": "Jane Doe (dup)"})
    with ws.transaction() as tx:
        survivor = tx.merge_records(actor, twin)
    [conflict] = ws.conflicts.open()
    with ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="Jane Doe")
    assert ws.records.get(attendee).get("name") == "Jane Doe"
    source, field, broken = ws.records.reference_of(attendee, ATTENDEE)
    assert (source, field, broken) == (survivor, NAME, None)


def test_a_deleted_source_shows_why_instead_of_failing(sheet) -> None:
    alice, actor, attendee = sheet
    ws = alice.ws
    ws.delete_record(actor)
    record = ws.records.get(attendee)
    assert record.get("name") is None
    _source, _field, broken = ws.records.reference_of(attendee, ATTENDEE)
    assert broken == "the record it points to (Jane Do) was deleted"
    with pytest.raises(ValidationError, match="was deleted; clear the reference"):
        ws.set_field(attendee, ATTENDEE, "x")


def test_bad_references_are_refused(sheet) -> None:
    alice, actor, attendee = sheet
    ws = alice.ws
    with pytest.raises(ValidationError, match="cannot show"), ws.transaction() as tx:
        tx.set_reference(attendee, "schedule.Attendees.call_time", actor, NAME)
    with pytest.raises(ValidationError, match="cannot show itself"), ws.transaction() as tx:
        tx.set_reference(actor, NAME, attendee, ATTENDEE)  # would loop back through the attendee
    with pytest.raises(ValidationError, match="not showing another record"), ws.transaction() as tx:
        tx.clear_reference(actor, NAME)


def test_setting_a_reference_can_be_undone(sheet) -> None:
    alice, _actor, attendee = sheet
    ws = alice.ws
    assert ws.undo().done
    assert ws.records.reference_of(attendee, ATTENDEE) is None
    assert ws.records.get(attendee).get("name") == "placeholder"
    assert ws.redo().done and ws.records.get(attendee).get("name") == "Jane Do"
