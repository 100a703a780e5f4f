"""What a sync session needs from the local replica, and its implementation over a Workspace.

The session reads (vector clock, missing bundles, state hash) through this small interface
instead of touching SQLite, so the same session runs over the relay's files, the browser's
in-memory database, or a test double. Writes never go through here: received bundles are
handed back to the driver (`driver.py`), which checks, verifies and applies them through the
Workspace's public receive steps (signature checks may be async in the browser).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Protocol

from ..hlc import ZERO

VectorClock = dict[bytes, bytes]


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


class OplogSource(Protocol):
    """What `WorkspaceReplica` reads of a Workspace's `oplog`."""

    def bundles_lacked(self, peer_clock: VectorClock) -> Delta: ...

    def bundles_of(self, writers: list[bytes]) -> Delta: ...


class ReplicaSource(Protocol):
    """What `WorkspaceReplica` uses of a Workspace: its public API only (sync/ never imports the facade)."""

    @property
    def oplog(self) -> OplogSource: ...

    @property
    def workspace_id(self) -> bytes: ...

    @property
    def actor_id(self) -> bytes: ...

    @property
    def vector_clock(self) -> VectorClock: ...

    @property
    def chain_digests(self) -> dict[bytes, bytes]: ...

    def state_hash(self) -> str: ...

    def state_hash_steps(self, rows: int = ...) -> Generator[None, None, str]: ...

    def change_stamp(self) -> tuple[int, int]: ...


_NEEDS = ("workspace_id", "actor_id", "vector_clock", "chain_digests", "oplog", "state_hash", "change_stamp")


class WorkspaceReplica:
    """A Replica over a core Workspace (relay, CLI client, browser worker)."""

    def __init__(self, workspace: object) -> None:
        if not all(hasattr(workspace, name) for name in _NEEDS):
            raise TypeError("WorkspaceReplica needs an openprod Workspace")
        self.ws: ReplicaSource = workspace  # type: ignore[assignment]
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

    def delta(self, peer_clock: VectorClock) -> Delta:
        return self.ws.oplog.bundles_lacked(peer_clock)

    def chains(self, writers: list[bytes]) -> Delta:
        return self.ws.oplog.bundles_of(writers)

    def state_hash(self) -> str:
        """Cached until the database changes. Not keyed by the vector clock: a stored bundle need
        not move it (a branch of a forked chain, stamped before the chain's newest bundle), and a
        stale hash would tell two differing peers they are in sync."""
        key = self.ws.change_stamp()
        if key != self._hash_key:
            self._hash = self.ws.state_hash()
            self._hash_key = self.ws.change_stamp()  # the hash itself may write (a view closed)
        return self._hash

    def hash_is_current(self) -> bool:
        """Whether `state_hash()` would answer from its cache now."""
        return self._hash_key == self.ws.change_stamp()

    def state_hash_steps(self, rows: int = 2000) -> Generator[None, None, bool]:
        """Fill `state_hash`'s cache a page of rows per step, so a driver that must stay responsive
        (the browser worker) can run other calls between steps. Ends True once the cache holds the
        current state's hash; False, without caching, if the database changed between two steps."""
        if self.hash_is_current():
            return True
        steps = self.ws.state_hash_steps(rows)
        stamp: tuple[int, int] | None = None
        while True:
            try:
                next(steps)
            except StopIteration as done:
                now = self.ws.change_stamp()
                if stamp is not None and now != stamp:
                    return False
                self._hash, self._hash_key = done.value, now
                return True
            now = self.ws.change_stamp()
            if stamp is None:
                stamp = now  # after the first page: opening the steps may write (a view closed)
            elif now != stamp:
                steps.close()
                return False
            yield
