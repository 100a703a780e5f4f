"""The worker's Python half of the flows screens (openprod_web mappings.py, rules.py) on CPython:
rules from plain choices, previews, words for refusals and cycles, suggestions all at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session
from worker_helpers import call, nacl_env, run

from openprod.signer_nacl import generate_identity

LX, SM = "lighting.LightingCues", "sm.SMCues"
CALLED = {"name": "Called cues", "kind": "membership", "source_table": LX, "field": f"{LX}.is_called", "op": "is",
          "value": "yes", "table": SM}


async def _refused(s: Session, method: str, **args: Any) -> str:
    out = json.loads(await s.call(method, json.dumps(args)))
    assert "error" in out, out
    message: str = out["error"]["message"]
    return message


def test_a_rule_from_plain_choices_previews_saves_reads_back_and_its_suggestions_are_taken() -> None:
    async def scenario() -> None:
        s = await Session.create(generate_identity("Alice").to_json(), "Show", ["lighting", "sm", "sound"], nacl_env)
        cues = [(await call(s, "create_record", table=LX, values={f"{LX}.cue_number": n, f"{LX}.is_called": c}))["id"]
                for n, c in (("1", "yes"), ("2", "yes"), ("3", "no"))]
        before = s.ws.state_hash()
        preview = await call(s, "rule_preview", definition=CALLED)
        assert s.ws.state_hash() == before
        assert preview["summary"] == ("Looks at records in Lighting Cues where Called is Yes. Puts them in SM Cues. "
                                      "Suggests taking out records that no longer fit. Asks before doing anything.")
        assert [p["records"][0]["id"] for p in preview["proposals"]] == cues[:2]
        await call(s, "save_rule", definition=CALLED)
        listed = await call(s, "rules")
        [rule] = listed["rules"]
        assert rule["builder"]["field"] == f"{LX}.is_called" and rule["builder"]["value"] is True
        assert [p["table_name"] for p in listed["proposals"]] == ["SM Cues", "SM Cues"]
        ids = [p["id"] for p in listed["proposals"]]
        # a stale suggestion: refused in words, nothing done
        await call(s, "set_cell", record=cues[1], field=f"{LX}.is_called", value="no")
        before = s.ws.state_hash()
        said = await _refused(s, "accept_proposals", ids=ids)
        assert said == ("1 of these 2 suggestions no longer apply: the records changed since. Nothing was done; "
                        "the list is up to date now.")
        assert s.ws.state_hash() == before
        fresh = [p["id"] for p in (await call(s, "rules"))["proposals"]]
        assert (await call(s, "accept_proposals", ids=fresh))["accepted"] == 1
        assert [r.id for r in s.ws.records.all(SM)] == [cues[0]]
        # edited: automatic from now on (same id); then turned off
        await call(s, "save_rule", definition={**rule["builder"], "auto": True})
        [edited] = (await call(s, "rules"))["rules"]
        assert edited["id"] == rule["id"] and edited["auto"] and edited["summary"].endswith(
            "Does it by itself for records changed from now on.")
        await call(s, "disable_rule", rule=rule["id"])
        assert (await call(s, "rules"))["rules"][0]["enabled"] is False

    run(scenario())


def test_refusals_and_cycles_are_said_in_words_and_write_nothing() -> None:
    async def scenario() -> None:
        s = await Session.create(generate_identity("Alice").to_json(), "Show", ["lighting", "sm", "sound"], nacl_env)
        before = s.ws.state_hash()
        assert await _refused(s, "save_rule", definition={**CALLED, "table": None}) == \
            "Choose the table the records go into."
        assert await _refused(s, "save_rule", definition={**CALLED, "name": "  "}) == "Give the rule a name."
        await call(s, "save_rule", definition={"name": "SM to sound", "source_table": SM, "table": "sound.SoundCues",
                                               "auto": True})
        mid = s.ws.state_hash()
        said = await _refused(s, "save_rule", definition={"name": "Sound to SM", "source_table": "sound.SoundCues",
                                                          "table": SM, "auto": True})
        assert said.startswith("Not saved: this rule would set itself off again and again (")
        sm, sound = (s.ws.schema.tables[t].display_name for t in (SM, "sound.SoundCues"))
        assert f"“Sound to SM” puts records in {sm}, which “SM to sound” watches" in said
        assert f"“SM to sound” puts records in {sound}, which “Sound to SM” watches" in said
        assert s.ws.state_hash() == mid != before

    run(scenario())
