"""The sync session on its own: handshake, catch-up with progress, chunking, resumption, and
every kind of bad input refused with its reason while the local state stays exactly as it was."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

import pytest
from simnet import SIM_CONFIG, Faults, SimNet, SimPeer, bundle_ids, collect

from helpers import ManualClock, make_peer
from openprod import Workspace
from openprod.bundle import decode_bundle, encode_wire
from openprod.sync import (
    MAX_FRAME,
    CaughtUp,
    Closed,
    Established,
    InSync,
    PeerRefusedBundle,
    Progress,
    Role,
    State,
    SyncSession,
    WorkspaceReplica,
    decode_message_v1,
    encode_message_v1,
    pump,
    pump_async,
)
from openprod.sync.messages import PROTOCOL_VERSION, Batch, Chunk, Hello, Nack, Proof, Refuse
from openprod.sync.proof import proof_bytes_v1

TABLE = "contacts.Contacts"


@pytest.fixture
def net(clock: ManualClock) -> SimNet:
    clock.step = 0
    return SimNet(clock, seed=7)


def two_peers(net: SimNet, tmp_path: Path) -> tuple[SimPeer, SimPeer]:
    a = net.add_peer("Alice", str(tmp_path / "a.db"), 1)
    b = net.add_peer("Bob", str(tmp_path / "b.db"), 2, workspace_from=a)
    return a, b


def test_catch_up_reports_progress_and_ends_in_sync(net: SimNet, tmp_path: Path) -> None:
    a, b = two_peers(net, tmp_path)
    for i in range(60):
        a.ws.create_record(TABLE, {"name": f"Crew {i}", "role": "x" * 300})
    link = net.link(b, a)
    net.log = []
    net.settle()
    net.run(1_000)  # the state-hash check runs once both sides are quiet
    events = collect(link.sa)  # type: ignore[arg-type]
    progress = [e for e in events if isinstance(e, Progress)]
    assert isinstance(events[0], Established) and events[0].peer == a.ws.actor_id
    assert len(progress) > 3, "62 bundles of ~1 KiB need several 16 KiB batches"
    assert [p.remaining for p in progress] == sorted((p.remaining for p in progress), reverse=True)
    assert progress[-1].remaining == 0 and progress[-1].received == 62
    assert any(isinstance(e, CaughtUp) for e in events)
    assert next(e for e in events if isinstance(e, InSync)).state_hash == a.ws.state_hash() == b.ws.state_hash()
    assert net.log and max(len(f) for f in net.log) <= MAX_FRAME


def test_bundle_larger_than_a_frame_is_chunked_and_applied_whole(net: SimNet, tmp_path: Path) -> None:
    a, b = two_peers(net, tmp_path)
    with a.ws.transaction() as tx:
        for i in range(60):
            tx.create_record(TABLE, {"name": f"Extra {i}", "role": "r" * 600})
    big = len(a.ws.last_receipt.wire)  # type: ignore[union-attr]
    assert big > 2 * MAX_FRAME
    link = net.link(a, b)
    net.log = []
    net.settle()
    assert max(len(f) for f in net.log) <= MAX_FRAME
    assert any(isinstance(decode_message_v1(f), Chunk) for f in net.log)
    assert bundle_ids(a) == bundle_ids(b) and a.ws.state_hash() == b.ws.state_hash()
    assert link.sb is not None and link.sb.state is State.OPEN


def test_incomplete_chunked_bundle_is_never_applied(net: SimNet, tmp_path: Path) -> None:
    a, b = two_peers(net, tmp_path)
    net.link(a, b)
    net.settle()
    before = b.ws.state_hash()
    with a.ws.transaction() as tx:
        for i in range(40):
            tx.create_record(TABLE, {"name": f"Extra {i}", "role": "r" * 600})
    wire = a.ws.last_receipt.wire  # type: ignore[union-attr]
    frames = Batch(seq=99, bundles=(wire,), kind="live")
    from openprod.sync import split_v1

    pieces = split_v1(frames, 1)
    assert len(pieces) > 2
    victim = net.links[0].sb
    assert victim is not None
    for piece in pieces[:-1]:  # every piece but the last
        victim.receive_frame(piece, net.now)
    pump(victim, b.ws, lambda: net.now)
    assert victim.next_work() is None
    victim.connection_lost(net.now)
    assert b.ws.state_hash() == before
    assert b.ws.oplog.size().pending == 0


def test_catch_up_resumes_after_a_drop_without_duplicates(net: SimNet, tmp_path: Path) -> None:
    # one batch per round trip: slow enough to cut in the middle
    net.config = replace(SIM_CONFIG, window=1, catchup_window=1)
    a, b = two_peers(net, tmp_path)
    for i in range(120):
        a.ws.create_record(TABLE, {"name": f"Crew {i}", "role": "y" * 400})
    link = net.link(b, a, Faults(min_delay=10, max_delay=10))
    for _ in range(500):
        if 20 < len(bundle_ids(b)) < 100:
            break
        net.run(1)
    got = len(bundle_ids(b))
    assert 20 < got < 100, "the drop must land in the middle of the catch-up"
    net.cut(link)
    net.restore(link)
    net.run(40)
    first = [e for e in collect(link.sa) if isinstance(e, Progress)]  # type: ignore[arg-type]
    assert first and first[0].received + first[0].remaining == 122 - got, "resumes where it stopped"
    net.settle()
    assert bundle_ids(b) == bundle_ids(a)
    assert b.ws.oplog.size().operations == a.ws.oplog.size().operations


def test_lost_frames_are_repaired_once_quiet(net: SimNet, tmp_path: Path) -> None:
    a, b = two_peers(net, tmp_path)
    link = net.link(a, b)
    net.settle()
    for i in range(10):
        a.ws.create_record(TABLE, {"name": f"Late {i}"})
    net._pump_all()
    net._queue.clear()  # every live push is lost in transit
    assert len(bundle_ids(b)) < len(bundle_ids(a))
    net.settle()
    assert bundle_ids(a) == bundle_ids(b)
    assert link.sa is not None and link.sa.state is State.OPEN, "repaired within the same session"


def test_async_driver_converges_like_the_sync_one(tmp_path: Path, clock: ManualClock) -> None:
    clock.step = 0
    a = make_peer("Alice", str(tmp_path / "a.db"), clock, seed=1, modules=("contacts",))
    b = make_peer("Bob", str(tmp_path / "b.db"), clock, seed=2, workspace_from=a)
    for i in range(15):
        a.ws.create_record(TABLE, {"name": f"Crew {i}"})
    sa = SyncSession(WorkspaceReplica(a.ws), role=Role.INITIATOR, nonce=bytes(16), now=clock.now)
    sb = SyncSession(WorkspaceReplica(b.ws), role=Role.ACCEPTOR, nonce=bytes([1]) * 16, now=clock.now)

    async def run() -> None:
        for _ in range(200):
            await pump_async(sa, a.ws, lambda: clock.now)
            await pump_async(sb, b.ws, lambda: clock.now)
            for frame in sa.data_to_send():
                sb.receive_frame(frame, clock.now)
            for frame in sb.data_to_send():
                sa.receive_frame(frame, clock.now)
            clock.advance(50)
            for session in (sa, sb):
                session.handle_timer(clock.now)

    asyncio.run(run())
    assert b.ws.state_hash() == a.ws.state_hash()
    assert any(isinstance(e, InSync) for e in collect(sb))


# --- hostile input ------------------------------------------------------------------------------


class Victim:
    """An acceptor session (with an admission check) and a way to feed it raw frames."""

    def __init__(self, peer: SimPeer, clock: ManualClock, members: set[bytes]) -> None:
        self.peer = peer
        self.clock = clock
        self.session = SyncSession(
            peer.replica, role=Role.ACCEPTOR, nonce=random.Random(5).randbytes(16), now=clock.now, config=SIM_CONFIG,
            admit=lambda actor: None if actor in members else ("not_joined", "join first"))
        self.sent: list[object] = [decode_message_v1(f) for f in self.session.data_to_send()]
        self.hello = self.sent[0]
        assert isinstance(self.hello, Hello)

    def feed(self, frame: bytes) -> list[object]:
        self.session.receive_frame(frame, self.clock.now)
        pump(self.session, self.peer.ws, lambda: self.clock.now)
        out = [decode_message_v1(f) for f in self.session.data_to_send()]
        self.sent.extend(out)
        return out

    def handshake(self, ws: Workspace, *, nonce: bytes = bytes(range(16)), signer: Workspace | None = None,
                  version: int = PROTOCOL_VERSION) -> list[object]:
        hello = Hello(version=version, workspace=ws.workspace_id, actor=ws.actor_id, nonce=nonce)
        out = self.feed(encode_message_v1(hello))
        if self.session.state is State.CLOSED:
            return out
        message = proof_bytes_v1(workspace=ws.workspace_id, prover=ws.actor_id, verifier=self.peer.ws.actor_id,
                                  verifier_nonce=self.hello.nonce, prover_nonce=nonce)  # type: ignore[attr-defined]
        signature = (signer or ws).env.signer.sign(message)
        return out + self.feed(encode_message_v1(Proof(signature=signature, clock=ws.vector_clock)))

    def refusal(self) -> Refuse:
        refusals = [m for m in self.sent if isinstance(m, Refuse)]
        assert len(refusals) == 1, self.sent
        assert self.session.state is State.CLOSED
        return refusals[0]


@pytest.fixture
def scene(net: SimNet, tmp_path: Path, clock: ManualClock) -> tuple[SimPeer, SimPeer, Victim]:
    """Alice (the victim's replica, with records) and Mallory (a peer of the same workspace)."""
    a, m = two_peers(net, tmp_path)
    for i in range(5):
        a.ws.create_record(TABLE, {"name": f"Crew {i}"})
    net.link(a, m)
    net.settle()
    net.links[0].sa.close(net.now)  # type: ignore[union-attr]
    a.sessions.clear()
    m.sessions.clear()
    return a, m, Victim(a, clock, members={a.ws.actor_id, m.ws.actor_id})


def only(messages: list[object], kind: type) -> list[object]:
    return [m for m in messages if isinstance(m, kind)]


@pytest.mark.parametrize("frame, reason", [
    (b"\xff\x00garbage", "malformed"),
    (encode_message_v1(Refuse(reason="closed", detail="x"))[:-3], "malformed"),  # truncated
    (b"\x00" * (MAX_FRAME + 1), "oversize"),
    (b'{"t": "hello"}', "malformed"),
])
def test_bad_frames_are_refused_with_their_reason(scene: tuple[SimPeer, SimPeer, Victim], frame: bytes,
                                                  reason: str) -> None:
    alice, _m, victim = scene
    before = alice.ws.state_hash()
    victim.feed(frame)
    assert victim.refusal().reason == reason
    assert alice.ws.state_hash() == before
    assert isinstance(victim.session.next_event() or collect(victim.session)[-1], Closed)


def test_wrong_workspace_is_refused(scene: tuple[SimPeer, SimPeer, Victim], tmp_path: Path,
                                    clock: ManualClock) -> None:
    alice, _m, victim = scene
    before = alice.ws.state_hash()
    stranger = make_peer("Eve", str(tmp_path / "eve.db"), clock, seed=66, modules=("contacts",))
    victim.handshake(stranger.ws)
    assert victim.refusal().reason == "wrong_workspace"
    assert alice.ws.state_hash() == before


def test_unsupported_version_is_refused(scene: tuple[SimPeer, SimPeer, Victim]) -> None:
    _alice, mallory, victim = scene
    victim.handshake(mallory.ws, version=PROTOCOL_VERSION + 1)
    refusal = victim.refusal()
    assert refusal.reason == "unsupported_version" and f"v{PROTOCOL_VERSION + 1}" in refusal.detail


def test_peer_that_has_not_joined_is_refused_and_learns_nothing(scene: tuple[SimPeer, SimPeer, Victim],
                                                                  tmp_path: Path, clock: ManualClock) -> None:
    alice, _m, victim = scene
    before = alice.ws.state_hash()
    outsider = make_peer("Olga", str(tmp_path / "olga.db"), clock, seed=77, workspace_from=alice.peer)
    out = victim.handshake(outsider.ws)
    assert victim.refusal().reason == "not_joined"
    assert not only(out, Proof) and not only(out, Batch), "no vector clock, no bundles for a non-member"
    assert alice.ws.state_hash() == before


def test_impersonation_and_replayed_proofs_are_refused(scene: tuple[SimPeer, SimPeer, Victim],
                                                       clock: ManualClock) -> None:
    alice, mallory, victim = scene
    # Mallory claims to be Alice, but can only sign with her own key.
    forged_hello = Hello(version=PROTOCOL_VERSION, workspace=alice.ws.workspace_id, actor=alice.ws.actor_id,
                         nonce=bytes(16))
    victim.feed(encode_message_v1(forged_hello))
    message = proof_bytes_v1(workspace=alice.ws.workspace_id, prover=alice.ws.actor_id, verifier=alice.ws.actor_id,
                             verifier_nonce=victim.hello.nonce, prover_nonce=bytes(16))  # type: ignore[attr-defined]
    victim.feed(encode_message_v1(Proof(signature=mallory.ws.env.signer.sign(message), clock={})))
    assert victim.refusal().reason == "bad_signature"
    # A genuine proof captured from one session does not open another (fresh nonce).
    first = Victim(alice, clock, {mallory.ws.actor_id})
    first.handshake(mallory.ws)
    captured = only(first.sent, Proof)
    assert first.session.state is State.OPEN
    proofs = [f for f in (encode_message_v1(Proof(signature=p.signature, clock=p.clock)) for p in captured)]
    second = Victim.__new__(Victim)
    second.peer, second.clock = alice, clock
    second.session = SyncSession(alice.replica, role=Role.ACCEPTOR, nonce=bytes([9]) * 16, now=clock.now,
                                 config=SIM_CONFIG)
    second.sent = [decode_message_v1(f) for f in second.session.data_to_send()]
    second.hello = second.sent[0]
    replay_hello = Hello(version=PROTOCOL_VERSION, workspace=alice.ws.workspace_id, actor=mallory.ws.actor_id,
                         nonce=bytes(range(16)))
    second.feed(encode_message_v1(replay_hello))
    signature = mallory.ws.env.signer.sign(proof_bytes_v1(
        workspace=alice.ws.workspace_id, prover=mallory.ws.actor_id, verifier=alice.ws.actor_id,
        verifier_nonce=first.hello.nonce, prover_nonce=bytes(range(16))))  # type: ignore[attr-defined]
    assert proofs
    second.feed(encode_message_v1(Proof(signature=signature, clock={})))
    assert second.refusal().reason == "bad_signature"


def open_victim(scene: tuple[SimPeer, SimPeer, Victim]) -> tuple[SimPeer, SimPeer, Victim]:
    alice, mallory, victim = scene
    victim.handshake(mallory.ws)
    assert victim.session.state is State.OPEN
    return alice, mallory, victim


def push(victim: Victim, *wires: bytes, seq: int = 1) -> list[object]:
    return victim.feed(encode_message_v1(Batch(seq=seq, bundles=tuple(wires), kind="live")))


def test_forged_author_is_refused_and_the_session_goes_on(scene: tuple[SimPeer, SimPeer, Victim]) -> None:
    alice, mallory, victim = open_victim(scene)
    before = alice.ws.state_hash()
    mallory.ws.create_record(TABLE, {"name": "Forged"})
    genuine = decode_bundle(mallory.ws.last_receipt.wire)  # type: ignore[union-attr]
    # Mallory's bundle relabelled as Alice's... cannot be: the actor is in the signed header. So she
    # signs a header naming Alice with her own key.
    header = genuine.header_bytes.replace(mallory.ws.actor_id, alice.ws.actor_id)
    from openprod.bundle import SIGN_CONTEXT

    forged = encode_wire(header, mallory.ws.env.signer.sign(SIGN_CONTEXT + header), genuine.op_bytes)
    out = push(victim, forged)
    nacks = only(out, Nack)
    assert [n.reason for n in nacks] == ["bad_signature"]  # type: ignore[attr-defined]
    assert alice.ws.state_hash() == before
    assert victim.session.state is State.OPEN
    assert alice.ws.oplog.quarantined()[-1].reason == "bad_signature"
    out = push(victim, mallory.ws.last_receipt.wire, seq=2)  # type: ignore[union-attr]
    assert not only(out, Nack) and victim.session.state is State.OPEN, "an honest bundle is still accepted"


def test_bundle_from_the_future_is_refused(scene: tuple[SimPeer, SimPeer, Victim], tmp_path: Path,
                                           clock: ManualClock) -> None:
    alice, _mallory, victim = open_victim(scene)
    before = alice.ws.state_hash()
    ahead = ManualClock(start=clock.now + 3_600_000, step=0)
    traveller = make_peer("Tess", str(tmp_path / "tess.db"), ahead, seed=88, workspace_from=alice.peer)
    for wire in (decode_bundle(w).wire() for w in _all_wires(alice.ws)):
        traveller.ws.ingest(wire)
    traveller.ws.create_record(TABLE, {"name": "Tomorrow"})
    out = push(victim, traveller.ws.last_receipt.wire)  # type: ignore[union-attr]
    nacks = only(out, Nack)
    assert [n.reason for n in nacks] == ["future_hlc"]  # type: ignore[attr-defined]
    assert "ahead" in nacks[0].detail  # type: ignore[attr-defined]
    assert alice.ws.state_hash() == before and victim.session.state is State.OPEN


def test_replayed_bundles_change_nothing(scene: tuple[SimPeer, SimPeer, Victim]) -> None:
    alice, _m, victim = open_victim(scene)
    before = alice.ws.state_hash()
    wires = _all_wires(alice.ws)
    out = push(victim, *wires[:6])
    out += push(victim, *wires[:6], seq=2)
    assert not only(out, Nack)
    assert alice.ws.state_hash() == before
    assert victim.session.state is State.OPEN


def test_bundle_of_another_workspace_is_refused(scene: tuple[SimPeer, SimPeer, Victim], tmp_path: Path,
                                                clock: ManualClock) -> None:
    alice, _m, victim = open_victim(scene)
    before = alice.ws.state_hash()
    other = make_peer("Eve", str(tmp_path / "eve.db"), clock, seed=66, modules=("contacts",))
    out = push(victim, other.ws.last_receipt.wire)  # type: ignore[union-attr]
    assert [n.reason for n in only(out, Nack)] == ["wrong_workspace"]  # type: ignore[attr-defined]
    assert alice.ws.state_hash() == before


def test_garbage_bundle_inside_a_valid_batch_is_refused(scene: tuple[SimPeer, SimPeer, Victim]) -> None:
    alice, _m, victim = open_victim(scene)
    before = alice.ws.state_hash()
    out = push(victim, b"\x83\x41\x00")
    assert [n.reason for n in only(out, Nack)] == ["malformed"]  # type: ignore[attr-defined]
    assert alice.ws.state_hash() == before


def test_silent_peer_times_out(scene: tuple[SimPeer, SimPeer, Victim], clock: ManualClock) -> None:
    _alice, _m, victim = open_victim(scene)
    clock.advance(SIM_CONFIG.ping_interval_ms)
    victim.session.handle_timer(clock.now)
    assert any(type(m).__name__ == "Ping" for m in (decode_message_v1(f) for f in victim.session.data_to_send()))
    clock.advance(SIM_CONFIG.pong_timeout_ms)
    victim.session.handle_timer(clock.now)
    victim.sent.extend(decode_message_v1(f) for f in victim.session.data_to_send())
    assert victim.refusal().reason == "timeout"


def test_peer_refusals_are_reported_to_the_sender(net: SimNet, tmp_path: Path, clock: ManualClock) -> None:
    a, b = two_peers(net, tmp_path)
    link = net.link(a, b)
    net.settle()
    collect(link.sa)  # type: ignore[arg-type]
    ahead = ManualClock(start=clock.now + 3_600_000, step=0)
    a.ws.env = replace(a.ws.env, now_ms=ahead)
    a.ws.clock._now_ms = ahead
    a.ws.create_record(TABLE, {"name": "Tomorrow"})
    net.run(50)
    refused = [e for e in collect(link.sa) if isinstance(e, PeerRefusedBundle)]  # type: ignore[arg-type]
    assert refused and refused[0].reason == "future_hlc"


def _all_wires(ws: Workspace) -> list[bytes]:

    return [b.wire for b in ws.oplog.bundles()]
