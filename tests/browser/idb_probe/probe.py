"""Does Chromium's IndexedDB stop answering after a tab ends while its worker has transactions in flight?

A stand-alone probe (no app code; docs/web.md has the results): a page's worker loops IndexedDB puts
(worker.js: variants of overlapping transactions) and the page ends mid-loop: `close` page.close();
`crash` the DevTools protocol's Page.crash; `navigate` the tab goes to the probe page, as a reload does;
`late` the probe tab opens first and the writer's tab is closed 2-8 s later; `blocked` closed while its
main thread is busy for 5-20 s (its process ends at once all the same); `opener` the same with the probe
page opened by the writer's (window.open: one process, so the worker lives on while the main thread is
busy). A new page of the same context reads every store (2 s bound each) every 0.5 s until 15 s after the
writer's Web Lock is free, or 120 s. A round that does not answer in full is followed up: a trial is
"wedged" if its last round (at 120 s) did not answer in full, or the lock never came; "stuck-rounds"
counts the rounds with a read or write that did not answer in 2 s.

    .venv/bin/python tests/browser/idb_probe/probe.py --plan rw2:close:20,conn2:close:20 --jobs 3

A variant may carry flags: `rw2.b` (150 ms of synchronous work while in flight), `rw2.n` (a nested
idle worker). Results: one JSON line per trial (--out), then counts per variant and mode.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import http.server
import json
import random
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Playwright, async_playwright

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",  # conftest.py's
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP insecure.openprod.test 127.0.0.1", "--allow-loopback-in-peer-connection"]
BUSY_MAIN = "(ms) => setTimeout(() => { const e = performance.now() + ms; while (performance.now() < e); })"


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def failed(round_: dict[str, Any]) -> bool:
    return bool(round_.get("open")) or "NO ANSWER" in json.dumps(round_)


async def trial(browser: Browser | Playwright, base: str, variant: str, mode: str, limit_ms: int) -> dict[str, Any]:
    db = "d" + uuid.uuid4().hex[:8]  # a fresh context per trial too: its storage is its own
    name, *flags = variant.split(".")
    profile = None
    if isinstance(browser, Playwright):  # --on-disk: a profile directory (the suite's contexts keep it in memory)
        profile = tempfile.TemporaryDirectory(prefix="idbprobe-")
        ctx = await browser.chromium.launch_persistent_context(
            profile.name, executable_path="/usr/bin/chromium", headless=True, args=ARGS)
    else:
        ctx = await browser.new_context()
    try:
        p1 = await ctx.new_page()
        busy = 150 if "b" in flags else 0
        await p1.goto(f"{base}?mode=write&db={db}&v={name}&busy={busy}&sub={int('n' in flags)}")
        await p1.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)
        await asyncio.sleep(random.uniform(0.3, 2.0))  # a random point of the loop
        iters = await p1.evaluate("window.n")
        probe = f"{base}?mode=probe&db={db}&limit={limit_ms}"
        if mode == "close":
            await p1.close()
            p2 = await ctx.new_page()
            await p2.goto(probe)
        elif mode == "crash":
            cdp = await ctx.new_cdp_session(p1)
            with contextlib.suppress(Exception):  # no reply: the renderer is gone
                await asyncio.wait_for(cdp.send("Page.crash"), 5)
            p2 = await ctx.new_page()
            await p2.goto(probe)
        elif mode == "late":
            p2 = await ctx.new_page()
            await p2.goto(probe)
            await asyncio.sleep(random.uniform(2.0, 8.0))
            iters = await p1.evaluate("window.n")
            await p1.close()
        elif mode == "blocked":  # the tab's main thread busy 5-20 s when it is closed: its worker lives on
            spin = random.uniform(5_000, 20_000)
            await p1.evaluate(BUSY_MAIN, spin)
            await asyncio.sleep(0.2)
            await p1.close()
            p2 = await ctx.new_page()
            await p2.goto(probe)
        elif mode == "opener":  # as `blocked`, the new page opened by the writer's (window.open: one process)
            async with ctx.expect_page() as opened:
                await p1.evaluate("(url) => { window.open(url); }", probe)
            p2 = await opened.value
            await p1.evaluate(BUSY_MAIN, random.uniform(5_000, 20_000))
            await asyncio.sleep(0.2)
            await p1.close()
        else:  # navigate
            await p1.goto(probe)
            p2 = p1
        await p2.wait_for_function("window.result !== null", timeout=limit_ms + 60_000, polling=500)
        r = await p2.evaluate("window.result")
    finally:
        await ctx.close()
        if profile:
            profile.cleanup()
    rounds = r["rounds"]
    after = [x for x in rounds if x["lock"]]
    return {"v": variant, "mode": mode, "iters_before_end": iters,
            "worker_end_s": r["lockAt"] and r["lockAt"] / 1000, "rounds": len(rounds),
            "stuck_at_s": [x["t"] / 1000 for x in rounds if failed(x)],
            "wedged": not after or failed(rounds[-1]), "last_round": rounds[-1], "load": load()}


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per trial is enough
        pass


async def run(plan: list[tuple[str, str]], jobs: int, limit_ms: int, out: Path, on_disk: bool) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HERE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    sem = asyncio.Semaphore(jobs)
    with out.open("a") as sink:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)

            async def one(variant: str, mode: str) -> None:
                async with sem:
                    try:
                        res = await trial(pw if on_disk else browser, base, variant, mode, limit_ms)
                        res["on_disk"] = on_disk
                    except Exception as e:  # a trial that broke is counted apart, not as a wedge
                        res = {"v": variant, "mode": mode, "error": repr(e)[:300], "load": load()}
                sink.write(json.dumps(res) + "\n")
                sink.flush()
                print(variant, mode, res.get("wedged", res.get("error")), res.get("worker_end_s"), res["load"],
                      flush=True)

            await asyncio.gather(*(one(v, m) for v, m in plan))
            await browser.close()
    server.shutdown()


def summary(out: Path) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for line in out.read_text().splitlines():
        r = json.loads(line)
        groups[(r["v"] + (" on-disk" if r.get("on_disk") else ""), r["mode"])].append(r)
    print("variant mode trials wedged errors stuck-rounds writer-end-s(max) load")
    for (v, m), rs in sorted(groups.items()):
        ok = [r for r in rs if "error" not in r]
        ends = [r["worker_end_s"] for r in ok if r["worker_end_s"] is not None]
        loads = [float(r["load"]) for r in rs]
        print(v, m, len(rs), sum(r["wedged"] for r in ok), len(rs) - len(ok), sum(len(r["stuck_at_s"]) for r in ok),
              max(ends, default=None), f"{min(loads):.1f}-{max(loads):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="variant:mode:count,... (run in a shuffled order)")
    ap.add_argument("--jobs", type=int, default=3, help="trials at once (each in its own context)")
    ap.add_argument("--limit-ms", type=int, default=120_000, help="how long the new page probes at most")
    ap.add_argument("--on-disk", action="store_true", help="each trial in its own profile directory")
    ap.add_argument("--out", type=Path, default=Path("idb_probe.jsonl"))
    a = ap.parse_args()
    plan = [(v, m) for item in a.plan.split(",") for v, m, n in [item.split(":")] for _ in range(int(n))]
    random.shuffle(plan)
    asyncio.run(run(plan, a.jobs, a.limit_ms, a.out, a.on_disk))
    summary(a.out)


if __name__ == "__main__":
    main()
