"""Grid benchmarks: a 10,000-record table opened and scrolled, and a 1,000-row paste, in Chromium.

`python -m bench.grid_bench [--rows 10000] [--paste 1000]`

Prints JSON figures, each with a reference measured in the same run and the same browser window:

* open: from the route change to the grid's first paint (`openprod-grid-start` ->
  `openprod-grid-painted` marks), with the worker's read of the rows shown apart; and from a reload
  (engine start included). Reference: Tabulator 6.5.3 (the grid library the issue suggested) given the
  same 10,000 rows in memory in a bare page: `new Tabulator()` to its first paint.
* scroll: 60 wheel steps of 900 px and keyboard jumps (End, PageUp, Home) under a Performance trace;
  per frame the wall time, the browser's Long Animation Frame duration, and the main thread's thread
  time (tests/browser/frames.py). Reference: the same wheel steps over Tabulator.
* paste: 1,000 rows of 3 cells pasted with Ctrl+V into the new row: time to staged (the review dialog
  shown). Reference: the worker's own `paste` call for the same text, without the page.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .sync_common import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from conftest import start_server  # type: ignore[import-not-found]  # noqa: E402  (the relay as the tests run it)
from frames import CATEGORIES, frames, summary  # type: ignore[import-not-found]  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BOOT_MS = 120_000
CONTACTS = "contacts.Contacts"
NEXT_FRAME = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
TABULATOR = ROOT / "node_modules" / "tabulator-tables" / "dist"


def contacts_csv(first: int, count: int) -> str:
    return "Name,Role,Department,Email,Phone\n" + "\n".join(
        f"Person {i:05d},Crew {i % 7},Dept {i % 11},p{i}@show.org,555-{i:05d}" for i in range(first, first + count))


def measure(page: Any, start: str, end: str) -> float:
    return float(page.evaluate(f"performance.measure('m', '{start}', '{end}').duration"))


def scroll_trace(browser: Any, page: Any, keys: bool) -> dict[str, float]:
    box = page.locator(".grid-scroll, .tabulator-tableholder").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    browser.start_tracing(page=page, categories=CATEGORIES)
    for _ in range(60):
        page.mouse.wheel(0, 900)
        page.evaluate(NEXT_FRAME)
    if keys:
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for key in ("Control+End", "PageUp", "PageUp", "Control+Home", "PageDown"):
            page.keyboard.press(key)
            page.evaluate(NEXT_FRAME)
    found, _thread_time = frames(browser.stop_tracing())
    figures: dict[str, float] = summary(found)
    return figures


def ours(browser: Any, base: Path, rows: int, paste_rows: int) -> dict[str, Any]:
    relay = start_server(base / "relay")
    origin = relay.origin
    context = browser.new_context(viewport={"width": 1180, "height": 820})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page = context.new_page()
    page.set_default_timeout(BOOT_MS)

    def call(method: str, **params: Any) -> Any:
        return page.evaluate("([m, a]) => window.openprod.api.call(m, a)", [method, params])

    try:
        page.goto(origin + "/")
        page.wait_for_selector("body[data-ready]")
        page.get_by_label("Display name").fill("Bench")
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Workspace name").fill("Big show")
        page.get_by_role("button", name="Create workspace").click()
        page.get_by_label("I have written them down").check()  # the recovery words, shown once
        page.get_by_role("button", name="Open the workspace").click()
        page.wait_for_selector("table.grid")
        ws = page.url.split("#/w/")[1].split("/")[0]
        for first in range(0, rows, 5_000):
            call("import_csv", table=CONTACTS, text=contacts_csv(first, min(5_000, rows - first)), match_on=[])
            call("stage_commit")
        opens, reads, renders = [], [], []
        for _ in range(3):  # away to another table and back: the table screen opened from the worker's rows
            page.goto(f"{origin}/#/w/{ws}/t/schedule.Events")
            page.wait_for_selector("table.grid[aria-rowcount='2']")
            page.evaluate("performance.clearMarks(); performance.clearMeasures()")
            page.goto(f"{origin}/#/w/{ws}/t/{CONTACTS}")
            page.wait_for_function("performance.getEntriesByName('openprod-grid-painted').length > 0", timeout=BOOT_MS)
            opens.append(measure(page, "openprod-grid-start", "openprod-grid-painted"))
            reads.append(measure(page, "openprod-grid-start", "openprod-grid-rows"))
            renders.append(measure(page, "openprod-grid-rows", "openprod-grid-painted"))
        started = time.perf_counter()
        page.reload()
        page.wait_for_function("performance.getEntriesByName('openprod-grid-painted').length > 0", timeout=BOOT_MS)
        reload_ms = (time.perf_counter() - started) * 1000
        scroll = scroll_trace(browser, page, keys=True)

        text = "\r\n".join(f"Pasted {i:05d}\tCrew\tPaste" for i in range(paste_rows))
        fields = [f"{CONTACTS}.{f}" for f in ("name", "role", "department")]
        worker_pastes, pastes = [], []
        for _ in range(3):  # the reference first, on a quiet worker: the same paste, called directly
            started = time.perf_counter()
            assert call("paste", table=CONTACTS, text=text, records=[], fields=fields)["staged"]
            worker_pastes.append((time.perf_counter() - started) * 1000)
            call("stage_discard")
            page.wait_for_selector("#staging-banner", state="hidden")
        for _ in range(3):
            page.locator(".grid-scroll").evaluate("s => { s.scrollTop = s.scrollHeight; }")
            page.locator("table.grid tr.draft-row td").first.click()
            page.evaluate("t => navigator.clipboard.writeText(t)", text)
            page.evaluate("performance.clearMarks()")
            page.keyboard.press("Control+v")
            page.wait_for_function("performance.getEntriesByName('openprod-paste-staged').length > 0",
                                   timeout=BOOT_MS)
            pastes.append(measure(page, "openprod-paste-start", "openprod-paste-staged"))
            page.get_by_role("dialog").get_by_role("button", name="Discard paste").click()
            page.get_by_role("dialog").get_by_role("button", name="Discard staged changes").click()
            page.wait_for_selector("#staging-banner", state="hidden")
        return {"open_ms": statistics.median(opens), "read_rows_ms": statistics.median(reads),
                "render_ms": statistics.median(renders), "reload_to_grid_ms": reload_ms, "scroll": scroll,
                "paste_ms": statistics.median(pastes), "worker_paste_ms": statistics.median(worker_pastes)}
    finally:
        context.close()
        relay.stop()


TABULATOR_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="tabulator.min.css"></head><body style="margin:0">
<div id="grid" style="height:640px"></div>
<script type="module">
import { TabulatorFull as Tabulator } from './tabulator_esm.min.mjs';
const rows = await (await fetch('rows.json')).json();
const names = ['role', 'department', 'email', 'phone', 'pronouns', 'status'];
const columns = [{title: 'Name', field: 'name', frozen: true, width: 176, editor: 'input'}].concat(
  names.map((f) => ({title: f, field: f, width: 176, editor: 'input'})));
performance.mark('tabulator-start');
const table = new Tabulator('#grid', {data: rows, columns, height: '640px', renderVertical: 'virtual',
  selectableRange: 1, selectableRangeColumns: true, clipboard: true, clipboardPasteAction: 'range'});
table.on('tableBuilt', () => requestAnimationFrame(() => setTimeout(() => performance.mark('tabulator-painted'))));
</script></body></html>"""


def tabulator(browser: Any, base: Path, rows: int) -> dict[str, Any]:
    site = base / "tabulator"
    site.mkdir()
    for name in ("js/tabulator_esm.min.mjs", "css/tabulator.min.css"):
        shutil.copy(TABULATOR / name, site / Path(name).name)
    (site / "index.html").write_text(TABULATOR_PAGE)
    (site / "rows.json").write_text(json.dumps([
        {"name": f"Person {i:05d}", "role": f"Crew {i % 7}", "department": f"Dept {i % 11}",
         "email": f"p{i}@show.org", "phone": f"555-{i:05d}"} for i in range(rows)]))
    port = 0
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    static = ROOT / "tests" / "browser" / "static_server.py"
    server = subprocess.Popen([sys.executable, str(static), str(site), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = browser.new_context(viewport={"width": 1180, "height": 820})
    page = context.new_page()
    try:
        opens = []
        for _ in range(3):
            for _attempt in range(50):
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.1)
            page.wait_for_function("performance.getEntriesByName('tabulator-painted').length > 0", timeout=BOOT_MS)
            opens.append(measure(page, "tabulator-start", "tabulator-painted"))
        return {"open_ms": statistics.median(opens), "scroll": scroll_trace(browser, page, keys=False)}
    finally:
        context.close()
        server.terminate()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--paste", type=int, default=1_000)
    args = parser.parse_args(argv)
    subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="openprod-grid-bench-") as folder, sync_playwright() as p:
        base = Path(folder)
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            mine = ours(browser, base, args.rows, args.paste)
            ref = tabulator(browser, base, args.rows)
        finally:
            browser.close()
    report("grid_open_10k", {
        "rows": args.rows, "open_to_first_paint_ms": round(mine["open_ms"]),
        "of_which_worker_reads_rows_ms": round(mine["read_rows_ms"]),
        "of_which_page_draws_ms": round(mine["render_ms"]),
        "reload_to_first_paint_ms": round(mine["reload_to_grid_ms"]),
        "reference": "Tabulator 6.5.3, same rows in memory, new Tabulator() to first paint",
        "reference_ms": round(ref["open_ms"]), "ratio": round(mine["open_ms"] / ref["open_ms"], 2),
        "ratio_drawing_only": round(mine["render_ms"] / ref["open_ms"], 2)})
    report("grid_scroll_10k", {
        "rows": args.rows, **{f"openprod_{k}": v for k, v in mine["scroll"].items()},
        "reference": "Tabulator 6.5.3, the same 60 wheel steps",
        **{f"tabulator_{k}": v for k, v in ref["scroll"].items()},
        "ratio_longest_wall": round(mine["scroll"]["longest_wall_ms"] / max(0.1, ref["scroll"]["longest_wall_ms"]), 2)})
    report("grid_paste", {
        "rows": args.paste, "paste_to_staged_ms": round(mine["paste_ms"]), "median_of": 3,
        "reference": "the worker's paste call alone (same text, no page)",
        "reference_ms": round(mine["worker_paste_ms"]), "ratio": round(mine["paste_ms"] / mine["worker_paste_ms"], 2)})


if __name__ == "__main__":
    main()
