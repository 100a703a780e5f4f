"""CPU time of the catch-up ingest only, split into check / verify / apply, for A/B runs of two cores.

`bench/cpu_decode.py` also times local commits and record writes; this one repeats only the
catch-up (`--runs` fresh replicas, each given the same `--bundles` 10-op bundles, 200 per batch as
a catch-up delivers them) and prints the best and the median, so alternated runs of two cores on a
busy machine can be compared with less noise:

    .venv/bin/python -m bench.cpu_ingest after
    PYTHONPATH=/tmp/old/core .venv/bin/python -m bench.cpu_ingest before    # git archive REV core | tar -x -C /tmp/old
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

from . import reference as ref
from .context import QUICK, Context
from .cpu_decode import _catch_up_cpu, _executemany_cpu
from .peers import ingest_all, replica_peer
from .workloads import build_workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("label")
    parser.add_argument("--bundles", type=int, default=3_000, help="10-op bundles in the catch-up (default 3,000)")
    parser.add_argument("--runs", type=int, default=4, help="fresh replicas caught up (default 4)")
    args = parser.parse_args()
    sizes = dataclasses.replace(QUICK, ingest_bundles=args.bundles, ingest_records=1_000)
    with tempfile.TemporaryDirectory(prefix="openprod-cpu-ingest-") as tmp:
        folder = Path(tmp)
        fixture = Context(sizes, folder, build_workloads()).ingest_fixture()
        rows = ref.field_rows(fixture.edit_wires)
        reference = statistics.median(_executemany_cpu(folder / f"reference-{k}.db", rows) for k in range(3))
        runs = []
        for k in range(args.runs):
            replica = replica_peer(folder, f"replica-{k}", seed=13, origin=fixture.author)
            ingest_all(replica, fixture.setup_wires)
            runs.append(_catch_up_cpu(replica, list(fixture.edit_wires)))
            if replica.ws.state_hash() != fixture.author.ws.state_hash():
                raise SystemExit("the replica did not converge")
    n = len(fixture.edit_wires)
    per = [tuple(x / n * 1e6 for x in run) for run in runs]
    best = min(per, key=sum)
    totals = sorted(sum(p) for p in per)
    applies = sorted(p[2] for p in per)
    print(f"{args.label}: catch-up of {n:,} 10-op bundles, CPU µs per bundle: best {sum(best):.0f}"
          f" (check {best[0]:.0f}, verify {best[1]:.0f}, apply {best[2]:.0f}),"
          f" median {statistics.median(totals):.0f}, apply median "
          f"{statistics.median(applies):.0f}; one executemany {reference / n * 1e6:.1f} µs per bundle's rows: best "
          f"{sum(best) * n / 1e6 / reference:.1f}x, median {statistics.median(totals) * n / 1e6 / reference:.1f}x")


if __name__ == "__main__":
    main()
