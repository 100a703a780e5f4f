"""Measure this slice's costs in a real browser (not a test; run by hand, a few minutes):

    .venv/bin/python tests/browser/measure_collab.py

Builds build/web-debug, serves it on 127.0.0.1, and times `api.call(...)` in the page: cell edits
(canonical and staged), CSV imports of 1,000 and 5,000 rows (preview; a staged edit with the
import staged, plus the status and rows reads the page makes after it; commit), 200 received
bundles and 200 conflicts settled at once. Prints JSON lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from appdriver import AppPage  # noqa: E402
from conftest import CHROMIUM, WEB_DEBUG, start_server  # noqa: E402

T = "contacts.Contacts"


def timed(app: AppPage, method: str, **args: Any) -> tuple[float, Any]:
    ms, result = app.page.evaluate(
        "async ([m, a]) => { const t = performance.now(); const r = await window.openprod.api.call(m, a);"
        " return [performance.now() - t, r]; }", [method, args])
    return float(ms), result


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> None:
    from playwright.sync_api import sync_playwright

    subprocess.run([sys.executable, str(ROOT / "build.py"), "--debug-peer", "--out", str(WEB_DEBUG)], check=True,
                   stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), WEB_DEBUG)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--headless", "--no-sandbox"])
                app = AppPage(browser.new_page()).open(server.url)
                app.ensure_identity()
                app.create_workspace("Measure")
                app.page.goto(f"{server.url}#/")  # measure the worker, not the grid re-rendering thousands of rows
                app.wait_ready()
                rid = app.call("create_record", table=T, values={f"{T}.name": "Jane"})["id"]
                canonical = [timed(app, "set_cell", record=rid, field=f"{T}.phone", value=f"555-{i:04d}")[0]
                             for i in range(30)]
                app.call("stage_start", name="measure")
                staged = [timed(app, "set_cell", record=rid, field=f"{T}.phone", value=f"777-{i:04d}")[0]
                          for i in range(30)]
                app.call("stage_discard")
                print(json.dumps({"canonical_edit_ms": [quantile(canonical, 0.5), quantile(canonical, 0.95)],
                                  "staged_edit_ms": [quantile(staged, 0.5), quantile(staged, 0.95)]}))
                for n in (1000, 5000):
                    text = "Name,Role,Email\n" + "\n".join(f"P{n}-{i},Crew,p{i}@x.org" for i in range(n)) + "\n"
                    import_ms, _ = timed(app, "import_csv", table=T, text=text)
                    edits = []  # what the page does per edit: the write, then its status and the grid's rows
                    for i in range(5):
                        cycle = timed(app, "set_cell", record=rid, field=f"{T}.role", value=f"r{i}")[0]
                        cycle += timed(app, "status")[0] + timed(app, "rows", table=T)[0]
                        edits.append(cycle)
                    commit_ms, _ = timed(app, "stage_commit")
                    print(json.dumps({"rows": n, "import_ms": round(import_ms),
                                      "staged_edit_cycle_ms": quantile(edits, 0.5), "commit_ms": round(commit_ms)}))
                app.api("debugPeer", "create", {"display_name": "Jordan"})
                ids = [r["id"] for r in app.call("rows", table=T)["rows"]][:200]
                for record in ids:
                    app.call("set_cell", record=record, field=f"{T}.department", value="A")
                    app.api("debugPeer", "set_field", {"record": record, "field": f"{T}.department", "value": "B"})
                started = time.perf_counter()
                app.api("debugPeer", "deliver", {})
                deliver_ms = (time.perf_counter() - started) * 1000
                list_ms, listed = timed(app, "conflicts")
                group = listed["groups"][0]
                take = next(x["actor"] for x in group["people"] if x["display_name"] == "Jordan")
                all_ms, done = timed(app, "resolve_all", actors=group["actors"], take=take)
                print(json.dumps({"deliver_200_bundles_ms": round(deliver_ms), "list_200_conflicts_ms": round(list_ms),
                                  "take_side_for_200_ms": round(all_ms), "resolved": done["resolved"]}))
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
