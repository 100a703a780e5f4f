"""A bundle is never sent back to the peer it came from.

A session's knowledge of what its peer holds (the peer's vector clock, from its proof, its
acknowledgements and its checks) must also cover the bundles that peer sent us: it holds them.
Without that, a receiver that goes quiet before the sender's state-hash check reaches it sees
bundles "the peer lacks" and sends the sender its own bundles back (a relay's live forwards, a
catch-up holding bundles stored after the sender's proof): doubled traffic on the catch-up path.

The sessions here are wired sans-IO over ordered links (a WebSocket or a data channel keeps
order), and the order of deliveries, quiet timers and checks is chosen by a seeded random
schedule, or by Hypothesis. Every batch a session sends is checked against what it had ingested
from that same peer (in any session between the two, before or after a reconnect).
"""

from __future__ import annotations

import os
import random
import shutil
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from simnet import collect

from helpers import START_MS, ManualClock, Peer, make_env, make_peer, seeded_identity
from openprod import BundleEvent, Workspace, connect
from openprod.sync import InSync, Role, SessionConfig, State, SyncSession, WorkspaceReplica, decode_message_v1, pump
from openprod.sync.messages import Batch, Chunk, Message

TABLE = "contacts.Contacts"
EXAMPLES = int(os.environ.get("OPENPROD_ECHO_EXAMPLES", "40"))
CONFIG = SessionConfig(quiet_ms=50, recheck_ms=2_000, ack_timeout_ms=5_000, ping_interval_ms=60_000,
                       pong_timeout_ms=60_000, handshake_timeout_ms=60_000)
# One batch in flight: a sender's clock runs ahead of what it has sent (its check can overtake its data).
SMALL_WINDOW = replace(CONFIG, window=1, catchup_window=1, live_window=1, max_frame=2_048)


@dataclass
class Node:
    peer: Peer
    sessions: list[SyncSession] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.replica = WorkspaceReplica(self.peer.ws)
        self.peer.ws.listeners.append(self._stored)

    def _stored(self, event: BundleEvent) -> None:
        for session in self.sessions:
            session.bundle_stored(event)

    @property
    def ws(self) -> Workspace:
        return self.peer.ws


@dataclass
class End:
    """One side of a link: its session, the frames on their way to it (in order, each with the time
    it arrives), and the batches it has read but not yet ingested (a runner reads, then pumps)."""

    node: int
    session: SyncSession
    inbox: deque[tuple[int, bytes, Message | None]] = field(default_factory=deque)  # (arrives, frame, ends)
    unread: list[tuple[bytes, ...]] = field(default_factory=list)
    dirty: bool = False  # frames read since the last pump


class EchoNet:
    """Sessions between nodes over ordered links with random latency; counts every bundle sent back
    to the peer it came from. `slow`: the largest delay a frame may take (ms)."""

    def __init__(self, nodes: list[Node], clock: ManualClock, rng: random.Random,
                 config: SessionConfig = CONFIG, slow: int = 0) -> None:
        self.nodes = nodes
        self.clock = clock
        self.rng = rng
        self.config = config
        self.delays = (0, 0, 1, 5, slow) if slow else (0,)
        self.links: dict[tuple[int, int], tuple[End, End]] = {}
        self.got: dict[tuple[int, int], set[bytes]] = {}  # (receiver, sender) -> wires ingested from sender
        self.echoed: list[tuple[int, int, bytes]] = []  # (sender, receiver, wire) sent back
        self.sent = 0  # bundles sent in batches, all links

    def connect(self, i: int, j: int) -> None:
        """A fresh session pair (i initiates), as a reconnect makes."""
        a = SyncSession(self.nodes[i].replica, role=Role.INITIATOR, nonce=self.rng.randbytes(16),
                        now=self.clock.now, config=self.config)
        b = SyncSession(self.nodes[j].replica, role=Role.ACCEPTOR, nonce=self.rng.randbytes(16),
                        now=self.clock.now, config=self.config)
        self.nodes[i].sessions.append(a)
        self.nodes[j].sessions.append(b)
        self.links[(i, j)] = (End(i, a), End(j, b))
        self.flush(i, j)

    def cut(self, i: int, j: int) -> None:
        """The transport drops: both sessions end, frames in flight are lost."""
        for end in self.links.pop((i, j)):
            end.session.connection_lost(self.clock.now)
            self.nodes[end.node].sessions.remove(end.session)

    def ends(self) -> list[tuple[End, End]]:
        """(sender, receiver) for both directions of every link."""
        return [pair for a, b in self.links.values() for pair in ((a, b), (b, a))]

    def flush(self, i: int, j: int) -> None:
        a, b = self.links[(i, j)]
        for src, dst in ((a, b), (b, a)):
            pieces: list[bytes] = []  # a chunked message's frames leave together, in order
            for frame in src.session.data_to_send():
                message: Message | None = decode_message_v1(frame)
                if isinstance(message, Chunk):
                    pieces.append(message.data)
                    message = decode_message_v1(b"".join(pieces)) if message.index == message.count - 1 else None
                if isinstance(message, Batch):
                    self.sent += len(message.bundles)
                    came_from_dst = self.got.get((src.node, dst.node), set())
                    self.echoed.extend((src.node, dst.node, w) for w in message.bundles if w in came_from_dst)
                last = dst.inbox[-1][0] if dst.inbox else self.clock.now
                dst.inbox.append((max(last, self.clock.now + self.rng.choice(self.delays)), frame, message))

    def flush_all(self) -> None:
        for key in list(self.links):
            self.flush(*key)

    def link_of(self, end: End) -> tuple[int, int]:
        return next(key for key, pair in self.links.items() if end in pair)

    def deliver(self, dst: End) -> bool:
        """The next frame to dst, if it has arrived: read (ingested later, by `work`)."""
        if not dst.inbox or dst.inbox[0][0] > self.clock.now:
            return False
        _at, frame, message = dst.inbox.popleft()
        dst.session.receive_frame(frame, self.clock.now)
        if isinstance(message, Batch):
            dst.unread.append(message.bundles)
        dst.dirty = True
        self.flush(*self.link_of(dst))
        return True

    def work(self, end: End) -> bool:
        """Pump the session: sign, verify, ingest what it has read."""
        if not end.dirty:
            return False
        end.dirty = False
        pump(end.session, self.nodes[end.node].ws, lambda: self.clock.now)
        peer = next(e.node for e in self.links[self.link_of(end)] if e is not end)
        for wires in end.unread:
            self.got.setdefault((end.node, peer), set()).update(wires)
        end.unread.clear()
        self.flush_all()  # what it stored is pushed live on the node's other links too
        return True

    def fire(self, end: End) -> bool:
        """The session's timer, if due."""
        due = end.session.get_timer()
        if due is None or due > self.clock.now:
            return False
        end.session.handle_timer(self.clock.now)
        self.flush(*self.link_of(end))
        return True

    def edit(self, node: int, value: int) -> None:
        ws = self.nodes[node].ws
        records = ws.records.all(TABLE)
        if records and value % 3:
            ws.set_field(records[value % len(records)].id, f"{TABLE}.role", f"role {value} by {ws.actor_id.hex()[:6]}")
        else:
            ws.create_record(TABLE, {"name": f"#{value} by {ws.actor_id.hex()[:6]}"})
        self.flush_all()

    def step(self, *, stalled: int | None = None) -> bool:
        """One random thing that can happen now: a delivery, a pump, or a timer that is due. False if none.
        `stalled`: that node's timers do not fire (a busy relay: its quiet check comes late)."""
        choices: list[tuple[str, End]] = []
        for _src, dst in self.ends():
            if dst.inbox and dst.inbox[0][0] <= self.clock.now:
                choices.append(("deliver", dst))
            if dst.dirty:
                choices.append(("work", dst))
            due = dst.session.get_timer()
            if due is not None and due <= self.clock.now and dst.node != stalled:
                choices.append(("fire", dst))
        self.rng.shuffle(choices)
        act = {"deliver": self.deliver, "work": self.work, "fire": self.fire}
        return any(act[kind](end) for kind, end in choices)

    def run(self, ms: int, *, stalled: int | None = None) -> None:
        """Random deliveries, pumps and timers while `ms` of simulated time pass in random small steps."""
        end = self.clock.now + ms
        while True:
            while self.step(stalled=stalled):
                pass
            if self.clock.now >= end:
                return
            self.clock.advance(min(self.rng.choice((1, 5, self.config.quiet_ms)), end - self.clock.now))

    def settle(self) -> None:
        for _ in range(200):
            self.run(self.config.quiet_ms * 4)
            if (self.converged() and all(s.idle for a, b in self.links.values() for s in (a.session, b.session))
                    and not any(dst.inbox or dst.dirty for _src, dst in self.ends())):
                return
        raise AssertionError("the network never settled")

    def converged(self) -> bool:
        clocks = [n.ws.vector_clock for n in self.nodes]
        return all(c == clocks[0] for c in clocks)


def two(tmp_path: Path, clock: ManualClock, records: int) -> list[Node]:
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    for i in range(records):
        alice.ws.create_record(TABLE, {"name": f"Crew {i}"})
    return [Node(alice), Node(bob)]


@pytest.mark.parametrize("seed", range(12))
def test_a_receiver_quiet_before_the_senders_check_sends_nothing_back(tmp_path: Path, clock: ManualClock,
                                                                       seed: int) -> None:
    """Alice (a relay, say) catches Bob up, then forwards bundles live while Bob's quiet timer runs out
    before Alice's check reaches him: every one of them used to go straight back to Alice."""
    nodes = two(tmp_path, clock, 20)
    net = EchoNet(nodes, clock, random.Random(seed))
    net.connect(1, 0)  # Bob initiates, Alice accepts
    net.run(net.config.quiet_ms * 3, stalled=0)
    for i in range(8):  # Alice's edits (or what other peers sent her) reach Bob live
        net.edit(0, 100 + i)
        net.run(net.rng.choice((0, 1, 10)), stalled=0)
    net.run(net.config.quiet_ms * 6, stalled=0)  # Bob goes quiet; Alice is busy: no check from her yet
    assert nodes[1].ws.vector_clock == nodes[0].ws.vector_clock
    assert len(net.echoed) == 0, f"{len(net.echoed)} of Alice's bundles sent back to her"
    net.settle()  # the checks arrive: in sync, still nothing sent back
    assert len(net.echoed) == 0
    assert any(isinstance(e, InSync) for e in collect(net.links[(1, 0)][0].session))


@pytest.mark.parametrize("seed", range(8))
def test_a_check_that_overtakes_the_senders_data_sends_nothing_back(tmp_path: Path, clock: ManualClock,
                                                                    seed: int) -> None:
    """On a slow link Bob goes quiet between Alice's batches and checks; Alice answers with her clock,
    ahead of what she has sent him so far. Her digest of her own chain differs from his because she
    holds more, not because it forked: Bob used to send her whole chain back to her."""
    nodes = two(tmp_path, clock, 40)
    net = EchoNet(nodes, clock, random.Random(seed), SMALL_WINDOW, slow=4 * CONFIG.quiet_ms)
    net.connect(1, 0)
    net.settle()
    assert nodes[1].ws.state_hash() == nodes[0].ws.state_hash()
    assert len(net.echoed) == 0, f"{len(net.echoed)} of Alice's {net.sent} bundles sent back to her"


@pytest.mark.parametrize("seed", range(4))
def test_a_long_catch_up_is_not_taken_for_a_stuck_fork(tmp_path: Path, clock: ManualClock, seed: int) -> None:
    """Behind the peer's check for longer than `recheck_ms` is what a fork that hides a branch looks
    like, and also a long catch-up on a slow link (a relay taking a large upload). While the peer's
    bundles keep arriving it is the second: nothing is sent back. (A link whose round trip is longer
    than `recheck_ms`, 30 s by default, would still look stuck.)"""
    nodes = two(tmp_path, clock, 100)
    config = replace(SMALL_WINDOW, recheck_ms=12 * CONFIG.quiet_ms)  # 600 ms: over a round trip (<= 400 ms)
    net = EchoNet(nodes, clock, random.Random(seed), config, slow=4 * CONFIG.quiet_ms)
    net.connect(1, 0)
    net.settle()
    assert clock.now - START_MS > 4 * config.recheck_ms  # the catch-up took several times recheck_ms
    assert nodes[1].ws.state_hash() == nodes[0].ws.state_hash()
    assert len(net.echoed) == 0, f"{len(net.echoed)} of Alice's {net.sent} bundles sent back to her"


# --- the property: random edits, deliveries, quiet timers and reconnects, 2 or 3 peers ------------

action = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 2), st.integers(0, 50), st.integers(1, 6)),
    st.tuples(st.just("run"), st.integers(0, 3), st.integers(0, 200)),
    st.tuples(st.just("cut"), st.integers(0, 2), st.integers(0, 2)),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One starting workspace (created once), copied for every peer of every example."""
    path = tmp_path_factory.mktemp("echo-template") / "start.db"
    peer = make_peer("Owner", str(path), ManualClock(), seed=999, modules=("contacts",))
    peer.ws.create_record(TABLE, {"name": "Stage door"})
    peer.ws.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    peer.ws.conn.close()
    return path


def copies(template: Path, folder: Path, n: int, clock: ManualClock) -> list[Node]:
    nodes = []
    for i in range(n):
        path = folder / f"p{i}.db"
        shutil.copyfile(template, path)
        identity = seeded_identity(f"P{i}", 10 + i)
        env = make_env(identity, clock, random.Random(10 + i))
        nodes.append(Node(Peer(f"P{i}", Workspace.open(connect(str(path)), env), str(path), identity, env)))
    return nodes


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(n=3, mesh=True, seed=65536, small_window=False, slow=200, actions=[("edit", 0, 0, 1), ("edit", 1, 0, 2)])
@given(n=st.integers(2, 3), mesh=st.booleans(), seed=st.integers(0, 2**16), small_window=st.booleans(),
       slow=st.sampled_from([0, 20, 200]),
       actions=st.lists(action, min_size=2, max_size=25))
def test_random_schedules_converge_and_send_nothing_back(template: Path, tmp_path_factory: pytest.TempPathFactory,
                                                         n: int, mesh: bool, seed: int, small_window: bool,
                                                         slow: int,
                                                         actions: list[tuple[object, ...]]) -> None:
    clock = ManualClock(step=0)
    nodes = copies(template, tmp_path_factory.mktemp("echo"), n, clock)
    rng = random.Random(seed)
    net = EchoNet(nodes, clock, rng, SMALL_WINDOW if small_window else CONFIG, slow=slow)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)] if mesh or n == 2 else [(0, 1), (1, 2)]
    try:
        for i, j in pairs:
            net.connect(i, j)
        for act in actions:
            if act[0] == "edit":
                for k in range(int(act[3])):  # type: ignore[call-overload]
                    net.edit(int(act[1]) % n, int(act[2]) + k)  # type: ignore[call-overload]
                    net.run(rng.choice((0, 1, 5)), stalled=rng.choice((None, int(act[1]) % n)))
            elif act[0] == "run":
                net.run(int(act[2]), stalled=int(act[1]) if int(act[1]) < n else None)  # type: ignore[call-overload]
            else:
                key = pairs[int(act[1]) % len(pairs)]  # type: ignore[call-overload]
                if key in net.links:
                    net.cut(*key)
                if int(act[2]) % 2:  # type: ignore[call-overload]
                    net.connect(*key)  # reconnect at once (else at the end)
        for key in pairs:
            if key not in net.links:
                net.connect(*key)
        net.settle()
        hashes = {node.ws.state_hash() for node in nodes}
        assert len(hashes) == 1
        assert all(s.state is State.OPEN for a, b in net.links.values() for s in (a.session, b.session))
        assert net.echoed == [], f"{len(net.echoed)} of {net.sent} bundles sent back to the peer they came from"
    finally:
        for node in nodes:
            node.ws.conn.close()
