"""Rules of data-model.md and FUNCTIONALITY.md the core must follow, each tested where a team would
feel it: a record removed from its last table is gone (undo brings it back), a record id is never
silently reused, unlinking tables gives standalone records, match rules match exactly, and links
made twice while apart are all kept and shown."""

from __future__ import annotations

import pytest

from helpers import sync
from openprod import LocalError, ValidationError
from openprod import operations as o
from openprod.bundle import build

CONTACTS, ATTENDEES = "contacts.Contacts", "schedule.Attendees"
CONTACT_NAME, ATTENDEE_NAME = "contacts.Contacts.name", "schedule.Attendees.name"


def test_removing_a_record_from_its_last_table_deletes_it_and_undo_brings_it_back(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "phone": "555-0101"})
    scene = ws.create_record("scenes.Scenes", {"title": "Balcony"})
    with ws.transaction() as tx:
        tx.add_to_table(jane, ATTENDEES, {"name": "Jane Doe"})
        edge = tx.create_edge("scenes.appears_in", jane, scene, {"character": "Juliet"})
    with ws.transaction() as tx:
        tx.remove_from_table(jane, ATTENDEES)  # still a contact: only leaves Attendees
    assert ws.records.get(jane).tables == [CONTACTS]
    with ws.transaction() as tx:
        tx.remove_from_table(jane, CONTACTS)  # her last table: the record is deleted, links with it
    assert ws.records.get(jane) is None and ws.records.edges_to(scene) == [] and ws.records.all(CONTACTS) == []
    sync(alice, bob)
    assert bob.ws.records.get(jane) is None and bob.ws.state_hash() == ws.state_hash()
    assert ws.undo().done
    back = ws.records.get(jane)
    assert back is not None and back.tables == [CONTACTS] and back.get("phone") == "555-0101"
    assert [e.id for e in ws.records.edges_to(scene)] == [edge]
    sync(alice, bob)
    assert bob.ws.records.get(jane).get("phone") == "555-0101" and bob.ws.state_hash() == ws.state_hash()


def _signed(peer, ops: list[o.Op]) -> bytes:
    unsigned = build(workspace=peer.ws.workspace_id, bundle_id=peer.ws.ids.new(), actor=peer.ws.actor_id,
                     device=peer.ws.device,
                     kind="edit", clock=peer.ws.vector_clock, ops=ops)
    return unsigned.seal(peer.env.signer.sign(unsigned.signing_bytes())).wire()


def test_creating_a_record_under_an_id_already_created_is_refused_everywhere(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    carol = peer_factory("Carol", workspace_from=alice)
    jane = alice.ws.create_record(CONTACTS, {"name": "Jane Doe"})
    sync(alice, bob)
    sync(alice, carol)
    with pytest.raises(ValidationError, match="already in use"), bob.ws.transaction() as tx:
        tx.create_record(CONTACTS, {"name": "Not Jane"}, record_id=jane)  # refused locally
    # A bundle that does it anyway (Bob had seen Alice's record): refused by every peer, with why
    entity = bytes.fromhex(jane.replace("-", ""))
    wire = _signed(bob, [o.make_op(o.CreateEntity, bob.ws.ids.new(), bob.ws.clock.tick(), entity=entity,
                                   initial_table=CONTACTS),
                         o.make_op(o.SetField, bob.ws.ids.new(), bob.ws.clock.tick(), entity=entity,
                                   field=CONTACT_NAME, value="Not Jane")])
    for peer in (alice, carol):
        before = peer.ws.state_hash()
        result = peer.ws.ingest(wire)
        assert (result.status, result.reason) == ("rejected", "id_in_use")
        assert "created already by Alice" in result.detail and "needs a new id" in result.detail
        assert peer.ws.state_hash() == before and peer.ws.records.get(jane).get("name") == "Jane Doe"
        assert peer.ws.oplog.quarantined()[-1].reason == "id_in_use"


def _wire(peer) -> bytes:
    return peer.ws.last_receipt.wire


def _converged(wires: list[bytes], orders: list[list[int]], peers: list) -> str:
    """Each of `peers` gets `wires` in its own order (one call per wire, or the whole batch in one
    call for the last): all end with one state hash, which a rebuild of each reproduces."""
    for peer, order in zip(peers[:-1], orders[:-1], strict=True):
        assert [peer.ws.ingest(wires[i]).status for i in order] == ["applied"] * len(order)
    assert [r.status for r in peers[-1].ws.ingest_many([wires[i] for i in orders[-1]])] == ["applied"] * len(wires)
    hashes = {peer.ws.state_hash() for peer in peers}
    assert len(hashes) == 1
    for peer in peers:
        peer.ws.rebuild()
        assert peer.ws.state_hash() in hashes, f"{peer.name}: a rebuild derives another state"
    return hashes.pop()


def test_one_id_created_by_two_authors_who_had_not_seen_each_other_converges_in_any_order(peer_factory) -> None:
    """Only a crafted bundle does it (ids are UUIDv7), and neither creation can be refused alike on
    every peer, so both are kept as one record, the earlier creation (by ord) its creator. Its
    fields are registers like any other: two writes neither author had seen of each other
    conflict, whatever order the creations arrive in, and a rebuild derives the same."""
    alice = peer_factory("Alice")
    eve, cleo, dev, fay = (peer_factory(n, workspace_from=alice) for n in ("Eve", "Cleo", "Dev", "Fay"))
    for peer in (eve, cleo, dev, fay):
        sync(alice, peer)
    record = eve.ws.create_record(CONTACTS, {"name": "Eve's"})
    eves = _wire(eve)
    with alice.ws.transaction() as tx:  # Alice has not seen Eve's record
        tx.create_record(CONTACTS, {"name": "Alice's", "phone": "1"}, record_id=record)
    alices = _wire(alice)
    eve.ws.set_field(record, CONTACT_NAME, "Eve again")  # follows her creation, not Alice's
    again = _wire(eve)
    _converged([eves, alices, again], [[1, 0, 2], [0, 2, 1], [0, 1, 2]], [cleo, dev, fay])
    entity = bytes.fromhex(record.replace("-", ""))
    for peer in (cleo, dev, fay):
        assert peer.ws.records.get(record).get("phone") == "1"
        assert peer.ws.conn.execute("SELECT created_by FROM entities WHERE entity_id = ?",
                                    (entity,)).fetchone() == (eve.ws.actor_id,)
        [conflict] = peer.ws.conflicts.open()
        assert sorted(c.value for c in conflict.competitors) == ["Alice's", "Eve again"]


def test_a_write_to_a_record_before_any_creation_of_it_converges_in_any_order(peer_factory) -> None:
    """A crafted write to an id no one had created yet (Eve's), then Alice's creation of that id
    with the same field, neither having seen the other: a conflict in every order of arrival and
    in a rebuild (the creation's writes are no first writes where Eve's is stored already)."""
    alice = peer_factory("Alice")
    eve, cleo, dev, fay = (peer_factory(n, workspace_from=alice) for n in ("Eve", "Cleo", "Dev", "Fay"))
    for peer in (eve, cleo, dev, fay):
        sync(alice, peer)
    entity = eve.ws.ids.new()
    eves = _signed(eve, [o.make_op(o.SetField, eve.ws.ids.new(), eve.ws.clock.tick(), entity=entity,
                                   field=CONTACT_NAME, value="Eve's")])
    with alice.ws.transaction() as tx:
        record = tx.create_record(CONTACTS, {"name": "Alice's"}, record_id=entity)
    _converged([eves, _wire(alice)], [[0, 1], [1, 0], [0, 1]], [cleo, dev, fay])
    for peer in (cleo, dev, fay):
        [conflict] = peer.ws.conflicts.open()
        assert conflict.target == record and sorted(c.value for c in conflict.competitors) == ["Alice's", "Eve's"]


def test_a_creation_by_an_author_who_had_seen_one_is_refused_whichever_came_first(peer_factory) -> None:
    """Bob saw Alice's creation and creates the same id again (refused: id in use); Eve's creation
    of it, which no one had seen, is earlier by ord. Bob's is refused on every peer, also where
    Eve's arrived first and so is the stored creator."""
    alice = peer_factory("Alice")
    bob, eve, cleo, dev = (peer_factory(n, workspace_from=alice) for n in ("Bob", "Eve", "Cleo", "Dev"))
    for peer in (bob, eve, cleo, dev):
        sync(alice, peer)
    record = eve.ws.create_record(CONTACTS, {"name": "Eve's"})
    eves = _wire(eve)
    with alice.ws.transaction() as tx:
        tx.create_record(CONTACTS, {"name": "Alice's"}, record_id=record)
    alices = _wire(alice)
    sync(alice, bob)
    entity = bytes.fromhex(record.replace("-", ""))
    bobs = _signed(bob, [o.make_op(o.CreateEntity, bob.ws.ids.new(), bob.ws.clock.tick(), entity=entity,
                                   initial_table=CONTACTS)])
    assert [cleo.ws.ingest(wire).status for wire in (alices, bobs, eves)] == ["applied", "rejected", "applied"]
    assert [dev.ws.ingest(wire).status for wire in (eves, alices, bobs)] == ["applied", "applied", "rejected"]
    for peer in (cleo, dev):
        [refused] = peer.ws.oplog.quarantined()
        assert refused.reason == "id_in_use" and "created already by Alice" in refused.detail
    assert cleo.ws.state_hash() == dev.ws.state_hash()


def test_unlinking_tables_detaches_shared_records_into_standalone_ones_and_undo_rejoins_them(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@x"})
    kim = ws.create_record(CONTACTS, {"name": "Kim"})  # a contact only: untouched
    with ws.transaction() as tx:
        tx.add_to_table(jane, ATTENDEES, {"name": "Jane Doe", "call_time": "2026-03-01T18:00:00Z"})
        tx.link_tables(CONTACTS, ATTENDEES)
        tx.confirm_field_mapping(CONTACT_NAME, ATTENDEE_NAME)
    ws.set_field(jane, ATTENDEE_NAME, "Jane Q. Doe")  # one semantic field: both tables show it
    with ws.transaction() as tx:
        [copy] = tx.unlink_tables(CONTACTS, ATTENDEES)
    # the shared record stays a contact, showing what it showed; a new standalone attendee holds a copy
    assert ws.records.get(jane).tables == [CONTACTS] and ws.records.get(jane).get("name") == "Jane Q. Doe"
    assert ws.records.get(jane).get("email") == "jane@x"
    attendee = ws.records.get(copy)
    assert attendee.tables == [ATTENDEES] and attendee.get("name") == "Jane Q. Doe"
    assert attendee.get("call_time") == "2026-03-01T18:00:00Z"
    assert [r.id for r in ws.records.all(ATTENDEES)] == [copy] and ws.records.get(kim).tables == [CONTACTS]
    ws.set_field(jane, CONTACT_NAME, "Jane")  # independent records now
    assert ws.records.get(copy).get("name") == "Jane Q. Doe"
    sync(alice, bob)
    assert bob.ws.state_hash() == ws.state_hash() and bob.ws.records.get(copy).get("name") == "Jane Q. Doe"
    assert ws.undo().done and ws.undo().done  # the rename, then the unlink
    assert ws.records.get(copy) is None and ws.records.get(jane).tables == [CONTACTS, ATTENDEES]
    assert ws.records.get(jane, ATTENDEES).get("call_time") == "2026-03-01T18:00:00Z"
    ws.set_field(jane, CONTACT_NAME, "Jane Doe-Smith")  # one semantic field again
    assert ws.records.get(jane, ATTENDEES).get("name") == "Jane Doe-Smith"
    sync(alice, bob)
    assert bob.ws.state_hash() == ws.state_hash()


def test_unlinking_with_discard_drops_the_target_table_values(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe"})
    with ws.transaction() as tx:
        tx.add_to_table(jane, ATTENDEES, {"name": "Jane Doe", "call_time": "2026-03-01T18:00:00Z"})
        tx.confirm_field_mapping(CONTACT_NAME, ATTENDEE_NAME)
    with ws.transaction() as tx:
        assert tx.unlink_tables(CONTACTS, ATTENDEES, data_handling="discard") == []
    assert ws.records.get(jane).tables == [CONTACTS] and ws.records.get(jane).get("name") == "Jane Doe"
    assert ws.records.all(ATTENDEES) == []
    with pytest.raises(ValidationError, match="copy"), ws.transaction() as tx:
        tx.unlink_tables(CONTACTS, ATTENDEES, data_handling="merge")


def test_match_rules_match_exactly_unless_the_rule_says_to_ignore_case_or_spaces(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with ws.transaction() as tx:
        exact = tx.create_rule("Same person", kind="match", when='table == "contacts.Contacts"',
                               match_on=["Contacts.name", "Contacts.email"])
        a = tx.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@x"})
        b = tx.create_record(CONTACTS, {"name": "jane  doe ", "email": "jane@x"})
        tx.create_record(CONTACTS, {"name": "J. Doe", "email": "jane@x"})
    assert ws.rules.proposals() == []  # "Jane Doe" is not "jane  doe ": the system never guesses
    c = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@x"})
    [proposal] = ws.rules.proposals()
    assert set(proposal.records) == {a, c} and proposal.rule == exact
    with ws.transaction() as tx:  # the same rule told to ignore case and spaces
        tx.create_rule("Same person", kind="match", when='table == "contacts.Contacts"',
                       match_on=["Contacts.name", "Contacts.email"], rule_id=exact, normalize=["case", "spaces"])
    [proposal] = ws.rules.proposals()
    assert set(proposal.records) == {a, b, c}  # "J. Doe" still differs
    [rule] = ws.rules.list()
    assert rule.id == exact and rule.normalize == ("case", "spaces")
    with pytest.raises(LocalError, match="can ignore case and spaces, not initials"), ws.transaction() as tx:
        tx.create_rule("Sloppy", kind="match", when='table == "contacts.Contacts"', match_on=["name"],
                       normalize=["initials"])


def test_links_made_twice_while_apart_are_all_kept_and_listed_as_duplicates(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    jane = alice.ws.create_record(CONTACTS, {"name": "Jane Doe"})
    scene = alice.ws.create_record("scenes.Scenes", {"title": "Balcony"})
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        mine = tx.create_edge("scenes.appears_in", jane, scene, {"character": "Juliet"})
    with bob.ws.transaction() as tx:
        theirs = tx.create_edge("scenes.appears_in", jane, scene, {"character": "Juliet (understudy)"})
    sync(alice, bob)
    for peer in (alice, bob):
        assert {e.id for e in peer.ws.records.edges_to(scene)} == {mine, theirs}  # nothing merged away
        [group] = peer.ws.records.duplicate_edges()
        assert {e.id for e in group} == {mine, theirs}
    assert alice.ws.state_hash() == bob.ws.state_hash()
    with bob.ws.transaction() as tx:  # a person removes the extra one
        tx.delete_edge(theirs)
    sync(alice, bob)
    assert alice.ws.records.duplicate_edges() == [] and [e.id for e in alice.ws.records.edges_to(scene)] == [mine]
    with alice.ws.transaction() as tx:  # a second link made knowingly is deliberate, not a duplicate
        tx.create_edge("scenes.appears_in", jane, scene, {"character": "Nurse (doubling)"})
    assert len(alice.ws.records.edges_to(scene)) == 2 and alice.ws.records.duplicate_edges() == []
