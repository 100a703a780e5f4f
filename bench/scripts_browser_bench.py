"""Scripts in the browser: the scripts benchmark's Lua script (set the page of every one of 10,000
cues) run by the web app's worker on wasmoon under Pyodide, in headless Debian Chromium.

Timed in the page: one `script_run` call (session mode: staged into its own overlay, as every run in
the browser is), from the call to its answer, median of N; the overlay is thrown away between runs.
Reference, in the same run: the same script in session mode on CPython with lupa, on an in-memory
workspace with the same 10,000 cues (the browser's SQLite is in memory too), and the same edits
through the Python API on CPython.

Run: `python -m bench.scripts_browser_bench [--records N] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openprod import Workspace, connect
from openprod.lua_lupa import LupaEngine
from openprod.scripts import Limits, Script, run_script
from openprod.starter import starter_manifests

from .browser_bench import ARGS, CHROMIUM, ROOT, Tab, chromium_version
from .peers import make_env
from .scripts_bench import PAGE, SOURCE
from .sync_common import RelayProcess

SEED = """
for i = 1, args.n do
  core.create_record("lighting.LightingCues", { cue_number = tostring(i) })
end
"""
TIMED = """async ([source]) => {
  const t0 = performance.now();
  const out = await window.openprod.api.call('script_run', { name: 'pages', source, instructions: 1000000000,
                                                            memory_mib: 512 });
  return [performance.now() - t0, out];
}"""


def in_browser(records: int, repeats: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="openprod-scripts-bench-") as folder, sync_playwright() as p:
        relay = RelayProcess(Path(folder) / "relay")
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            tab = Tab(browser, relay.url, "Bench Scripts")
            tab.api("createWorkspace", "Scripts bench", ["lighting"])
            seeded = tab.call("script_run", name="seed", source=SEED, args={"n": records},
                              instructions=10**9, memory_mib=512)
            tab.call("stage_activate", overlay=seeded["overlay"])
            tab.call("stage_commit")
            times = []
            for _ in range(repeats):
                elapsed, out = tab.page.evaluate(TIMED, [SOURCE])
                if out.get("status") != "staged" or out.get("ops") != records:
                    raise SystemExit(f"CHECK FAILED: the browser run answered {out}")
                times.append(elapsed / 1000)
                tab.call("stage_discard", overlay=out["overlay"])
            tab.close()
        finally:
            browser.close()
            relay.stop()
    return times


def on_cpython(records: int, repeats: int) -> tuple[list[float], list[float]]:
    script_times, python_times = [], []
    for _ in range(repeats):
        ws = Workspace.create(connect(":memory:"), make_env("Bench", 1), "Scripts bench")
        ws.adopt_module(starter_manifests()["lighting"])
        with ws.transaction() as tx:
            for n in range(records):
                tx.create_record("lighting.LightingCues", {"cue_number": str(n + 1)})
        start = time.perf_counter()
        result = run_script(ws, LupaEngine(), Script(name="pages", source=SOURCE),
                            limits=Limits(instructions=10**9, memory_bytes=512 * 2**20))
        script_times.append(time.perf_counter() - start)
        ws.staging.discard(result.overlay or "")
        start = time.perf_counter()
        with ws.transaction() as tx:
            for i, rid in enumerate(ws.views.query("table == 'LightingCues'"), start=1):
                tx.set_field(rid, PAGE, i)
        python_times.append(time.perf_counter() - start)
        ws.close()
    return script_times, python_times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args(argv)
    subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    browser_times = in_browser(opts.records, opts.repeats)
    script_times, python_times = on_cpython(opts.records, opts.repeats)
    med_browser, med_script, med_python = (statistics.median(t) for t in (browser_times, script_times, python_times))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({"browser": chromium_version(), "date": time.strftime("%Y-%m-%d"), "commit": commit,
                      "records": opts.records, "repeats": opts.repeats}))
    print(f"  Lua script in the browser (wasmoon, Pyodide, session): {med_browser:.2f} s  "
          f"ratio to the same script on CPython (lupa): {med_browser / med_script:.2f}x, "
          f"to the Python API on CPython: {med_browser / med_python:.2f}x")
    print(f"  Lua script on CPython (lupa, session, in memory):      {med_script:.2f} s")
    print(f"  Python API on CPython (one bundle, in memory):          {med_python:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
