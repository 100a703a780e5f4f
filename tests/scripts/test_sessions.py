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
    return (ws.state_hash(), ws.oplog.size().bundles, [(o.id, o.op_count) for o in ws.staging.list()],
            ws.staging.active)


def cues(ws: Any, n: int) -> list[str]:
    return [ws.create_record(CUES, {"cue_number": str(i + 1)}) for i in range(n)]


def test_auto_commit_makes_exactly_one_signed_bundle_of_kind_script(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    made = cues(ws, 30)
    before = ws.oplog.size().bundles
    result = run_script(ws, ENGINE, Script(name="pages", source=UPDATE_ALL, mode="autoCommit"))
    assert result.status == "committed" and result.op_count == 30
    assert ws.oplog.size().bundles == before + 1
    stored = list(ws.oplog.bundles())[-1]
    bundle = decode_bundle(stored.wire)
    assert bundle.header.kind == "script" and len(bundle.ops) == 30
    assert bundle.header.meta["script"] == "pages" and len(bundle.header.meta["script_sha256"]) == 64
    assert [ws.records.value(c, "page") for c in made] == list(range(1, 31))


def test_session_mode_stages_then_one_bundle_on_commit_and_keeps_the_persons_overlay(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    made = cues(ws, 5)
    mine = ws.staging.create("My edits")
    ws.set_field(made[0], "label", "mine")
    before = ws.oplog.size().bundles
    result = run_script(ws, ENGINE, Script(name="pages", source=UPDATE_ALL))
    assert result.status == "staged" and result.op_count == 5
    assert ws.staging.active == mine and ws.records.value(made[0], "page") is None  # the script's work is apart
    assert ws.records.value(made[0], "label") == "mine"
    ws.staging.stash(mine)
    assert ws.oplog.size().bundles == before
    ws.staging.activate(result.overlay)
    assert [ws.records.value(c, "page") for c in made] == [1, 2, 3, 4, 5] and ws.records.value(made[0], "label") is None
    ws.commit_overlay(result.overlay)
    assert ws.oplog.size().bundles == before + 1
    assert [o.id for o in ws.staging.list()] == [mine]


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
    assert snapshot(ws) == before and ws.records.value(cue, "page") is None
    # and the workspace still works afterwards
    ws.set_field(cue, "page", 7)
    assert ws.records.value(cue, "page") == 7


def test_bad_configuration_is_refused_before_anything_runs() -> None:
    for bad in ({"mode": "later"}, {"on_error": "prompt"}, {"name": " "}):
        with pytest.raises(ValidationError):
            Script(**{"name": "x", "source": "", **bad})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Limits(memory_bytes=1000)


STREAMING = """
ui.progress.start("Adding cues", { total = 3 })
for i = 1, 3 do
    core.create_record("LightingCues", { cue_number = tostring(100 + i) })
    ui.progress.update(i)
end
if args.fail then error("stopped after three") end
ui.progress.complete()
"""


def test_a_session_run_stages_its_writes_as_it_goes(peer_factory) -> None:
    """Watched from the progress events, the run's overlay already holds what it reported doing."""
    ws = peer_factory("Alice").ws
    seen: list[tuple[str, int | None, int]] = []

    def watch(event: Any) -> None:
        overlay = ws.staging.active  # the run's own overlay while it runs
        assert overlay is not None
        created = [op for op in ws.staging.staged_ops(overlay) if op.op_type == "CreateEntity"]
        seen.append((event.level, event.current, len(created)))

    result = run_script(ws, ENGINE, Script(name="add", source=STREAMING), on_event=watch)
    assert result.status == "staged"
    # staged in doubling batches: the first progress already finds the first record in the overlay,
    # and the overlay always holds at least half of what was reported done
    assert seen == [("start", 0, 0), ("update", 1, 1), ("update", 2, 2), ("update", 3, 2), ("complete", 3, 2)]
    assert len([op for op in ws.staging.staged_ops(result.overlay) if op.op_type == "CreateEntity"]) == 3


def test_progress_on_every_write_stages_in_doubling_batches(peer_factory) -> None:
    """A script reporting after each of 200 writes: the overlay is watched growing, never behind
    by more than half, and staged only about log2(200) times (each staging re-reads the overlay)."""
    ws = peer_factory("Alice").ws
    made = cues(ws, 200)
    source = """
    ui.progress.start("Pages", { total = #args.ids })
    for i, id in ipairs(args.ids) do core.set_field(id, "page", i) ui.progress.update(i) end
    """
    seen: list[tuple[int, int]] = []
    sizes: set[int] = set()

    def watch(event: Any) -> None:
        if event.level == "update":
            staged = len(ws.staging.staged_ops(ws.staging.active))
            seen.append((event.current, staged))
            sizes.add(staged)

    result = run_script(ws, ENGINE, Script(name="pages", source=source), args={"ids": made}, on_event=watch)
    assert result.status == "staged" and result.op_count == 200
    assert all(staged * 2 >= done for done, staged in seen), seen
    assert [staged for _, staged in seen] == sorted(staged for _, staged in seen) and seen[0] == (1, 1)
    assert len(sizes) <= 9  # 1, 2, 4, ... 128: one staging each, not 200


def test_a_long_silent_run_stages_in_batches(peer_factory) -> None:
    """Without events the writes still reach the overlay in batches of at least STREAM_EVERY ops
    (doubling); the end result is the same single overlay."""
    from openprod.scripts.host import STREAM_EVERY
    ws = peer_factory("Alice").ws
    sizes: list[int] = []
    source = f"""
    for i = 1, {STREAM_EVERY * 2 + 10} do core.create_record("LightingCues", {{ cue_number = tostring(i) }}) end
    log.info("done")
    """
    result = run_script(ws, ENGINE, Script(name="many", source=source),
                        on_event=lambda e: sizes.append(len(ws.staging.staged_ops(ws.staging.active))))
    assert result.status == "staged" and result.op_count >= STREAM_EVERY * 2 + 10
    [staged] = sizes  # when the script first reported, most of its silent work was in the overlay
    assert staged >= STREAM_EVERY * 2 and staged * 2 >= result.op_count
    assert len(ws.staging.staged_ops(result.overlay)) == result.op_count


def test_a_run_that_fails_after_staging_some_work_leaves_nothing(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    mine = ws.staging.create("My edits")
    before = snapshot(ws)
    staged_mid_run: list[int] = []
    with pytest.raises(ScriptError) as failed:
        run_script(ws, ENGINE, Script(name="add", source=STREAMING), args={"fail": True},
                   on_event=lambda e: staged_mid_run.append(len(ws.staging.staged_ops(ws.staging.active))))
    assert "stopped after three" in failed.value.message
    assert staged_mid_run[-1] >= 3  # the work had reached the overlay before the error
    assert snapshot(ws) == before and ws.staging.active == mine
    assert ws.views.query("table == 'LightingCues'") == []
