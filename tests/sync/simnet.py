"""A simulated network for sync tests: in-process peers over links that misbehave on purpose.

Each `SimPeer` is a real Workspace on a real SQLite file. A `Link` joins two peers with one
session pair (the first peer initiates) and carries frames with a random delay (so frames
overtake each other), duplicates some, drops some, and can be cut (a partition: both sessions
see the connection drop, frames in flight are lost). When a cut link is restored, or a session
ends on its own (a lost handshake frame times out), the link reconnects with fresh sessions,
as a real client would. Time is simulated: `run(ms)` advances it and delivers frames, fires
timers and pumps every session's work, with no threads and no sleeping.
"""

from __future__ import annotations

import heapq
import os
import random
from dataclasses import dataclass, field

from helpers import ManualClock, Peer, make_peer
from openprod import BundleEvent
from openprod.sync import Role, SessionConfig, State, SyncSession, WorkspaceReplica, pump

SIM_CONFIG = SessionConfig(quiet_ms=20, recheck_ms=400, handshake_timeout_ms=300, ack_timeout_ms=300,
                           ping_interval_ms=1_000, pong_timeout_ms=500)


@dataclass
class Faults:
    """Per-frame misbehaviour of a link (probabilities, and a delay range in ms)."""

    drop: float = 0.0
    duplicate: float = 0.0
    min_delay: int = 1
    max_delay: int = 1


RELIABLE = Faults()


class CheckedReplica(WorkspaceReplica):
    """A replica whose every state-hash answer is compared with the hash of the state as it is
    now: a session that says "in sync" from a stale cached hash is recorded in `stale`."""

    def __init__(self, workspace: object) -> None:
        super().__init__(workspace)
        self.stale: list[tuple[str, str]] = []

    def state_hash(self) -> str:
        answer = super().state_hash()
        fresh = self.ws.state_hash()
        if answer != fresh:
            self.stale.append((answer, fresh))
        return answer


class SimPeer:
    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.ws = peer.ws
        self.replica = CheckedReplica(peer.ws)
        self.sessions: list[SyncSession] = []
        self.ws.listeners.append(self._stored)

    def _stored(self, event: BundleEvent) -> None:
        for session in self.sessions:
            session.bundle_stored(event)

    @property
    def name(self) -> str:
        return self.peer.name


@dataclass
class Link:
    a: SimPeer
    b: SimPeer
    faults: Faults = field(default_factory=Faults)
    up: bool = True
    sa: SyncSession | None = None
    sb: SyncSession | None = None


class SimNet:
    def __init__(self, clock: ManualClock, seed: int, config: SessionConfig = SIM_CONFIG) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.config = config
        self.peers: list[SimPeer] = []
        self.links: list[Link] = []
        self._queue: list[tuple[int, int, SyncSession, bytes]] = []
        self._order = 0
        self.frames_sent = 0
        self.log: list[bytes] | None = None  # set to a list to record every frame sent

    @property
    def now(self) -> int:
        return self.clock.now

    def add_peer(self, name: str, path: str, seed: int, *, workspace_from: SimPeer | None = None) -> SimPeer:
        origin = workspace_from.peer if workspace_from else None
        peer = make_peer(name, path, self.clock, seed=seed, workspace_from=origin, rng=random.Random(seed),
                         modules=("contacts",))
        return self.add_existing(peer)

    def add_existing(self, peer: Peer) -> SimPeer:
        sim = SimPeer(peer)
        self.peers.append(sim)
        return sim

    def link(self, a: SimPeer, b: SimPeer, faults: Faults | None = None) -> Link:
        link = Link(a, b, faults or Faults())
        self.links.append(link)
        self._connect(link)
        return link

    def _connect(self, link: Link) -> None:
        link.sa = SyncSession(link.a.replica, role=Role.INITIATOR, nonce=self.rng.randbytes(16), now=self.now,
                              config=self.config)
        link.sb = SyncSession(link.b.replica, role=Role.ACCEPTOR, nonce=self.rng.randbytes(16), now=self.now,
                              config=self.config)
        link.a.sessions.append(link.sa)
        link.b.sessions.append(link.sb)

    def _disconnect(self, link: Link) -> None:
        old = (link.sa, link.sb)
        for session, owner in ((link.sa, link.a), (link.sb, link.b)):
            if session is not None:
                session.connection_lost(self.now)
                owner.sessions.remove(session)
        link.sa = link.sb = None
        self._queue = [item for item in self._queue if item[2] not in old]  # frames in flight are lost
        heapq.heapify(self._queue)

    def cut(self, link: Link) -> None:
        """A partition of this link: both ends see the connection drop; frames in flight are lost."""
        self._disconnect(link)
        link.up = False

    def restore(self, link: Link) -> None:
        if not link.up:
            link.up = True
            self._connect(link)

    def heal_all(self) -> None:
        for link in self.links:
            link.faults = Faults()
            self.restore(link)

    # --- the event loop -----------------------------------------------------------------------

    def _flush(self, link: Link) -> None:
        for sender, receiver in ((link.sa, link.sb), (link.sb, link.sa)):
            if sender is None or receiver is None:
                continue
            for frame in sender.data_to_send():
                self.frames_sent += 1
                if self.log is not None:
                    self.log.append(frame)
                if self.rng.random() < link.faults.drop:
                    continue
                copies = 2 if self.rng.random() < link.faults.duplicate else 1
                for _ in range(copies):
                    delay = self.rng.randint(link.faults.min_delay, link.faults.max_delay)
                    self._order += 1
                    heapq.heappush(self._queue, (self.now + delay, self._order, receiver, frame))

    def _pump_all(self) -> None:
        busy = True
        while busy:
            busy = False
            for link in self.links:
                for session, owner in ((link.sa, link.a), (link.sb, link.b)):
                    if session is not None and pump(session, owner.ws, lambda: self.clock.now):
                        busy = True
                    if session is not None:
                        while session.next_work() is not None:  # pragma: no cover - pump drains all
                            pass
                self._flush(link)
            for link in self.links:
                for session, owner in ((link.sa, link.a), (link.sb, link.b)):
                    if session is not None and session._work:  # signing/verifying queued by a flush
                        pump(session, owner.ws, lambda: self.clock.now)
                        busy = True
                self._flush(link)

    def _reap(self) -> None:
        """Links whose sessions ended on their own reconnect (if the link is up)."""
        for link in self.links:
            if link.sa is None:
                continue
            if link.sa.state is State.CLOSED or link.sb is None or link.sb.state is State.CLOSED:
                self._disconnect(link)
                if link.up:
                    self._connect(link)

    def run(self, ms: int) -> None:
        """Advance simulated time by `ms`, delivering frames and firing timers as they fall due."""
        end = self.now + ms
        self._pump_all()
        while True:
            due = [self._queue[0][0]] if self._queue else []
            for link in self.links:
                for session in (link.sa, link.sb):
                    if session is not None:
                        timer = session.get_timer()
                        if timer is not None:
                            due.append(timer)
            if not due or min(due) > end:
                self.clock.now = end
                return
            nxt = min(due)
            self.clock.now = max(self.clock.now, nxt)
            while self._queue and self._queue[0][0] <= self.now:
                _at, _order, receiver, frame = heapq.heappop(self._queue)
                if receiver.state is not State.CLOSED:
                    receiver.receive_frame(frame, self.now)
            for link in self.links:
                for session in (link.sa, link.sb):
                    if session is not None:
                        timer = session.get_timer()
                        if timer is not None and timer <= self.now:
                            session.handle_timer(self.now)
            self._pump_all()
            self._reap()
            self._pump_all()

    def settle(self, max_ms: int = 60_000) -> int:
        """Run until every peer holds the same bundles and every session is idle; returns ms used."""
        start = self.now
        while self.now - start < max_ms:
            self.run(100)
            if self.converged() and all(s.idle for link in self.links for s in (link.sa, link.sb) if s is not None):
                return self.now - start
        return self.now - start

    def converged(self) -> bool:
        clocks = [p.ws.vector_clock for p in self.peers]
        return all(c == clocks[0] for c in clocks)


def collect(session: SyncSession) -> list[object]:
    """Every event the session has for us, in order."""
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def bundle_ids(peer: SimPeer) -> set[bytes]:
    return {b.id for b in peer.ws.oplog.bundles()}


def cleanup(paths: list[str]) -> None:
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
