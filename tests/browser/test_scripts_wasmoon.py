"""Lua scripts in a real browser: wasmoon (Lua 5.4 in WebAssembly, vendored by build.py) under the
same core as on CPython, through the worker's API. The sandbox escapes, the limits and the
self-checking host API scripts of tests/scripts/script_cases.py all run here too."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from script_cases import ALLOWED, API, ESCAPES

pytestmark = pytest.mark.chromium_only(
    reason="the Lua engine is WebAssembly run by the same worker code in both engines; one engine keeps the lane short")


def run(app: AppPage, name: str, source: str, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = app.page.evaluate(
        "([a]) => window.openprod.api.call('script_run', a)", [{"name": name, "source": source, **kw}])
    return result


def test_the_script_suite_runs_on_wasmoon(context: Any, server: Any) -> None:
    app = AppPage(context.new_page())
    app.open(server.url)
    app.ensure_identity()
    app.create_workspace("Scripts")
    before = app.call("state_hash")
    failures = []
    for name, (source, kind, words) in sorted(ESCAPES.items()):
        out = run(app, "escape", source, instructions=5_000_000, memory_mib=16)
        if not (out.get("status") == "failed" and out.get("kind") == kind and words in out.get("message", "")):
            failures.append((name, out))
    assert failures == []
    assert app.call("state_hash") == before  # nothing any of them did was kept
    assert run(app, "ok", ALLOWED)["status"] == "unchanged"
    for name, source in sorted(API.items()):
        out = run(app, "api", source, args={"n": 3, "word": "go"})
        assert out["status"] in ("staged", "unchanged"), (name, out)
        if name.startswith("json"):
            assert [(e["kind"], e["level"]) for e in out["events"]] == [
                ("progress", "start"), ("progress", "update"), ("progress", "update"), ("progress", "update"),
                ("progress", "complete"), ("toast", "info"), ("toast", "warn"), ("log", "info")]
    assert app.errors == [] and app.external == []


def test_a_script_run_waits_for_review_and_commits_as_one_bundle(context: Any, server: Any) -> None:
    app = AppPage(context.new_page())
    app.open(server.url)
    app.ensure_identity()
    app.create_workspace("Renumber")
    for n in ("5", "7.5", "9"):
        app.call("create_record", table="lighting.LightingCues", values={"lighting.LightingCues.cue_number": n})
    source = """
    local cues = core.query("table == 'LightingCues' ORDER BY cue_number")
    ui.progress.start("Renumbering cues", { total = #cues })
    for i, cue in ipairs(cues) do core.set_field(cue.id, "cue_number", tostring(i * 10)) ui.progress.update(i) end
    ui.progress.complete()
    """
    logged = app.stats()["workspace"]["loggedSeq"]
    out = run(app, "Renumber cues", source)
    assert out["status"] == "staged" and out["ops"] == 3
    staging = app.call("staging")
    pending = [o for o in staging["overlays"] if o["status"] == "pending"]
    assert [(o["id"], o["name"]) for o in pending] == [(out["overlay"], "Renumber cues")]
    assert app.stats()["workspace"]["loggedSeq"] == logged  # nothing real yet
    app.call("stage_activate", overlay=out["overlay"])
    app.call("stage_commit")
    assert app.stats()["workspace"]["loggedSeq"] == logged + 1  # one signed bundle
    failed = run(app, "loop", "core.create_record('lighting.CueLists', { name = 'x' }) while true do end",
                 instructions=1_000_000)
    assert (failed["status"], failed["kind"]) == ("failed", "limit") and "instruction limit" in failed["message"]
    assert app.stats()["workspace"]["loggedSeq"] == logged + 1
    assert [o for o in app.call("staging")["overlays"] if o["status"] == "pending"] == []
