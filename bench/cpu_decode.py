"""CPU time (`time.process_time`) of the decode and local-encode side, for comparing two cores on a busy machine.

Like `bench/cpu_compare.py`, but with the ingest benchmark's own bundles (10 field writes each) and
the catch-up's split into its three steps. Run it alternately against two cores:

    .venv/bin/python -m bench.cpu_decode after
    PYTHONPATH=/tmp/old/core .venv/bin/python -m bench.cpu_decode before    # git archive REV core | tar -x -C /tmp/old

It prints, in CPU time: one local one-field commit (mean of 2,000), W1's local write (a record created
with ten values, mean of 1,000), and a catch-up of `--bundles` 10-op bundles (200 per `ingest_many`,
best of 2), split into check (decode, duplicate and clock checks), signature verification and apply,
beside one plain `executemany` of the same rows (median of 3): the CPU-time form of benchmark (b)'s ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import tempfile
import time
from pathlib import Path

from . import reference as ref
from .context import QUICK, Context
from .manifest import FIELD_IDS, TABLE, field_values
from .peers import Peer, ingest_all, origin_peer, replica_peer
from .workloads import build_workloads


def _executemany_cpu(path: Path, rows: list[ref.FieldRow]) -> float:
    conn = ref.open_reference(path)
    gc.collect()
    start = time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(ref._ROWS_INSERT, rows)
    conn.execute("COMMIT")
    seconds = time.process_time() - start
    conn.close()
    return seconds


def _catch_up_cpu(peer: Peer, wires: list[bytes]) -> tuple[float, float, float]:
    """CPU seconds of check, verify and apply over `wires`, 200 per batch as a catch-up delivers them."""
    ws = peer.ws
    verify = ws.env.verifier.verify
    check = sign = apply = 0.0
    gc.collect()
    for start in range(0, len(wires), 200):
        t0 = time.process_time()
        received = ws.check_received(wires[start:start + 200])
        t1 = time.process_time()
        verdicts = [all(verify(*s) for s in bundle.signatures()) for bundle in received.to_verify]
        t2 = time.process_time()
        results = ws.apply_received(received, verdicts)
        t3 = time.process_time()
        if any(r.status != "applied" for r in results):
            raise SystemExit(f"{peer.name} did not apply every bundle")
        check, sign, apply = check + t1 - t0, sign + t2 - t1, apply + t3 - t2
    return check, sign, apply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("label")
    parser.add_argument("--bundles", type=int, default=3_000, help="10-op bundles in the catch-up (default 3,000)")
    args = parser.parse_args()
    work = build_workloads()
    sizes = dataclasses.replace(QUICK, ingest_bundles=args.bundles, ingest_records=1_000)
    with tempfile.TemporaryDirectory(prefix="openprod-cpu-decode-") as tmp:
        folder = Path(tmp)
        ctx = Context(sizes, folder, work)
        fixture = ctx.ingest_fixture()
        writer = origin_peer(folder, "w1-a", seed=31)
        gc.collect()
        started = time.process_time()
        for _rid, values in work.records[:1_000]:
            with writer.ws.transaction() as tx:
                tx.create_record(TABLE, field_values(values))
        record_us = (time.process_time() - started) / 1_000 * 1e6
        with writer.ws.transaction() as tx:
            record = tx.create_record(TABLE)
        field = FIELD_IDS["f0"]
        for i in range(200):  # warm-up
            with writer.ws.transaction() as tx:
                tx.set_field(record, field, f"warm {i}")
        gc.collect()
        started = time.process_time()
        for i in range(2_000):
            with writer.ws.transaction() as tx:
                tx.set_field(record, field, f"value {i}")
        commit_us = (time.process_time() - started) / 2_000 * 1e6
        rows = ref.field_rows(fixture.edit_wires)
        references = [_executemany_cpu(folder / f"reference-{k}.db", rows) for k in range(3)]
        runs = []
        for k in range(2):
            replica = replica_peer(folder, f"replica-{k}", seed=13, origin=fixture.author)
            ingest_all(replica, fixture.setup_wires)
            runs.append(_catch_up_cpu(replica, list(fixture.edit_wires)))
            if replica.ws.state_hash() != fixture.author.ws.state_hash():
                raise SystemExit("the replica did not converge")
    check, sign, apply = min(runs, key=sum)
    total, reference, n = check + sign + apply, statistics.median(references), len(fixture.edit_wires)
    print(f"{args.label}: commit {commit_us:.0f} µs CPU; record with ten values {record_us:.0f} µs CPU; catch-up of "
          f"{n:,} 10-op bundles {total / n * 1e6:.0f} µs CPU per bundle (check {check / n * 1e6:.0f}, verify "
          f"{sign / n * 1e6:.0f}, apply {apply / n * 1e6:.0f}); one executemany of the same rows "
          f"{reference / n * 1e6:.1f} µs per bundle's rows: {total / reference:.1f}x")


if __name__ == "__main__":
    main()
