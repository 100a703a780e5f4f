"""The calling view's worker API (web/py/openprod_web/calling.py) on CPython: the script with its
standby warnings, GO that refuses to move when someone else called first, and show notes that land
in the day's performance report stamped with the cue."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session, writes
from worker_helpers import call, nacl_env, run

from openprod.signer_nacl import generate_identity

CUES = "lighting.LightingCues"
REPORTS = "reports.Reports"


async def _show() -> tuple[Session, str, dict[str, str]]:
    s = await Session.create(generate_identity("Stage Manager").to_json(), "Show", ["scenes", "lighting", "reports"],
                             nacl_env)
    ids: dict[str, str] = {}
    async with writes.transaction(s.ws) as tx:
        act1 = tx.create_record("lighting.CueLists", {"name": "Act 1"})
        storm = tx.create_record("scenes.Scenes", {"title": "The storm"})
        for number, page, called in (("1", 3, True), ("2", 4, True), ("2.5", 4, False), ("3", 4, True), ("4", 9, True)):
            ids[number] = tx.create_record(CUES, {"cue_number": number, "page": page, "is_called": called})
            tx.create_ordered_edge("lighting.in_cue_list", ids[number], act1)
        tx.create_edge("lighting.in_scene", ids["4"], storm)
    return s, act1, ids


def test_the_script_says_what_to_stand_by_and_go_moves_on() -> None:
    async def scenario() -> None:
        s, act1, ids = await _show()
        [listed] = await call(s, "cue_lists")
        assert (listed["id"], listed["name"], listed["count"]) == (act1, "Act 1", 5)
        sheet = await call(s, "calling_sheet", cue_list=act1)
        assert sheet["current"] is None and sheet["standby"]["number"] == "1" and sheet["next"]["number"] == "2"
        assert [w["text"] for w in sheet["warnings"]] == ["Top of the show: stand by cue 1."]
        sheet = await call(s, "calling_go", cue_list=act1, cue=ids["1"], expect=None)
        assert sheet["moved"] and sheet["current"]["number"] == "1" and sheet["called"]["by_name"] == "Stage Manager"
        assert [w["text"] for w in sheet["warnings"]] == ["Cue 2 is on page 4."]
        sheet = await call(s, "calling_go", cue_list=act1, cue=ids["2"], expect=ids["1"])
        # 2.5 runs on its own: the standby is 3, on the same page as 2
        assert (sheet["standby"]["number"], sheet["next"]["number"]) == ("3", "4")
        assert [(w["level"], w["text"]) for w in sheet["warnings"]] == [
            ("info", "Cue 2.5 follows on its own: no GO."), ("now", "Cue 3 is on this page: give the standby now.")]
        await call(s, "calling_go", cue_list=act1, cue=ids["3"], expect=ids["2"])
        sheet = await call(s, "calling_sheet", cue_list=act1)
        assert [w["text"] for w in sheet["warnings"]] == ["Cue 4 is on page 9.", "New scene: The storm."]
        sheet = await call(s, "calling_go", cue_list=act1, cue=ids["4"], expect=ids["3"])
        assert sheet["standby"] is None and [w["text"] for w in sheet["warnings"]] == [
            "That was the last cue in this list."]
        # a GO from a screen that had not seen the last call moves nothing (two callers, one press each)
        stale = await call(s, "calling_go", cue_list=act1, cue=ids["4"], expect=ids["2"])
        assert stale["moved"] is False and stale["current"]["number"] == "4"
        assert s.ws.conflicts.open() == []

    run(scenario())


def test_show_notes_land_in_todays_performance_report() -> None:
    async def scenario() -> None:
        s, act1, ids = await _show()
        await call(s, "calling_go", cue_list=act1, cue=ids["2"], expect=None)
        first = await call(s, "calling_note", cue_list=act1, text="  Late GO:\nactor missed the entrance ",
                           day="2026-12-05", clock="19:42", offset=0, now_iso="2026-12-05T19:42:00Z")
        assert first["started"] and first["title"] == "Performance report 2026-12-05"
        assert first["line"] == "19:42 (Act 1, after cue 2): Late GO: actor missed the entrance"
        second = await call(s, "calling_note", cue_list=act1, text="Fog was thin", day="2026-12-05", clock="19:50",
                            offset=0, now_iso="2026-12-05T19:50:00Z")
        assert second["report"] == first["report"] and not second["started"]
        record = await call(s, "record", record=first["report"])
        assert record["values"][f"{REPORTS}.stage_management"] == (
            "19:42 (Act 1, after cue 2): Late GO: actor missed the entrance\n19:50 (Act 1, after cue 2): Fog was thin")
        assert record["values"][f"{REPORTS}.kind"] == "Performance"
        # the next day starts its own report
        third = await call(s, "calling_note", cue_list=act1, text="Matinee", day="2026-12-06", clock="14:01",
                           offset=0, now_iso="2026-12-06T14:01:00Z")
        assert third["started"] and third["report"] != first["report"]

    run(scenario())


def test_bad_calls_are_refused_in_words_and_change_nothing() -> None:
    async def scenario() -> None:
        s, act1, ids = await _show()
        before = s.ws.state_hash()
        for method, args, words in (
            ("calling_note", {"cue_list": act1, "text": "   ", "day": "2026-12-05", "clock": "19:00"}, "type the note"),
            ("calling_note", {"cue_list": act1, "text": "x" * 2001, "day": "2026-12-05", "clock": "19:00"},
             "at most 2000"),
            ("calling_go", {"cue_list": act1, "cue": act1, "expect": None}, "not in the cue list"),
            ("calling_go", {"cue_list": ids["1"], "cue": None, "expect": None}, "not a cue list"),
            ("calling_sheet", {"cue_list": "not-an-id"}, "id"),
        ):
            out = json.loads(await s.call(method, json.dumps(args)))
            assert "error" in out and words in out["error"]["message"], (method, out)
        assert s.ws.state_hash() == before

    run(scenario())
