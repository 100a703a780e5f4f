"""Where the catch-up's apply spends its SQL time, statement by statement: `python -m bench.ingest_sql`.

The ingest benchmark's catch-up (`--bundles` bundles of 10 `SetField`s over 1,000 records, 200 per
batch, check / verify / apply timed as `bench.cpu_decode` does) on a replica whose connection counts
CPU time per statement (`executemany` counted once per call). Printed per round: the three steps
per bundle, then each statement's CPU per bundle and calls per bundle. The `bench.w3_breakdown`
twin for the catch-up: it tells which rows a layout change would have to make cheaper.

    .venv/bin/python -m bench.ingest_sql [--rounds 2] [--bundles 3000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from .context import QUICK, Context
from .cpu_decode import _catch_up_cpu
from .peers import ingest_all, replica_peer
from .sqltime import timed_connection
from .workloads import build_workloads

_TimedConnection = timed_connection(words=7, width=60, many_prefix="(many) ")


_PLAIN_CONNECT = sqlite3.connect


def _timed_connect(path: str, **kwargs: Any) -> sqlite3.Connection:
    kwargs.setdefault("factory", _TimedConnection)
    conn: sqlite3.Connection = _PLAIN_CONNECT(path, **kwargs)
    return conn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_sql", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bundles", type=int, default=3_000)
    args = parser.parse_args()
    sizes = dataclasses.replace(QUICK, ingest_bundles=args.bundles, ingest_records=1_000)
    with tempfile.TemporaryDirectory(prefix="openprod-ingest-sql-") as tmp:
        folder = Path(tmp)
        fixture = Context(sizes, folder, build_workloads()).ingest_fixture()
        n = len(fixture.edit_wires)
        sqlite3.connect = _timed_connect  # type: ignore[assignment]  # the replicas' connections (`openprod.connect`), made from here on
        try:
            for round_ in range(args.rounds):
                replica = replica_peer(folder, f"replica-{round_}", seed=13, origin=fixture.author)
                ingest_all(replica, fixture.setup_wires)
                _TimedConnection.spent.clear()
                _TimedConnection.calls.clear()
                _TimedConnection.on = True
                check, verify, apply = _catch_up_cpu(replica, list(fixture.edit_wires))
                _TimedConnection.on = False
                if replica.ws.state_hash() != fixture.author.ws.state_hash():
                    raise SystemExit("the replica did not converge")
                replica.ws.close()
                sql = sum(_TimedConnection.spent.values())
                print(f"round {round_ + 1}: {n:,} bundles, load average "
                      f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; CPU µs per bundle: check "
                      f"{check / n * 1e6:.0f}, verify {verify / n * 1e6:.0f}, apply {apply / n * 1e6:.0f} "
                      f"(SQL {sql / n * 1e6:.0f})")
                for key, seconds in sorted(_TimedConnection.spent.items(), key=lambda kv: -kv[1])[:12]:
                    print(f"  {seconds / n * 1e6:6.1f} µs {_TimedConnection.calls[key] / n:6.3f}x  {key}")
        finally:
            sqlite3.connect = _PLAIN_CONNECT


if __name__ == "__main__":
    main()
