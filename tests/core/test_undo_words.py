"""What undo and redo say they did, in a stage manager's words, and where it was (the app shows it)."""

from __future__ import annotations

CONTACTS = "contacts.Contacts"
CUES = "lighting.LightingCues"


def test_a_field_edit_names_the_record_the_field_and_the_value_it_goes_back_to(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record(CUES, {"cue_number": "17A", "label": "Preset"})
    ws.set_field(cue, f"{CUES}.label", "Sunset build")
    undone = ws.undo()
    assert undone.message == 'Undid: Cue 17A\'s Label, back to "Preset"'
    assert (undone.table, undone.record, undone.field) == (CUES, cue, f"{CUES}.label")
    assert ws.redo().message == 'Redid: Cue 17A\'s Label, now "Sunset build"'
    assert ws.undo().message == 'Undid: Cue 17A\'s Label, back to "Preset"'  # the redo, undone again


def test_a_new_record_a_cleared_field_a_delete_and_a_block(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "phone": "555-0101"})
    ws.set_field(jane, f"{CONTACTS}.phone", None)
    assert ws.undo().message == 'Undid: Jane Doe\'s Phone, back to "555-0101"'
    assert ws.redo().message == "Redid: Jane Doe's Phone, now empty"
    ws.undo()
    created = ws.undo()
    assert created.message == "Undid: adding Jane Doe to Contacts" and ws.records.get(jane) is None
    assert (created.table, created.record) == (CONTACTS, jane)
    assert ws.redo().message == "Redid: adding Jane Doe to Contacts" and ws.records.get(jane) is not None
    ws.delete_record(jane)
    assert ws.undo().message == "Undid: deleting Jane Doe" and ws.records.get(jane) is not None
    with ws.transaction() as tx:  # what a paste or a fill writes: one change over several rows
        ann = tx.create_record(CONTACTS, {"name": "Ann"})
        tx.set_field(jane, f"{CONTACTS}.role", "Stage manager")
    assert ws.undo().message == "Undid: adding Ann to Contacts"
    ws.redo()
    with ws.transaction() as tx:
        for name in ("Ben", "Cas", "Dee"):
            tx.create_record(CONTACTS, {"name": name})
    assert ws.undo().message == "Undid: 3 new rows in Contacts"
    with ws.transaction() as tx:
        tx.description = "2 pasted rows in Contacts"  # the app names what the person did
        tx.set_field(jane, f"{CONTACTS}.role", "Director")
        tx.set_field(ann, f"{CONTACTS}.role", "Director")
    pasted = ws.undo()
    assert pasted.message == "Undid: 2 pasted rows in Contacts" and pasted.record == jane
    assert ws.redo().message == "Redid: 2 pasted rows in Contacts"
    with ws.transaction() as tx:  # the same without words from the app
        tx.set_field(jane, f"{CONTACTS}.role", "Stage manager")
        tx.set_field(ann, f"{CONTACTS}.role", "Stage manager")
    assert ws.undo().message == "Undid: changes to 2 rows in Contacts"
    with ws.transaction() as tx:  # a form saving two fields of one record
        tx.set_field(jane, f"{CONTACTS}.phone", "555-0102")
        tx.set_field(jane, f"{CONTACTS}.email", "jane@hamlet.example")
    assert ws.undo().message == "Undid: Jane Doe's Phone and Email"
