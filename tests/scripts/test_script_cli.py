"""`openprod script run` as a subprocess against a real SQLite workspace file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from openprod import Env, Identity, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openprod_server.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def show(tmp_path: Path) -> Path:
    assert cli("identity", "create", "--out", "me.json", "--name", "Sam", cwd=tmp_path).returncode == 0
    made = cli("init", "--db", "show.db", "--identity", "me.json", "--name", "Hamlet", "--module", "lighting",
               cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (tmp_path / "add.lua").write_text("""
ui.progress.start("Adding cues", { total = args.n })
for i = 1, args.n do
  local number = tostring(args.first + i - 1)
  core.create_entity({ table = "LightingCues", fields = { cue_number = number, label = args.label } })
  ui.progress.update(i)
end
ui.toast("added " .. args.n)
""")
    return tmp_path


def opened(folder: Path) -> Workspace:
    me = Identity.from_json((folder / "me.json").read_text())
    return Workspace.open(connect(str(folder / "show.db")), Env(signer=NaclSigner(me), verifier=NaclVerifier(),
                                                                 display_name=me.display_name))


def state(folder: Path) -> tuple[int, str, int]:
    ws = opened(folder)
    try:
        return ws.oplog.size().bundles, ws.state_hash(), len(ws.staging.list())
    finally:
        ws.close()


def test_without_commit_it_prints_what_it_staged_and_leaves_it_for_review(show: Path) -> None:
    bundles, digest, _ = state(show)
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "add.lua", "--arg", "n=2",
              "--arg", "first=11", "--arg", "label=Warm wash", cwd=show)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(x["event"], x["level"], x["current"]) for x in lines[:-1]] == [
        ("progress", "start", 0), ("progress", "update", 1), ("progress", "update", 2), ("toast", "info", None)]
    summary = lines[-1]
    assert summary["status"] == "staged" and summary["bundle"] is None
    labels = [s["now"] for s in summary["staged"] if s["field"] == "lighting.LightingCues.label"]
    numbers = [s["now"] for s in summary["staged"] if s["field"] == "lighting.LightingCues.cue_number"]
    assert labels == ["Warm wash", "Warm wash"] and numbers == ["11", "12"]
    assert state(show)[:2] == (bundles, digest)  # nothing real yet
    ws = opened(show)
    [pending] = ws.staging.list()
    assert (pending.id, pending.source, pending.status) == (summary["overlay"], "script", "pending")
    assert ws.commit_overlay(pending.id) is not None and len(ws.records.ids("lighting.LightingCues")) == 2
    ws.close()


def test_with_commit_it_commits_one_bundle(show: Path) -> None:
    bundles, _, _ = state(show)
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "add.lua", "--arg", "n=3",
              "--arg", "first=1", "--arg", "label=x", "--commit", cwd=show)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.splitlines()[-1])
    assert summary["status"] == "committed" and summary["bundle"]
    after = state(show)
    assert after[0] == bundles + 1 and after[2] == 0


@pytest.mark.parametrize(("source", "reason"), [
    ("while true do end", "Error: limit: instruction limit reached"),
    ("local t = {} for i = 1, 1e9 do t[i] = {} end", "Error: limit: memory limit reached"),
    ("os.execute('id')", "Error: sandbox: a script may not use os"),
    ("local x = = 1", "Error: syntax: bad:1: unexpected symbol"),
    ("core.query('name === 1')", "Error: error: bad:1: "),
    ("core.create_entity({ table = 'LightingCues', fields = { cue_number = '1' } })\nerror('no')",
     "Error: error: bad:2: no"),
])
def test_a_failing_script_exits_1_with_one_line_and_changes_nothing(show: Path, source: str, reason: str) -> None:
    before = state(show)
    (show / "bad.lua").write_text(source)
    for extra in ([], ["--commit"]):
        run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "bad.lua", *extra, cwd=show)
        assert run.returncode == 1
        assert run.stderr.startswith(reason) and run.stderr.count("\n") == 1, run.stderr
        assert state(show) == before


def test_bad_arguments_are_refused(show: Path) -> None:
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "add.lua", "--arg", "novalue", cwd=show)
    assert run.returncode == 1 and "name=value" in run.stderr
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "missing.lua", cwd=show)
    assert run.returncode == 1 and "no script file missing.lua" in run.stderr
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "module:nope", cwd=show)
    assert run.returncode == 1 and "no script 'module:nope'" in run.stderr
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "module:renumber_cues", "--arg", "from=1",
              cwd=show)
    assert run.returncode == 1 and "Last cue of the range: this is needed" in run.stderr
    (show / "binary.lua").write_bytes(b"\xff\xfe\x00")
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "binary.lua", cwd=show)
    assert run.returncode == 1 and "not UTF-8" in run.stderr


FILES = """
local text = core.await(fs.read(args.path))
local n = 0
for line in text:gmatch("[^\\n]+") do
  n = n + 1
  if n > 1 then core.create_record("lighting.LightingCues", { cue_number = line:match("^[^,]+") }) end
end
fs.write("exports/count.txt", tostring(n - 1) .. " cues")
if args.fail then error("failed after writing") end
"""


def test_files_only_with_a_granted_capability_inside_the_workspace_folder(show: Path, tmp_path: Path) -> None:
    (show / "imports").mkdir()
    (show / "imports" / "cues.csv").write_text("Cue,Label\n1,Top\n2,Wash\n")
    (show / "files.lua").write_text(FILES)
    (tmp_path.parent / "secret.csv").write_text("Cue\nstolen\n")
    (show / "imports" / "link.csv").symlink_to(tmp_path.parent / "secret.csv")
    base = ["script", "run", "--db", "show.db", "--identity", "me.json", "files.lua"]
    read_write = ["--allow", "fs.read:imports/*.csv", "--allow", "fs.write:exports/*"]
    before = state(show)
    refusals = [
        ([], "sandbox: a script may not use fs (files) without the fs.read or fs.write capability"),
        (["--allow", "fs.read:imports/*.txt"], "needs the capability fs.read:imports/cues.csv"),
        (["--allow", "fs.read:imports/*.csv"], "sandbox: fs.write was not granted to this script"),
        ([*read_write, "--arg", "path=../secret.csv"], "outside the workspace's folder"),
        ([*read_write, "--arg", "path=imports/link.csv"], "outside the workspace's folder"),
        ([*read_write, "--arg", "path=imports/none.csv"], "no file 'imports/none.csv'"),
        ([*read_write, "--arg", "fail=true"], "failed after writing"),
        (["--allow", "fs.read:/etc/*"], "must stay inside the workspace's folder"),
        (["--allow", "net.http"], "write it as fs.read:GLOB"),
    ]
    for extra, words in refusals:
        args = extra if any(a.startswith("path=") for a in extra) else [*extra, "--arg", "path=imports/cues.csv"]
        run = cli(*base, *args, "--commit", cwd=show)
        assert run.returncode == 1 and words in run.stderr, (extra, run.stderr)
        assert state(show) == before and not (show / "exports").exists()
    run = cli(*base, *read_write, "--arg", "path=imports/cues.csv", "--commit", cwd=show)
    assert run.returncode == 0, run.stderr
    assert (show / "exports" / "count.txt").read_text() == "2 cues"
    assert state(show)[0] == before[0] + 1


def test_shipped_scripts_are_listed_and_run_by_id(show: Path) -> None:
    listed = cli("script", "list", "--db", "show.db", "--identity", "me.json", cwd=show)
    assert listed.returncode == 0, listed.stderr
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert ids == ["module:renumber_cues", "module:import_cues_csv", "module:fill_call_times"]
    (show / "cues.csv").write_text("Cue,Label\n1,Top\n2,Wash\n")
    mapping = 'mapping={"Cue": "cue_number", "Label": "label"}'
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "module:import_cues_csv",
              "--arg", "csv=" + (show / "cues.csv").read_text(), "--arg", mapping, "--commit", cwd=show)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["status"] == "committed"
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "module:renumber_cues", "--arg", "from=1",
              "--arg", "to=2", "--arg", "start=10", cwd=show)
    assert run.returncode == 0, run.stderr
    staged = json.loads(run.stdout.splitlines()[-1])["staged"]
    assert [s["now"] for s in staged if s["field"] == "lighting.LightingCues.cue_number"] == ["10", "11"]


def test_a_committed_run_fires_the_workspaces_triggers(show: Path) -> None:
    from openprod.scripts import save_script, save_trigger

    ws = opened(show)
    marker = save_script(ws, "Mark page", '--@arg cue text "Cue"\ncore.set_field(args.cue, "page", 42)\n')
    save_trigger(ws, name="label sets page", field="lighting.LightingCues.label", script=marker,
                 when="new_value == 'GO'", params={"cue": "$source"}, mode="autoCommit",
                 writes=["lighting.LightingCues.page"])
    ws.close()
    (show / "go.lua").write_text("core.create_record('lighting.LightingCues', { cue_number = '7', label = 'GO' })\n"
                                 "core.create_record('lighting.LightingCues', { cue_number = '8', label = 'wait' })\n")
    run = cli("script", "run", "--db", "show.db", "--identity", "me.json", "go.lua", "--commit", cwd=show)
    assert run.returncode == 0, run.stderr
    triggered = json.loads(run.stdout.splitlines()[-1])["triggered"]
    assert [(t["trigger"], t["status"], t["depth"]) for t in triggered] == [
        ("label sets page", "committed", 1), ("label sets page", "unchanged", 1)]
    ws = opened(show)
    pages = {r.get("cue_number"): r.get("page") for r in ws.records.all("lighting.LightingCues")}
    ws.close()
    assert pages == {"7": 42, "8": None}


def test_grants_recorded_per_user_are_honoured_and_kept_local(show: Path) -> None:
    """`script grant` records who may use which files (who granted it, when) beside the workspace
    file, never in the workspace; `script run` uses the runner's own grants; others get none."""
    (show / "imports").mkdir()
    (show / "imports" / "cues.csv").write_text("Cue,Label\n1,Top\n2,Wash\n")
    (show / "files.lua").write_text(FILES)
    assert cli("identity", "create", "--out", "other.json", "--name", "Kim", cwd=show).returncode == 0
    me = json.loads((show / "me.json").read_text())["actor_id"]
    other = json.loads((show / "other.json").read_text())["actor_id"]
    run_as = ["script", "run", "--db", "show.db", "files.lua", "--arg", "path=imports/cues.csv", "--commit"]
    before = state(show)
    refused = cli(*run_as, "--identity", "me.json", cwd=show)
    assert refused.returncode == 1 and "without the fs.read or fs.write capability" in refused.stderr
    granted = cli("script", "grant", "--db", "show.db", "--identity", "me.json", "fs.read:imports/*.csv",
                  "fs.write:exports/*", cwd=show)
    assert granted.returncode == 0, granted.stderr
    lines = [json.loads(line)["granted"] for line in granted.stdout.splitlines()]
    assert [(g["user"], g["capability"], g["granted_by"], g["granted_by_name"]) for g in lines] == [
        (me, "fs.read:imports/*.csv", me, "Sam"), (me, "fs.write:exports/*", me, "Sam")]
    assert all(g["granted_at"].endswith("+00:00") for g in lines)
    assert state(show) == before  # recorded beside the file, not in the workspace (nothing to sync)
    assert json.loads((show / "show.db.grants.json").read_text())["version"] == 1
    # the grants are this user's: someone else running the same script has none
    other_run = cli(*run_as, "--identity", "other.json", cwd=show)
    assert other_run.returncode == 1 and "without the fs.read or fs.write capability" in other_run.stderr
    ok = cli(*run_as, "--identity", "me.json", cwd=show)
    assert ok.returncode == 0, ok.stderr
    assert (show / "exports" / "count.txt").read_text() == "2 cues"
    # granted to someone else by me, listed with who granted what
    assert cli("script", "grant", "--db", "show.db", "--identity", "me.json", "--to", other, "fs.read:imports/*",
               cwd=show).returncode == 0
    listed = [json.loads(line) for line in cli("script", "grants", "--db", "show.db", cwd=show).stdout.splitlines()]
    assert [(g["user"], g["capability"], g["granted_by"]) for g in listed] == [
        (me, "fs.read:imports/*.csv", me), (me, "fs.write:exports/*", me), (other, "fs.read:imports/*", me)]
    # no script reaches the workspace file or the grants, even with a glob that matches them
    (show / "steal.lua").write_text('fs.write("show.db.grants.json", "{}")')
    assert cli("script", "grant", "--db", "show.db", "--identity", "me.json", "fs.write:*", cwd=show).returncode == 0
    stolen = cli("script", "run", "--db", "show.db", "--identity", "me.json", "steal.lua", "--commit", cwd=show)
    assert stolen.returncode == 1 and "the workspace's own file" in stolen.stderr
    assert json.loads((show / "show.db.grants.json").read_text())["grants"]
    # revoked, it is gone; bad input changes nothing
    assert cli("script", "revoke", "--db", "show.db", "--identity", "me.json", "fs.read:imports/*.csv",
               "fs.write:exports/*", "fs.write:*", cwd=show).returncode == 0
    again = cli(*run_as, "--identity", "me.json", cwd=show)
    assert again.returncode == 1 and "without the fs.read or fs.write capability" in again.stderr
    kept = (show / "show.db.grants.json").read_text()
    for bad, words in ((["revoke", "fs.read:nothing"], "not granted"), (["grant", "net.http"], "fs.read:GLOB"),
                       (["grant", "--to", "nobody", "fs.read:x"], "actor id")):
        out = cli("script", bad[0], "--db", "show.db", "--identity", "me.json", *bad[1:], cwd=show)
        assert out.returncode == 1 and words in out.stderr, out.stderr
    assert (show / "show.db.grants.json").read_text() == kept
    (show / "show.db.grants.json").write_text("not json")
    broken = cli(*run_as, "--identity", "me.json", cwd=show)
    assert broken.returncode == 1 and "is not a grants file" in broken.stderr
