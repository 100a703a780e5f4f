"""The spec's walkthroughs A and C end to end, plus history, awareness and "changes since"."""

from __future__ import annotations

import pytest

from helpers import sync
from openprod import ValidationError
from openprod.csv_import import ImportRefused, stage_csv

CUE = "lighting.LightingCues"


def test_scenario_a_two_departments_offline_then_sync(peer_factory) -> None:
    """Lighting works Saturday, sound Sunday, both on the shared cue list; Monday they sync."""
    sm = peer_factory("Stage Manager")
    lx = peer_factory("Lighting", workspace_from=sm)
    snd = peer_factory("Sound", workspace_from=sm)
    with sm.ws.transaction() as tx:
        cues = [tx.create_record(CUE, {"cue_number": n, "label": f"Q{n}"}) for n in range(1, 31)]
    sync(sm, lx)
    sync(sm, snd)
    for cue in cues[:20]:  # Saturday: 20 lighting changes
        lx.ws.set_field(cue, "lighting.LightingCues.fade_time", 3)
    for cue in cues[:3]:  # ...three of which also get new labels from lighting
        lx.ws.set_field(cue, "lighting.LightingCues.label", "LX " + lx.ws.records.get(cue).get("label"))
    for cue in cues[:3] + cues[20:32]:  # Sunday: 15 sound changes, 3 on the same cues' labels
        snd.ws.set_field(cue, "lighting.LightingCues.label", "SND " + snd.ws.records.get(cue).get("label"))
    sync(lx, sm)  # Monday
    sync(snd, sm)
    conflicts = sm.ws.conflicts.open()
    assert len(conflicts) == 3
    for conflict in conflicts:
        assert conflict.describe().startswith(f"{conflict.record_label}'s Label was edited by ")
        assert {c.display_name for c in conflict.competitors} == {"Lighting", "Sound"}
        with sm.ws.transaction() as tx:  # the stage manager settles each one
            tx.resolve_conflict(conflict, value=conflict.current.split(" ", 1)[1] + " (LX+SND)")
    for _ in range(2):
        sync(sm, lx)
        sync(sm, snd)
    assert len({p.ws.state_hash() for p in (sm, lx, snd)}) == 1
    assert all(p.ws.conflicts.open() == [] for p in (sm, lx, snd))
    assert lx.ws.records.get(cues[0]).get("label") == "Q1 (LX+SND)"
    assert snd.ws.records.get(cues[10]).get("fade_time") == 3  # non-overlapping edits all kept


def cast_csv(rows: list[tuple[str, str]]) -> str:
    return "Name,Role,Email\n" + "\n".join(f"{n},{r},{n.split()[0].lower()}@show.org" for n, r in rows)


def test_scenario_c_import_with_overlay_preview(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    existing = ["Ann Lee", "Bo Diaz", "Cy Park"]
    for name in existing:
        ws.create_record("contacts.Contacts", {"name": name})
    sync(alice, bob)
    rows = [(n, "Ensemble") for n in existing] + [(f"Cast Member {i}", "Ensemble") for i in range(46)]
    rows.append(("John Smithh", "Romeo"))
    seen_progress = []
    preview = stage_csv(ws, "contacts.Contacts", cast_csv(rows), progress=lambda d, t: seen_progress.append((d, t)))
    assert preview.describe() == (
        "This will create 47 new Contacts. 3 rows match records you already have (3 with changes).")
    assert (preview.new, preview.matched) == (47, 3) and seen_progress[-1] == (50, 50)
    assert ws.staging.active == preview.overlay_id
    assert len(ws.records.all("contacts.Contacts")) == 50  # the preview, through the overlay
    sync(alice, bob)
    assert len(bob.ws.records.all("contacts.Contacts")) == 3  # nothing real yet
    typo = next(r for r in ws.records.all("contacts.Contacts") if r.get("name") == "John Smithh")
    ws.set_field(typo.id, "contacts.Contacts.name", "John Smith")  # fixed in the overlay
    before = alice.ws.oplog.size().bundles
    ws.commit_overlay(ws.staging.active)
    assert alice.ws.oplog.size().bundles == before + 1  # atomic
    sync(alice, bob)
    names = sorted(r.get("name") for r in bob.ws.records.all("contacts.Contacts"))
    assert len(names) == 50 and "John Smith" in names and "John Smithh" not in names
    assert bob.ws.records.get(typo.id).get("role") == "Romeo"


def test_import_reports_bad_rows_stages_nothing_then_discard_undoes_everything(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    text = "Cue #,Label,Fade (s),Called\n1,Sunrise,3,yes\nx-1,Broken,1,no\n2,,2.5,maybe\n3,Blackout,0,\n"
    with pytest.raises(ImportRefused) as refused:
        stage_csv(ws, CUE, text, match_on=["lighting.LightingCues.cue_number"])
    problems = refused.value.plan.problems
    assert [p.line for p in problems] == [3, 4]
    assert "not a cue number" in problems[0].message and "not yes or no" in problems[1].message
    assert problems[0].content == "x-1,Broken,1,no"
    assert ws.records.all(CUE) == [] and ws.staging.active is None  # nothing staged
    fixed = text.replace("x-1", "1A").replace("maybe", "no")
    preview = stage_csv(ws, CUE, fixed, match_on=["lighting.LightingCues.cue_number"])
    assert preview.new == 4
    called = {r.get("cue_number"): r.get("is_called") for r in ws.records.all(CUE)}
    assert called == {"1": True, "1A": False, "2": False, "3": True}  # an empty cell takes the default (Yes)
    ws.staging.discard(preview.overlay_id)
    assert ws.records.all(CUE) == []
    with pytest.raises(ValidationError, match="none of the columns"):
        stage_csv(ws, CUE, "Colour,Size\nred,3\n")
    with pytest.raises(ValidationError, match="empty"):
        stage_csv(ws, CUE, "")


def test_history_marks_conflicts_resolutions_and_stale_arrivals(peer_factory, clock) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane", "status": "todo"})
    sync(alice, bob)
    alice.ws.set_field(rid, "contacts.Contacts.status", "blocked")
    bob.ws.set_field(rid, "contacts.Contacts.status", "done")
    late = bob.ws.last_receipt.wire
    clock.advance(8 * 24 * 3600 * 1000)
    assert alice.ws.ingest(late).stale
    [conflict] = alice.ws.conflicts.open()
    with alice.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="done")
    history = alice.ws.history.field(rid, "contacts.Contacts.status")
    assert [(h.new, h.concurrent, h.resolution, h.stale) for h in history] == [
        ("todo", False, False, False), ("blocked", True, False, False), ("done", True, False, True),
        ("done", False, True, False)]


def test_awareness_notice_for_near_simultaneous_edits_of_different_fields(peer_factory, clock) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    sync(alice, bob)
    clock.advance(10_000)
    alice.ws.set_field(rid, "contacts.Contacts.phone", "1")
    bob.ws.set_field(rid, "contacts.Contacts.email", "j@x")  # a few ms later, another field
    sync(alice, bob)
    [notice] = alice.ws.history.awareness_notices()
    assert (notice.field, notice.other_field) == ("contacts.Contacts.email", "contacts.Contacts.phone")
    assert notice.actor == bob.ws.actor_id.hex() and notice.other_actor == alice.ws.actor_id.hex()
    assert notice.record == rid
    assert alice.ws.conflicts.open() == []
    assert alice.ws.conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE '%aware%'").fetchone()[0] == 0
    clock.advance(61_000)
    assert alice.ws.history.awareness_notices() == []  # short-lived
    bob.ws.set_field(rid, "contacts.Contacts.role", "SM")  # a minute later: no notice
    sync(alice, bob)
    assert alice.ws.history.awareness_notices() == []


def test_no_awareness_notice_for_edits_that_arrive_long_after_they_were_made(peer_factory, clock) -> None:
    """Two people who edited one record at once while apart are not "editing at once" when they sync later."""
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    rid = alice.ws.create_record("contacts.Contacts", {"name": "Jane"})
    sync(alice, bob)
    alice.ws.set_field(rid, "contacts.Contacts.phone", "1")
    bob.ws.set_field(rid, "contacts.Contacts.email", "j@x")
    clock.advance(2 * 3600 * 1000)
    sync(alice, bob)
    assert alice.ws.history.awareness_notices() == [] and bob.ws.history.awareness_notices() == []
    assert alice.ws.state_hash() == bob.ws.state_hash()


def test_changes_since_last_seen_grouped_by_person(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    carol = peer_factory("Carol", workspace_from=alice)
    sync(alice, bob)
    sync(alice, carol)
    alice.ws.history.mark_seen()
    for i in range(3):
        bob.ws.create_record("contacts.Contacts", {"name": f"B{i}"})
    carol.ws.create_record("contacts.Contacts", {"name": "C"})
    sync(alice, bob)
    sync(alice, carol)
    changes = alice.ws.history.changes_since()
    assert [(c.display_name, c.bundles, c.records) for c in changes] == [("Bob", 3, 3), ("Carol", 1, 1)]
    alice.ws.history.mark_seen()
    assert alice.ws.history.changes_since() == []
