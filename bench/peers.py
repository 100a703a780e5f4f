"""Peers for the benchmarks: real SQLite files, real signatures, the real wall clock.

Why not the test helpers' manual clock: a benchmark measures what a user gets, and a clock that
ticks one millisecond per read would push a busy author's HLCs minutes ahead of the receiver's
time (refused as `future_hlc`). Keys and id randomness are seeded so runs are comparable.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openprod import Env, Identity, Workspace, connect

from .manifest import bench_manifest

try:  # CPython: libsodium. Without PyNaCl, the pure-Python backend signs identically (slowly).
    from openprod.signer_nacl import NaclSigner as _Signer
    from openprod.signer_nacl import NaclVerifier as _Verifier
    from openprod.signer_nacl import public_key_for as _public_key_for

    SIGNER_BACKEND = "PyNaCl (libsodium)"
except ImportError:  # pragma: no cover - only without the native extra
    from openprod.signer_pure import PureSigner as _Signer  # type: ignore[assignment]
    from openprod.signer_pure import PureVerifier as _Verifier  # type: ignore[assignment]
    from openprod.signer_pure import public_key_for as _public_key_for

    SIGNER_BACKEND = "pure Python (ecdsa)"


class BenchFailure(Exception):
    """The engine did not do what the workload needs (a bundle refused, peers diverged...)."""


@dataclass
class Peer:
    name: str
    ws: Workspace
    path: Path


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def make_env(name: str, seed: int) -> Env:
    private = hashlib.sha256(f"openprod-bench/{name}/{seed}".encode()).digest()
    identity = Identity(_public_key_for(private), private, name, "2026-01-01T00:00:00Z")
    rng = random.Random(seed)
    return Env(signer=_Signer(identity), verifier=_Verifier(), display_name=name, now_ms=wall_ms,
               random_bytes=rng.randbytes)


def origin_peer(directory: Path, name: str, seed: int) -> Peer:
    """A new workspace in a fresh file, with the bench module adopted."""
    path = directory / f"{name}.db"
    ws = Workspace.create(connect(str(path)), make_env(name, seed), f"bench {name}")
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(bench_manifest())
    return Peer(name, ws, path)


def replica_peer(directory: Path, name: str, seed: int, origin: Peer) -> Peer:
    """An empty replica of `origin`'s workspace in a fresh file (Workspace.join)."""
    path = directory / f"{name}.db"
    ws = Workspace.join(connect(str(path)), make_env(name, seed), origin.ws.workspace_id)
    return Peer(name, ws, path)


def stored_wires(peer: Peer) -> list[bytes]:
    """Every bundle the peer holds, as wire bytes in canonical order (what a sync would send)."""
    return [b.wire for b in peer.ws.oplog.bundles()]


def ingest_batched(peer: Peer, wires: list[bytes], batch: int = 200) -> int:
    """Ingest as a catch-up does: `batch` bundles per call, one SQLite commit each."""
    count = 0
    for start in range(0, len(wires), batch):
        for result in peer.ws.ingest_many(wires[start:start + batch]):
            if result.status != "applied":
                raise BenchFailure(f"{peer.name} did not apply bundle {count}: {result.status} "
                                   f"{result.reason or ''} {result.detail}".rstrip())
            count += 1
    return count


def ingest_all(peer: Peer, wires: Iterable[bytes]) -> int:
    """Ingest one bundle at a time; raise BenchFailure on the first one not applied."""
    count = 0
    ingest = peer.ws.ingest
    for wire in wires:
        result = ingest(wire)
        if result.status != "applied":
            raise BenchFailure(f"{peer.name} did not apply bundle {count}: {result.status} "
                               f"{result.reason or ''} {result.detail}".rstrip())
        count += 1
    return count


def thread_schedstat() -> tuple[float, float]:
    """The calling thread's seconds on a CPU and waiting on a run queue so far (Linux; else zeros):
    on shared cores, wall time less the run-queue wait is what other processes' load moves least."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as stat:
            running, waiting = stat.read().split()[:2]
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(running) / 1e9, int(waiting) / 1e9


def op_count(peer: Peer) -> int:
    return int(peer.ws.oplog.size().operations)


def close(*peers: Peer) -> None:
    for peer in peers:
        peer.ws.conn.close()
