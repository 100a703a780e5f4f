"""Queries run in the workspace's context: canonical state, or canonical state plus the one active
overlay (spec: query-language.md, Query Execution Context). Never another overlay's changes."""

from __future__ import annotations

import pytest
from test_query_theatre import PROPS

from openprod.query import compile_query, matches, run_query, run_query_python

ACTIVE = 'table == "contacts" AND status == "active"'


def both(ws, query: str) -> list[str]:
    got = run_query(ws, query)
    assert run_query_python(ws, query) == got
    return got


@pytest.fixture
def ws(peer_factory):
    return peer_factory("Alice", on_disk=False).ws


def test_the_specs_merge_example(ws) -> None:
    a = ws.create_record("contacts.Contacts", {"name": "A", "status": "inactive"})
    b = ws.create_record("contacts.Contacts", {"name": "B", "status": "active"})
    assert both(ws, ACTIVE) == [b]
    overlay = ws.staging.create("Try")
    ws.set_field(a, "contacts.Contacts.status", "active")
    c = ws.create_record("contacts.Contacts", {"name": "C", "status": "active"})
    ws.delete_record(b)
    assert both(ws, ACTIVE) == [a, c]  # A modified, B deleted, C created: all in the overlay
    assert both(ws, 'table == "contacts"') == [a, c]
    ws.staging.stash(ws.staging.active)
    assert both(ws, ACTIVE) == [b]  # canonical again
    assert both(ws, 'name == "C"') == []
    ws.staging.activate(overlay)
    assert both(ws, ACTIVE) == [a, c]
    ws.staging.discard(overlay)
    assert both(ws, ACTIVE) == [b]


def test_a_query_never_sees_a_stashed_overlay(ws) -> None:
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 1, "label": "Base"})
    first = ws.staging.create("A")
    ws.set_field(cue, "lighting.LightingCues.label", "from A")
    ws.staging.create("B")  # activating B stashes A
    assert both(ws, 'label == "from A"') == []
    assert both(ws, 'label == "Base"') == [cue]
    ws.set_field(cue, "lighting.LightingCues.label", "from B")
    assert both(ws, 'label == "from B"') == [cue]
    ws.staging.activate(first)
    assert both(ws, 'label == "from B"') == []
    assert both(ws, 'label == "from A"') == [cue]
    ws.staging.stash(ws.staging.active)
    assert both(ws, 'label LIKE "from%"') == []


def test_memberships_and_edges_staged_in_the_overlay(ws) -> None:
    act1 = ws.create_record("lighting.CueLists", {"name": "Act 1"})
    cue = ws.create_record("lighting.LightingCues", {"cue_number": 11, "intensity": 80})
    ws.staging.create("Cue work")
    with ws.transaction() as tx:
        tx.add_to_table(cue, "sm.SMCues", {"call_text": "GO"})
        tx.create_ordered_edge("lighting.in_cue_list", cue, act1, properties={"call_text": "GO"})
    assert both(ws, 'table == "sm.SMCues" AND call_text == "GO"') == [cue]
    assert both(ws, 'in_cue_list->target.name == "Act 1" AND intensity > 50') == [cue]
    assert both(ws, 'in_cue_list.call_text == "GO"') == [cue]
    assert both(ws, "<-in_cue_list exists") == [act1]
    assert matches(ws, cue, compile_query("sm.SMCues exists", ws.schema))
    ws.staging.stash(ws.staging.active)
    assert both(ws, 'table == "sm.SMCues"') == []
    assert both(ws, "in_cue_list exists") == []
    assert not matches(ws, cue, "sm.SMCues exists")


def test_deleting_in_the_overlay_hides_records_and_their_edges(ws) -> None:
    actor = ws.create_record("contacts.Contacts", {"name": "Romeo"})
    scene = ws.create_record("scenes.Scenes", {"title": "Balcony"})
    with ws.transaction() as tx:
        tx.create_edge("scenes.appears_in", actor, scene, {"character": "Romeo"})
    assert both(ws, "appears_in exists") == [actor]
    ws.staging.create("Cut the scene")
    ws.delete_record(scene)
    assert both(ws, "appears_in exists") == []
    assert both(ws, 'appears_in.character == "Romeo"') == []
    assert not matches(ws, scene, 'title == "Balcony"')
    ws.staging.stash(ws.staging.active)
    assert both(ws, "appears_in->target exists") == [actor]


def test_crdt_text_staged_in_the_overlay(ws) -> None:
    ws.adopt_module(PROPS)
    dagger = ws.create_record("props.Props", {"item": "Dagger"})
    with ws.transaction() as tx:
        tx.set_text(dagger, "props.Props.notes", "blunt")
    ws.staging.create("Notes")
    with ws.transaction() as tx:
        tx.set_text(dagger, "props.Props.notes", "sharp")
    assert both(ws, 'notes == "sharp"') == [dagger]
    assert both(ws, 'notes == "blunt"') == []
    ws.staging.stash(ws.staging.active)
    assert both(ws, 'notes == "sharp"') == []
    assert both(ws, 'notes == "blunt"') == [dagger]


def test_committing_makes_the_overlay_canonical(ws) -> None:
    jane = ws.create_record("contacts.Contacts", {"name": "Jane", "status": "pending"})
    ws.staging.create("Approve")
    ws.set_field(jane, "contacts.Contacts.status", "active")
    ws.commit_overlay(ws.staging.active)
    assert ws.staging.active is None
    assert both(ws, ACTIVE) == [jane]


def test_queries_change_nothing(ws) -> None:
    jane = ws.create_record("contacts.Contacts", {"name": "Jane", "status": "active"})
    before = ws.state_hash()
    bundles = ws.oplog.size().bundles
    ws.staging.create("Look only")
    ws.set_field(jane, "contacts.Contacts.role", "SM")
    staged = ws.conn.execute("SELECT count(*) FROM overlay_ops").fetchone()[0]
    for query in (ACTIVE, 'role MATCHES "S.*"', "NOT appears_in exists", 'name LIKE "J%"'):
        both(ws, query)
        matches(ws, jane, query)
    assert ws.conn.execute("SELECT count(*) FROM overlay_ops").fetchone()[0] == staged
    ws.staging.stash(ws.staging.active)
    assert ws.state_hash() == before
    assert ws.oplog.size().bundles == bundles


def test_merged_records_answer_for_their_absorbed_ids(ws) -> None:
    a = ws.create_record("contacts.Contacts", {"name": "Jane Doe", "department": "cast"})
    b = ws.create_record("schedule.Attendees", {"name": "J. Doe", "call_time": "2026-09-22T09:30:00Z"})
    with ws.transaction() as tx:
        survivor = tx.merge_records(a, b)
    absorbed = b if survivor == a else a
    assert both(ws, 'table == "contacts" AND table == "schedule.Attendees"') == [survivor]
    assert matches(ws, absorbed, "call_time exists")  # the absorbed id stands for the survivor
    got = run_query(ws, 'table == "contacts" AND department == $source.department', source=absorbed)
    assert got == [survivor]
