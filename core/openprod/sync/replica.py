"""What a sync session needs from the local replica, and its implementation over a Workspace.

The session reads (vector clock, missing bundles, state hash) through this small interface
instead of touching SQLite, so the same session runs over the relay's files, the browser's
in-memory database, or a test double. Writes never go through here: received bundles are
handed back to the driver, which calls `Workspace.ingest` or `ingest_async` (signature checks
may be async in the browser).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Protocol

from ..bundle import encode_wire
from ..hlc import ZERO

VectorClock = dict[bytes, bytes]

PAGE = 256  # bundles read from SQLite at a time while streaming a catch-up


class Delta(Protocol):
    """The bundles a peer lacks, in causal (HLC) order, read lazily."""

    total: int

    def __iter__(self) -> Iterator[bytes]: ...


class Replica(Protocol):
    @property
    def workspace_id(self) -> bytes: ...

    @property
    def actor_id(self) -> bytes: ...

    def vector_clock(self) -> VectorClock: ...

    def digests(self) -> dict[bytes, bytes]: ...

    def delta(self, peer_clock: VectorClock) -> Delta: ...

    def chains(self, writers: list[bytes]) -> Delta: ...

    def state_hash(self) -> str: ...


def lacks(mine: VectorClock, theirs: VectorClock) -> bool:
    """Whether a peer at `theirs` is missing bundles a replica at `mine` holds."""
    return any(theirs.get(actor, ZERO) < hlc for actor, hlc in mine.items())


class SqliteDelta:
    """Bundle sequence numbers chosen up front (a snapshot), wires read a page at a time."""

    def __init__(self, conn: sqlite3.Connection, seqs: list[int]) -> None:
        self._conn = conn
        self._seqs = seqs
        self.total = len(seqs)

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._seqs), PAGE):
            yield from wires_for(self._conn, self._seqs[start:start + PAGE])


def wires_for(conn: sqlite3.Connection, seqs: list[int]) -> list[bytes]:
    """Exact wire bytes of stored bundles (by local seq), in the order given."""
    if not seqs:
        return []
    marks = ",".join("?" * len(seqs))
    heads = {seq: (header, signature) for seq, header, signature in conn.execute(
        f"SELECT seq, header, signature FROM bundles WHERE seq IN ({marks})", seqs)}
    ops: dict[int, list[bytes]] = {seq: [] for seq in seqs}
    for seq, payload in conn.execute(
            f"SELECT bundle_seq, payload FROM oplog WHERE bundle_seq IN ({marks}) ORDER BY bundle_seq, idx", seqs):
        ops[seq].append(payload)
    return [encode_wire(heads[seq][0], heads[seq][1], ops[seq]) for seq in seqs]


def missing_seqs(conn: sqlite3.Connection, mine: VectorClock, theirs: VectorClock) -> list[int]:
    """Local seqs of the bundles not covered by `theirs`, in HLC order (a causal order).

    A writer's (one device's) bundles are applied in chain order, so "everything of writer W
    after theirs[W]" is what the peer lacks; one indexed range query per writer that is behind.
    (A forked chain can hide a branch below theirs[W]: the digests in checks find it.)
    """
    found: list[tuple[bytes, bytes, int]] = []
    for writer, hlc in mine.items():
        since = theirs.get(writer, ZERO)
        if since >= hlc:
            continue
        found.extend(conn.execute(
            "SELECT hlc, bundle_id, seq FROM bundles WHERE writer = ? AND hlc > ?", (writer, since)))
    found.sort()
    return [seq for _hlc, _id, seq in found]


def chain_seqs(conn: sqlite3.Connection, writers: list[bytes]) -> list[int]:
    """Every bundle of these writers, in HLC order: what a peer missing part of a forked chain gets."""
    found: list[tuple[bytes, bytes, int]] = []
    for writer in writers:
        found.extend(conn.execute("SELECT hlc, bundle_id, seq FROM bundles WHERE writer = ?", (writer,)))
    found.sort()
    return [seq for _hlc, _id, seq in found]


class WorkspaceReplica:
    """A Replica over a core Workspace (relay, CLI client, browser worker)."""

    def __init__(self, workspace: object) -> None:
        from ..workspace import Workspace

        if not isinstance(workspace, Workspace):
            raise TypeError("WorkspaceReplica needs an openprod Workspace")
        self.ws = workspace
        self._hash_key: tuple[int, int] | None = None
        self._hash = ""

    @property
    def workspace_id(self) -> bytes:
        return self.ws.workspace_id

    @property
    def actor_id(self) -> bytes:
        return self.ws.actor_id

    def vector_clock(self) -> VectorClock:
        return self.ws.vector_clock

    def digests(self) -> dict[bytes, bytes]:
        return self.ws.chain_digests

    def delta(self, peer_clock: VectorClock) -> SqliteDelta:
        return SqliteDelta(self.ws.conn, missing_seqs(self.ws.conn, self.ws.vector_clock, peer_clock))

    def chains(self, writers: list[bytes]) -> SqliteDelta:
        return SqliteDelta(self.ws.conn, chain_seqs(self.ws.conn, writers))

    def state_hash(self) -> str:
        """Cached until the database changes. Not keyed by the vector clock: a stored bundle need
        not move it (a branch of a forked chain, stamped before the chain's newest bundle), and a
        stale hash would tell two differing peers they are in sync. `total_changes` counts every
        row this connection has written (it never goes back, rollbacks included) and
        `data_version` moves when another connection commits, so any write misses the cache."""
        conn = self.ws.conn
        key = (conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0])
        if key != self._hash_key:
            self._hash = self.ws.state_hash()
            self._hash_key = (conn.total_changes, key[1])  # the hash itself may write (a view closed)
        return self._hash
