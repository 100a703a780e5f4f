"""Which reads need each index on `bundles` and `oplog`: their query plans and times with and without it.

`python -m bench.index_readers [--bundles N]`. The ingest benchmark's author (1,000 records, then N
bundles of 10 field writes: 10 x N ops) is copied once per index, the copy loses that index (an
automatic UNIQUE index by rebuilding its table, as `bench.ingest_indexes` does), and each reader
that the index serves is run on both: EXPLAIN QUERY PLAN's detail and the median wall time of
`--repeat` runs. `bench.ingest_indexes` and `bench.w3_indexes` give what each index costs a write;
this gives what it saves the reads, so a layout change can be weighed on both sides.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from .context import QUICK, Context
from .ingest_indexes import VARIANTS, _rebuild
from .workloads import build_workloads

# (index variant, what reads it, SQL, how its parameters are picked from the database)
READERS: list[tuple[str, str, str, str]] = [
    ("-bundles_writer_hlc", "catch-up delta, per writer behind (oplog.missing_seqs)",
     "SELECT hlc, bundle_id, seq FROM bundles WHERE writer = ? AND hlc > ?", "writer_hlc"),
    ("-bundles_writer_hlc", "chain check of a received bundle, forked chains (receive.blocker)",
     "SELECT 1 FROM bundles WHERE writer = ? AND hlc = ?", "writer_hlc"),
    ("-bundles_writer_hlc", "local commits not in the clock row yet (oplog.stored_after)",
     "SELECT hlc, header FROM bundles WHERE writer = ? AND hlc > ? ORDER BY hlc", "writer_last"),
    ("-bundles_writer_hlc", "bundles to send (oplog.count_after)",
     "SELECT count(*) FROM bundles WHERE writer = ? AND hlc > ?", "writer_hlc"),
    ("-bundles.bundle_id UNIQUE", "is this received bundle stored? (receive, one wire)",
     "SELECT 1 FROM bundles WHERE bundle_id = ?", "bundle_id"),
    ("-bundles.bundle_id UNIQUE", "a received duplicate's stored header (receive)",
     "SELECT header, signature FROM bundles WHERE bundle_id = ?", "bundle_id"),
    ("-bundles.bundle_id UNIQUE", "state hash, the bundles section's first page (statehash)",
     "SELECT bundle_id FROM bundles ORDER BY bundle_id LIMIT 2000", "none"),
    ("-oplog.op_id UNIQUE", "did the author see this tip? (receive._knew; conflicts._writer)",
     "SELECT b.writer FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq WHERE l.op_id = ?", "op_id"),
    ("-oplog.op_id UNIQUE", "a tip's write (conflicts._lookup)",
     "SELECT l.payload, b.writer, b.header FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq"
     " WHERE l.op_id = ?", "op_id"),
    ("-oplog.op_id UNIQUE", "who created this record (receive, a received CreateEntity)",
     "SELECT e.created_ord, e.created_by, b.writer FROM entities e JOIN oplog l ON l.op_id ="
     " substr(e.created_ord, 13) JOIN bundles b ON b.seq = l.bundle_seq WHERE e.entity_id = ?", "entity"),
]


def _params(conn: sqlite3.Connection, kind: str) -> tuple[object, ...]:
    """Parameters from the middle of the stored data (a writer's middle HLC, a middle bundle or op)."""
    if kind == "none":
        return ()
    if kind in ("writer_hlc", "writer_last"):
        writer, hlcs = conn.execute("SELECT writer, group_concat(hex(hlc)) FROM bundles GROUP BY writer"
                                    " ORDER BY count(*) DESC LIMIT 1").fetchone()
        ordered = sorted(bytes.fromhex(h) for h in hlcs.split(","))
        return (writer, ordered[len(ordered) // 2] if kind == "writer_hlc" else ordered[-2])
    if kind == "bundle_id":
        sql = "SELECT bundle_id FROM bundles WHERE seq = (SELECT max(seq) / 2 FROM bundles)"
    elif kind == "op_id":
        sql = "SELECT op_id FROM oplog WHERE seq = (SELECT max(seq) / 2 FROM oplog)"
    else:
        sql = "SELECT entity_id FROM entities LIMIT 1 OFFSET 500"
    return tuple(conn.execute(sql).fetchone())


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    return "; ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def _time(conn: sqlite3.Connection, sql: str, params: tuple[object, ...], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        conn.execute(sql, params).fetchall()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.index_readers", description=__doc__.split("\n")[0])
    parser.add_argument("--bundles", type=int, default=10_000, help="10-op bundles after the 1,000 creations")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each query, median reported")
    args = parser.parse_args()
    sizes = dataclasses.replace(QUICK, ingest_bundles=args.bundles, ingest_records=1_000)
    with tempfile.TemporaryDirectory(prefix="openprod-index-readers-") as tmp:
        folder = Path(tmp)
        author = Context(sizes, folder, build_workloads()).ingest_fixture().author
        full = author.ws.conn
        bundles, ops = full.execute("SELECT count(*), sum(op_count) FROM bundles").fetchone()
        print(f"{bundles:,} bundles, {ops:,} ops; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
              f"median of {args.repeat} runs each")
        copies: dict[str, sqlite3.Connection] = {}
        for variant, what, sql, kind in READERS:
            if variant not in copies:
                copy = sqlite3.connect(str(folder / f"copy-{len(copies)}.db"), isolation_level=None)
                full.backup(copy)
                for statement in VARIANTS[variant]:
                    if statement.startswith("__rebuild__ "):
                        _rebuild(copy, *statement.split()[1:])
                    else:
                        copy.execute(statement)
                copies[variant] = copy
            params = _params(full, kind)
            without = copies[variant]
            with_ms, without_ms = _time(full, sql, params, args.repeat) * 1e3, \
                _time(without, sql, params, args.repeat) * 1e3
            print(f"{variant[1:]}: {what}\n  with:    {with_ms:9.3f} ms  {_plan(full, sql, params)}\n"
                  f"  without: {without_ms:9.3f} ms  {_plan(without, sql, params)}")
        for copy in copies.values():
            copy.close()
        author.ws.close()


if __name__ == "__main__":
    main()
