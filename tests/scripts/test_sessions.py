"""Script sessions: a run stages into its own overlay by default or commits one bundle when asked,
and a run that fails (syntax, an error, a bad query, a limit) leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from openprod import ValidationError
from openprod.bundle import decode_bundle
from openprod.lua_lupa import LupaEngine
from openprod.scripts import Limits, Script, ScriptError, run_script

CUES = "lighting.LightingCues"
ENGINE = LupaEngine()
SMALL = Limits(instructions=2_000_000, memory_bytes=16 * 2**20)

UPDATE_ALL = """
for i, cue in ipairs(core.query("table == 'LightingCues' ORDER BY cue_number")) do
    core.set_field(cue.id, "page", i)
end
"""


def snapshot(ws: Any) -> tuple[Any, ...]:
    return (ws.state_hash(), ws.oplog_size().bundles, [(o.id, o.op_count) for o in ws.list_overlays()],
            ws.active_overlay)


def cues(ws: Any, n: int) -> list[str]:
    return [ws.create_record(CUES, {"cue_number": str(i + 1)}) for i in range(n)]


def test_auto_commit_makes_exactly_one_signed_bundle_of_kind_script(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    made = cues(ws, 30)
    before = ws.oplog_size().bundles
    result = run_script(ws, ENGINE, Script(name="pages", source=UPDATE_ALL, mode="autoCommit"))
    assert result.status == "committed" and result.op_count == 30
    assert ws.oplog_size().bundles == before + 1
    stored = list(ws.bundles())[-1]
    bundle = decode_bundle(stored.wire)
    assert bundle.header.kind == "script" and len(bundle.ops) == 30
    assert bundle.header.meta["script"] == "pages" and len(bundle.header.meta["script_sha256"]) == 64
    assert [ws.get(c, "page") for c in made] == list(range(1, 31))


def test_session_mode_stages_then_one_bundle_on_commit_and_keeps_the_persons_overlay(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    made = cues(ws, 5)
    mine = ws.create_overlay("My edits")
    ws.set_field(made[0], "label", "mine")
    before = ws.oplog_size().bundles
    result = run_script(ws, ENGINE, Script(name="pages", source=UPDATE_ALL))
    assert result.status == "staged" and result.op_count == 5
    assert ws.active_overlay == mine and ws.get(made[0], "page") is None  # the script's work is apart
    assert ws.get(made[0], "label") == "mine"
    ws.stash_overlay(mine)
    assert ws.oplog_size().bundles == before
    ws.activate_overlay(result.overlay)
    assert [ws.get(c, "page") for c in made] == [1, 2, 3, 4, 5] and ws.get(made[0], "label") is None
    ws.commit_overlay(result.overlay)
    assert ws.oplog_size().bundles == before + 1
    assert [o.id for o in ws.list_overlays()] == [mine]


def test_a_run_that_writes_nothing_leaves_no_overlay(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    before = snapshot(ws)
    result = run_script(ws, ENGINE, Script(name="read only", source="local n = #core.query('table == \"Contacts\"')"))
    assert result.status == "unchanged" and result.overlay is None and snapshot(ws) == before


def test_the_script_sees_its_own_staged_writes(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    source = """
    local cue = core.create_entity({ table = "LightingCues", fields = { cue_number = "42" } })
    local found = core.query_one("table == 'LightingCues' AND cue_number == ?", "42")
    assert(found and found.id == cue.id, "not visible to its own query")
    """
    assert run_script(ws, ENGINE, Script(name="see", source=source)).status == "staged"


FAILING = {
    "syntax": ("core.set_field(args.id, 'page', 1)\nlocal x = = 2", "syntax", "fail:2:"),
    "error": ("core.set_field(args.id, 'page', 1)\nerror('stop here')", "error", "stop here"),
    "bad query": ("core.set_field(args.id, 'page', 1)\ncore.query('page >>> 1')", "error", "line 1"),
    "runaway loop": ("core.set_field(args.id, 'page', 1)\nwhile true do end", "limit", "instruction limit"),
    "memory bomb": ("core.set_field(args.id, 'page', 1)\nlocal t = {} for i = 1, 1e9 do t[i] = {} end", "limit",
                    "memory limit"),
    "sandbox": ("core.set_field(args.id, 'page', 1)\nos.execute('id')", "sandbox", "os"),
    "bad write": ("core.set_field(args.id, 'page', 1)\ncore.set_field(args.id, 'page', 'not a number')", "error",
                  "expected a number"),
}


@pytest.mark.parametrize("mode", ["session", "autoCommit"])
@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_failing_run_leaves_nothing_behind(peer_factory, case: str, mode: str) -> None:
    ws = peer_factory("Alice").ws
    cue = cues(ws, 1)[0]
    source, kind, words = FAILING[case]
    before = snapshot(ws)
    with pytest.raises(ScriptError) as failed:
        run_script(ws, ENGINE, Script(name="fail", source=source, mode=mode), args={"id": cue}, limits=SMALL)
    assert failed.value.kind == kind and words in failed.value.message, failed.value.message
    assert "\n" not in failed.value.line()
    assert snapshot(ws) == before and ws.get(cue, "page") is None
    # and the workspace still works afterwards
    ws.set_field(cue, "page", 7)
    assert ws.get(cue, "page") == 7


def test_bad_configuration_is_refused_before_anything_runs() -> None:
    for bad in ({"mode": "later"}, {"on_error": "prompt"}, {"name": " "}):
        with pytest.raises(ValidationError):
            Script(**{"name": "x", "source": "", **bad})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Limits(memory_bytes=1000)
