"""A rule previewed before it is saved: what it would do now, and refusals that write nothing."""

from __future__ import annotations

import pytest

from openprod.rules import RuleCycleError, RuleError

LX, SM, SND = "lighting.LightingCues", "sm.SMCues", "sound.SoundCues"
CALLED = 'table == "lighting.LightingCues" AND lighting.LightingCues.is_called == true'


def test_a_membership_rule_previews_the_records_it_would_add_and_writes_nothing(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    one = ws.create_record(LX, {"cue_number": "1", "label": "Preset"})
    ws.create_record(LX, {"cue_number": "2", "label": "Blackout", "is_called": False})
    before, size = ws.state_hash(), ws.oplog.size()
    rule, would = ws.rules.preview("Called cues", when=CALLED, table=SM)
    assert ws.state_hash() == before and ws.oplog.size() == size and ws.rules.list() == []
    assert rule.name == "Called cues" and [(p.action, p.records) for p in would] == [("add_to_table", (one,))]
    assert would[0].description.startswith("Called cues: add ") and would[0].description.endswith(" to SM Cues?")
    # automatic rules preview too: what they would do to each record as it changes
    _rule, auto = ws.rules.preview("Called cues", when=CALLED, table=SM, auto_accept=True)
    assert [p.records for p in auto] == [(one,)]
    # saved with the same id, its proposals are the preview's
    with ws.transaction() as tx:
        tx.create_rule(rule.name, when=CALLED, table=SM, rule_id=rule.id)
    assert [p.id for p in ws.rules.proposals()] == [p.id for p in would]


def test_a_match_rule_previews_the_pairs_it_would_suggest(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    a = ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    b = ws.create_record("contacts.Contacts", {"name": "jane  doe"})
    _rule, exact = ws.rules.preview("Same person", kind="match", when='table == "contacts.Contacts"',
                                   match_on=["Contacts.name"])
    assert exact == []
    _rule, loose = ws.rules.preview("Same person", kind="match", when='table == "contacts.Contacts"',
                                   match_on=["Contacts.name"], normalize=["case", "spaces"])
    assert [set(p.records) for p in loose] == [{a, b}] and loose[0].action == "merge"


def test_bad_rules_and_cycles_are_refused_in_the_preview(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with ws.transaction() as tx:
        tx.create_rule("A", when='table == "sm.SMCues"', table=SND, auto_accept=True)
    before = ws.state_hash()
    with pytest.raises(RuleCycleError) as info:
        ws.rules.preview("B", when='table == "sound.SoundCues"', table=SM, auto_accept=True)
    assert info.value.path in (["B", "A", "B"], ["A", "B", "A"])
    with pytest.raises(RuleError, match="does not parse"):
        ws.rules.preview("C", when="is_called = true", table=SM)
    with pytest.raises(RuleError, match="names the table"):
        ws.rules.preview("D", when=CALLED)
    assert ws.state_hash() == before and [r.name for r in ws.rules.list()] == ["A"]
