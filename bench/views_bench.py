"""Documents benchmark: the daily call sheet and a 500-cue sheet, in a workspace of 50,000 records.

What is timed is what the web worker does when a person opens the document: run the view through
the core (`Workspace.views.run`: filter, rows, links followed, sorted and grouped) and turn the
result into the JSON the page draws (`views.result_json` + `json.dumps`). Reference, in the same
process on the same in-memory database (SQLite is in memory in the browser too), alternating,
median of N after a warm-up: one hand-written SQL statement per document that returns the same
cells (checked equal before timing).

Workspace: 500 cues in the cue list "Main" (each linked to one of 60 scenes) plus 27,000 other cues
in 499 other lists; 400 events over 40 days (10 a day) with 20 people called to each; the rest
contacts: 50,000 visible records in all. The call sheet is the starter module's own view for one
day; the cue sheet is the lighting module's cue sheet saved as a view of the list "Main".

Run: `python -m bench.views_bench [--records N] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from openprod import Workspace, connect
from openprod.ids import to_str
from openprod.starter import starter_manifests
from openprod.views import day_filter, result_json

from .peers import make_env

BATCH = 1_000
DAY = "2026-03-11"
CUE_SHEET = {
    "table": "lighting.LightingCues",
    "columns": ["cue_number", "page", {"path": "lighting.in_scene->target.title", "label": "Scene"}, "label",
                "fade_time"],
    "group_by": {"path": "in_cue_list->target.name", "label": "Cue list"},
    "sort": ["in_cue_list._position", "cue_number"],
    "filter": 'in_cue_list->target.name == "Main"',
}

CUE_SQL = """
SELECT c.entity_id, num.value, pg.value, sc.value, lab.value, fade.value
FROM fields ln
JOIN entities l ON l.entity_id = ln.entity_id AND l.alive = 1 AND l.created_ord IS NOT NULL
JOIN edges g ON g.target = ln.entity_id AND g.edge_type = 'lighting.in_cue_list' AND g.alive = 1
     AND g.created_ord IS NOT NULL
JOIN entities c ON c.entity_id = g.source AND c.alive = 1 AND c.created_ord IS NOT NULL
JOIN facets f ON f.entity_id = c.entity_id AND f.facet = 'lighting.LightingCues' AND f.attached = 1
LEFT JOIN edge_props pos ON pos.edge_id = g.edge_id AND pos.key = '_position'
LEFT JOIN fields num ON num.entity_id = c.entity_id AND num.field = 'lighting.LightingCues.cue_number'
LEFT JOIN fields pg ON pg.entity_id = c.entity_id AND pg.field = 'lighting.LightingCues.page'
LEFT JOIN fields lab ON lab.entity_id = c.entity_id AND lab.field = 'lighting.LightingCues.label'
LEFT JOIN fields fade ON fade.entity_id = c.entity_id AND fade.field = 'lighting.LightingCues.fade_time'
LEFT JOIN edges sg ON sg.source = c.entity_id AND sg.edge_type = 'lighting.in_scene' AND sg.alive = 1
LEFT JOIN fields sc ON sc.entity_id = sg.target AND sc.field = 'scenes.Scenes.title'
WHERE ln.field = 'lighting.CueLists.name' AND ln.kind = 's' AND ln.value = 'Main'
ORDER BY pos.value, g.created_by, g.edge_id
"""

CALL_SQL = """
SELECT ev.entity_id, st.value, ti.value, rm.value, coalesce(ct.value, st.value) AS call, nm.value, nt.value
FROM fields st
JOIN entities ev ON ev.entity_id = st.entity_id AND ev.alive = 1 AND ev.created_ord IS NOT NULL
JOIN facets f ON f.entity_id = ev.entity_id AND f.facet = 'schedule.Events' AND f.attached = 1
LEFT JOIN fields ti ON ti.entity_id = ev.entity_id AND ti.field = 'schedule.Events.title'
LEFT JOIN fields rm ON rm.entity_id = ev.entity_id AND rm.field = 'schedule.Events.room'
JOIN edges g ON g.target = ev.entity_id AND g.edge_type = 'schedule.called_to' AND g.alive = 1
     AND g.created_ord IS NOT NULL
JOIN entities p ON p.entity_id = g.source AND p.alive = 1 AND p.created_ord IS NOT NULL
LEFT JOIN edge_props ct ON ct.edge_id = g.edge_id AND ct.key = 'call_time'
LEFT JOIN fields nm ON nm.entity_id = p.entity_id AND nm.field = 'schedule.Attendees.name'
LEFT JOIN edge_props nt ON nt.edge_id = g.edge_id AND nt.key = 'note'
WHERE st.field = 'schedule.Events.starts_at' AND st.value >= :start AND st.value < :end
ORDER BY st.value, ti.value, rm.value, call, nm.value
"""


def build(records: int) -> tuple[Workspace, str, dict[str, int]]:
    """The workspace, the saved cue-sheet view's id, and what it holds."""
    ws = Workspace.create(connect(":memory:"), make_env("views-bench", 5), "views bench")
    with ws.transaction(kind="module") as tx:
        for module in ("contacts", "schedule", "scenes", "lighting"):
            tx.adopt_module(starter_manifests()[module])
    with ws.transaction() as tx:
        scenes = [tx.create_record("scenes.Scenes", {"title": f"Scene {i}", "act": 1 + i // 30, "number": i % 30 + 1})
                  for i in range(60)]
        lists = [tx.create_record("lighting.CueLists", {"name": "Main" if i == 0 else f"List {i}"})
                 for i in range(500)]
    other_cues = records * 54 // 100
    cues = 500 + other_cues
    made = 0
    while made < cues:
        with ws.transaction() as tx:
            for i in range(made, min(made + BATCH, cues)):
                main = i < 500
                cue = tx.create_record("lighting.LightingCues", {
                    "cue_number": f"{i + 1}" if main else f"{i % 900 + 1}", "label": f"State {i}",
                    "page": i // 4 + 1, "fade_time": i % 7, "intensity": i % 101})
                tx.create_ordered_edge("lighting.in_cue_list", cue, lists[0] if main else lists[1 + i % 499])
                if main:
                    tx.create_edge("lighting.in_scene", cue, scenes[i // 9])
        made = min(made + BATCH, cues)
    events = 400
    people = records - cues - events - 60 - 500
    made = 0
    contacts: list[str] = []
    while made < people:
        with ws.transaction() as tx:
            for i in range(made, min(made + BATCH, people)):
                values = {"name": f"Person {i}", "department": ("Cast", "Crew", "Wardrobe")[i % 3],
                          "phone": f"+44 7700 {i:06d}"}
                rid = tx.create_record("contacts.Contacts", values)
                if i < 2_000:
                    tx.add_to_table(rid, "schedule.Attendees", {"name": f"Person {i}"})
                contacts.append(rid)
        made = min(made + BATCH, people)
    for start in range(0, events, 50):
        with ws.transaction() as tx:
            for e in range(start, start + 50):
                day, slot = divmod(e, 10)
                event = tx.create_record("schedule.Events", {
                    "title": f"Call {e}", "room": f"Studio {'ABC'[e % 3]}",
                    "starts_at": f"2026-03-{day % 28 + 1:02d}T{9 + slot:02d}:00:00Z" if day < 28 else
                    f"2026-04-{day - 27:02d}T{9 + slot:02d}:00:00Z"})
                for k in range(20):
                    props = {"call_time": f"2026-03-01T08:{k:02d}:00Z"} if k % 4 == 0 else {}
                    tx.create_edge("schedule.called_to", contacts[(e * 20 + k) % 2_000], event, props)
    with ws.transaction() as tx:
        view = tx.save_view("Main cue sheet", CUE_SHEET)
    visible = ws.conn.execute("SELECT count(*) FROM entities WHERE alive = 1 AND created_ord IS NOT NULL").fetchone()[0]
    return ws, view, {"records": visible, "cues": cues, "events": events, "people": people}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _render(ws: Workspace, view: str, also: str | None) -> str:
    return json.dumps({"ok": result_json(ws.views.run(view, also=also))})


def _check(ws: Workspace, view: str, also: str | None, sql: str, params: dict[str, Any], shape: str) -> int:
    """The view and its SQL reference must show the same cells; returns the row count."""
    result = ws.views.run(view, also=also)
    rows = [r for g in result.groups for r in g.rows]
    if shape == "cues":
        ours = [[r.record, *r.cells] for r in rows]
        theirs = [[to_str(c[0]), *c[1:]] for c in ws.conn.execute(sql, params)]
    else:
        ours = [[r.record, *g.values, *r.cells] for g in result.groups for r in g.rows]
        theirs = [[to_str(c[0]), *c[1:]] for c in ws.conn.execute(sql, params)]
    if ours != theirs:
        diff = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b) if ours and theirs else 0
        raise SystemExit(f"{shape}: the view and the SQL reference disagree ({len(ours)} vs {len(theirs)} rows; "
                         f"first difference at row {diff}: {ours[diff] if ours else None} vs "
                         f"{theirs[diff] if theirs else None})")
    return len(rows)


def measure(records: int = 50_000, repeats: int = 9) -> dict[str, Any]:
    started = time.perf_counter()
    ws, cue_view, sizes = build(records)
    build_s = time.perf_counter() - started
    also = day_filter("starts_at", DAY)
    window = {"start": f"{DAY}T00:00:00Z", "end": f"{DAY[:8]}{int(DAY[8:]) + 1:02d}T00:00:00Z"}
    call_rows = _check(ws, "schedule.CallSheet", also, CALL_SQL, window, "calls")
    cue_rows = _check(ws, cue_view, None, CUE_SQL, {}, "cues")
    work: dict[str, Callable[[], object]] = {
        "call sheet": lambda: _render(ws, "schedule.CallSheet", also),
        "call sheet SQL": lambda: ws.conn.execute(CALL_SQL, window).fetchall(),
        "cue sheet": lambda: _render(ws, cue_view, None),
        "cue sheet SQL": lambda: ws.conn.execute(CUE_SQL).fetchall(),
    }
    samples: dict[str, list[float]] = {k: [] for k in work}
    order = list(work)
    for i in range(repeats + 1):  # round 0 warms up
        for name in order if i % 2 else reversed(order):
            gc.collect()
            t0 = time.perf_counter()
            work[name]()
            if i:
                samples[name].append((time.perf_counter() - t0) * 1000)
    medians = {k: round(_median(v), 2) for k, v in samples.items()}
    return {
        "benchmark": "documents", **sizes, "build_s": round(build_s, 1), "repeats": repeats,
        "call_sheet_rows": call_rows, "cue_sheet_rows": cue_rows,
        "call_sheet_ms": medians["call sheet"], "call_sheet_sql_ms": medians["call sheet SQL"],
        "call_sheet_ratio": round(medians["call sheet"] / medians["call sheet SQL"], 1),
        "cue_sheet_ms": medians["cue sheet"], "cue_sheet_sql_ms": medians["cue sheet SQL"],
        "cue_sheet_ratio": round(medians["cue sheet"] / medians["cue sheet SQL"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.views_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="visible records in the workspace (50,000)")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of each side (median reported)")
    args = parser.parse_args(argv)
    figures = measure(args.records, args.repeats)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    figures.update(python=platform.python_version(), sqlite=sqlite3.sqlite_version, commit=commit)
    print(json.dumps(figures, indent=2))
    print(f"call sheet ({figures['call_sheet_rows']} calls on {DAY}): {figures['call_sheet_ms']} ms to the page's "
          f"JSON; the same cells by one hand-written SQL statement {figures['call_sheet_sql_ms']} ms "
          f"({figures['call_sheet_ratio']}x)")
    print(f"500-cue sheet ({figures['cue_sheet_rows']} cues): {figures['cue_sheet_ms']} ms to the page's JSON; "
          f"hand-written SQL {figures['cue_sheet_sql_ms']} ms ({figures['cue_sheet_ratio']}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
