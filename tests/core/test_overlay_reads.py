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
    overlay = ws.create_overlay("Try the casting")
    with ws.transaction() as tx:
        scene = tx.create_record("scenes.Scenes", {"title": "Balcony"})
        edge = tx.create_edge("scenes.appears_in", actor, scene, {"character": "Romeo"})
        cue = tx.create_record("lighting.LightingCues", {"cue_number": 11})
        item = tx.create_ordered_edge("lighting.in_cue_list", cue, cue_list)
        tx.set_field(actor, STATUS, "staged status")
    # every read, edge lookups included, shows what is staged
    assert ws.edge(edge) is not None and ws.edge(edge).properties == {"character": "Romeo"}
    assert [e.id for e in ws.edges_from(actor)] == [edge]
    assert [e.id for e in ws.edges_to(scene, "appears_in")] == [edge]  # a short edge type name works too
    assert [e.id for e in ws.ordered_list(cue_list, "lighting.in_cue_list")] == [item]
    assert ws.record(scene).get("title") == "Balcony"
    assert [r.id for r in ws.records("scenes.Scenes")] == [scene]
    assert ws.table_member_ids("Scenes") == [scene]
    assert ws.get(actor, "status") == "staged status"
    assert ws.record_label(scene) == "Balcony"
    assert ws.query('status == "staged status"') == [actor]
    assert ws.matches(scene, 'title == "Balcony"')
    [*_, staged] = ws.history(actor, STATUS)
    assert staged.staged and staged.new == "staged status" and "staged" in staged.describe()
    with ws.transaction() as tx:  # collaborative text staged in the overlay
        tx.set_text(actor, "details", "Left-handed")
    assert ws.render(actor, "details") == "Left-handed"
    ws.stash_overlay(overlay)
    assert ws.edge(edge) is None and ws.record(scene) is None and ws.edges_from(actor) == []
    assert ws.get(actor, STATUS) is None and [c.staged for c in ws.history(actor, STATUS)] == []


def test_open_conflicts_stay_readable_while_an_overlay_is_active(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record(CONTACTS, {"name": "Jane", "status": "todo"})
    sync(alice, bob)
    alice.ws.set_field(rid, STATUS, "from Alice")
    bob.ws.set_field(rid, STATUS, "from Bob")
    sync(alice, bob)
    [before] = alice.ws.open_conflicts()
    overlay = alice.ws.create_overlay("Tidy up")
    assert alice.ws.open_conflicts() == [before]
    alice.ws.set_field(rid, STATUS, "settled in the overlay")  # staged over the conflicted field
    assert alice.ws.record(rid).get("status") == "settled in the overlay"
    [during] = alice.ws.open_conflicts()  # still open: the staged edit is not real yet
    assert during.id == before.id and alice.ws.conflict(rid, "status") is not None
    assert alice.ws.commit_overlay(overlay) is not None  # committing settles it
    assert alice.ws.open_conflicts() == []
    [resolution] = alice.ws.resolved_conflicts(rid)
    assert resolution.conflict_id == before.id and resolution.value == "settled in the overlay"


def test_reading_through_an_overlay_does_not_lock_other_connections_out(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    rid = ws.create_record(CONTACTS, {"name": "Jane"})
    overlay = ws.create_overlay("Review")
    ws.set_field(rid, STATUS, "staged")
    other = sqlite3.connect(alice.path, timeout=0.2, isolation_level=None)  # waits 0.2 s for a lock at most
    try:
        for round_ in range(3):
            assert ws.record(rid).get("status") == "staged"  # reads through the overlay...
            assert ws.query('status == "staged"') == [rid]
            other.execute("CREATE TABLE IF NOT EXISTS notes (n)")  # ...and another connection writes meanwhile
            other.execute("INSERT INTO notes VALUES (?)", (round_,))
        assert other.execute("SELECT count(*) FROM notes").fetchone()[0] == 3
    finally:
        other.close()
    assert ws.commit_overlay(overlay) is not None
    assert ws.record(rid).get("status") == "staged"
