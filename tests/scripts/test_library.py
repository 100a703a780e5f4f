"""Where scripts live and the shipped ones: module scripts (read-only) and workspace scripts (synced
records), argument declarations, and the three shipped scripts on real data, bad input included."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import sync
from openprod import ValidationError
from openprod.lua_lupa import LupaEngine
from openprod.scripts import Script, ScriptError, run_script
from openprod.scripts.library import find_script, list_scripts, parse_args, save_script

CUES = "lighting.LightingCues"
ENGINE = LupaEngine()


def shipped(ws: Any, name: str, mode: str = "autoCommit", **args: Any) -> Any:
    item = find_script(ws, f"module:{name}")
    return run_script(ws, ENGINE, item.script(mode), args=item.check_args(args))


def numbers(ws: Any) -> list[str]:
    return sorted((str(r.get("cue_number")) for r in ws.records.all(CUES)), key=lambda n: float(n))


def test_renumber_cues_in_a_range(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    for n in ["1", "2", "5", "5.5", "7", "20"]:
        ws.create_record(CUES, {"cue_number": n})
    before = ws.oplog.size().bundles
    result = shipped(ws, "renumber_cues", "session", **{"from": "5", "to": "7", "start": 10})
    assert result.status == "staged" and result.op_count == 3
    assert [e.message for e in result.events if e.kind == "toast"] == ["3 cues renumbered"]
    assert numbers(ws) == ["1", "2", "5", "5.5", "7", "20"] and ws.oplog.size().bundles == before
    ws.staging.activate(result.overlay)
    assert numbers(ws) == ["1", "2", "10", "11", "12", "20"]
    ws.staging.discard(result.overlay)
    # a new number already used outside the range: nothing changes
    with pytest.raises(ScriptError, match="cue 20 is outside the range"):
        shipped(ws, "renumber_cues", **{"from": "5", "to": "7", "start": 19})
    assert numbers(ws) == ["1", "2", "5", "5.5", "7", "20"] and ws.oplog.size().bundles == before
    with pytest.raises(ValidationError, match="New number of the first cue"):
        find_script(ws, "module:renumber_cues").check_args({"from": "1", "to": "2"})
    with pytest.raises(ValidationError, match="Step: expected a number"):
        find_script(ws, "module:renumber_cues").check_args({"from": "1", "to": "2", "start": 1, "step": "x"})


CSV = 'Cue,Page,Label,Notes\r\n1,3,"Warm, low",x\r\n\r\n2.5,4,"Say ""go""",\r\n3,,Blackout,\r\n'


def test_import_cues_from_csv_with_a_column_mapping(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    mapping = '{"Cue": "cue_number", "Page": "page", "Label": "label"}'
    result = shipped(ws, "import_cues_csv", csv=CSV, mapping=mapping)
    assert result.status == "committed"
    got = sorted((r.get("cue_number"), r.get("page"), r.get("label")) for r in ws.records.all(CUES))
    assert got == [("1", 3, "Warm, low"), ("2.5", 4, 'Say "go"'), ("3", None, "Blackout")]
    messages = [e.message for e in result.events]
    assert "columns not imported: Notes" in messages and "3 cues imported (1 blank lines skipped)" in messages


@pytest.mark.parametrize(("csv", "mapping", "words"), [
    ("Cue,Page\n1,3\n2,three\n", '{"Cue": "cue_number", "Page": "page"}', "line 3: Page must be a number"),
    ("Cue,Page\n1,3\n", '{"Cue": "cue_number", "Pg": "page"}', "column Pg is not in the file"),
    ("Cue,Page\n1,3\n", '{"Cue": "cue_number", "Page": "pages"}', "no field pages"),
    ('Cue,Page\n1,"3\n', '{"Cue": "cue_number"}', "line 2: a quoted value is never closed"),
    ("Cue,Page\n", '{"Cue": "cue_number"}', "no rows under its header"),
    ("Cue,Page\n1,2\n,5\n", '{"Cue": "cue_number", "Page": "page"}', "line 3: Lighting Cues: required field"),
])
def test_a_bad_csv_imports_nothing_and_names_the_line(peer_factory, csv: str, mapping: str, words: str) -> None:
    ws = peer_factory("Alice").ws
    before = ws.state_hash()
    with pytest.raises(ScriptError) as failed:
        shipped(ws, "import_cues_csv", csv=csv, mapping=mapping)
    assert words in failed.value.message, failed.value.message
    assert ws.state_hash() == before and ws.records.all(CUES) == []
    with pytest.raises(ValidationError, match="not valid JSON"):
        find_script(ws, "module:import_cues_csv").check_args({"csv": csv, "mapping": "{nope"})


def test_fill_call_times_from_the_schedule(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    tech = ws.create_record("schedule.Events", {"title": "Tech", "starts_at": "2026-03-11T00:10:00Z"})
    show = ws.create_record("schedule.Events", {"title": "Show", "starts_at": "2026-03-11T19:30:00Z"})
    other = ws.create_record("schedule.Events", {"title": "Next day", "starts_at": "2026-03-12T10:00:00Z"})
    people = [ws.create_record("schedule.Attendees", {"name": n}) for n in ("Ann", "Ben", "Cas")]
    with ws.transaction() as tx:
        links = [tx.create_edge("schedule.called_to", people[0], tech),
                 tx.create_edge("schedule.called_to", people[1], show),
                 tx.create_edge("schedule.called_to", people[2], show, {"call_time": "2026-03-11T17:00:00Z"}),
                 tx.create_edge("schedule.called_to", people[0], other)]
    result = shipped(ws, "fill_call_times", day="2026-03-11", before=45)
    assert result.status == "committed"
    calls = [ws.records.edge(link).properties.get("call_time") for link in links]
    assert calls == ["2026-03-10T23:25:00Z", "2026-03-11T18:45:00Z", "2026-03-11T17:00:00Z", None]
    assert [e.message for e in result.events if e.kind == "toast"] == ["2 call times filled in, 1 already set"]
    with pytest.raises(ValidationError, match="Day: expected a date"):
        find_script(ws, "module:fill_call_times").check_args({"day": "11/03/2026"})


def test_workspace_scripts_are_records_that_sync_and_module_scripts_are_read_only(peer_factory) -> None:
    alice = peer_factory("Alice")
    bob = peer_factory("Bob", workspace_from=alice)
    ws = alice.ws
    names = [s.name for s in list_scripts(ws)]
    assert names == ["renumber_cues", "import_cues_csv", "fill_call_times"]
    assert all(s.read_only for s in list_scripts(ws))
    source = ('-- Mark every cue as called.\n--@arg label text "Label" = Called\n'
              'for _, c in ipairs(core.query("table == \'LightingCues\'")) do\n'
              '  core.set_field(c.id, "label", args.label)\nend\n')
    script_id = save_script(ws, "Mark called", source)
    sync(alice, bob)
    [mine] = [s for s in list_scripts(bob.ws) if not s.read_only]
    assert (mine.id, mine.name, mine.description, mine.args[0].default) == (script_id, "Mark called",
                                                                           "Mark every cue as called.", "Called")
    cue = bob.ws.create_record(CUES, {"cue_number": "1"})
    run_script(bob.ws, ENGINE, mine.script("autoCommit"), args=mine.check_args({}))
    assert bob.ws.records.value(cue, "label") == "Called"
    save_script(ws, "Mark called", source.replace("Called", "Done"), script_id=script_id)
    assert find_script(ws, script_id).args[0].default == "Done"
    with pytest.raises(ValidationError, match="argument kind"):
        save_script(ws, "Bad", '--@arg x colour "X"\n')
    with pytest.raises(ValidationError, match="write an argument"):
        parse_args("--@arg broken\n")


def test_every_shipped_script_compiles(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    check = "local f, err = load(args.src, '=' .. args.name) assert(f, err)"
    for item in list_scripts(ws):
        run_script(ws, ENGINE, Script(name="compile", source=check), args={"src": item.source, "name": item.name})
    with pytest.raises(ScriptError, match="broken:1:"):
        run_script(ws, ENGINE, Script(name="compile", source=check), args={"src": "x = = 1", "name": "broken"})
