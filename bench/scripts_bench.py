"""Scripts benchmark: a Lua script that updates 10,000 records, against the same edits through the
Python API, in the same process on the same kind of workspace file.

Both sides make the same 10,000 edits (each cue's page set to its position) as one bundle: the
script (lupa, Lua 5.4, autoCommit mode) reads the cues with `core.query` and calls
`core.set_field` for each; the reference runs `ws.views.query` and `tx.set_field` in one
`ws.transaction()`. Each run starts from a fresh copy of the same workspace file, the two sides
alternate, and the figure is the median of N. The script is also timed in session mode (staged
into its own overlay, nothing signed). Values are checked equal after each run.

Run: `python -m bench.scripts_bench [--records N] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openprod import Workspace, connect
from openprod.lua_lupa import LupaEngine
from openprod.scripts import Limits, Script, run_script
from openprod.starter import starter_manifests

from .peers import make_env

CUES = "lighting.LightingCues"
PAGE = "lighting.LightingCues.page"
SOURCE = """
for i, cue in ipairs(core.query("table == 'LightingCues'")) do
    core.set_field(cue.id, "page", i)
end
"""
LIMITS = Limits(instructions=10**9, memory_bytes=512 * 2**20)


def seed(path: Path, records: int) -> None:
    ws = Workspace.create(connect(str(path)), make_env("Bench", 1), "Scripts bench")
    ws.adopt_module(starter_manifests()["lighting"])
    for start in range(0, records, 1000):
        with ws.transaction() as tx:
            for n in range(start, min(records, start + 1000)):
                tx.create_record(CUES, {"cue_number": str(n + 1)})
    ws.close()


def opened(path: Path) -> Workspace:
    return Workspace.open(connect(str(path)), make_env("Bench", 1))


def by_script(path: Path, mode: str) -> tuple[float, Any]:
    ws = opened(path)
    start = time.perf_counter()
    result = run_script(ws, LupaEngine(), Script(name="pages", source=SOURCE, mode=mode), limits=LIMITS)
    elapsed = time.perf_counter() - start
    if mode == "session":
        assert result.overlay is not None  # a session script leaves its changes in an overlay
        ws.staging.activate(result.overlay)
    with ws.staging.reading():  # one overlay view for all the reads (on a file each read replays it)
        pages = [ws.records.value(rid, PAGE) for rid in ws.views.query("table == 'LightingCues'")]
    ws.close()
    return elapsed, pages


def by_python(path: Path) -> tuple[float, Any]:
    ws = opened(path)
    start = time.perf_counter()
    with ws.transaction() as tx:
        for i, rid in enumerate(ws.views.query("table == 'LightingCues'"), start=1):
            tx.set_field(rid, PAGE, i)
    elapsed = time.perf_counter() - start
    pages = [ws.records.value(rid, PAGE) for rid in ws.views.query("table == 'LightingCues'")]
    ws.close()
    return elapsed, pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        seed(base, opts.records)
        times: dict[str, list[float]] = {"script": [], "python": [], "script-session": []}
        expected = list(range(1, opts.records + 1))
        for _ in range(opts.repeats):
            for side in ("python", "script", "script-session"):
                copy = Path(tmp) / f"{side}.db"
                shutil.copy(base, copy)
                if side == "python":
                    elapsed, pages = by_python(copy)
                else:
                    elapsed, pages = by_script(copy, "session" if side == "script-session" else "autoCommit")
                if pages != expected:
                    print(f"CHECK FAILED: {side} left different pages")
                    return 1
                times[side].append(elapsed)
                copy.unlink()
    med = {k: statistics.median(v) for k, v in times.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"scripts bench: {opts.records:,} records, median of {opts.repeats}, {platform.machine()} "
          f"{platform.python_version()}, commit {commit}")
    print(f"  Lua script, autoCommit (one bundle): {med['script']:.2f} s  "
          f"ratio to the Python API: {med['script'] / med['python']:.2f}x")
    print(f"  Lua script, session (staged):        {med['script-session']:.2f} s  "
          f"ratio to the Python API: {med['script-session'] / med['python']:.2f}x")
    print(f"  Python API (reference, one bundle):  {med['python']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
