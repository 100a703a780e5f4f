"""What each index costs the catch-up ingest: one variant per index dropped, alternated in one process.

Same-process A/B on a busy machine (see `ingest_steps`): every round catches up one fresh replica
per variant, in turn, with the ingest benchmark's 10-op bundles (200 per batch); a variant drops
its indexes after the setup bundles, before the timed catch-up. Dropping an index the readers
need is not an option in itself: the figure is the upper bound of what a cheaper layout for it
could save (session 7 used it to choose which index to replace). Printed per variant: the apply
step's CPU per bundle (median over rounds, each round's figure), beside one plain executemany.

    .venv/bin/python -m bench.ingest_indexes [--rounds 3] [--bundles 3000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import statistics
import tempfile
from pathlib import Path

from . import reference as ref
from .context import QUICK, Context
from .cpu_decode import _catch_up_cpu, _executemany_cpu
from .peers import ingest_all, replica_peer
from .workloads import build_workloads


def _without_unique(table: str, column: str) -> list[str]:
    """Statements that rebuild `table` without its `column` UNIQUE constraint (an automatic index
    cannot be dropped), keeping its other indexes: the upper bound of what that index costs."""
    return ["PRAGMA foreign_keys = OFF", f"__rebuild__ {table} {column}", "PRAGMA foreign_keys = ON"]


VARIANTS: dict[str, list[str]] = {
    "all": [],
    "-oplog.op_id UNIQUE": _without_unique("oplog", "op_id"),
    "-bundles.bundle_id UNIQUE": _without_unique("bundles", "bundle_id"),
    "-foreign key checks": ["PRAGMA foreign_keys = OFF"],
    "-fields_field_value": ["DROP INDEX fields_field_value"],
    "-bundles_writer_hlc": ["DROP INDEX bundles_writer_hlc"],
    "-bundles_writer_hlc-fields_field_value": ["DROP INDEX bundles_writer_hlc", "DROP INDEX fields_field_value"],
}


def _rebuild(conn: sqlite3.Connection, table: str, column: str) -> None:
    """Recreate `table` from its stored DDL less `column`'s UNIQUE, with its rows and named indexes."""
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    indexes = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    plain = ddl.replace(f"{column} BLOB NOT NULL UNIQUE", f"{column} BLOB NOT NULL", 1)
    if plain == ddl:
        raise SystemExit(f"{table}.{column}: no UNIQUE constraint found in {ddl!r}")
    conn.execute(plain.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_new (", 1))
    conn.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    for sql in indexes:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bundles", type=int, default=3_000)
    args = parser.parse_args()
    sizes = dataclasses.replace(QUICK, ingest_bundles=args.bundles, ingest_records=1_000)
    figures: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="openprod-ingest-indexes-") as tmp:
        folder = Path(tmp)
        fixture = Context(sizes, folder, build_workloads()).ingest_fixture()
        rows = ref.field_rows(fixture.edit_wires)
        reference = statistics.median(_executemany_cpu(folder / f"reference-{k}.db", rows) for k in range(3))
        for round_ in range(args.rounds):
            for name, statements in VARIANTS.items():
                replica = replica_peer(folder, f"replica-{round_}-{name}", seed=13, origin=fixture.author)
                ingest_all(replica, fixture.setup_wires)
                for sql in statements:
                    if sql.startswith("__rebuild__ "):
                        _rebuild(replica.ws.conn, *sql.split()[1:])
                    else:
                        replica.ws.conn.execute(sql)
                _check, _verify, apply = _catch_up_cpu(replica, list(fixture.edit_wires))
                figures[name].append(apply / len(fixture.edit_wires) * 1e6)
                if replica.ws.state_hash() != fixture.author.ws.state_hash():
                    raise SystemExit(f"{name}: the replica did not converge")
                replica.ws.close()
    n = len(fixture.edit_wires)
    print(f"{n:,} bundles of 10 field writes, {args.rounds} rounds alternated; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; one executemany {reference / n * 1e6:.1f} µs CPU "
          f"per bundle's rows")
    for name, runs in figures.items():
        print(f"  {name:<40} apply CPU {statistics.median(runs):.0f} µs/bundle; rounds "
              f"{', '.join(f'{x:.0f}' for x in runs)}")


if __name__ == "__main__":
    main()
