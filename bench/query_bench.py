"""Query benchmark: one query over 50,000 records, against the same query written by hand in SQL.

The query is the everyday shape: a table filter, a field predicate and one edge traversal,

    table == "lighting.LightingCues" AND intensity >= 50 AND in_cue_list->target.name == "Act 1"

over a workspace of 50,000 visible records (lighting cues in ordered cue lists, and contacts that
the table filter must skip). Two references give the same answer (same visibility and kind
checks), run in the same process on the same database: the straightforward join a developer
would write first, and a hand-tuned statement that starts from the few matching cue lists. All
are timed alternately, several times, and the medians compared. `run_query` is timed end to end:
name resolution, binding, translation, execution and turning ids into strings.

Run: `python -m bench.query_bench [--records N] [--repeats N]`. Why standalone: bench/__main__.py
has no registry of its own; `bench_query(ctx)` fits bench/runner.py's BENCHMARKS if wanted.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openprod import Workspace, connect
from openprod.ids import to_str
from openprod.query import compile_query, run_query
from openprod.query.bind import bind
from openprod.query.run import plan_sql
from openprod.starter import starter_manifests

from .peers import make_env

QUERY = 'table == "lighting.LightingCues" AND intensity >= 50 AND in_cue_list->target.name == "Act 1"'

REFERENCE_SQL = """
SELECT e.entity_id FROM entities e
JOIN facets f ON f.entity_id = e.entity_id AND f.facet = 'lighting.LightingCues' AND f.attached = 1
JOIN fields i ON i.entity_id = e.entity_id AND i.field = 'lighting.LightingCues.intensity'
     AND i.kind = 'n' AND i.value >= 50
WHERE e.alive = 1 AND e.created_ord IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM edges g
    JOIN entities t ON t.entity_id = g.target AND t.alive = 1 AND t.created_ord IS NOT NULL
    JOIN fields n ON n.entity_id = g.target AND n.field = 'lighting.CueLists.name' AND n.kind = 's'
         AND n.value = 'Act 1'
    WHERE g.source = e.entity_id AND g.edge_type = 'lighting.in_cue_list' AND g.alive = 1
      AND g.created_ord IS NOT NULL)
ORDER BY e.created_ord, e.entity_id
"""

# The same answer, hand-tuned: start from the few cue lists named "Act 1" and walk their edges.
TUNED_SQL = """
SELECT e.entity_id FROM entities e
WHERE e.alive = 1 AND e.created_ord IS NOT NULL
  AND e.entity_id IN (
    SELECT g.source FROM fields n
    JOIN entities t ON t.entity_id = n.entity_id AND t.alive = 1 AND t.created_ord IS NOT NULL
    JOIN edges g ON g.target = n.entity_id AND g.edge_type = 'lighting.in_cue_list' AND g.alive = 1
         AND g.created_ord IS NOT NULL
    WHERE n.field = 'lighting.CueLists.name' AND n.kind = 's' AND n.value = 'Act 1')
  AND EXISTS (SELECT 1 FROM facets f WHERE f.entity_id = e.entity_id AND f.facet = 'lighting.LightingCues'
              AND f.attached = 1)
  AND EXISTS (SELECT 1 FROM fields i WHERE i.entity_id = e.entity_id AND i.field = 'lighting.LightingCues.intensity'
              AND i.kind = 'n' AND i.value >= 50)
ORDER BY e.created_ord, e.entity_id
"""

BATCH = 1_000  # records per bundle while building


@dataclass(frozen=True)
class QueryFigures:
    records: int
    cues: int
    matches: int
    build_s: float
    query_ms: float  # median run_query, end to end
    sql_only_ms: float  # median of our generated SQL alone (fetchall)
    reference_ms: float  # median hand-written SQL, the straightforward join (fetchall)
    tuned_ms: float  # median hand-tuned SQL that starts from the edge side (fetchall)
    repeats: int

    @property
    def ratio(self) -> float:
        return self.query_ms / self.reference_ms

    @property
    def tuned_ratio(self) -> float:
        return self.query_ms / self.tuned_ms


def build(records: int, seed: int = 31) -> tuple[Workspace, int, float]:
    """A workspace with `records` visible records: 1% cue lists, 55% cues, the rest contacts."""
    start = time.perf_counter()
    ws = Workspace.create(connect(":memory:"), make_env("query-bench", seed), "query bench")
    with ws.transaction(kind="module") as tx:
        for module in ("contacts", "lighting"):
            tx.adopt_module(starter_manifests()[module])
    n_lists = max(records // 100, 10)
    n_cues = records * 55 // 100
    n_contacts = records - n_lists - n_cues
    with ws.transaction() as tx:
        lists = [tx.create_record("lighting.CueLists", {"name": f"Act {i % 10}"}) for i in range(n_lists)]
    made = 0
    while made < n_cues:
        with ws.transaction() as tx:
            for i in range(made, min(made + BATCH, n_cues)):
                cue = tx.create_record("lighting.LightingCues", {
                    "cue_number": i + 1, "label": f"Q{i + 1}", "intensity": (i * 37) % 101, "fade_time": i % 7})
                tx.create_ordered_edge("lighting.in_cue_list", cue, lists[i % n_lists])
        made = min(made + BATCH, n_cues)
    made = 0
    while made < n_contacts:
        with ws.transaction() as tx:
            for i in range(made, min(made + BATCH, n_contacts)):
                tx.create_record("contacts.Contacts", {"name": f"Person {i}", "department": ("cast", "crew")[i % 2],
                                                       "email": f"p{i}@example.org"})
        made = min(made + BATCH, n_contacts)
    return ws, n_cues, time.perf_counter() - start


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def measure(records: int = 50_000, repeats: int = 9) -> QueryFigures:
    ws, cues, build_s = build(records)
    conn = ws.conn
    visible = conn.execute("SELECT count(*) FROM entities WHERE alive = 1 AND created_ord IS NOT NULL").fetchone()[0]
    got = run_query(ws, QUERY)
    for name, sql in (("hand-written", REFERENCE_SQL), ("hand-tuned", TUNED_SQL)):
        theirs = [to_str(r[0]) for r in conn.execute(sql)]
        if got != theirs:
            raise SystemExit(f"run_query and the {name} SQL disagree: {len(got)} vs {len(theirs)} records")
    bound = bind(ws._cx, compile_query(QUERY, ws.schema), source=None, actor=None, now_ms=None, changes=None)
    generated, params, residual = plan_sql(bound)
    assert not residual  # all of this query runs in SQL
    samples: dict[str, list[float]] = {"ours": [], "sql": [], "reference": [], "tuned": []}
    work: dict[str, Callable[[], object]] = {
        "ours": lambda: run_query(ws, QUERY),
        "sql": lambda: conn.execute(generated, params).fetchall(),
        "reference": lambda: conn.execute(REFERENCE_SQL).fetchall(),
        "tuned": lambda: conn.execute(TUNED_SQL).fetchall(),
    }
    order = list(work)
    for i in range(repeats + 1):  # round 0 warms up and is not kept
        for name in order if i % 2 else reversed(order):  # alternate, so no side always runs warm
            gc.collect()
            t0 = time.perf_counter()
            work[name]()
            if i:
                samples[name].append((time.perf_counter() - t0) * 1000)
    return QueryFigures(records=visible, cues=cues, matches=len(got), build_s=build_s,
                        query_ms=_median(samples["ours"]), sql_only_ms=_median(samples["sql"]),
                        reference_ms=_median(samples["reference"]), tuned_ms=_median(samples["tuned"]),
                        repeats=repeats)


def report(fig: QueryFigures) -> str:
    return "\n".join([
        f"query:       {QUERY}",
        f"workspace:   {fig.records} visible records ({fig.cues} lighting cues in ordered cue lists, the rest "
        f"cue lists and contacts); built in {fig.build_s:.1f} s",
        f"matches:     {fig.matches} records (identical to both hand-written statements)",
        f"run_query:   {fig.query_ms:.2f} ms (median of {fig.repeats}, end to end)",
        f"its SQL:     {fig.sql_only_ms:.2f} ms (the generated statement alone)",
        f"hand SQL:    {fig.reference_ms:.2f} ms (the straightforward join, same process, same database)",
        f"tuned SQL:   {fig.tuned_ms:.2f} ms (hand-tuned to start from the edge side)",
        f"ratio:       {fig.ratio:.2f}x the straightforward hand-written SQL; {fig.tuned_ratio:.2f}x the tuned one",
    ])


def bench_query(ctx: Any) -> Any:
    """Adapter for bench/runner.py's BENCHMARKS (Context -> Result)."""
    from .report import Result

    quick = getattr(getattr(ctx, "sizes", None), "label", "full") == "quick"
    fig = measure(records=10_000 if quick else 50_000, repeats=5 if quick else 9)
    result = Result("query", "query: table filter + field predicate + edge hop, vs hand-written SQL")
    result.metrics.update(records=fig.records, matches=fig.matches, query_ms=round(fig.query_ms, 2),
                          generated_sql_ms=round(fig.sql_only_ms, 2), reference_ms=round(fig.reference_ms, 2),
                          tuned_ms=round(fig.tuned_ms, 2), ratio=round(fig.ratio, 2),
                          tuned_ratio=round(fig.tuned_ratio, 2))
    result.headline = (f"{fig.query_ms:.1f} ms per query over {fig.records} records; {fig.ratio:.2f}x hand-written "
                       f"SQL ({fig.reference_ms:.1f} ms), {fig.tuned_ratio:.2f}x hand-tuned ({fig.tuned_ms:.1f} ms)")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.query_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="visible records in the workspace (50,000)")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of each side (median reported)")
    args = parser.parse_args(argv)
    import platform
    import sqlite3

    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}; building ...")
    sys.stdout.flush()
    print(report(measure(args.records, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
