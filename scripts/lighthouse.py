"""Lighthouse scores (performance, accessibility, best practices) of the built web app, offline.

Run: `scripts/lighthouse` (or `.venv/bin/python scripts/lighthouse.py --preset mobile`). Not part of
the normal test run: it takes a few minutes. It

1. builds build/web and the browser tests' build/web-debug (build.py);
2. fills a Chromium profile with a realistic workspace through the debug bundle (identity, contacts,
   scenes with cast links, a cue list, a report, two open conflicts made by the debug peer, a stashed
   staging overlay with drift), then unregisters that bundle's service worker and empties its caches;
3. serves the NORMAL bundle on the same origin (so the profile's IndexedDB data is there) and runs
   npm `lighthouse` (pinned in package.json) with CHROME_PATH=/usr/bin/chromium, `--headless
   --no-sandbox`, and a host resolver that sends every name except 127.0.0.1 nowhere: nothing can
   reach the internet. Each screen is audited with the mobile (default) and the desktop preset;
   the first audit is a first visit (service worker installing), the others are repeat visits.
   scripts/lighthouse-config.mjs holds the presets and a 10 s pause after load, so the audits see
   the rendered screen (the worker boots Pyodide first), not the "Opening the workspace…" text.

Reports go to test-artifacts/lighthouse/ (JSON per run, summary.json, summary.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

CHROMIUM = "/usr/bin/chromium"
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CONFIG = ROOT / "scripts" / "lighthouse-config.mjs"
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
CATEGORIES = ("performance", "accessibility", "best-practices")
CONTACTS = "contacts.Contacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(web: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "browser" / "static_server.py"), str(web), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"the static server did not listen on {port}")


def prepare(profile: Path, url: str) -> dict[str, str]:
    """A workspace worth auditing, made through the UI's own API and the debug peer."""
    from appdriver import AppPage
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                   args=["--headless", "--no-sandbox", OFFLINE],
                                                   viewport={"width": 1280, "height": 800})
        app = AppPage(ctx.new_page()).open(url)
        app.ensure_identity("Alice Stage")
        ws = app.create_workspace("Hamlet")

        def create(table: str, **values: Any) -> str:
            return str(app.call("create_record", table=table,
                                values={f"{table}.{k}": v for k, v in values.items()})["id"])

        people = [("Jane Doe", "Actor", "Cast"), ("Sam Sound", "Sound designer", "Sound"),
                  ("Lee Light", "Lighting designer", "Lighting"), ("Pat Prop", "Props", "Props"),
                  ("Kim Stage", "Stage manager", "Stage management"), ("Ben Actor", "Actor", "Cast")]
        ids = {name: create(CONTACTS, name=name, role=role, department=dept,
                            email=f"{name.split()[0].lower()}@example.org") for name, role, dept in people}
        scene = create("scenes.Scenes", title="The balcony", act=2, number=2, location="Garden")
        create("scenes.Scenes", title="The ghost", act=1, number=1, location="Battlements")
        app.call("link", edge_type="scenes.appears_in", source=ids["Jane Doe"], target=scene,
                 properties={"character": "Juliet", "entrance": "SL"})
        cue_list = create("lighting.CueLists", name="Act 1")
        for n in range(1, 7):
            cue = create("lighting.LightingCues", cue_number=n * 10, label=f"Q{n * 10}", fade_time=3)
            app.call("link", edge_type="lighting.in_cue_list", source=cue, target=cue_list)
        create("reports.Reports", title="Rehearsal 12", notes="Started late. Good run of act 1.", tags="act 1, tech")
        app.api("debugPeer", "create", {"display_name": "Jordan"})
        for name, field, mine, theirs in (("Jane Doe", "phone", "555-0101", "555-0199"),
                                          ("Sam Sound", "role", "Sound designer", "Sound operator")):
            app.call("set_cell", record=ids[name], field=f"{CONTACTS}.{field}", value=mine)
            app.api("debugPeer", "set_field", {"record": ids[name], "field": f"{CONTACTS}.{field}", "value": theirs})
        app.api("debugPeer", "deliver", {})
        app.call("stage_start", name="Try new departments")
        app.call("set_cell", record=ids["Pat Prop"], field=f"{CONTACTS}.department", value="Design")
        app.api("debugPeer", "set_field", {"record": ids["Pat Prop"], "field": f"{CONTACTS}.department",
                                           "value": "Scenery"})
        app.api("debugPeer", "deliver", {})
        app.call("stage_stash")
        app.api("snapshotNow")
        app.page.evaluate("""(async () => {
            for (const r of await navigator.serviceWorker.getRegistrations()) await r.unregister();
            for (const k of await caches.keys()) await caches.delete(k);
        })()""")
        ctx.new_cdp_session(app.page).send("Network.clearBrowserCache")  # no debug-bundle file may linger
        ctx.close()
    return {"ws": ws, "jane": ids["Jane Doe"], "cue_list": cue_list}


def audit(url: str, profile: Path, preset: str, out: Path) -> dict[str, float]:
    flags = f"--headless --no-sandbox --user-data-dir={profile} '{OFFLINE}'"
    cmd = [str(LIGHTHOUSE), url, f"--chrome-flags={flags}", f"--config-path={CONFIG}", "--output=json",
           f"--output-path={out}", "--quiet", "--no-enable-error-reporting", "--disable-storage-reset",
           "--max-wait-for-load=60000"]
    env = {**os.environ, "CHROME_PATH": CHROMIUM, "OPENPROD_LH_PRESET": preset}
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, timeout=300)
    report = json.loads(out.read_text())
    if "Opening the workspace" in json.dumps(report["audits"].get("largest-contentful-paint-element", {})):
        raise RuntimeError(f"{url}: Lighthouse finished before the screen rendered; raise OPENPROD_LH_PAUSE_MS")
    external = [r["url"] for r in report["audits"].get("network-requests", {}).get("details", {}).get("items", [])
                if not r["url"].startswith(("http://127.0.0.1", "data:", "blob:"))]
    if external:
        raise RuntimeError(f"requests left the machine: {external[:5]}")
    return {k: round(report["categories"][k]["score"] * 100) for k in CATEGORIES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--preset", choices=("mobile", "desktop", "both"), default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "lighthouse")
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        print("node_modules/.bin/lighthouse is missing: run npm ci", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--debug-peer", "--out", str(ROOT / "build" / "web-debug")],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    presets = ("mobile", "desktop") if args.preset == "both" else (args.preset,)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="openprod-lh-") as tmp:
        profile = Path(tmp) / "profile"
        server = serve(ROOT / "build" / "web-debug", port)
        try:
            ids = prepare(profile, base)
        finally:
            server.terminate()
            server.wait()
        screens = [
            ("start (first visit)", base),
            ("grid", f"{base}#/w/{ids['ws']}/t/{CONTACTS}"),
            ("record form", f"{base}#/w/{ids['ws']}/t/{CONTACTS}/r/{ids['jane']}"),
            ("conflicts", f"{base}#/w/{ids['ws']}/conflicts"),
            ("staging", f"{base}#/w/{ids['ws']}/staging"),
            ("cue list", f"{base}#/w/{ids['ws']}/t/lighting.CueLists/r/{ids['cue_list']}"),
            ("sync status", f"{base}#/w/{ids['ws']}/sync"),
        ]
        server = serve(ROOT / "build" / "web", port)
        try:
            for preset in presets:
                for name, url in screens:
                    slug = name.split(" ")[0]
                    started = time.perf_counter()
                    scores = audit(url, profile, preset, args.out / f"{preset}-{slug}.json")
                    row = {"screen": name, "preset": preset, **scores, "seconds": round(time.perf_counter() - started)}
                    results.append(row)
                    print(f"{preset:8} {name:22} " + "  ".join(f"{k} {scores[k]:3}" for k in CATEGORIES), flush=True)
                    screens[0] = ("start", base)  # the first audit alone is a first visit
        finally:
            server.terminate()
            server.wait()
    (args.out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| preset | screen | performance | accessibility | best practices |", "|---|---|---|---|---|"]
    lines += [f"| {r['preset']} | {r['screen']} | {r['performance']} | {r['accessibility']} | {r['best-practices']} |"
              for r in results]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
