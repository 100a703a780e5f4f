"""A field's history tells the truth about conflicts: who edited concurrently, what each of them saw,
who settled it and what they chose over ("changed it from X to X" is not an answer)."""

from __future__ import annotations

from helpers import sync

PHONE = "contacts.Contacts.phone"


def test_history_names_concurrent_edits_and_what_the_resolution_chose_over(peer_factory) -> None:
    sm = peer_factory("Stage Manager")
    asm = peer_factory("ASM", workspace_from=sm)
    jane = sm.ws.create_record("contacts.Contacts", {"name": "Jane Doe", "phone": "555-0000"})
    sync(sm, asm)
    sm.ws.set_field(jane, PHONE, "555-1111")  # both edit while apart
    asm.ws.set_field(jane, PHONE, "555-2222")
    sync(sm, asm)
    [conflict] = sm.ws.conflicts.open()
    with sm.ws.transaction() as tx:  # the value shown may already be the one chosen
        tx.resolve_conflict(conflict, pick=next(c.op_id for c in conflict.competitors if c.value == "555-1111"))
    sync(sm, asm)
    for peer in (sm, asm):
        created, mine, theirs, decision = peer.ws.history.field(jane, "phone")
        assert (created.old, created.new, created.concurrent) == (None, "555-0000", False)
        # each author changed the value they saw: neither saw the other's edit
        assert (mine.display_name, mine.old, mine.new) == ("Stage Manager", "555-0000", "555-1111")
        assert (theirs.display_name, theirs.old, theirs.new) == ("ASM", "555-0000", "555-2222")
        assert mine.concurrent and [(a.display_name, a.value) for a in mine.concurrent_with] == [("ASM", "555-2222")]
        assert [(a.display_name, a.value) for a in theirs.concurrent_with] == [("Stage Manager", "555-1111")]
        assert theirs.describe() == ("ASM changed it from '555-0000' to '555-2222' at the same time as "
                                     "Stage Manager's '555-1111', neither having seen the other")
        assert decision.resolution and decision.new == "555-1111" and not decision.concurrent_with
        assert [(a.display_name, a.value) for a in decision.chosen_over] == [("ASM", "555-2222")]
        assert decision.describe() == "Stage Manager chose '555-1111' over ASM's '555-2222'"
        assert all("from '555-1111' to '555-1111'" not in c.describe() for c in (created, mine, theirs, decision))


def test_history_shows_a_reopening_and_the_decision_that_replaced_the_first(peer_factory, clock) -> None:
    sm = peer_factory("Stage Manager")
    asm = peer_factory("ASM", workspace_from=sm)
    designer = peer_factory("Designer", workspace_from=sm)
    jane = sm.ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    sync(sm, asm)
    sync(sm, designer)
    sm.ws.set_field(jane, PHONE, "555-1111")
    asm.ws.set_field(jane, PHONE, "555-2222")
    sync(sm, asm)
    [conflict] = asm.ws.conflicts.open()
    with asm.ws.transaction() as tx:
        tx.resolve_conflict(conflict, value="555-3333")
    clock.advance(30_000)
    designer.ws.set_field(jane, PHONE, "555-4444")  # offline all along: reopens it
    for a, b in ((sm, asm), (sm, designer), (asm, designer)):
        sync(a, b)
    [reopened] = sm.ws.conflicts.open()
    with sm.ws.transaction() as tx:
        tx.resolve_conflict(reopened, pick=next(c.op_id for c in reopened.competitors if c.value == "555-4444"))
    sync(sm, designer)
    *_, first, late, second = designer.ws.history.field(jane, PHONE)
    assert first.describe() == "ASM chose '555-3333' over Stage Manager's '555-1111' and ASM's '555-2222'"
    assert late.display_name == "Designer" and late.old is None and late.new == "555-4444"
    assert [(a.display_name, a.value, a.resolution) for a in late.concurrent_with] == [
        ("Stage Manager", "555-1111", False), ("ASM", "555-2222", False), ("ASM", "555-3333", True)]
    assert second.supersedes == first.op_id
    assert second.describe() == ("Stage Manager chose Designer's '555-4444' over ASM's decision '555-3333', "
                                 "replacing an earlier decision")
