"""Where one W3 keystroke's transaction spends its time: `python -m bench.w3_breakdown [--steps N] [--edits M]`.

Types the first N steps of the W3 trace one transaction each (as `python -m bench w3` does), then
M more with the pipeline's steps wrapped in CPU-time counters, and prints per transaction: each
step (nested steps are inside their parent's figure), each SQL statement, the WAL pages one commit
writes, and the Yrs edit on the workspace's document against the same document rebuilt compactly
and plain pycrdt typing the same trace. CPU time (`time.process_time`), because the machine is
shared; the wrappers add about 1 us each, so the total is above what `python -m bench w3` measures.
Why a separate tool: the W3 figure is one number, and cutting it needs to know which part is which.
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import openprod.commit as pipeline
import openprod.crdt as crdt
import openprod.operations as operations
import openprod.oplog as oplog
import openprod.tx_crdt as tx_crdt
import openprod.tx_records as tx_records
from openprod import Workspace
from openprod.bundle import Bundle, UnsignedBundle
from openprod.storage import configure

from .manifest import DOC_TABLE, TEXT_FIELD, bench_manifest
from .peer_workloads import _text_edit
from .peers import make_env
from .sqltime import timed_connection
from .workloads import generate_trace

CPU = time.process_time


_TimedConnection = timed_connection(words=5, width=48)


def _wrap(owner: Any, name: str, spent: collections.defaultdict[str, float]) -> None:
    func = getattr(owner, name)
    label = f"{getattr(owner, '__name__', owner)}.{name}"

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = CPU()
        try:
            return func(*args, **kwargs)
        finally:
            spent[label] += CPU() - start

    setattr(owner, name, timed)


def _yrs_per_edit(backend: Any, doc: Any, edits: list[tuple[int, int, str]]) -> float:
    start = CPU()
    for edit in edits:
        backend.edit_text(doc, [edit])
    return (CPU() - start) / len(edits) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.w3_breakdown", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="W3 steps typed before measuring")
    parser.add_argument("--edits", type=int, default=2_000, help="transactions measured")
    args = parser.parse_args()
    steps, count = args.steps, args.edits
    trace = [_text_edit(e) for e in generate_trace(steps + count + 2_000)]
    path = Path(tempfile.mkdtemp(prefix="w3-breakdown-")) / "a.db"
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, factory=_TimedConnection)
    configure(conn, on_disk=True)  # what `openprod.connect` does: the product's settings
    ws = Workspace.create(conn, make_env("w3-a", 51), "bench w3-a")
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(bench_manifest())
    with ws.transaction() as tx:
        doc = tx.create_record(DOC_TABLE)
    for edit in trace[:steps]:
        with ws.transaction() as tx:
            tx.edit_text(doc, TEXT_FIELD, [edit])
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[conn.execute("PRAGMA synchronous").fetchone()[0]]
    cx = ws._cx
    spent: collections.defaultdict[str, float] = collections.defaultdict(float)
    for owner, name in [(pipeline, "begin"), (tx_crdt.CrdtWrites, "edit_text"), (tx_crdt.CrdtWrites, "_crdt_field"),
                        (crdt.CrdtStore, "text_length"), (crdt.CrdtStore, "edit_text"),
                        (type(cx.crdt.backend), "edit_text"), (tx_records.RecordWrites, "_next_hlc"),
                        (tx_records.RecordWrites, "add"), (operations, "encoded_op"), (type(cx.applier), "apply"),
                        (type(cx.conflicts), "prior"), (type(cx.conflicts), "observe"), (pipeline, "prepare"),
                        (type(cx.rules), "fire"), (pipeline, "build"), (type(ws.env.signer), "sign"),
                        (pipeline, "commit"), (UnsignedBundle, "seal"), (oplog, "append"), (Bundle, "wire"),
                        (type(cx), "_chain_stored"), (type(cx.awareness), "note")]:
        _wrap(owner, name, spent)
    gc.collect()
    _TimedConnection.on = True
    start = CPU()
    for edit in trace[steps:steps + count]:
        with ws.transaction() as tx:
            tx.edit_text(doc, TEXT_FIELD, [edit])
    total = CPU() - start
    _TimedConnection.on = False
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    pages_from = steps + count
    for edit in trace[pages_from:pages_from + 200]:
        with ws.transaction() as tx:
            tx.edit_text(doc, TEXT_FIELD, [edit])
    wal_bytes = os.path.getsize(str(path) + "-wal")
    conn.execute("PRAGMA wal_autocheckpoint = 1000")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]

    print(f"W3 after {steps:,} steps, {count:,} single-edit transactions; SQLite journal_mode={journal}, "
          f"synchronous={synchronous} (openprod.connect's settings, the CLI's and the relay's)")
    print(f"CPU per transaction, instrumented: {total / count * 1e6:.1f} us")
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {label:44s} {seconds / count * 1e6:7.1f} us")
    sql = sum(_TimedConnection.spent.values())
    print(f"SQL statements: {sql / count * 1e6:.1f} us per transaction")
    for key, seconds in sorted(_TimedConnection.spent.items(), key=lambda kv: -kv[1]):
        print(f"  {key:50s} {_TimedConnection.calls[key] / count:4.1f}x {seconds / count * 1e6:7.1f} us")
    print(f"WAL written per commit: {wal_bytes / 200 / 1024:.1f} KiB ({wal_bytes / 200 / (page_size + 24):.1f} pages)")

    import pycrdt

    backend: Any = cx.crdt.backend  # pycrdt's, whose `compact` the protocol does not promise
    live = next(iter(cx.crdt._docs.values()))
    plain_doc: Any = pycrdt.Doc()
    plain_text: Any = plain_doc.get("t", type=pycrdt.Text)
    typed = trace[:pages_from + 200]
    for index, delete, insert in typed:
        with plain_doc.transaction():
            if delete:
                del plain_text[index:index + delete]
            if insert:
                plain_text.insert(index, insert)
    more = trace[len(typed):len(typed) + 1000]
    compacted = backend.compact(live) if hasattr(backend, "compact") else None
    print(f"Yrs edit (one transaction, update captured) on the next {len(more):,} edits:")
    print(f"  the workspace's cached document     {_yrs_per_edit(backend, live, more):7.1f} us")
    if compacted is not None:
        print(f"  the same, rebuilt compactly         {_yrs_per_edit(backend, compacted, more):7.1f} us")
    # a handle as the backend makes one (since 54fa76e it carries the document's kept observer)
    handle = (plain_doc, plain_text, *([type(live[2])()] if len(live) > 2 else []))
    plain = _yrs_per_edit(backend, handle, more)
    print(f"  plain pycrdt's document (typed in a loop) {plain:7.1f} us")


if __name__ == "__main__":
    main()
