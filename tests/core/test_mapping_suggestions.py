"""Mapping suggestions in words, previews before anything is written, dismissals that stay, and
linking / unlinking tables with undo (core/openprod/mappings.py)."""

from __future__ import annotations

import pytest

from openprod import ValidationError

CONTACTS, ATTENDEES = "contacts.Contacts", "schedule.Attendees"
C_EMAIL, A_EMAIL = "contacts.Contacts.email", "schedule.Attendees.email"
C_NAME, A_NAME = "contacts.Contacts.name", "schedule.Attendees.name"


def test_suggestions_say_in_words_which_fields_could_be_one(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    found = {s.fields: s for s in ws.mappings.suggestions()}
    email = found[(C_EMAIL, A_EMAIL)]
    assert email.description == "Contacts and Attendees both have Email: keep them as one field?"
    assert (C_NAME, A_NAME) in found
    # only tables that are linked or declared compatible: no "Scenes and Events both have Title"
    assert not any("scenes.Scenes" in s.tables for s in found.values())


def test_preview_shows_both_values_and_the_result_and_writes_nothing(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@old.example"})
    with ws.transaction() as tx:
        tx.add_to_table(jane, ATTENDEES, {"name": "Jane Doe", "email": "jane@new.example"})
    ws.create_record(CONTACTS, {"name": "Only Contact", "email": "x@example"})
    before = ws.state_hash()
    preview = ws.mappings.preview(C_EMAIL, A_EMAIL)
    assert ws.state_hash() == before
    assert preview.in_both == 1 and preview.differing == 1 and preview.problem is None
    [row] = preview.rows
    assert row.label == "Jane Doe" and row.values == ("jane@old.example", "jane@new.example")
    assert row.after == "jane@new.example"  # the later edit shows in both
    with ws.transaction() as tx:
        tx.confirm_field_mapping(C_EMAIL, A_EMAIL)
    assert ws.records.value(jane, C_EMAIL) == row.after
    assert all(s.fields != (C_EMAIL, A_EMAIL) for s in ws.mappings.suggestions())  # no longer asked
    assert ws.mappings.preview(C_EMAIL, A_EMAIL).problem == "These are already one field."
    assert ws.undo().done and ws.records.value(jane, C_EMAIL) == "jane@old.example"  # separate again, nothing lost
    assert any(s.fields == (C_EMAIL, A_EMAIL) for s in ws.mappings.suggestions())


def test_preview_of_fields_that_cannot_be_one_says_why(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    preview = ws.mappings.preview(C_NAME, "schedule.Attendees.call_time")
    assert preview.problem == ("Name in Contacts holds text and Call time in Attendees holds dates and times: "
                               "they cannot be one field.")
    with pytest.raises(ValidationError, match="same table"):
        ws.mappings.preview(C_NAME, C_EMAIL)
    with pytest.raises(ValidationError):
        ws.mappings.preview(C_NAME, "contacts.Contacts.nothing")


def test_a_dismissed_suggestion_stays_dismissed_and_a_bad_one_changes_nothing(peer_factory, tmp_path) -> None:
    peer = peer_factory("Alice")
    ws = peer.ws
    ws.mappings.dismiss(A_EMAIL, C_EMAIL)  # either order
    assert all(s.fields != (C_EMAIL, A_EMAIL) for s in ws.mappings.suggestions())
    before = [s.fields for s in ws.mappings.suggestions()]
    with pytest.raises(ValidationError):
        ws.mappings.dismiss(C_EMAIL, "schedule.Attendees.nope")
    assert [s.fields for s in ws.mappings.suggestions()] == before
    ws.rebuild()  # a local decision: it survives re-deriving state
    assert all(s.fields != (C_EMAIL, A_EMAIL) for s in ws.mappings.suggestions())


def test_link_preview_then_link_adds_every_record_it_can_and_undo_takes_it_back(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@example"})
    kim = ws.create_record(CONTACTS, {"name": "Kim Props"})
    preview = ws.mappings.link_preview(CONTACTS, ATTENDEES)
    assert not preview.linked and preview.already == 0 and preview.cannot_add == ()
    assert [label for _id, label in preview.to_add] == ["Jane Doe", "Kim Props"]
    assert {m.fields for m in preview.mappings} == {(C_NAME, A_NAME), (C_EMAIL, A_EMAIL)}
    with ws.transaction() as tx:
        skipped = tx.link_tables(CONTACTS, ATTENDEES, add_records=True, confirm=[m.fields for m in preview.mappings])
    assert skipped == []
    assert set(ws.records.ids(ATTENDEES)) == {jane, kim}
    assert ws.records.get(jane, ATTENDEES).get("email") == "jane@example"
    assert ws.mappings.link_preview(CONTACTS, ATTENDEES).linked
    assert ws.mappings.linked_tables() == {(CONTACTS, ATTENDEES)}
    assert ws.undo().done
    assert ws.records.ids(ATTENDEES) == [] and not ws.mappings.link_preview(CONTACTS, ATTENDEES).linked
    assert ws.records.value(jane, A_EMAIL) is None  # the fields are separate again
    assert ws.redo().done and set(ws.records.ids(ATTENDEES)) == {jane, kim}


def test_link_without_mappings_lists_records_it_cannot_add(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    ws.create_record(CONTACTS, {"name": "Jane Doe"})
    preview = ws.mappings.link_preview(CONTACTS, "lighting.LightingCues")  # no shared fields: cue # would be empty
    assert preview.to_add == () and [why for _i, _l, why in preview.cannot_add] == ["it has no Cue #"]
    with ws.transaction() as tx:
        skipped = tx.link_tables(CONTACTS, "lighting.LightingCues", add_records=True)
    assert len(skipped) == 1 and ws.records.ids("lighting.LightingCues") == []
    with pytest.raises(ValidationError, match="itself"):
        ws.mappings.link_preview(CONTACTS, CONTACTS)


def test_unlink_preview_names_the_records_that_become_two(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@example"})
    with ws.transaction() as tx:
        tx.link_tables(CONTACTS, ATTENDEES, add_records=True, confirm=[(C_NAME, A_NAME)])
    preview = ws.mappings.unlink_preview(CONTACTS, ATTENDEES)
    assert preview.linked and preview.shared == ((jane, "Jane Doe"),) and preview.mappings == ((C_NAME, A_NAME),)
    with ws.transaction() as tx:
        [copy] = tx.unlink_tables(CONTACTS, ATTENDEES)
    assert ws.records.ids(ATTENDEES) == [copy] and ws.records.value(copy, A_NAME) == "Jane Doe"
    assert ws.undo().done and ws.records.ids(ATTENDEES) == [jane]


def test_undoing_a_confirmation_keeps_an_earlier_link(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with ws.transaction() as tx:
        tx.link_tables(CONTACTS, ATTENDEES)
    with ws.transaction() as tx:
        tx.confirm_field_mapping(C_EMAIL, A_EMAIL)
    assert ws.undo().done
    assert ws.mappings.link_preview(CONTACTS, ATTENDEES).linked
    assert any(s.fields == (C_EMAIL, A_EMAIL) for s in ws.mappings.suggestions())
