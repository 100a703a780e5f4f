"""Records, fields and validation through the public Workspace API."""

from __future__ import annotations

import pytest

from openprod import NotFoundError, ValidationError

CONTACTS = "contacts.Contacts"


def count_bundles(peer) -> int:
    return peer.ws.oplog.size().bundles


def test_create_read_update_clear(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    rid = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@example.org"})
    rec = ws.records.get(rid)
    assert rec is not None and rec.get("name") == "Jane Doe" and rec.tables == [CONTACTS]
    ws.set_field(rid, "contacts.Contacts.phone", "555-0101")
    ws.clear_field(rid, "contacts.Contacts.email")
    rec = ws.records.get(rid)
    assert rec.get("phone") == "555-0101" and rec.get("email") is None
    assert [r.id for r in ws.records.all(CONTACTS)] == [rid]


def test_one_transaction_is_one_bundle(peer_factory) -> None:
    alice = peer_factory("Alice")
    before = count_bundles(alice)
    with alice.ws.transaction() as tx:
        a = tx.create_record(CONTACTS, {"name": "A"})
        tx.create_record(CONTACTS, {"name": "B"})
        tx.set_field(a, "contacts.Contacts.role", "Stage Manager")
    assert count_bundles(alice) == before + 1
    assert sorted(r.get("name") for r in alice.ws.records.all(CONTACTS)) == ["A", "B"]


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda ws, rid: ws.set_field(rid, "contacts.Nope.name", "x"), "unknown field"),
        (lambda ws, rid: ws.set_field(rid, "contacts.Contacts.shoe_size", 9), "unknown field"),
        (lambda ws, rid: ws.create_record("nope.Table", {"name": "x"}), "unknown table"),
        (lambda ws, rid: ws.set_field(rid, "contacts.Contacts.name", 42), "expected text"),
        (lambda ws, rid: ws.set_field("01900000-0000-7000-8000-000000000000", "contacts.Contacts.name", "x"),
         "does not exist"),
        (lambda ws, rid: ws.create_record(CONTACTS, {"role": "no name"}), "required"),
        (lambda ws, rid: ws.clear_field(rid, "contacts.Contacts.name"), "required"),
        (lambda ws, rid: ws.set_field(rid, "schedule.Events.title", "x"), "not in table"),
        (lambda ws, rid: ws.create_record("schedule.Events", {"title": "T", "starts_at": "tomorrow"}), "ISO 8601"),
        (lambda ws, rid: ws.create_record("lighting.LightingCues", {"cue_number": True}), "expected a cue number"),
            (lambda ws, rid: ws.create_record("lighting.LightingCues", {"cue_number": "Jane Doe"}), "not a cue number"),
            (lambda ws, rid: ws.create_record("lighting.LightingCues", {"fade_time": True}), "expected a number"),
        (lambda ws, rid: ws.set_field(rid, "not-a-field", 1), "module.Table.field"),
    ],
)
def test_bad_writes_are_clear_errors_and_write_nothing(peer_factory, write, message) -> None:
    alice = peer_factory("Alice")
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane"})
    before_hash, before_count = alice.ws.state_hash(), count_bundles(alice)
    with pytest.raises((ValidationError, NotFoundError), match=message):
        write(alice.ws, rid)
    assert alice.ws.state_hash() == before_hash
    assert count_bundles(alice) == before_count


def test_write_to_deleted_record_is_refused_and_a_failed_transaction_leaves_nothing(peer_factory) -> None:
    alice = peer_factory("Alice")
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane"})
    alice.ws.delete_record(rid)
    assert alice.ws.records.get(rid) is None
    with pytest.raises(ValidationError, match="deleted"):
        alice.ws.set_field(rid, "contacts.Contacts.name", "x")
    before = alice.ws.state_hash()
    with pytest.raises(ValidationError), alice.ws.transaction() as tx:
        tx.create_record(CONTACTS, {"name": "kept?"})
        tx.set_field(rid, "contacts.Contacts.name", "boom")
    assert alice.ws.state_hash() == before
    assert [r.get("name") for r in alice.ws.records.all(CONTACTS)] == []


def test_numbers_and_timestamps_are_normalised(peer_factory) -> None:
    alice = peer_factory("Alice")
    cue = alice.ws.create_record("lighting.LightingCues", {"cue_number": 11.0, "fade_time": 2.0})
    assert alice.ws.records.get(cue).values["lighting.LightingCues.cue_number"] == "11"  # a cue number is text
    assert alice.ws.records.get(cue).values["lighting.LightingCues.fade_time"] == 2
    assert isinstance(alice.ws.records.get(cue).values["lighting.LightingCues.fade_time"], int)
    assert alice.ws.records.get(cue).get("is_called") is True  # default
    ev = alice.ws.create_record("schedule.Events", {"title": "Tech", "starts_at": "2026-03-01T18:00:00+01:00"})
    assert alice.ws.records.get(ev).get("starts_at") == "2026-03-01T17:00:00Z"
    assert alice.ws.records.get(ev).get("kind") == "rehearsal"


def test_table_membership_defaults_preserve_and_discard(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 11, "label": "Sunrise"})
    with ws.transaction() as tx:
        tx.add_to_table(cue, "sm.SMCues", {"call_text": "GO"})
    assert ws.records.get(cue).tables == ["lighting.LightingCues", "sm.SMCues"]
    assert ws.records.get(cue, "sm.SMCues").get("call_text") == "GO"
    with pytest.raises(ValidationError, match="already in table"), ws.transaction() as tx:
        tx.add_to_table(cue, "sm.SMCues")
    with ws.transaction() as tx:
        tx.remove_from_table(cue, "sm.SMCues")
    assert ws.records.get(cue, "sm.SMCues") is None
    with ws.transaction() as tx:  # preserved: values come back
        tx.add_to_table(cue, "sm.SMCues")
    assert ws.records.get(cue, "sm.SMCues").get("call_text") == "GO"
    with ws.transaction() as tx:
        tx.remove_from_table(cue, "sm.SMCues", discard=True)
    with ws.transaction() as tx:
        tx.add_to_table(cue, "sm.SMCues")
    assert ws.records.get(cue, "sm.SMCues").get("call_text") is None
    assert ws.records.get(cue).get("label") == "Sunrise"  # other table untouched


def test_edges_cascade_on_delete_and_restore(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    actor = ws.create_record(CONTACTS, {"name": "Romeo Actor"})
    scene = ws.create_record("scenes.Scenes", {"title": "Balcony"})
    with ws.transaction() as tx:
        edge = tx.create_edge("scenes.appears_in", actor, scene, {"character": "Romeo"})
    [row] = ws.records.edges_to(scene, "scenes.appears_in")
    assert row.properties == {"character": "Romeo"} and row.source == actor and row.id == edge
    with pytest.raises(ValidationError, match="must be a record in Scenes"), ws.transaction() as tx:
        tx.create_edge("scenes.appears_in", scene, actor)
    ws.delete_record(actor)
    assert ws.records.edges_to(scene) == []
    from openprod import decode_bundle
    from openprod.ids import to_str
    [delete] = [op for b in ws.oplog.bundles() for op in decode_bundle(b.wire).ops if op.TYPE == "DeleteEntity"]
    assert [to_str(e) for e in delete.cascade_edges] == [edge]  # the cascade is listed in the op
    with ws.transaction() as tx:
        tx.restore_record(actor)
        tx.restore_edge(edge)
    assert [e.properties["character"] for e in ws.records.edges_to(scene)] == ["Romeo"]


def test_ordered_edges_insert_move_delete(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    cue_list = ws.create_record("lighting.CueLists", {"name": "Act 1"})
    cues = [ws.create_record("lighting.LightingCues", {"cue_number": n}) for n in (1, 2, 3)]
    with ws.transaction() as tx:
        e1 = tx.create_ordered_edge("lighting.in_cue_list", cues[0], cue_list)
        e3 = tx.create_ordered_edge("lighting.in_cue_list", cues[2], cue_list)
        e2 = tx.create_ordered_edge("lighting.in_cue_list", cues[1], cue_list, after=e1, properties={"call_text": "GO"})

    def order() -> list[str]:
        return [e.id for e in ws.records.ordered_list(cue_list, "lighting.in_cue_list")]

    assert order() == [e1, e2, e3]
    with ws.transaction() as tx:
        tx.move_ordered_edge(e3, before=e1)
    assert order() == [e3, e1, e2]
    with ws.transaction() as tx:
        tx.delete_edge(e1)
    assert order() == [e3, e2]
    with pytest.raises(ValidationError, match="ordered"), ws.transaction() as tx:
        tx.create_edge("lighting.in_cue_list", cues[0], cue_list)


def test_reopening_a_file_gives_identical_state(peer_factory) -> None:
    from helpers import make_env
    from openprod import Workspace, connect

    alice = peer_factory("Alice")
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane"})
    alice.ws.set_field(rid, "contacts.Contacts.email", "j@x")
    before = alice.ws.state_hash()
    alice.ws.conn.close()
    import random
    reopened = Workspace.open(connect(alice.path), make_env(alice.identity, alice.env.now_ms, random.Random(9)))
    assert reopened.state_hash() == before
    assert reopened.records.get(rid).get("email") == "j@x"
    reopened.set_field(rid, "contacts.Contacts.email", "new@x")  # clock resumes after stored bundles
    assert reopened.records.get(rid).get("email") == "new@x"


def test_history_says_who_when_old_new(peer_factory) -> None:
    from helpers import sync

    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    sync(alice, bob)
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane", "phone": "1"})
    sync(alice, bob)
    bob.ws.set_field(rid, "contacts.Contacts.phone", "2")
    sync(alice, bob)
    alice.ws.clear_field(rid, "contacts.Contacts.phone")
    changes = alice.ws.history.field(rid, "contacts.Contacts.phone")
    assert [(c.display_name, c.old, c.new) for c in changes] == [("Alice", None, "1"), ("Bob", "1", "2"),
                                                                 ("Alice", "2", None)]
    assert changes[0].when.endswith("Z/" + changes[0].when.split("/")[-1])
    assert len(list(b.wire for b in alice.ws.oplog.bundles())) == len(list(b.wire for b in bob.ws.oplog.bundles())) + 1


def test_a_file_from_an_older_layout_rebuilds_its_derived_state(peer_factory) -> None:
    import random

    from helpers import make_env
    from openprod import Workspace, connect

    alice = peer_factory("Alice")
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane"})
    before = alice.ws.state_hash()
    alice.ws.conn.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    alice.ws.conn.execute("DELETE FROM fields")  # derived state lost or stale in the old layout
    alice.ws.conn.close()
    reopened = Workspace.open(connect(alice.path), make_env(alice.identity, alice.env.now_ms, random.Random(3)))
    assert reopened.state_hash() == before and reopened.records.get(rid).get("name") == "Jane"
