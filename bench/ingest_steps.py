"""Each of the catch-up's speed-ups measured alone, in one process, variants alternated.

Same-process A/B on a busy machine: every round catches up one fresh replica per variant, in
turn, with the ingest benchmark's 10-op bundles (200 per `ingest_many`, as a catch-up delivers
them), so load that comes and goes hits every variant alike. Each variant turns ONE step off:

- `all`: the code as it is.
- `index`: the replica also keeps the old `oplog_bundle` index (what storing a bundle cost before
  `bundles.first_op`: one more B-tree insert per op).
- `inline`: signatures checked on the calling thread (a verifier without `verify_each`).
- `tempfile`: SQLite's default temp storage instead of the core's in-memory one: each bundle's
  savepoint sub-journal spills to a temporary file (one write per page it touches past 16).

Printed per variant: median wall seconds, process CPU and the calling thread's CPU over the
catch-up, and the wall ratio to one plain `executemany` of the same rows (median of 3, same run).
On Linux also the calling thread's wall split from its schedstat: "waited for a core" (runnable,
not running: other processes' load) and "blocked" (neither: waiting for the GIL, a verdict of the
verifying thread, or I/O); wall minus the first is the figure other load disturbs least.

    .venv/bin/python -m bench.ingest_steps [--rounds 5] [--bundles 3000] [--variants all,tempfile]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from openprod.identity import Verifier

from . import reference as ref
from .context import QUICK, Context
from .peers import Peer, ingest_all, replica_peer, thread_schedstat
from .workloads import build_workloads


class _Inline:
    """A verifier that only offers `verify`: the one-by-one path."""

    def __init__(self, inner: Verifier) -> None:
        self.verify = inner.verify
        self.verify_async = inner.verify_async


def _catch_up(peer: Peer, wires: list[bytes]) -> tuple[float, float, float, float, float]:
    """Wall, process CPU, calling thread CPU, its run-queue wait, and its blocked time (seconds)."""
    gc.collect()
    running, waiting = thread_schedstat()
    wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
    for start in range(0, len(wires), 200):
        results = peer.ws.ingest_many(wires[start:start + 200])
        if any(r.status != "applied" for r in results):
            raise SystemExit(f"{peer.name} did not apply every bundle")
    wall, cpu, thread = time.perf_counter() - wall, time.process_time() - cpu, time.thread_time() - thread
    ran, waited = (now - before for now, before in zip(thread_schedstat(), (running, waiting), strict=True))
    return wall, cpu, thread, waited, wall - ran - waited if ran else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bundles", type=int, default=3_000)
    parser.add_argument("--variants", default="", help="comma-separated subset (default: all of them)")
    args = parser.parse_args()
    sizes = dataclasses.replace(QUICK, ingest_bundles=args.bundles, ingest_records=1_000)
    variants: dict[str, Callable[[Peer], None]] = {
        "all": lambda peer: None,
        "index": lambda peer: peer.ws.conn.execute("CREATE INDEX oplog_bundle ON oplog (bundle_seq)").close(),
        "inline": lambda peer: None,
        "tempfile": lambda peer: peer.ws.conn.execute("PRAGMA temp_store = DEFAULT").close(),
    }
    if args.variants:
        variants = {name: variants[name] for name in args.variants.split(",")}
    figures: dict[str, list[tuple[float, float, float, float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="openprod-ingest-steps-") as tmp:
        folder = Path(tmp)
        fixture = Context(sizes, folder, build_workloads()).ingest_fixture()
        wires = list(fixture.edit_wires)
        rows = ref.field_rows(fixture.edit_wires)
        references = [ref.executemany_seconds(folder / f"reference-{k}.db", rows) for k in range(3)]
        for round_ in range(args.rounds):
            for name, prepare in variants.items():
                replica = replica_peer(folder, f"replica-{round_}-{name}", seed=13, origin=fixture.author)
                ingest_all(replica, fixture.setup_wires)
                prepare(replica)
                if name == "inline":
                    replica.ws.env = dataclasses.replace(replica.ws.env, verifier=_Inline(replica.ws.env.verifier))
                figures[name].append(_catch_up(replica, wires))
                if replica.ws.state_hash() != fixture.author.ws.state_hash():
                    raise SystemExit(f"{name}: the replica did not converge")
                replica.ws.close()
    reference = statistics.median(references)
    n = len(wires)
    print(f"{n:,} bundles of 10 field writes, 200 per ingest_many, {args.rounds} rounds alternated; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; one executemany {reference * 1e3:.0f} ms (median of 3)")
    for name, runs in figures.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        thread = statistics.median(r[2] for r in runs)
        own = statistics.median(r[0] - r[3] for r in runs)
        blocked = statistics.median(r[4] for r in runs)
        print(f"  {name:<10} wall {wall:.2f} s ({wall / reference:.1f}x), CPU {cpu / n * 1e6:.0f} µs/bundle, "
              f"calling thread {thread / n * 1e6:.0f} µs/bundle; wall less the waits for a core {own:.2f} s, "
              f"blocked {blocked:.2f} s; walls {', '.join(f'{r[0]:.2f}' for r in runs)}")


if __name__ == "__main__":
    main()
