"""Rules: membership and matching, proposals, cycles, limits; the spec's Scenario D end to end."""

from __future__ import annotations

import pytest

from helpers import sync
from openprod.cues import cue_sort_key
from openprod.rules import RuleCycleError, RuleError, RuleLimitError

LX = "lighting.LightingCues"
SND = "sound.SoundCues"
SM = "sm.SMCues"
CALLED = ('(table == "lighting.LightingCues" AND lighting.LightingCues.is_called == true) OR '
          '(table == "sound.SoundCues" AND sound.SoundCues.is_called == true)')


def called_cues_rule(ws, *, auto_accept: bool = True) -> str:
    with ws.transaction() as tx:
        return tx.create_rule(
            "Called cues appear in SM Cues", when=CALLED, table=SM, auto_accept=auto_accept,
            defaults={"sm.SMCues.department": {"value": "lighting", "mode": "fill_if_empty"},
                      "sm.SMCues.call_text": {"value": "$source.lighting.LightingCues.label", "mode": "always"}})


def test_scenario_d_called_cues_reach_the_sm_cue_sheet(peer_factory) -> None:
    lx = peer_factory("Lighting")
    sm = peer_factory("Stage Manager", workspace_from=lx)
    with lx.ws.transaction() as tx:  # the SM sheet shows each department's cue numbers
        tx.confirm_field_mapping("lighting.LightingCues.cue_number", "sm.SMCues.cue_number")
        tx.confirm_field_mapping("sound.SoundCues.cue_number", "sm.SMCues.cue_number")
    called_cues_rule(lx.ws)
    with lx.ws.transaction() as tx:  # 1. LX 1..20
        cues = {n: tx.create_record(LX, {"cue_number": n, "label": f"LX {n}", "is_called": False})
                for n in range(1, 21)}
    assert lx.ws.records.all(SM) == []
    bundles_before = lx.ws.oplog.size().bundles
    lx.ws.set_field(cues[11], "lighting.LightingCues.is_called", True)  # 3. LX 11 is called
    assert lx.ws.oplog.size().bundles == bundles_before + 1  # atomic
    [sm_cue] = lx.ws.records.all(SM)
    assert sm_cue.id == cues[11] and sm_cue.get("department") == "lighting" and sm_cue.get("call_text") == "LX 11"
    assert lx.ws.records.get(cues[11]).get("label") == "LX 11"
    with lx.ws.transaction() as tx:  # 4. LX 11.1, an auto-follow, stays in lighting only
        follow = tx.create_record(LX, {"cue_number": 11.1, "is_called": False})
    assert follow not in [r.id for r in lx.ws.records.all(SM)]
    sync(lx, sm)
    snd = sm.ws.create_record(SND, {"cue_number": 5, "label": "SND 5"})  # 5. is_called defaults to true
    assert snd in [r.id for r in sm.ws.records.all(SM)]  # rules fire wherever the change is made
    sync(lx, sm)
    for peer in (lx, sm):  # 6. one cue sheet of every called cue, everywhere
        assert sorted((r.get("cue_number") for r in peer.ws.records.all(SM)), key=cue_sort_key) == ["5", "11"]
    assert lx.ws.state_hash() == sm.ws.state_hash()
    # un-calling a cue proposes its removal; the person decides
    lx.ws.set_field(cues[11], "lighting.LightingCues.is_called", False)
    [proposal] = lx.ws.rules.proposals()
    assert proposal.action == "remove_from_table"
    assert proposal.description == "LX 11 no longer meets the criteria for SM Cues. Remove it?"
    assert cues[11] in [r.id for r in lx.ws.records.all(SM)]  # not removed until accepted
    with lx.ws.transaction() as tx:
        tx.accept_proposal(proposal)
    assert sorted(r.get("cue_number") for r in lx.ws.records.all(SM)) == ["5"]
    assert lx.ws.rules.proposals() == []


def test_proposing_rules_wait_for_a_person(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    called_cues_rule(ws, auto_accept=False)
    cue = ws.create_record(LX, {"cue_number": 7, "label": "Sunset"})
    assert ws.records.all(SM) == []
    [proposal] = ws.rules.proposals()
    assert proposal.description == "Called cues appear in SM Cues: add Sunset to SM Cues?"
    ws.rules.dismiss(proposal)
    assert ws.rules.proposals() == []
    other = ws.create_record(LX, {"cue_number": 8, "label": "Dawn"})
    [proposal] = ws.rules.proposals()
    with ws.transaction() as tx:
        tx.accept_proposal(proposal)
    assert [r.id for r in ws.records.all(SM)] == [other] and cue


def test_rules_fire_into_the_overlay(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    called_cues_rule(ws)
    ws.staging.create("What if")
    cue = ws.create_record(LX, {"cue_number": 3})
    assert [r.id for r in ws.records.all(SM)] == [cue]
    ws.staging.stash(ws.staging.active)
    assert ws.records.all(SM) == [] and ws.records.get(cue) is None


def test_cycles_are_refused_with_their_path(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with pytest.raises(RuleCycleError, match="would create a cycle: Self -> Self") as info, \
            ws.transaction() as tx:  # writes what it watches
        tx.create_rule("Self", when='table == "sm.SMCues" AND sm.SMCues.department == "x"', table=SM, auto_accept=True,
                       defaults={"sm.SMCues.department": "lighting"})
    assert info.value.path == ["Self", "Self"]
    with ws.transaction() as tx:
        tx.create_rule("A", when='table == "sm.SMCues"', table=SND, auto_accept=True)
    with pytest.raises(RuleCycleError, match=r"A -> B -> A|B -> A -> B"), ws.transaction() as tx:
        tx.create_rule("B", when='table == "sound.SoundCues"', table=SM, auto_accept=True)
    assert [r.name for r in ws.rules.list()] == ["A"]


def test_cycle_through_mapped_fields_is_found(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    with ws.transaction() as tx:
        tx.confirm_field_mapping("lighting.LightingCues.label", "sm.SMCues.label")
        tx.create_rule("Label to SM", when='lighting.LightingCues.label == "GO"', table=SM, auto_accept=True)
    with pytest.raises(RuleCycleError), ws.transaction() as tx:  # sm.label IS lighting.label
        tx.create_rule("SM to label", when='table == "sm.SMCues"', table=LX, auto_accept=True,
                       defaults={"lighting.LightingCues.label": "GO"})


def test_runaway_chain_hits_the_limit_and_rolls_everything_back(peer_factory, monkeypatch) -> None:
    ws = peer_factory("Alice").ws
    with ws.transaction() as tx:
        tx.create_rule("Ping", when='table == "lighting.LightingCues"', table=SM, auto_accept=True,
                       acknowledge_cycle=True)
        tx.create_rule("Pong", when='table == "sm.SMCues"', table=SND, auto_accept=True,
                       acknowledge_cycle=True, defaults={"sound.SoundCues.cue_number": 1})
        tx.create_rule("Back", when='table == "sound.SoundCues"', table=LX, auto_accept=True,
                       acknowledge_cycle=True, defaults={"lighting.LightingCues.cue_number": 1})
    import openprod.rules as rules

    monkeypatch.setattr(rules, "MAX_CHAIN_DEPTH", 3)  # the real limit is 1000; keep the test quick
    before = ws.state_hash()
    # each hop adds a table, so this chain ends by itself after three rules: allowed...
    ws.create_record(LX, {"cue_number": 1})
    assert len(ws.records.all(SND)) == 1
    monkeypatch.setattr(rules, "MAX_CHAIN_DEPTH", 1)
    with pytest.raises(RuleLimitError, match="nothing was saved"):
        ws.create_record(LX, {"cue_number": 2})
    assert len(ws.records.all(LX)) == 1 and ws.state_hash() != before


def test_bad_rules_are_refused(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    for kwargs, message in [
        ({"when": "table == ", "table": SM}, "does not parse"),
        ({"when": 'table == "x"', "table": "nope.Table"}, "unknown table"),
        ({"when": 'table == "x"'}, "names the table"),
        ({"when": 'table == "x"', "table": SM, "defaults": {"sm.SMCues.page": {"value": "x"}}}, "expected a number"),
        ({"when": 'table == "x"', "kind": "match"}, "match_on"),
    ]:
        with pytest.raises((RuleError, Exception), match=message), ws.transaction() as tx:
            tx.create_rule("Bad", **kwargs)
    assert ws.rules.list() == []


def test_match_rules_propose_merges_never_on_empty_values(peer_factory) -> None:
    alice = peer_factory("Alice")
    ws = alice.ws
    with ws.transaction() as tx:
        tx.create_rule("Same person", kind="match", when='table == "contacts.Contacts"',
                       match_on=["contacts.Contacts.name", "contacts.Contacts.email"], normalize=["case", "spaces"])
        a = tx.create_record("contacts.Contacts", {"name": "Jane Doe", "email": "jane@x"})
        b = tx.create_record("contacts.Contacts", {"name": "jane doe ", "email": "jane@x"})
        tx.create_record("contacts.Contacts", {"name": "No Email"})
        tx.create_record("contacts.Contacts", {"name": "No Email"})  # null email never matches
    [proposal] = ws.rules.proposals()
    assert proposal.action == "merge" and set(proposal.records) == {a, b}
    with ws.transaction() as tx:
        tx.accept_proposal(proposal)
    assert len(ws.records.all("contacts.Contacts")) == 3
    assert ws.rules.proposals() == []


def test_split_records_are_never_proposed_for_merging_again(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    rid = ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    with ws.transaction() as tx:
        tx.add_to_table(rid, "schedule.Attendees", {"name": "Jane Doe"})
        tx.create_rule("Same name", kind="match",
                       when='table == "contacts.Contacts" OR table == "schedule.Attendees"',
                       match_on=["contacts.Contacts.name"])
        tx.confirm_field_mapping("contacts.Contacts.name", "schedule.Attendees.name")
    with ws.transaction() as tx:
        new = tx.split_record(rid, tables=["schedule.Attendees"], copy=["schedule.Attendees.name"])
    assert ws.records.get(new).get("name") == ws.records.get(rid).get("name") == "Jane Doe"
    assert ws.rules.proposals() == []  # same name, but a person said they are different
    other = ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
    [proposal] = ws.rules.proposals()  # a third Jane is still suggested
    assert other in proposal.records
