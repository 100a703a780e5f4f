"""What each index on `bundles` and `oplog` costs a W3 keystroke: one workspace per variant, typed in turn.

`python -m bench.w3_indexes [--steps N] [--chunks C] [--chunk K]`. Each variant's workspace (on disk,
`openprod.connect`'s settings) types the first N steps of the W3 trace, then loses that variant's
indexes; then the variants type the next keystrokes in alternating chunks of K transactions, C
chunks each, in one process (CPU time: the machine is shared). Dropping an index a reader needs is
not an option in itself: the figure is the upper bound of what a cheaper layout for it would save
(the `bench.ingest_indexes` twin, for the typing path: one bundle, one op, one COMMIT per keystroke).
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import openprod.oplog as oplog
from openprod import Workspace
from openprod.bundle import Bundle
from openprod.storage import connect

from .ingest_indexes import VARIANTS, _rebuild
from .manifest import DOC_TABLE, TEXT_FIELD, bench_manifest
from .peer_workloads import _text_edit
from .peers import make_env
from .workloads import generate_trace

W3_VARIANTS = {name: VARIANTS[name] for name in (
    "all", "-oplog.op_id UNIQUE", "-bundles.bundle_id UNIQUE", "-bundles_writer_hlc", "-foreign key checks")}
BOTH_IDS = [*VARIANTS["-oplog.op_id UNIQUE"][:-1], *VARIANTS["-bundles.bundle_id UNIQUE"][1:]]
W3_VARIANTS["-all three"] = [*BOTH_IDS, "DROP INDEX bundles_writer_hlc"]
# The two UNIQUE indexes merged into one B-tree (bundle and op ids as keys of one table, which a
# keystroke's two UUIDv7s reach in the same leaf): the same two inserts, one page fewer.
IDS_TABLE = "CREATE TABLE ids (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID"
W3_VARIANTS["bundle and op ids in one table"] = [*BOTH_IDS, IDS_TABLE]
_MERGED: set[int] = set()


def _append_with_ids(conn: sqlite3.Connection, bundle: Bundle, *args: Any, **kwargs: Any) -> int:
    seq = _APPEND(conn, bundle, *args, **kwargs)
    if id(conn) in _MERGED:
        conn.execute("INSERT INTO ids (id, seq) VALUES (?, ?)", (bundle.header.bundle_id, seq))
        conn.executemany("INSERT INTO ids (id, seq) VALUES (?, ?)", [(op.op_id, seq) for op in bundle.ops])
    return seq


_APPEND = oplog.append


def _apply(conn: sqlite3.Connection, statements: list[str]) -> None:
    for sql in statements:
        if sql.startswith("__rebuild__ "):
            _rebuild(conn, *sql.split()[1:])
        else:
            conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.w3_indexes", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2_000, help="W3 steps typed before measuring")
    parser.add_argument("--chunks", type=int, default=10, help="chunks measured per variant")
    parser.add_argument("--chunk", type=int, default=200, help="keystrokes (transactions) per chunk")
    args = parser.parse_args()
    oplog.append = _append_with_ids  # a no-op for the other variants
    measured = args.chunks * args.chunk
    trace = [_text_edit(e) for e in generate_trace(args.steps + measured)]
    folder = Path(tempfile.mkdtemp(prefix="w3-indexes-"))
    spaces = {}
    for k, (name, statements) in enumerate(W3_VARIANTS.items()):
        ws = Workspace.create(connect(str(folder / f"{k}.db")), make_env(f"w3-{k}", 51), "bench w3")
        with ws.transaction(kind="module") as tx:
            tx.adopt_module(bench_manifest())
        with ws.transaction() as tx:
            doc = tx.create_record(DOC_TABLE)
        for edit in trace[:args.steps]:
            with ws.transaction() as tx:
                tx.edit_text(doc, TEXT_FIELD, [edit])
        _apply(ws.conn, statements)
        if IDS_TABLE in statements:
            _MERGED.add(id(ws.conn))
        spaces[name] = (ws, doc)
    figures: dict[str, list[float]] = {name: [] for name in W3_VARIANTS}
    for chunk in range(args.chunks):
        edits = trace[args.steps + chunk * args.chunk:args.steps + (chunk + 1) * args.chunk]
        order = list(spaces.items())
        for name, (ws, doc) in order if chunk % 2 == 0 else reversed(order):
            gc.collect()
            start = time.process_time()
            for edit in edits:
                with ws.transaction() as tx:
                    tx.edit_text(doc, TEXT_FIELD, [edit])
            figures[name].append((time.process_time() - start) / len(edits) * 1e6)
    texts = {ws.records.value(doc, TEXT_FIELD) for ws, doc in spaces.values()}
    if len(texts) != 1:
        raise SystemExit("the variants' texts differ")
    print(f"W3 after {args.steps:,} steps, {args.chunks} chunks of {args.chunk} keystrokes per variant, alternated; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; CPU µs per keystroke")
    base = statistics.median(figures["all"])
    for name, runs in figures.items():
        median = statistics.median(runs)
        print(f"  {name:<28} median {median:6.1f} ({median - base:+5.1f}); chunks "
              f"{', '.join(f'{x:.0f}' for x in runs)}")
    for ws, _doc in spaces.values():
        ws.close()


if __name__ == "__main__":
    main()
