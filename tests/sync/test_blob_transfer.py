"""Blob transfer over sync sessions (feature blobs/1): chunked, resumable, verified against the
hash; a corrupted or truncated transfer refused and retried; a late blob picked up; limits a
hostile peer cannot push past; an older peer that does not speak blobs/1 keeps syncing."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from helpers import ManualClock, make_peer, sync
from openprod.blobs import BlobRef, MemoryBlobStore, hash_bytes
from openprod.sync import BlobArrived, Closed, Role, SessionConfig, State, SyncSession, WorkspaceReplica, pump
from openprod.sync.blob_exchange import (
    FAILED,
    FETCHING,
    HERE,
    MISSING,
    NOT_CONNECTED,
    REQUEST_TIMEOUT_MS,
    RETRY_MS,
    TOO_LARGE,
    TRYING_ANOTHER,
    BlobExchange,
    BlobStatus,
)
from openprod.sync.blob_messages import MAX_BLOB_WANTS, MAX_PIECE, BlobPiece, BlobWant
from openprod.sync.errors import SyncUsageError
from openprod.sync.messages import decode_message_v1, encode_message_v1

ATTACH = """
[module]
name = "attach"
version = "1.0.0"
display_name = "Attachments"

[table.Plots]
display_name = "Plots"

[table.Plots.fields.file]
type = "blob"
display_name = "File"
"""

DATA = random.Random(7).randbytes(5 * MAX_PIECE + 1234)  # six pieces, the last one short
REF = BlobRef.of(DATA, "plot.pdf", "application/pdf")


@dataclass
class Side:
    name: str
    peer: object
    store: MemoryBlobStore = field(default_factory=MemoryBlobStore)
    exchange: BlobExchange | None = None
    closed: list[Closed] = field(default_factory=list)
    sessions: list[SyncSession] | None = None  # every link of this side (several peers), else the pair's one

    def __post_init__(self) -> None:
        ws = self.peer.ws  # type: ignore[attr-defined]
        self.exchange = BlobExchange(self.store, max_bytes=lambda: ws.settings.max_blob_bytes)


Tamper = Callable[[object], object]


@dataclass
class Pair:
    a: Side
    b: Side
    sa: SyncSession
    sb: SyncSession
    clock: ManualClock
    tamper_to_b: Tamper | None = None  # rewrites messages from a to b
    frames: int = 0

    def run(self, rounds: int = 20_000) -> None:
        """Move frames, work and events until nothing is left to do (or the bound is hit)."""
        for _ in range(rounds):
            moved = False
            for side, session, other, tamper in ((self.a, self.sa, self.sb, self.tamper_to_b),
                                                  (self.b, self.sb, self.sa, None)):
                pump(session, side.peer.ws, lambda: self.clock.now)  # type: ignore[attr-defined]
                while (event := session.next_event()) is not None:
                    moved = True
                    assert side.exchange is not None
                    side.exchange.on_event(session, event)
                    if isinstance(event, Closed):
                        side.closed.append(event)
                assert side.exchange is not None
                side.exchange.pump(side.sessions or [session], self.clock.now)
                for frame in session.data_to_send():
                    moved = True
                    self.frames += 1
                    if tamper is not None:
                        frame = _rewrite(frame, tamper)
                        if frame is None:
                            continue  # swallowed on the way
                    other.receive_frame(frame, self.clock.now)
            if not moved:
                return
        raise AssertionError("the exchange did not settle")


def _rewrite(frame: bytes, tamper: Tamper) -> bytes | None:
    """The frame as `tamper` rewrites its message; None when `tamper` swallows it (returns None)."""
    try:
        message = decode_message_v1(frame)
    except Exception:
        return frame
    changed = tamper(message)
    if changed is None:
        return None
    return frame if changed is message else encode_message_v1(changed)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path):
    clock = ManualClock()
    counter = iter(range(1, 100))

    def peer(name: str, origin=None):
        n = next(counter)
        made = make_peer(name, str(tmp_path / f"{name}{n}.db"), clock, seed=n, rng=random.Random(n),
                         workspace_from=origin, modules=("contacts",))
        if origin is None:
            with made.ws.transaction(kind="module") as tx:
                tx.adopt_module(ATTACH)
        return made

    def connect(a: Side, b: Side, *, a_config: SessionConfig | None = None,
                b_config: SessionConfig | None = None) -> Pair:
        rng = random.Random(len(a.name) + clock.now)
        sa = SyncSession(WorkspaceReplica(a.peer.ws), role=Role.INITIATOR, nonce=rng.randbytes(16), now=clock.now,
                         config=a_config)
        sb = SyncSession(WorkspaceReplica(b.peer.ws), role=Role.ACCEPTOR, nonce=rng.randbytes(16), now=clock.now,
                         config=b_config)
        pair = Pair(a, b, sa, sb, clock)
        pair.run()
        return pair

    alice = peer("alice")
    bob = peer("bob", alice)
    sync(alice, bob)
    with alice.ws.transaction() as tx:
        tx.create_record("attach.Plots", {"file": REF})
    sync(alice, bob)
    return clock, Side("alice", alice), Side("bob", bob), connect, peer


def test_a_blob_is_fetched_in_pieces_and_verified(world) -> None:
    _clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    pair = connect(bob, alice)  # bob asks, alice serves
    assert pair.sa.blobs_ready and pair.sb.blobs_ready
    [wanted] = bob.peer.ws.attachments.referenced_blobs().values()
    assert bob.exchange.want(wanted).state == FETCHING
    pair.run()
    assert bob.store.read(REF.hash, 0, len(DATA)) == DATA
    assert bob.exchange.status(REF).state == HERE
    assert alice.exchange.served_pieces == 6


def test_a_dropped_transfer_resumes_where_it_stopped_even_in_a_new_process(world) -> None:
    clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    seen: list[int] = []
    holder: list[Pair] = []

    def cut_at_third(message):
        if isinstance(message, BlobPiece):
            seen.append(message.offset)
            if len(seen) == 3:  # the line drops with the third piece on it
                for session in (holder[0].sa, holder[0].sb):
                    session.connection_lost(clock.now)
        return message

    holder.append(_serve_from(alice, bob, connect, cut_at_third))
    bob.exchange.want(REF)
    holder[0].run()
    assert holder[0].sa.state is State.CLOSED
    have = bob.store.partial_size(REF.hash)
    assert have == 2 * MAX_PIECE and not bob.store.has(REF.hash)
    # A new process: a fresh exchange over the same store resumes from the partial blob.
    asked: list[int] = []
    bob.exchange = BlobExchange(bob.store, max_bytes=lambda: 2**30)
    again = _serve_from(alice, bob, connect,
                        lambda m: (asked.append(m.offset), m)[1] if isinstance(m, BlobPiece) else m)
    assert bob.exchange.want(REF).received == have
    again.run()
    assert bob.store.has(REF.hash) and bob.store.read(REF.hash, 0, len(DATA)) == DATA
    assert min(asked) == have  # nothing already held was sent again


def _serve_from(alice: Side, bob: Side, connect, tamper: Tamper) -> Pair:
    pair = connect(bob, alice)
    return Pair(alice, bob, pair.sb, pair.sa, pair.clock, tamper_to_b=tamper)


def test_a_corrupted_transfer_is_refused_and_fetched_again(world) -> None:
    clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    flips = [1]

    def corrupt_once(message):
        if isinstance(message, BlobPiece) and message.offset == MAX_PIECE and flips[0]:
            flips[0] -= 1
            data = bytearray(message.data)
            data[10] ^= 0xFF
            return dataclasses.replace(message, data=bytes(data))
        return message

    pair = _serve_from(alice, bob, connect, corrupt_once)
    bob.exchange.want(REF)
    pair.run()
    assert not bob.store.has(REF.hash) and bob.store.partial_size(REF.hash) == 0  # refused, nothing kept
    status = bob.exchange.status(REF)
    assert status.state == MISSING and "damaged" in status.detail
    clock.advance(10_000)  # the retry interval passes: asked again (same peer: the only one)
    pair.run()
    assert bob.store.has(REF.hash) and bob.store.read(REF.hash, 0, len(DATA)) == DATA


def test_a_truncated_piece_is_refused_and_asked_again(world) -> None:
    clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    cuts = [1]

    def truncate_once(message):
        if isinstance(message, BlobPiece) and message.offset == 2 * MAX_PIECE and cuts[0]:
            cuts[0] -= 1
            return dataclasses.replace(message, data=message.data[:100])
        return message

    pair = _serve_from(alice, bob, connect, truncate_once)
    bob.exchange.want(REF)
    pair.run()
    assert bob.exchange.refused_pieces == 1
    assert bob.store.partial_size(REF.hash) == 2 * MAX_PIECE  # good pieces kept, the short one not
    clock.advance(10_000)
    pair.run()
    assert bob.store.read(REF.hash, 0, len(DATA)) == DATA


def test_a_peer_lying_about_the_size_is_refused(world) -> None:
    _clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    pair = _serve_from(alice, bob, connect,
                       lambda m: dataclasses.replace(m, total=m.total + 1) if isinstance(m, BlobPiece) else m)
    bob.exchange.want(REF)
    pair.run()
    assert not bob.store.has(REF.hash) and bob.exchange.status(REF).state == MISSING


def test_always_corrupt_gives_up_after_three_attempts_and_a_person_can_ask_again(world) -> None:
    clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)

    def corrupt(message):
        if isinstance(message, BlobPiece) and message.offset == 0:
            return dataclasses.replace(message, data=b"\x00" + message.data[1:])
        return message

    pair = _serve_from(alice, bob, connect, corrupt)
    bob.exchange.want(REF)
    for _ in range(4):
        pair.run()
        clock.advance(10_000)
    assert bob.exchange.status(REF).state == FAILED and not bob.store.has(REF.hash)
    pair.tamper_to_b = None
    assert bob.exchange.want(REF).state == FETCHING  # "Get it now" again
    pair.run()
    assert bob.store.has(REF.hash)


def test_a_blob_arriving_after_the_op_is_picked_up(world) -> None:
    """Bob has the op but nobody has the bytes; once Alice's store has them, Bob gets them."""
    clock, alice, bob, connect, _peer = world
    pair = connect(bob, alice)
    bob.exchange.want(REF)
    pair.run()
    assert bob.exchange.status(REF).state == MISSING
    assert bob.peer.ws.state_hash() == alice.peer.ws.state_hash()  # the missing blob changes nothing else
    alice.store.put(REF.hash, DATA)  # e.g. the file finished saving on Alice's tablet
    clock.advance(10_000)
    pair.run()
    assert bob.store.read(REF.hash, 0, len(DATA)) == DATA


def test_a_late_blob_comes_through_a_relay_from_a_peer_that_connects_later(world) -> None:
    clock, alice, bob, connect, peer = world
    relay = Side("relay", peer("relay", alice.peer))
    sync(alice.peer, relay.peer)
    bob_relay = connect(bob, relay)
    bob.exchange.want(REF)
    relay.exchange.want(REF)
    bob_relay.run()
    assert bob.exchange.status(REF).state == MISSING
    alice.store.put(REF.hash, DATA)
    alice_relay = connect(alice, relay)  # a new peer: the relay asks it at once
    alice_relay.run()
    assert relay.store.has(REF.hash)
    clock.advance(10_000)
    bob_relay.run()
    assert bob.store.read(REF.hash, 0, len(DATA)) == DATA


def test_a_blob_over_the_limit_is_neither_fetched_nor_served(world) -> None:
    _clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    small = BlobExchange(bob.store, max_bytes=lambda: 1024)
    assert small.want(REF).state == TOO_LARGE
    alice.exchange.max_bytes = lambda: 1024
    pair = connect(bob, alice)
    bob.exchange.want(REF)
    pair.run()
    assert not bob.store.has(REF.hash) and "will not send" in bob.exchange.status(REF).detail


def test_deduplicated_same_content_is_one_blob(world) -> None:
    _clock, alice, _bob, _connect, _peer = world
    again = BlobRef.of(DATA, "copy of plot.pdf", "application/pdf")
    assert again.hash == REF.hash
    alice.store.put(again.hash, DATA)
    alice.store.put(REF.hash, DATA)
    assert alice.store.has(REF.hash) and alice.exchange.want(again).state == HERE


# --- the protocol's limits and negotiation ----------------------------------------------------


def test_an_older_peer_without_blobs_still_syncs_and_is_never_sent_a_blob_message(world) -> None:
    _clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    with bob.peer.ws.transaction() as tx:
        tx.create_record("contacts.Contacts", {"name": "Bob's new crew member"})
    old = SessionConfig(blobs=False)
    pair = connect(bob, alice, b_config=old)
    assert pair.sa.state is State.OPEN and not pair.sa.blobs_ready and not pair.sb.blobs_ready
    with pytest.raises(SyncUsageError, match="older version"):
        pair.sa.request_blob(hash_bytes(REF.hash), 0, 10)
    bob.exchange.want(REF)
    pair.run()
    assert bob.exchange.status(REF).state == MISSING
    assert alice.peer.ws.state_hash() == bob.peer.ws.state_hash()  # bundles still flowed


def test_a_blob_message_without_the_feature_is_refused(world) -> None:
    _clock, alice, bob, connect, _peer = world
    pair = connect(bob, alice, b_config=SessionConfig(blobs=False))
    pair.sb.receive_frame(encode_message_v1(BlobWant(digest=hash_bytes(REF.hash), offset=0, length=10)), 1)
    assert pair.sb.state is State.CLOSED


def test_a_peer_asking_for_too_much_at_once_is_refused(world) -> None:
    clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    pair = connect(bob, alice)
    digest = hash_bytes(REF.hash)
    for i in range(MAX_BLOB_WANTS + 1):  # wants sent raw, never answered (no exchange drains them)
        pair.sb.receive_frame(encode_message_v1(BlobWant(digest=digest, offset=i, length=MAX_PIECE)), clock.now)
    assert pair.sb.state is State.CLOSED
    out = [decode_message_v1(f) for f in pair.sb.data_to_send()]
    assert out[-1].reason == "protocol" and "blob requests" in out[-1].detail


def test_a_piece_nobody_asked_for_is_refused(world) -> None:
    clock, alice, bob, connect, _peer = world
    pair = connect(bob, alice)
    pair.sa.receive_frame(encode_message_v1(BlobPiece(digest=hash_bytes(REF.hash), offset=0, total=10,
                                                      data=b"x" * 10)), clock.now)
    assert pair.sa.state is State.CLOSED


@pytest.mark.parametrize("wire", [
    {"t": "bwant", "h": b"x" * 31, "o": 0, "n": 10},
    {"t": "bwant", "h": b"x" * 32, "o": 0, "n": MAX_PIECE + 1},
    {"t": "bwant", "h": b"x" * 32, "o": -1, "n": 10},
    {"t": "bpiece", "h": b"x" * 32, "o": 0, "z": 5, "d": b"x" * 10},
    {"t": "bpiece", "h": b"x" * 32, "o": 0, "z": 2**40, "d": b"x" * (MAX_PIECE + 1)},
    {"t": "bnone", "h": b"x" * 32, "o": 0, "r": "because"},
    {"t": "bnone", "h": b"x" * 32, "r": "not_here"},
])
def test_malformed_blob_messages_are_refused(wire) -> None:
    from openprod.encoding import encode
    from openprod.sync import PeerError

    with pytest.raises(PeerError) as err:
        decode_message_v1(encode(wire))
    assert err.value.reason == "malformed"


def test_an_exchange_holds_at_most_a_window_of_requests(world) -> None:
    clock, alice, bob, connect, _peer = world
    big = BlobRef.of(b"\x01" * (40 * MAX_PIECE), "score.pdf", "application/pdf")
    pair = connect(bob, alice)
    bob.exchange.want(big)
    bob.exchange.pump([pair.sa], clock.now)
    assert MAX_BLOB_WANTS - pair.sa.blob_capacity <= 8


# --- a peer that stops answering --------------------------------------------------------------


def _silent(side: Side) -> None:
    """This peer takes blob requests and never answers them (its app hung with the link up)."""
    ws = side.peer.ws  # type: ignore[attr-defined]
    side.exchange = BlobExchange(side.store, max_bytes=lambda: ws.settings.max_blob_bytes, serve=False)


def _watch(side: Side, ref: BlobRef) -> list[tuple[str, int, str]]:
    seen: list[tuple[str, int, str]] = []
    assert side.exchange is not None
    exchange = side.exchange
    exchange.on_change = lambda _h: seen.append(
        (exchange.status(ref).state, exchange.status(ref).received, exchange.status(ref).detail))
    return seen


def _both_hold_it(world) -> tuple[ManualClock, Side, Side, Callable[..., Pair], Side]:
    """Alice and a third peer, Carol, both hold the file; Bob wants it."""
    clock, alice, bob, connect, peer = world
    carol = Side("carol", peer("carol", alice.peer))
    sync(alice.peer, carol.peer)
    alice.store.put(REF.hash, DATA)
    carol.store.put(REF.hash, DATA)
    return clock, alice, bob, connect, carol


def test_a_silent_peer_is_given_up_on_after_the_timeout_and_another_peer_that_has_it_is_asked(world) -> None:
    clock, alice, bob, connect, carol = _both_hold_it(world)
    _silent(alice)
    to_alice, to_carol = connect(bob, alice), connect(bob, carol)
    bob.sessions = [to_alice.sa, to_carol.sa]  # alice first: she is asked first
    seen = _watch(bob, REF)
    bob.exchange.want(REF)
    start = clock.now
    to_alice.run()
    to_carol.run()
    assert MAX_BLOB_WANTS - to_alice.sa.blob_capacity == 6  # every piece asked of alice, no answer
    assert bob.exchange.status(REF) == BlobStatus(FETCHING, 0, len(DATA), "")
    assert bob.exchange.next_timer() == start + REQUEST_TIMEOUT_MS  # the shell knows when to look again
    clock.advance(REQUEST_TIMEOUT_MS - 1)
    to_alice.run()
    to_carol.run()
    assert bob.exchange.timed_out == 0 and MAX_BLOB_WANTS - to_carol.sa.blob_capacity == 0  # not yet
    clock.advance(1)
    to_alice.run()
    to_carol.run()
    assert bob.exchange.timed_out == 1
    assert (FETCHING, 0, TRYING_ANOTHER) in seen  # what the person read meanwhile
    assert bob.store.read(REF.hash, 0, len(DATA)) == DATA and bob.exchange.status(REF).state == HERE
    assert carol.exchange.served_pieces == 6 and alice.exchange.served_pieces == 0
    assert bob.exchange.next_timer() is None  # nothing left to wait for


def test_a_peer_that_goes_silent_mid_transfer_is_left_and_the_rest_comes_from_another(world) -> None:
    clock, alice, bob, connect, carol = _both_hold_it(world)
    sent: list[int] = []

    def stall_after_two(message):
        if isinstance(message, BlobPiece):
            sent.append(message.offset)
            return message if len(sent) <= 2 else None  # the rest never reaches bob
        return message

    from_alice = _serve_from(alice, bob, connect, stall_after_two)
    to_carol = connect(bob, carol)
    bob.sessions = [from_alice.sb, to_carol.sa]
    asked_of_carol: list[int] = []
    to_carol.tamper_to_b = lambda m: (asked_of_carol.append(m.offset), m)[1] if isinstance(m, BlobWant) else m
    seen = _watch(bob, REF)
    bob.exchange.want(REF)
    from_alice.run()
    to_carol.run()
    assert bob.exchange.status(REF).received == 2 * MAX_PIECE
    clock.advance(REQUEST_TIMEOUT_MS)
    from_alice.run()
    to_carol.run()
    assert (FETCHING, 2 * MAX_PIECE, TRYING_ANOTHER) in seen
    assert bob.store.read(REF.hash, 0, len(DATA)) == DATA
    assert min(asked_of_carol) == 2 * MAX_PIECE  # resumed where alice stopped, nothing asked twice
    assert bob.exchange.status(REF).detail == ""


def test_with_only_a_silent_peer_the_blob_is_not_on_any_connected_device_and_asked_again_later(world) -> None:
    clock, alice, bob, connect, _peer = world
    alice.store.put(REF.hash, DATA)
    _silent(alice)
    pair = connect(bob, alice)
    bob.exchange.want(REF)
    pair.run()
    clock.advance(REQUEST_TIMEOUT_MS)
    pair.run()
    status = bob.exchange.status(REF)
    assert (status.state, status.detail) == (MISSING, NOT_CONNECTED)
    assert bob.exchange.next_timer() == clock.now + RETRY_MS  # never forgotten: asked again later
    for _ in range(4):  # alice keeps swallowing: each round ends "not on any connected device", never hangs
        clock.advance(RETRY_MS)
        pair.run()
        assert bob.exchange.status(REF).state == FETCHING and bob.exchange.next_timer() is not None
        clock.advance(REQUEST_TIMEOUT_MS)
        pair.run()
        assert (bob.exchange.status(REF).state, bob.exchange.status(REF).detail) == (MISSING, NOT_CONNECTED)
    assert bob.exchange.timed_out == 5 and not bob.store.has(REF.hash)
    assert pair.sa.state is State.OPEN  # the link itself is fine: bundles still sync over it


class FakeSource:
    """A peer as the exchange sees it (the transport faked): it records requests; the test answers."""

    def __init__(self) -> None:
        self.state = State.OPEN
        self.blobs_ready = True
        self.asked: dict[tuple[bytes, int], int] = {}

    @property
    def blob_capacity(self) -> int:
        return MAX_BLOB_WANTS - len(self.asked)

    def blob_asked(self, digest: bytes, offset: int) -> bool:
        return (digest, offset) in self.asked

    def request_blob(self, digest: bytes, offset: int, length: int) -> None:
        assert self.blob_capacity > 0 and (digest, offset) not in self.asked
        self.asked[(digest, offset)] = length

    def answer(self, exchange: BlobExchange, data: dict[bytes, bytes], n: int) -> int:
        """Send the `n` oldest pieces asked for; returns how many were sent."""
        sent = 0
        for (digest, offset), length in list(self.asked.items())[:n]:
            del self.asked[(digest, offset)]
            blob = data[digest]
            exchange.on_event(self, BlobArrived(digest, offset, len(blob), blob[offset:offset + length]))  # type: ignore[arg-type]
            sent += 1
        return sent


def test_a_fetch_queued_behind_another_on_a_slow_but_answering_peer_is_not_given_up_on() -> None:
    """Three files from one peer: the third waits for request room while the first two come in
    slowly (a piece every 10 s, under the 15 s timeout, for far longer than 15 s in all)."""
    blobs = [random.Random(i).randbytes(10 * MAX_PIECE) for i in range(3)]
    refs = [BlobRef.of(b, f"plot{i}.pdf", "application/pdf") for i, b in enumerate(blobs)]
    data = {hash_bytes(r.hash): b for r, b in zip(refs, blobs, strict=True)}
    store = MemoryBlobStore()
    exchange = BlobExchange(store, max_bytes=lambda: 2**30)
    source = FakeSource()
    now = 1_000_000
    for ref in refs:
        exchange.want(ref)
    exchange.pump([source], now)  # type: ignore[list-item]
    assert len(source.asked) == MAX_BLOB_WANTS  # 8 + 8: the third file waits for room
    assert exchange.status(refs[2]) == BlobStatus(FETCHING, 0, len(blobs[2]), "")
    for _ in range(200):
        if all(store.has(r.hash) for r in refs):
            break
        now += 10_000
        source.answer(exchange, data, 1)
        exchange.pump([source], now)  # type: ignore[list-item]
    assert all(store.read(r.hash, 0, len(b)) == b for r, b in zip(refs, blobs, strict=True))
    assert exchange.timed_out == 0
    # ... and when that peer stops answering altogether, every file it was to send moves on.
    more = [random.Random(10 + i).randbytes(10 * MAX_PIECE) for i in range(2)]
    later = [BlobRef.of(b, f"score{i}.pdf", "application/pdf") for i, b in enumerate(more)]
    for ref in later:
        exchange.want(ref)
    exchange.pump([source], now)  # type: ignore[list-item]
    assert exchange.next_timer() == now + REQUEST_TIMEOUT_MS
    now += REQUEST_TIMEOUT_MS
    exchange.pump([source], now)  # type: ignore[list-item]
    assert exchange.timed_out == 2
    assert all((exchange.status(r).state, exchange.status(r).detail) == (MISSING, NOT_CONNECTED) for r in later)
    assert exchange.next_timer() == now + RETRY_MS  # asked again later, never a timer in the past
