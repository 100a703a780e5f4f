"""The relay under load: 50 peers each pushing 5 edits a second for 60 s, every edit reaching
every other peer. Reported: deliveries (and any loss), propagation median and p99, relay CPU.

`python -m bench.sync_load [--peers 50] [--rate 5] [--seconds 60]`

The relay is the real process with its real replica (it verifies, stores and forwards every
bundle). The 50 peers are real sync sessions over real WebSockets, run in one load-generator
process; to fit 50 of them on a small machine they do not keep a database: each pushes bundles
signed in advance by its own actor (ten field writes on its own record, authored offline before
the clock starts) and, for what it receives, reads only the bundle header (id, author, HLC) to
stamp the arrival time and advance its vector clock. Reference in the same run: the relay's
verified ingest alone (`ingest_many` of the same bundles, one at a time), i.e. the floor of its
CPU cost per bundle before forwarding.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openprod import BundleEvent, IngestResult, Workspace
from openprod import connect as db_connect
from openprod.hlc import ZERO
from openprod.ids import to_str
from openprod.sync import IngestBatch, Role, SessionConfig, SignProof, SyncSession, VerifyProof
from openprod_server.client import RelayClient

from .peers import make_env, origin_peer, stored_wires
from .relay_profile import Sampler, describe
from .sync_common import RelayProcess, edit, load_average, new_record, report, summary

NEVER = 10**12
QUIET_CONFIG = SessionConfig(quiet_ms=NEVER, recheck_ms=NEVER, ping_interval_ms=NEVER, ack_timeout_ms=NEVER)


def peek(wire: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(bundle id, writer, HLC, header digest) from a bundle's header, without verifying anything."""
    header_bytes = cbor2.loads(wire)[0]
    header = cbor2.loads(header_bytes)
    return header["id"], header["actor"] + header["dev"], header["hlc"], hashlib.sha256(header_bytes).digest()


def xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(32, "big")


class LightReplica:
    """What one load peer holds: its own pushed bundles, and a vector clock of what it received."""

    def __init__(self, ws: Workspace, held: list[bytes]) -> None:
        self.workspace_id = ws.workspace_id
        self.actor_id = ws.actor_id
        self.writer = ws.writer
        self.clock: dict[bytes, bytes] = {}
        # Kept as a real replica keeps them: the relay compares them in its checks, and a peer
        # reporting none would look forked and be sent every chain again.
        self._digests: dict[bytes, bytes] = {}
        self.seen: set[bytes] = set()
        self.own: list[tuple[bytes, bytes]] = []  # (hlc, wire) pushed so far
        for wire in held:
            self.store(*peek(wire))

    def store(self, bundle_id: bytes, writer: bytes, hlc: bytes, digest: bytes) -> None:
        if bundle_id in self.seen:
            return
        self.seen.add(bundle_id)
        self._digests[writer] = xor(self._digests.get(writer, bytes(32)), digest)
        if hlc > self.clock.get(writer, ZERO):
            self.clock[writer] = hlc

    def vector_clock(self) -> dict[bytes, bytes]:
        return dict(self.clock)

    def digests(self) -> dict[bytes, bytes]:
        return dict(self._digests)

    def delta(self, peer_clock: dict[bytes, bytes]) -> list[bytes]:
        since = peer_clock.get(self.writer, ZERO)
        return _Delta([wire for hlc, wire in self.own if hlc > since])

    def chains(self, writers: list[bytes]) -> list[bytes]:
        return _Delta([wire for _hlc, wire in self.own] if self.writer in writers else [])

    def state_hash(self) -> str:
        return "0" * 64  # never compared: these peers do not send checks (see QUIET_CONFIG)


class _Delta(list[bytes]):
    @property
    def total(self) -> int:
        return len(self)

    def __iter__(self) -> Iterator[bytes]:
        return super().__iter__()


class LoadPeer:
    def __init__(self, name: str, ws: Workspace, skip: int, record: str, count: int,
                 pushed: dict[bytes, float]) -> None:
        self.name = name
        self.ws = ws
        self.env = ws.env
        self.replica = LightReplica(ws, [b.wire for b in ws.oplog.bundles()][:skip])
        self.arrived: dict[bytes, float] = {}
        self.pushed = pushed
        # (id, writer, hlc, digest, wire), authored offline
        self.outbox: list[tuple[bytes, bytes, bytes, bytes, bytes]] = []
        for j in range(count - 1):  # the record's creation is the first of `count`
            edit(ws, j, record)
        for wire in [b.wire for b in ws.oplog.bundles()][skip:]:
            self.outbox.append((*peek(wire), wire))
        self.conn: ClientConnection | None = None
        self.session: SyncSession | None = None
        self.closed = False
        self.frames = 0  # frames received from the relay (batches, acknowledgements, checks)

    def work(self) -> None:
        assert self.session is not None
        now = int(time.time() * 1000)
        while (item := self.session.next_work()) is not None:
            if isinstance(item, SignProof):
                self.session.proof_signed(self.env.signer.sign(item.message), now)
            elif isinstance(item, VerifyProof):
                self.session.proof_verified(self.env.verifier.verify(item.actor, item.message, item.signature), now)
            elif isinstance(item, IngestBatch):
                results = []
                stamp = time.perf_counter()
                for wire in item.wires:
                    bundle_id, writer, hlc, digest = peek(wire)
                    self.arrived.setdefault(bundle_id, stamp)
                    self.replica.store(bundle_id, writer, hlc, digest)
                    results.append(IngestResult("applied", to_str(bundle_id)))
                self.session.batch_ingested(item, results, now)

    async def flush(self) -> None:
        assert self.session is not None and self.conn is not None
        for frame in self.session.data_to_send():
            with contextlib.suppress(ConnectionClosed):
                await self.conn.send(frame)

    async def open(self, url: str) -> None:
        self.conn = await connect(url, max_size=2**20, ping_interval=None, open_timeout=30)
        self.session = SyncSession(self.replica, role=Role.INITIATOR, nonce=secrets.token_bytes(16),  # type: ignore[arg-type]
                                   now=int(time.time() * 1000), config=QUIET_CONFIG)
        await self.flush()

    async def read(self) -> None:
        """Feed every frame already waiting before doing the work, as the relay's runner does."""
        assert self.conn is not None and self.session is not None
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def receive() -> None:
            assert self.conn is not None
            with contextlib.suppress(ConnectionClosed):
                async for frame in self.conn:
                    queue.put_nowait(frame if isinstance(frame, bytes) else frame.encode())
            queue.put_nowait(None)

        reader = asyncio.create_task(receive())
        try:
            ended = False
            while not ended:
                frame = await queue.get()
                while frame is not None:
                    self.frames += 1
                    self.session.receive_frame(frame, int(time.time() * 1000))
                    if queue.empty():
                        break
                    frame = queue.get_nowait()
                ended = frame is None
                self.work()
                await self.flush()
        finally:
            reader.cancel()
        self.closed = True

    async def push(self, rate: float, seconds: float, phase: float) -> None:
        assert self.session is not None
        await asyncio.sleep(phase)
        start = time.perf_counter()
        for n, (bundle_id, writer, hlc, digest, wire) in enumerate(self.outbox):
            due = start + n / rate
            if due - start >= seconds:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            self.replica.own.append((hlc, wire))
            self.replica.store(bundle_id, writer, hlc, digest)
            self.pushed[bundle_id] = time.perf_counter()
            self.session.bundle_stored(BundleEvent(to_str(bundle_id), writer[:32].hex(), writer, hlc, wire, "local"))
            await self.flush()


class LoadRun:
    """`peers` LoadPeers, each with `per_peer` bundles authored offline, connected to a relay and pushing:
    the part of a busy-relay run that sync_load and memory_bench share."""

    def __init__(self, owner: Any, genesis: list[bytes], peers: int, per_peer: int) -> None:
        self.owner = owner
        self.per_peer = per_peer
        self.pushed: dict[bytes, float] = {}
        self.peers: list[LoadPeer] = []
        for i in range(peers):
            ws = Workspace.join(db_connect(":memory:"), make_env(f"P{i}", 100 + i), owner.ws.workspace_id)
            ws.ingest_many(genesis)
            self.peers.append(LoadPeer(f"P{i}", ws, len(genesis), new_record(ws, i), per_peer, self.pushed))
        self.readers: list[asyncio.Task[None]] = []
        self.expected: dict[str, set[bytes]] = {}
        self.everything: set[bytes] = set()

    async def connect(self, relay_url: str, relay_port: int) -> None:
        """The owner publishes, every peer joins, opens a sync session and starts reading."""
        owner_client = RelayClient(relay_url, self.owner.ws)
        await owner_client.publish()
        await owner_client.sync()
        for peer in self.peers:
            await RelayClient(relay_url, peer.ws).join()
        url = f"ws://127.0.0.1:{relay_port}/sync/{owner_client.workspace_text}"
        for peer in self.peers:
            await peer.open(url)
        self.readers = [asyncio.create_task(p.read()) for p in self.peers]

    async def push(self, rate: float, seconds: float, wait_s: float) -> None:
        """Every peer pushes at `rate` for `seconds` (phases spread at random), then wait up to `wait_s`
        until each has received everyone else's bundles."""
        rng = random.Random(5)
        await asyncio.gather(*(p.push(rate, seconds, rng.random() / rate) for p in self.peers))
        self.expected = {p.name: {b for b, *_ in p.outbox[:self.per_peer]} for p in self.peers}
        self.everything = set().union(*self.expected.values())
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if all(self.everything - self.expected[p.name] <= p.arrived.keys() for p in self.peers):
                break
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        for peer in self.peers:
            if peer.conn is not None:
                await peer.conn.close()
        for task in self.readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=5.0, help="edits per second per peer")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample the relay with py-spy into this file and print where its CPU went, by stage")
    parser.add_argument("--relay-source", type=Path, default=None,
                        help="run the relay from this checkout (its server/ and core/), e.g. an older commit")
    args = parser.parse_args(argv)
    per_peer = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="openprod-bench-") as folder:
        base = Path(folder)
        owner = origin_peer(base, "Owner", 1)
        genesis = stored_wires(owner)
        t0 = time.perf_counter()
        load = LoadRun(owner, genesis, args.peers, per_peer)
        peers, pushed = load.peers, load.pushed
        authoring = time.perf_counter() - t0
        relay = RelayProcess(base / "relay", args.relay_source)
        loadgen_cpu = 0.0
        try:
            async def run() -> float:
                nonlocal loadgen_cpu
                await load.connect(relay.url, relay.port)
                await asyncio.sleep(1.0)
                sampler = None if args.profile is None else Sampler(relay.proc.pid, args.profile)
                cpu0, own0 = relay.cpu_seconds(), time.process_time()
                await load.push(args.rate, args.seconds, 60)
                cpu = relay.cpu_seconds() - cpu0
                loadgen_cpu = time.process_time() - own0
                if sampler is not None:
                    sampler.stop()
                await load.close()
                return cpu

            relay_cpu = asyncio.run(run())
        finally:
            relay.stop()
        expected_total = 0
        delivered = 0
        latencies: list[float] = []
        by_author = {b: p.name for p in peers for b, *_ in p.outbox[:per_peer]}
        for peer in peers:
            for bundle_id, author in by_author.items():
                if author == peer.name:
                    continue
                expected_total += 1
                if bundle_id in peer.arrived:
                    delivered += 1
                    latencies.append((peer.arrived[bundle_id] - pushed[bundle_id]) * 1000)
        # Reference: the relay's floor, verified ingest of the same bundles one at a time.
        floor_ws = Workspace.join(db_connect(str(base / "floor.db")), make_env("Floor", 9), owner.ws.workspace_id)
        floor_ws.ingest_many(genesis)
        sample = [w for p in peers for *_x, w in p.outbox[:20]]
        t0 = time.perf_counter()
        for wire in sample:
            floor_ws.ingest_many([wire])
        floor_ms = (time.perf_counter() - t0) / len(sample) * 1000
    stats = summary(latencies) if latencies else {"median": float("nan"), "p99": float("nan"), "max": float("nan")}
    bundles = len(by_author)
    report("sync_load", {
        "peers": args.peers, "edits_per_s_per_peer": args.rate, "seconds": args.seconds, "bundles_pushed": bundles,
        "deliveries_expected": expected_total, "deliveries": delivered,
        # not delivered within 60 s after the last push (the benchmark stops waiting then); not a loss
        # the protocol would keep: a peer that stays connected gets it later, or in its next catch-up
        "undelivered_at_deadline": expected_total - delivered,
        "propagation_median_ms": round(stats["median"], 1), "propagation_p99_ms": round(stats["p99"], 1),
        "propagation_max_ms": round(stats["max"], 1), "relay_cpu_s": round(relay_cpu, 1),
        "relay_cpu_ms_per_bundle": round(relay_cpu / bundles * 1000, 2),
        # per delivery too: when the relay falls behind, it has done only part of the work in the window
        "relay_cpu_us_per_delivery": round(relay_cpu / max(1, delivered) * 1e6, 1),
        "frames_to_peers": sum(p.frames for p in peers),
        "deliveries_per_frame": round(delivered / max(1, sum(p.frames for p in peers)), 2),
        "loadgen_cpu_s": round(loadgen_cpu, 1), "load_average": load_average(),
        "reference_verified_ingest_ms_per_bundle": round(floor_ms, 2), "authoring_s": round(authoring, 1)})
    if args.profile is not None:
        print(describe(args.profile, relay_cpu / bundles * 1000))


if __name__ == "__main__":
    main()
