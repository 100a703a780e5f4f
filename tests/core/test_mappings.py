"""Table links and field mappings: suggestions stay inactive until confirmed (unlinking: test_data_model_rules)."""

from __future__ import annotations

import pytest

from openprod import ValidationError

CONTACT_NAME = "contacts.Contacts.name"
ATTENDEE_NAME = "schedule.Attendees.name"


def jane_in_both(ws) -> str:
    rid = ws.create_record("contacts.Contacts", {"name": "Jane Doe", "email": "jane@x"})
    with ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "J. Doe"})
    return rid


def test_suggestions_are_inactive_until_confirmed(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    rid = jane_in_both(ws)
    with ws.transaction() as tx:
        assert ("contacts.Contacts.email", "schedule.Attendees.email", "email") in \
            tx.suggested_mappings("contacts.Contacts", "schedule.Attendees")
        tx.link_tables("contacts.Contacts", "schedule.Attendees")
    assert ws.records.get(rid, "contacts.Contacts").get("name") == "Jane Doe"
    assert ws.records.get(rid, "schedule.Attendees").get("name") == "J. Doe"  # still separate
    statuses = dict(((a, b), s) for a, b, s in ws.conn.execute(
        "SELECT field_a, field_b, status FROM field_mappings"))
    assert statuses[(CONTACT_NAME, ATTENDEE_NAME)] == "suggested"
    with ws.transaction() as tx:
        tx.confirm_field_mapping(CONTACT_NAME, ATTENDEE_NAME)
    # one semantic field now: both tables show the latest write
    assert ws.records.get(rid, "contacts.Contacts").get("name") == "J. Doe"
    ws.set_field(rid, CONTACT_NAME, "Jane Doe")
    assert ws.records.get(rid, "schedule.Attendees").get("name") == "Jane Doe"
    assert [c.new for c in ws.history.field(rid, ATTENDEE_NAME)] == ["Jane Doe", "J. Doe", "Jane Doe"]


def test_mapping_fields_of_different_types_is_refused(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with pytest.raises(ValidationError, match="different types"), ws.transaction() as tx:
        tx.confirm_field_mapping("contacts.Contacts.name", "schedule.Attendees.call_time")


