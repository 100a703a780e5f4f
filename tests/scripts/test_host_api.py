"""The host API of spec/scripts.md on lupa: queries with ? parameters, reads, writes, edges,
CRDT text and lists, conflicts, json, log, context, args, and ui events delivered to the caller."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from openprod.lua_lupa import LupaEngine
from openprod.scripts import Script, ScriptError, ScriptEvent, run_script

sys.path.insert(0, str(Path(__file__).parent))
from script_cases import API

CUES = "lighting.LightingCues"
ENGINE = LupaEngine()
PROPS_MODULE = """
[module]
name = "props"
version = "1.0.0"

[table.Props.fields.item]
type = "string"

[table.Props.fields.tags]
type = "list"
crdt = "list"
item_type = "string"
"""


def run(ws: Any, source: str, **kw: Any) -> Any:
    mode = kw.pop("mode", "autoCommit")
    on_error = kw.pop("on_error", "abort")
    return run_script(ws, ENGINE, Script(name="test", source=source, mode=mode, on_error=on_error), **kw)


def test_the_spec_renumber_example_stages_with_progress_events(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    act = ws.create_record("lighting.CueLists", {"name": "Act 1"})
    cues = [ws.create_record(CUES, {"cue_number": n, "page": 10 - i}) for i, n in enumerate(["5", "7.5", "9"])]
    source = """
    function main()
        local cues = core.query("table == 'LightingCues' AND page >= ? ORDER BY page", args.from_page)
        if #cues == 0 then ui.toast.warn("No cues found") return end
        ui.progress.start("Renumbering cues", { total = #cues })
        for i, cue in ipairs(cues) do
            core.set_field(cue.id, "cue_number", tostring(i))
            ui.progress.update(i)
        end
        ui.progress.complete()
        ui.toast(#cues .. " cues renumbered")
    end
    """
    seen: list[ScriptEvent] = []
    bundles = ws.oplog.size().bundles
    result = run(ws, source, mode="session", args={"from_page": 9}, on_event=seen.append)
    assert result.status == "staged" and result.op_count == 2
    assert [(e.kind, e.level, e.current, e.total) for e in seen] == [
        ("progress", "start", 0, 2), ("progress", "update", 1, 2), ("progress", "update", 2, 2),
        ("progress", "complete", 2, 2), ("toast", "info", None, None)]
    assert seen[-1].message == "2 cues renumbered" and result.events == seen
    # nothing real changed; the overlay waits for review, and the person's view is canonical
    assert ws.oplog.size().bundles == bundles and ws.staging.active is None
    assert [ws.records.value(c, "cue_number") for c in cues] == ["5", "7.5", "9"]
    info = {o.id: o for o in ws.staging.list()}[result.overlay]
    assert (info.source, info.status, info.op_count) == ("script", "pending", 2)
    ws.staging.activate(result.overlay)  # ORDER BY page: page 9 becomes 1, page 10 becomes 2
    assert [ws.records.value(c, "cue_number") for c in cues] == ["2", "1", "9"]
    receipt = ws.commit_overlay(result.overlay)
    assert receipt is not None and ws.oplog.size().bundles == bundles + 1
    assert [ws.records.value(c, "cue_number") for c in cues] == ["2", "1", "9"]
    assert act


def test_reads_writes_membership_edges_and_ordered_edges(peer_factory) -> None:
    """The shared script (it checks its own reads), then what it left, read through Python."""
    ws = peer_factory("Alice").ws
    result = run(ws, API["records, tables, edges and text"])
    assert result.status == "committed" and result.bundle is not None
    [cue] = ws.records.all(CUES)  # the second cue was deleted by the script
    assert (cue.get("cue_number"), cue.get("page"), cue.get("label")) == ("1", 12, None)
    assert ws.records.render(cue.id, "description") == "Cool"
    [cue_list] = ws.records.ids("lighting.CueLists")
    assert [e.source for e in ws.records.ordered_list(cue_list, "lighting.in_cue_list")] == [cue.id]


def test_list_fields_json_log_context_and_conflicts(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    ws.adopt_module(PROPS_MODULE)
    holder = ws.create_record("props.Props", {"item": "Dagger"})
    tags = "props.Props.tags"
    source = f"""
    core.list.append(args.id, "{tags}", "a")
    core.list.append(args.id, "{tags}", "c")
    core.list.insert(args.id, "{tags}", 1, "b")
    core.list.remove_at(args.id, "{tags}", 0)
    core.list.remove(args.id, "{tags}", "c")
    local text = json.encode({{ n = 1, list = {{1, 2}}, name = "x" }})
    assert(text == '{{"list": [1, 2], "n": 1, "name": "x"}}', text)
    assert(json.decode('{{"a": [true, 2.5]}}').a[2] == 2.5)
    local ok, err = pcall(json.decode, "{{nope")
    assert(not ok and err:find("not valid JSON"))
    assert(context.user().name == "Alice" and context.script() == "test")
    assert(context.trigger_entity() == nil and context.cancelled() == false)
    assert(type(context.hlc_time()) == "string")
    assert(#core.get_conflicts() == 0)
    log.debug("d") log.warn("w") log.error("e") print("p", 1, nil)
    """
    result = run(ws, source, args={"id": holder})
    assert ws.records.value(holder, tags) == ["b"]
    assert [(e.level, e.message) for e in result.events] == [("debug", "d"), ("warn", "w"), ("error", "e"),
                                                              ("info", "p\t1\tnil")]


def test_a_failing_write_is_catchable_and_skip_mode_skips_it(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    cue = ws.create_record(CUES, {"cue_number": "1"})
    source = """
    local ok, err = pcall(core.set_field, args.cue, "no_such_field", 1)
    assert(args.skip or (not ok and err:find("unknown field")), err)
    core.set_field(args.cue, "page", 3)
    core.set_field("00000000-0000-0000-0000-000000000000", "page", 4)
    core.set_field(args.cue, "label", "after")
    """
    with pytest.raises(ScriptError) as failed:
        run(ws, source, args={"cue": cue})
    assert failed.value.kind == "error" and "test:5:" in failed.value.message
    assert ws.records.value(cue, "page") is None and ws.records.value(cue, "label") is None  # nothing kept
    result = run(ws, source, args={"cue": cue, "skip": True}, on_error="skip")
    assert result.status == "committed" and len(result.skipped) == 2
    assert ws.records.value(cue, "page") == 3 and ws.records.value(cue, "label") == "after"
    assert any(e.level == "warn" and e.message.startswith("skipped:") for e in result.events)


@pytest.mark.parametrize("case", sorted(API))
def test_the_shared_api_scripts_pass(peer_factory, case: str) -> None:
    """The self-checking scripts the browser also runs on wasmoon."""
    ws = peer_factory("Alice").ws
    result = run_script(ws, ENGINE, Script(name="api", source=API[case]), args={"n": 3, "word": "go"})
    assert result.status in ("staged", "unchanged")
    if case.startswith("json"):
        assert [(e.kind, e.level) for e in result.events] == [
            ("progress", "start"), ("progress", "update"), ("progress", "update"), ("progress", "update"),
            ("progress", "complete"), ("toast", "info"), ("toast", "warn"), ("log", "info")]
