"""Reads through an active overlay are complete, show canonical conflicts, and never lock others out."""

from __future__ import annotations

import sqlite3

from helpers import sync

CONTACTS = "contacts.Contacts"
STATUS = "contacts.Contacts.status"


def test_every_public_read_sees_the_staged_state(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    actor = ws.create_record(CONTACTS, {"name": "Romeo Actor"})
    cue_list = ws.create_record("lighting.CueLists", {"name": "Act 1"})
    overlay = ws.staging.create("Try the casting")
    with ws.transaction() as tx:
        scene = tx.create_record("scenes.Scenes", {"title": "Balcony"})
        edge = tx.create_edge("scenes.appears_in", actor, scene, {"character": "Romeo"})
        cue = tx.create_record("lighting.LightingCues", {"cue_number": 11})
        item = tx.create_ordered_edge("lighting.in_cue_list", cue, cue_list)
        tx.set_field(actor, STATUS, "staged status")
    # every read, edge lookups included, shows what is staged
    assert ws.records.edge(edge) is not None and ws.records.edge(edge).properties == {"character": "Romeo"}
    assert [e.id for e in ws.records.edges_from(actor)] == [edge]
    assert [e.id for e in ws.records.edges_to(scene, "appears_in")] == [edge]  # a short edge type name works too
    assert [e.id for e in ws.records.ordered_list(cue_list, "lighting.in_cue_list")] == [item]
    assert ws.records.get(scene).get("title") == "Balcony"
    assert [r.id for r in ws.records.all("scenes.Scenes")] == [scene]
    assert ws.records.ids("Scenes") == [scene]
    assert ws.records.value(actor, "status") == "staged status"
    assert ws.records.label(scene) == "Balcony"
    assert ws.views.query('status == "staged status"') == [actor]
    assert ws.views.matches(scene, 'title == "Balcony"')
    [*_, staged] = ws.history.field(actor, STATUS)
    assert staged.staged and staged.new == "staged status" and "staged" in staged.describe()
    with ws.transaction() as tx:  # collaborative text staged in the overlay
        tx.set_text(actor, "details", "Left-handed")
    assert ws.records.render(actor, "details") == "Left-handed"
    ws.staging.stash(overlay)
    assert ws.records.edge(edge) is None and ws.records.get(scene) is None and ws.records.edges_from(actor) == []
    assert ws.records.value(actor, STATUS) is None and [c.staged for c in ws.history.field(actor, STATUS)] == []


def test_open_conflicts_stay_readable_while_an_overlay_is_active(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane", "status": "todo"})
    sync(alice, bob)
    alice.ws.set_field(rid, STATUS, "from Alice")
    bob.ws.set_field(rid, STATUS, "from Bob")
    sync(alice, bob)
    [before] = alice.ws.conflicts.open()
    overlay = alice.ws.staging.create("Tidy up")
    assert alice.ws.conflicts.open() == [before]
    alice.ws.set_field(rid, STATUS, "settled in the overlay")  # staged over the conflicted field
    assert alice.ws.records.get(rid).get("status") == "settled in the overlay"
    [during] = alice.ws.conflicts.open()  # still open: the staged edit is not real yet
    assert during.id == before.id and alice.ws.conflicts.get(rid, "status") is not None
    assert alice.ws.commit_overlay(overlay) is not None  # committing settles it
    assert alice.ws.conflicts.open() == []
    [resolution] = alice.ws.conflicts.resolved(rid)
    assert resolution.conflict_id == before.id and resolution.value == "settled in the overlay"


def test_reading_through_an_overlay_does_not_lock_other_connections_out(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    rid = ws.create_record(CONTACTS, {"name": "Jane"})
    overlay = ws.staging.create("Review")
    ws.set_field(rid, STATUS, "staged")
    other = sqlite3.connect(alice.path, timeout=0.2, isolation_level=None)  # waits 0.2 s for a lock at most
    try:
        for round_ in range(3):
            assert ws.records.get(rid).get("status") == "staged"  # reads through the overlay...
            assert ws.views.query('status == "staged"') == [rid]
            other.execute("CREATE TABLE IF NOT EXISTS notes (n)")  # ...and another connection writes meanwhile
            other.execute("INSERT INTO notes VALUES (?)", (round_,))
        assert other.execute("SELECT count(*) FROM notes").fetchone()[0] == 3
    finally:
        other.close()
    assert ws.commit_overlay(overlay) is not None
    assert ws.records.get(rid).get("status") == "staged"
