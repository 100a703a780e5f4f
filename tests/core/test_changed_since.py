"""`ws.records.changed_since(mark)`: the records that ops stored after a mark are about, so a grid
re-reads those rows instead of all of them after an edit (docs/benchmarks.md, session 12, touch12).
It must name every record whose row can have changed (rules' writes and received bundles included),
or say it does not know (None), never leave one out."""

from __future__ import annotations

from helpers import sync

CONTACTS = "contacts.Contacts"
NAME = f"{CONTACTS}.name"
PHONE = f"{CONTACTS}.phone"
ATTENDEE = "schedule.Attendees.name"


def test_a_field_write_names_its_record_only(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    ids = [ws.create_record(CONTACTS, {"name": f"Person {i}"}) for i in range(20)]
    mark = ws.records.mark()
    assert ws.records.changed_since(mark).records == ()
    ws.set_field(ids[7], PHONE, "555-0107")
    found = ws.records.changed_since(mark)
    assert found is not None
    assert found.records == (ids[7],) and not found.membership
    assert found.mark == ws.records.mark() > mark
    assert ws.records.changed_since(found.mark).records == ()


def test_a_new_or_deleted_record_says_the_table_may_have_changed(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    first = ws.create_record(CONTACTS, {"name": "Jane"})
    mark = ws.records.mark()
    second = ws.create_record(CONTACTS, {"name": "Tom"})
    ws.delete_record(first)
    found = ws.records.changed_since(mark)
    assert found is not None and found.membership
    assert set(found.records) == {first, second}


def test_a_bundle_from_a_peer_names_its_records(peer_factory) -> None:
    alice = peer_factory("Alice")
    jane = alice.ws.create_record(CONTACTS, {"name": "Jane"})
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    mark = alice.ws.records.mark()
    bob.ws.set_field(jane, PHONE, "555-0100")
    sync(alice, bob)
    found = alice.ws.records.changed_since(mark)
    assert found is not None and found.records == (jane,)


def test_merges_references_and_many_ops_are_unknown(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    a = ws.create_record(CONTACTS, {"name": "Jane"})
    b = ws.create_record(CONTACTS, {"name": "Jane D"})
    mark = ws.records.mark()
    with ws.transaction() as tx:
        tx.merge_records(a, b)  # the merged-away row leaves, the survivor's values change
    assert ws.records.changed_since(mark) is None

    mark = ws.records.mark()
    for i in range(5):
        ws.set_field(a, PHONE, f"555-010{i}")
    assert ws.records.changed_since(mark, limit=4) is None  # more ops than asked for: read all
    assert ws.records.changed_since(mark, limit=5) is not None

    guest = ws.create_record("schedule.Attendees", {"name": "Front row guest"})
    with ws.transaction() as tx:
        tx.set_reference(guest, ATTENDEE, a, NAME)  # a new reference can show anything anywhere
    assert ws.records.changed_since(mark) is None


def test_a_write_names_the_records_that_show_it_through_references_chains_included(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane"})
    others = [ws.create_record(CONTACTS, {"name": f"Person {i}"}) for i in range(5)]
    guest = ws.create_record("schedule.Attendees", {"name": "Front row guest"})
    plus_one = ws.create_record("schedule.Attendees", {"name": "Plus one"})
    mark = ws.records.mark()
    assert ws.records.changed_since(mark).records == ()  # (what it knows of references is as of now)
    with ws.transaction() as tx:
        tx.set_reference(guest, ATTENDEE, jane, NAME)
        tx.set_reference(plus_one, ATTENDEE, guest, ATTENDEE)  # a chain: Jane -> guest -> plus one
    mark = ws.records.mark()
    ws.set_field(jane, NAME, "Jane Doe")  # shows in both attendees' rows, which the op does not name
    assert ws.records.get(plus_one).get("name") == "Jane Doe"
    found = ws.records.changed_since(mark)
    assert found is not None and set(found.records) == {jane, guest, plus_one}
    ws.set_field(others[2], PHONE, "555-0102")  # nobody shows this one
    assert ws.records.changed_since(found.mark).records == (others[2],)
    ws.delete_record(jane)  # both now say why they show nothing
    assert set(ws.records.changed_since(found.mark).records) == {others[2], jane, guest, plus_one}
