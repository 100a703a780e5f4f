"""Live propagation, peer -> relay -> peer: milliseconds from A's commit to B having applied it.

`python -m bench.sync_latency [--edits 500] [--interval-ms 20]`

A and B hold live WebSocket sessions with a relay process; A commits one bundle of ten field
writes every interval; B's clock (same process, same clock as A's) stamps each bundle as it is
stored. Reported: median and p99. Reference in the same run: one verified `ingest_many` of such
a bundle into a replica, the work each of the two hops cannot avoid. Target: median <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from openprod import BundleEvent
from openprod_server.client import RelayClient

from .peers import origin_peer, replica_peer, stored_wires
from .sync_common import RelayProcess, edit, new_record, report, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=500)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="openprod-bench-") as folder:
        base = Path(folder)
        a = origin_peer(base, "A", 1)
        record = new_record(a.ws, 0)
        b = replica_peer(base, "B", 2, a)
        committed: dict[str, float] = {}
        arrived: dict[str, float] = {}
        a.ws.listeners.append(lambda e: committed.__setitem__(e.bundle_id, time.perf_counter())
                              if e.origin == "local" else None)

        def on_b(event: BundleEvent) -> None:
            if event.origin == "remote":
                arrived[event.bundle_id] = time.perf_counter()

        b.ws.listeners.append(on_b)
        relay = RelayProcess(base / "relay")
        try:
            async def run() -> None:
                client_a, client_b = RelayClient(relay.url, a.ws), RelayClient(relay.url, b.ws)
                await client_a.publish()
                await client_a.sync()
                await client_b.join()
                await client_b.sync()
                watchers = [asyncio.create_task(c.sync(until_in_sync=False)) for c in (client_a, client_b)]
                await asyncio.sleep(0.5)
                arrived.clear()
                committed.clear()
                for j in range(args.edits):
                    edit(a.ws, j, record)
                    await asyncio.sleep(args.interval_ms / 1000)
                deadline = time.monotonic() + 30
                while len(set(committed) & set(arrived)) < len(committed) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                for task in watchers:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

            asyncio.run(run())
        finally:
            relay.stop()
        latencies = [(arrived[k] - committed[k]) * 1000 for k in committed if k in arrived]
        lost = len(committed) - len(latencies)
        wires = stored_wires(a)[-50:]
        c = replica_peer(base, "C", 3, a)
        c.ws.ingest_many(stored_wires(a)[:-50])
        hop = []
        for wire in wires:
            t0 = time.perf_counter()
            c.ws.ingest_many([wire])
            hop.append((time.perf_counter() - t0) * 1000)
        floor = statistics.median(hop)
    stats = summary(latencies)
    report("sync_latency", {
        "edits": args.edits, "interval_ms": args.interval_ms, "delivered": len(latencies), "lost": lost,
        "median_ms": round(stats["median"], 2), "p99_ms": round(stats["p99"], 2), "max_ms": round(stats["max"], 2),
        "reference_one_verified_ingest_ms": round(floor, 2),
        "ratio_median_to_two_ingests": round(stats["median"] / (2 * floor), 2),
        "target_median_ms": 50, "met_target": stats["median"] <= 50})


if __name__ == "__main__":
    main()
