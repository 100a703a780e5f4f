"""'These are the same person': the merge previewed field by field, done, undone (a split that
brings the second record back as it was), and split by hand into two records of one table."""

from __future__ import annotations

import pytest

from openprod import NotFoundError, ValidationError

C, A = "contacts.Contacts", "schedule.Attendees"


def _twins(ws):
    jane = ws.create_record(C, {"name": "Jane Doe", "email": "jane@old.example", "role": "Stage manager"})
    twin = ws.create_record(C, {"name": "Jane Doe", "email": "jane@new.example", "phone": "555-0101"})
    with ws.transaction() as tx:
        tx.add_to_table(twin, A, {"name": "Jane Doe"})
    return jane, twin


def test_the_preview_says_field_by_field_what_the_merge_gives_and_writes_nothing(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane, twin = _twins(ws)
    before = ws.state_hash()
    preview = ws.merges.preview(jane, twin)
    assert ws.state_hash() == before
    assert preview.labels == ("Jane Doe", "Jane Doe") and preview.survivor == min(jane, twin)
    assert preview.tables == ((C,), (C, A), (C, A))
    by = {f.field: f for f in preview.fields}
    assert by[f"{C}.email"].values == ("jane@old.example", "jane@new.example") and by[f"{C}.email"].conflict
    assert by[f"{C}.role"].result == "Stage manager" and not by[f"{C}.role"].conflict
    assert by[f"{C}.phone"].values == (None, "555-0101") and by[f"{C}.phone"].result == "555-0101"
    assert not by[f"{C}.name"].conflict and preview.conflicts == 1
    with ws.transaction() as tx:
        survivor = tx.merge_records(jane, twin)
    merged = ws.records.get(survivor)
    assert merged is not None and sorted(merged.tables) == [C, A]
    for outcome in preview.fields:
        assert merged.values.get(outcome.field) == outcome.result
    [conflict] = ws.conflicts.open()
    assert conflict.field_name == "Email"


def test_refusals_change_nothing(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane, twin = _twins(ws)
    with pytest.raises(ValidationError, match="already one record"):
        ws.merges.preview(jane, jane)
    ws.delete_record(twin)
    with pytest.raises(NotFoundError, match="second record"):
        ws.merges.preview(jane, twin)


def test_undo_of_a_merge_brings_the_second_record_back_as_it_was(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane, twin = _twins(ws)
    with ws.transaction() as tx:
        survivor = tx.merge_records(jane, twin)
    result = ws.undo()
    assert result.done
    contacts = ws.records.all(C)
    assert len(contacts) == 2
    other = next(r for r in contacts if r.id != survivor)
    kept = ws.records.get(survivor)
    assert kept is not None
    # each record shows what it had again; the second is back in both its tables
    absorbed_email = "jane@new.example" if survivor == jane else "jane@old.example"
    assert kept.get("email") != absorbed_email and other.get("email") == absorbed_email
    assert sorted(other.tables) == sorted([C, A]) if survivor == jane else sorted(kept.tables) == sorted([C, A])
    assert ws.conflicts.open() == []
    assert ws.merges.exceptions()  # the pair is never proposed again
    assert ws.redo().done and len(ws.records.all(C)) == 1


def test_a_split_can_leave_both_records_in_one_table(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane, twin = _twins(ws)
    with ws.transaction() as tx:
        survivor = tx.merge_records(jane, twin)
    with ws.transaction() as tx:
        new = tx.split_record(survivor, tables=[A], also_in=[C], copy=[f"{C}.name"])
    assert ws.records.get(new).tables == sorted([C, A]) or set(ws.records.get(new).tables) == {C, A}
    assert ws.records.get(survivor).tables == [C]
    with pytest.raises(ValidationError, match="either moves"), ws.transaction() as tx:
        tx.split_record(survivor, tables=[C], also_in=[C])
    assert ws.undo().done and len(ws.records.all(C)) == 1


def test_merging_a_split_pair_again_keeps_every_table(peer_factory) -> None:
    """A split detaches a table here and attaches it there at one moment: merging the two again keeps it."""
    ws = peer_factory("Alice").ws
    jane, twin = _twins(ws)
    with ws.transaction() as tx:
        survivor = tx.merge_records(jane, twin)
    with ws.transaction() as tx:
        new = tx.split_record(survivor, tables=[A], also_in=[C])
    assert ws.records.get(survivor).tables == [C]
    with ws.transaction() as tx:
        tx.merge_records(survivor, new)
    assert sorted(ws.records.get(survivor).tables) == sorted([C, A])
    before = ws.state_hash()
    ws.rebuild()
    assert ws.state_hash() == before
