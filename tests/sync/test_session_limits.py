"""Memory a peer can make a session hold is bounded: an acceptor reassembles nothing before it has
admitted the peer (a large clock follows once the session is open), and the live-push queue of a
peer that stops reading is capped and replaced by a catch-up once it reads again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from simnet import SIM_CONFIG, SimNet, bundle_ids, collect

from helpers import ManualClock, Peer, make_peer, sync
from openprod.sync import (
    CaughtUp,
    Closed,
    Role,
    State,
    SyncSession,
    WorkspaceReplica,
    decode_message_v1,
    encode_message_v1,
    pump,
    split_v1,
)
from openprod.sync.messages import PROTOCOL_VERSION, Batch, Hello, Ping, Pong, Proof, Refuse

TABLE = "contacts.Contacts"


def test_an_acceptor_takes_no_pieces_before_it_admits_the_peer(tmp_path: Path, clock: ManualClock) -> None:
    owner = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    acceptor = SyncSession(WorkspaceReplica(owner.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now)
    acceptor.data_to_send()
    hello = Hello(version=PROTOCOL_VERSION, workspace=owner.ws.workspace_id, actor=bytes(32), nonce=bytes(16))
    acceptor.receive_frame(encode_message_v1(hello), clock.now)
    # A stranger's 64 KiB "proof" in pieces: the first piece already closes the session.
    pieces = split_v1(Batch(seq=1, bundles=(b"x" * 65_000,)), 7)
    acceptor.receive_frame(pieces[0], clock.now)
    assert acceptor.state is State.CLOSED
    refusal = decode_message_v1(acceptor.data_to_send()[-1])
    assert isinstance(refusal, Refuse) and refusal.reason == "protocol" and "pieces" in refusal.detail
    assert acceptor._reasm.partial == 0


def many_authors(tmp_path: Path, clock: ManualClock, authors: int) -> tuple[Peer, Peer]:
    """Alice's workspace with `authors` more people's edits in it, and Bob who holds all of it."""
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    for i in range(authors):
        crew = make_peer(f"Crew{i}", str(tmp_path / f"crew{i}.db"), clock, seed=100 + i, workspace_from=alice)
        sync(alice, crew)
        crew.ws.create_record(TABLE, {"name": f"Crew {i}"})
        alice.ws.ingest(crew.ws.last_receipt.wire)  # type: ignore[union-attr]
        crew.ws.conn.close()
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    sync(alice, bob)
    return alice, bob


def test_a_clock_too_large_for_one_frame_follows_the_proof(tmp_path: Path, clock: ManualClock) -> None:
    clock.step = 0
    alice, bob = many_authors(tmp_path, clock, 30)
    assert len(bob.ws.vector_clock) > 30
    alice.ws.create_record(TABLE, {"name": "New on Alice"})
    bob.ws.create_record(TABLE, {"name": "New on Bob"})
    config = replace(SIM_CONFIG, max_frame=1024)  # 31 actors need about 1.5 KiB
    net = SimNet(clock, seed=3, config=config)
    a, b = net.add_existing(alice), net.add_existing(bob)
    net.log = []
    link = net.link(b, a)  # Bob initiates; Alice (the acceptor) must not reassemble his proof
    net.settle()
    assert bundle_ids(a) == bundle_ids(b) and a.ws.state_hash() == b.ws.state_hash()
    messages = [decode_message_v1(f) for f in net.log]
    proofs = [m for m in messages if isinstance(m, Proof)]
    assert any(p.more and not p.clock for p in proofs), "Bob's proof says its clock follows"
    # The catch-up started from Bob's whole clock: exactly the one bundle he lacked, no duplicates.
    caught = [e for e in collect(link.sa) if isinstance(e, CaughtUp)]  # type: ignore[arg-type]
    assert caught and caught[0].received == 1
    caught_b = [e for e in collect(link.sb) if isinstance(e, CaughtUp)]  # type: ignore[arg-type]
    assert caught_b and caught_b[0].received == 1
    assert not any(isinstance(e, Closed) for e in collect(link.sa))  # type: ignore[arg-type]


def test_the_live_queue_of_a_peer_that_stops_reading_is_capped(tmp_path: Path, clock: ManualClock) -> None:
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    config = replace(SIM_CONFIG, max_live_bytes=20_000, window=2, catchup_window=2, live_window=2)
    sa = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now, config=config)
    sb = SyncSession(WorkspaceReplica(bob.ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now,
                     config=config)
    alice.ws.listeners.append(sa.bundle_stored)

    def exchange(*, to_bob: bool = True) -> None:
        for _ in range(200):
            moved = False
            for src, dst, ws_src in ((sa, sb, alice.ws), (sb, sa, bob.ws)):
                pump(src, ws_src, lambda: clock.now)
                frames = src.data_to_send()
                if src is sa and not to_bob:
                    continue  # Bob reads nothing
                for frame in frames:
                    dst.receive_frame(frame, clock.now)
                    moved = True
            if not moved:
                return

    exchange()
    assert sa.state is State.OPEN and sb.state is State.OPEN
    peak = 0
    for i in range(150):
        alice.ws.create_record(TABLE, {"name": f"Cue {i}", "role": "x" * 200})
        exchange(to_bob=False)
        peak = max(peak, sa._live_bytes)
    assert peak <= 20_000
    assert sa._live_dropped
    # Bob reads again: what he lacks arrives as a catch-up, and both sides agree.
    for _ in range(20):
        clock.advance(100)
        for session in (sa, sb):
            session.handle_timer(clock.now)
        exchange()
    assert bob.ws.vector_clock == alice.ws.vector_clock
    assert bob.ws.state_hash() == alice.ws.state_hash()
    assert sa.state is State.OPEN and sb.state is State.OPEN


def test_a_stranger_cannot_keep_an_acceptor_busy_before_admission(tmp_path: Path, clock: ManualClock) -> None:
    owner = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    acceptor = SyncSession(WorkspaceReplica(owner.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now)
    acceptor.data_to_send()
    ping = encode_message_v1(Ping(stamp=1))
    for _ in range(acceptor.config.max_handshake_frames):
        acceptor.receive_frame(ping, clock.now)
        clock.advance(1_000)  # slow enough for the ping budget: only the count before admission matters here
    assert acceptor.state is State.HANDSHAKE
    acceptor.receive_frame(ping, clock.now)
    assert acceptor.state is State.CLOSED
    refusal = decode_message_v1(acceptor.data_to_send()[-1])
    assert isinstance(refusal, Refuse) and refusal.reason == "protocol"
    assert "before the session is open" in refusal.detail


def test_pings_faster_than_keepalive_needs_are_refused(tmp_path: Path, clock: ManualClock) -> None:
    owner = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    initiator = SyncSession(WorkspaceReplica(owner.ws), role=Role.INITIATOR, nonce=bytes(16), now=clock.now)
    initiator.data_to_send()
    ping = encode_message_v1(Ping(stamp=1))
    answered = 0
    for _ in range(initiator.config.ping_burst):
        initiator.receive_frame(ping, clock.now)
        answered += sum(isinstance(decode_message_v1(f), Pong) for f in initiator.data_to_send())
    assert answered == initiator.config.ping_burst and initiator.state is not State.CLOSED
    clock.advance(initiator.config.ping_every_ms)  # one more is allowed a second later...
    initiator.receive_frame(ping, clock.now)
    assert initiator.state is not State.CLOSED
    initiator.receive_frame(ping, clock.now)  # ...but not two
    assert initiator.state is State.CLOSED
    refusal = decode_message_v1(initiator.data_to_send()[-1])
    assert isinstance(refusal, Refuse) and "pings come too often" in refusal.detail


def test_live_queues_share_the_stored_wires(tmp_path: Path, clock: ManualClock) -> None:
    """Every session's live queue holds the same bytes objects (the stored bundle's wire), so all the
    queues of a workspace together hold at most its last `max_live_bytes` of bundles, not one copy each."""
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    sessions = []
    for seed in (2, 3):
        other = make_peer(f"P{seed}", str(tmp_path / f"p{seed}.db"), clock, seed=seed, workspace_from=alice)
        sa = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now)
        sb = SyncSession(WorkspaceReplica(other.ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now)
        for _ in range(10):
            for src, dst, ws_src in ((sa, sb, alice.ws), (sb, sa, other.ws)):
                pump(src, ws_src, lambda: clock.now)
                for frame in src.data_to_send():
                    dst.receive_frame(frame, clock.now)
        assert sa.state is State.OPEN
        alice.ws.listeners.append(sa.bundle_stored)
        sessions.append(sa)
    for i in range(5):
        alice.ws.create_record(TABLE, {"name": f"Cue {i}"})
    first, second = ([wire for _w, _h, wire in s._live] for s in sessions)
    assert len(first) == 5 and all(a is b for a, b in zip(first, second, strict=True))


def test_batches_in_flight_to_a_peer_that_stops_reading_are_bounded_in_bytes(tmp_path: Path,
                                                                               clock: ManualClock) -> None:
    """The window counts bytes as well as batches: a bundle bigger than a frame is a batch of its own,
    and 32 of them (up to 16 MiB each) would otherwise be in flight to a peer that reads nothing."""
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    sa = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now, config=SIM_CONFIG)
    sb = SyncSession(WorkspaceReplica(bob.ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now,
                     config=SIM_CONFIG)
    alice.ws.listeners.append(sa.bundle_stored)
    to_bob: list[bytes] = []

    def exchange(*, bob_reads: bool = True) -> None:
        for _ in range(200):
            moved = False
            for src, dst, ws_src in ((sa, sb, alice.ws), (sb, sa, bob.ws)):
                pump(src, ws_src, lambda: clock.now)
                frames = src.data_to_send()
                if src is sa and not bob_reads:
                    to_bob.extend(frames)  # written, never read
                    continue
                for frame in frames:
                    dst.receive_frame(frame, clock.now)
                    moved = True
            if not moved:
                return

    exchange()
    assert sa.state is State.OPEN and sb.state is State.OPEN
    for i in range(40):
        alice.ws.create_record(TABLE, {"name": f"Plot {i}", "role": "x" * 64_000})
        exchange(bob_reads=False)
    window_bytes = sa.config.window * sa.config.max_frame  # 512 KiB
    sent = sum(len(f) for f in to_bob)
    assert sent <= window_bytes + 80_000, f"{sent} bytes written to a peer that reads nothing"
    assert len(sa._unacked) < sa.config.window
    assert sa._unacked_bytes <= window_bytes + 70_000
    # Bob reads again: what he lacks follows, and both sides agree.
    for _ in range(40):
        clock.advance(100)
        for session in (sa, sb):
            session.handle_timer(clock.now)
        exchange()
    assert bob.ws.vector_clock == alice.ws.vector_clock
    assert bob.ws.state_hash() == alice.ws.state_hash()


def test_a_catch_up_keeps_more_batches_in_flight_than_live_pushes(tmp_path: Path, clock: ManualClock) -> None:
    """A catch-up may have `catchup_window` batches unacknowledged (a joining browser acknowledges after
    each IndexedDB write; with `window`'s 32 it ran dry ~100 times in a 100k-op join, docs/benchmarks.md
    session 13), and no more: a peer that takes the first batches and never acknowledges holds
    between `window` and `catchup_window` of them, the rest waits in the store."""
    clock.step = 0
    alice = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    bob = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=alice)
    for i in range(SIM_CONFIG.catchup_window + 40):  # one bundle per batch: 12 KB each, two exceed a frame
        alice.ws.create_record(TABLE, {"name": f"Plot {i}", "role": "x" * 12_000})
    sa = SyncSession(WorkspaceReplica(alice.ws), role=Role.ACCEPTOR, nonce=bytes(16), now=clock.now, config=SIM_CONFIG)
    sb = SyncSession(WorkspaceReplica(bob.ws), role=Role.INITIATOR, nonce=bytes(range(16)), now=clock.now,
                     config=SIM_CONFIG)
    withheld = 0
    for _ in range(50):  # the handshake reaches Bob; the batches never do (so he acknowledges none)
        moved = False
        for src, dst, ws_src in ((sa, sb, alice.ws), (sb, sa, bob.ws)):
            pump(src, ws_src, lambda: clock.now)
            for frame in src.data_to_send():
                if src is sa and isinstance(decode_message_v1(frame), Batch):
                    withheld += 1
                    continue
                dst.receive_frame(frame, clock.now)
                moved = True
        if not moved:
            break
    assert sa.state is State.OPEN and sb.state is State.OPEN
    assert SIM_CONFIG.window < withheld == len(sa._unacked) <= SIM_CONFIG.catchup_window, withheld
