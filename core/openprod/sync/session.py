"""One sync session with one peer: a sans-IO state machine (frames in, frames and work out).

The transport (WebSocket, WebRTC data channel, a simulated link) hands each received frame to
`receive_frame(frame, now)` and sends whatever `data_to_send()` returns. Time is passed in and
timers are read (`get_timer`) and fired (`handle_timer`), never slept on, so the same object
runs on the relay's asyncio loop, in Pyodide's webloop, or inside a test with no loop at all.

Life of a session:

    hello ->            <- hello          each side names itself and sends a fresh nonce
    proof (sig, vc) ->                    the initiator signs the acceptor's nonce
                        <- proof (sig, vc) the acceptor verifies, admits, then proves itself
    batch/ack both ways                   catch-up from the peer's vector clock (with a
                                          remaining count), then live pushes
    check <-> check                       once quiet: vector clock + state hash
    ping/pong                             keepalive when the line is silent
    refuse                                close, with a reason

The acceptor proves itself (and so sends its vector clock) only after admitting the peer, so a
peer that has not joined learns nothing about the workspace. Before admitting, an acceptor
reassembles nothing: a proof whose clock does not fit in one frame says `more` and the clock
follows in an `ack` (seq 0) once the session is open.

Memory is bounded on both sides whatever the peer does: batches in flight are capped by the
window, and bundles queued for live push by `max_live_bytes` (beyond it the queue is dropped
and what the peer still lacks is sent again as a catch-up once it reads). Received bundles are handed to the
driver as `IngestBatch` work (signature checks may be async; one SQLite commit per batch); the
session acknowledges a batch only once it has been ingested, and that acknowledgement is the
flow control.

Catch-up is resumable and idempotent because it is computed from vector clocks, which only
advance when a bundle is durably applied: after a drop the next session starts where the last
one stopped, and anything sent twice is recognised as a duplicate. Losses on an unreliable link
are repaired: when both sides are quiet and the peer's known clock still lacks bundles we hold,
the missing part is sent again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum

from ..hlc import ZERO
from ..identity import short_actor
from ..ids import from_str
from ..results import BundleEvent, IngestResult, id_str
from .blob_messages import BLOBS_FEATURE, MAX_BLOB_WANTS, MAX_PIECE, BlobNone, BlobPiece, BlobWant
from .chunks import CHUNK_OVERHEAD, MAX_FRAME, MAX_PARTIAL, Reassembler, split_v1
from .errors import (
    REASON_BAD_SIGNATURE,
    REASON_CLOSED,
    REASON_PROTOCOL,
    REASON_TIMEOUT,
    REASON_TOO_MANY_REJECTIONS,
    REASON_UNSUPPORTED_VERSION,
    REASON_WRONG_WORKSPACE,
    PeerError,
    SyncUsageError,
)
from .events import (
    BlobArrived,
    BlobUnavailable,
    BlobWanted,
    BundleRefused,
    CaughtUp,
    Closed,
    Diverged,
    Established,
    Event,
    IngestBatch,
    InSync,
    PeerRefusedBundle,
    Progress,
    SignProof,
    VerifyProof,
    Work,
)
from .messages import (
    CATCHUP,
    LIVE,
    NONCE_LEN,
    PROTOCOL_VERSION,
    Ack,
    Batch,
    Check,
    Hello,
    Message,
    Nack,
    Ping,
    Pong,
    Proof,
    Refuse,
    encode_message_v1,
)
from .proof import proof_bytes_v1
from .replica import Delta, Replica, lacks

VectorClock = dict[bytes, bytes]
StateKey = tuple[frozenset[tuple[bytes, bytes]], frozenset[tuple[bytes, bytes]]]
MAX_HELD = 64
"""Messages held behind the peer's unverified proof beyond `catchup_window` batches: an acceptor starts the
catch-up as soon as it has proved itself, so a whole window of batches can arrive before an asynchronous
verifier (WebCrypto) answers; what was dropped here came again only after `ack_timeout_ms` (a WebKit join,
docs/benchmarks.md session 15). An acceptor takes at most `max_handshake_frames` before it is open."""
MAX_INGEST = 512  # bundles handed to the driver in one IngestBatch (one SQLite commit)
Admit = Callable[[bytes], "tuple[str, str] | None"]


class Role(Enum):
    """The initiator opened the connection; the acceptor (a relay, usually) admits it."""

    INITIATOR = "initiator"
    ACCEPTOR = "acceptor"


class State(Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """Limits and timings. Defaults follow spec/sync.md (ping every 15 s, 10 s to answer)."""

    max_frame: int = MAX_FRAME
    """Largest frame sent or accepted; bigger messages are chunked."""
    window: int = 32
    """Batches sent and not yet acknowledged, at most (32 x 16 KiB): bounds memory on both sides. In bytes
    too: a batch larger than a frame (one bundle over 16 KiB, up to 16 MiB) counts for its size, and no
    batch is sent while `window` frames' worth is unacknowledged (one always may be), so a peer that
    stops reading holds 512 KiB in flight, not 32 large bundles."""
    catchup_window: int = 128
    """`window` for the batches of a catch-up (128 x 16 KiB = 2 MiB, bytes counted the same way): a
    joining browser acknowledges once what it ingested is in IndexedDB (every ~150 ms), and with 32
    batches it ran dry ~100 times in a 100k-op join, each time waiting for its log write, its
    acknowledgement and the next frames (bench.browser_bench --join-trace, docs/benchmarks.md session
    13). Live batches keep `window`: a member who stops reading holds at most this much of a catch-up."""
    live_window: int = 32
    """Live batches in flight, at most. A small value makes bundles wait for acknowledgements and leave
    together (fewer frames), but caps throughput at live_window x 16 KiB per round trip; measured
    under load (bench/sync_load.py) that cost more than it saved, so by default it equals `window`."""
    ping_interval_ms: int = 15_000
    """Silence after which we ping."""
    pong_timeout_ms: int = 10_000
    """Silence after a ping after which the peer is considered gone."""
    handshake_timeout_ms: int = 10_000
    """Time allowed from start to an authenticated session."""
    quiet_ms: int = 300
    """Idle time after which the state-hash check (and any repair) runs."""
    recheck_ms: int = 30_000
    """Re-send an unchanged state-hash check (and retry repairs) at most this often ("pull on interval")."""
    ack_timeout_ms: int = 30_000
    """A batch unacknowledged this long is presumed lost (the repair pass re-sends what is missing)."""
    max_rejections: int = 1_000
    """Refused bundles tolerated from one peer before the session is closed."""
    max_handshake_frames: int = 32
    """Frames an acceptor takes before the peer is admitted (an honest peer needs a handful: hello, proof,
    maybe a ping); more is refused, so a stranger cannot keep it busy answering."""
    ping_burst: int = 10
    """Pings answered at once; beyond it one per `ping_every_ms`. A peer pings only when the line is silent,
    so one that pings faster is refused rather than answered without end."""
    ping_every_ms: int = 1_000
    check_when_caught_up: bool = False
    """Once the last batch of the peer's first catch-up in this session is ingested, send the state-hash
    check at once instead of `quiet_ms` later (the peer answers with its own, and both report in sync).
    The quiet delay lets live traffic settle; at the end of a catch-up there is none, and the wait cost
    a device joining or reconnecting up to `quiet_ms` before it heard it was in sync. Off by default
    (the relay). CPython clients (`RelayClient`) turn it on; so does the browser worker, with
    `hash_in_steps`: the check then waits for the worker's paged hash, which it reads at once when a
    catch-up ends, and leaves as soon as that is cached."""
    hash_in_steps: bool = False
    """The driver fills the replica's state-hash cache a page per turn (`WorkspaceReplica.state_hash_steps`:
    the browser worker, so that an edit never waits behind a whole hash of a large workspace). A check
    that needs the hash while the cache is stale then waits for it: the peer's check (whose clock is
    taken at once) is answered, and our own quiet check sent, once the cache holds the current state's
    hash, at the next `handle_timer` (`get_timer` says when). Off, the hash is read in one call when a
    check needs it (the relay and CPython clients)."""
    blobs: bool = True
    """Speak the blob transfer feature (`blobs/1`) when the peer does too."""
    max_live_bytes: int = 8 * 1024 * 1024
    """Bundles queued for live push to this peer, at most (bytes). A peer that stops reading cannot make
    us buffer every new bundle: the queue is dropped and what it lacks is sent as a catch-up later.
    The queue holds references to the stored bundles' wire bytes, which every session of a workspace
    shares, so all queues together hold at most the workspace's last 8 MiB of bundles (each queue is
    what arrived since its peer last read). At 1 MiB, 50 busy peers on a loaded relay overflowed it
    every few seconds, and each overflow became a catch-up re-read from SQLite per session, which
    cost a third of the relay's CPU and put it further behind (docs/relay.md, "Under load")."""


class SyncSession:
    """See the module docstring. Every public method may be called with any `now` (ms) that never decreases."""

    def __init__(self, replica: Replica, *, role: Role, nonce: bytes, now: int,
                 config: SessionConfig | None = None, admit: Admit | None = None) -> None:
        if len(nonce) != NONCE_LEN:
            raise SyncUsageError(f"a session nonce is {NONCE_LEN} random bytes")
        self.replica = replica
        self.role = role
        self.config = config or SessionConfig()
        self.state = State.HANDSHAKE
        self.peer: bytes | None = None
        self._admit = admit
        self._nonce = nonce
        self._now = now
        self._out: list[bytes] = []
        self._work: deque[Work] = deque()
        self._events: deque[Event] = deque()
        # Before the session is open an initiator takes one message in pieces (the acceptor's proof, if
        # its clock is large); an acceptor takes none (see receive_frame).
        self._reasm = Reassembler(self.config.max_frame, max_partial=1)
        self._message_id = 0
        # handshake
        self._deadline: int | None = now + self.config.handshake_timeout_ms
        self._peer_hello: Hello | None = None
        self._peer_proof: Proof | None = None
        self._early_proof: Proof | None = None
        self._verified = False
        self._proved = False
        self._held: list[Message] = []  # data that arrived while the peer's proof was being verified
        self._clock_follows = False  # our proof said `more`: send the clock once open
        self._awaiting_clock = False  # the peer's proof said `more`: catch-up waits for its clock
        # sending
        self._peer_clock: VectorClock = {}
        self._seq = 0
        self._unacked: dict[int, int] = {}  # batch seq -> sent at
        self._unacked_sizes: dict[int, int] = {}  # batch seq -> bytes of its bundles
        self._unacked_bytes = 0
        self._live_unacked: set[int] = set()
        self._cursor: Iterator[bytes] | None = None
        self._carry: bytes | None = None
        self._catchup_total = 0
        self._catchup_sent = 0
        self._catchup_from: VectorClock | None = None  # the peer clock an unstarted catch-up was read for
        self._live: deque[tuple[bytes, bytes, bytes]] = deque()  # (writer, hlc, wire)
        self._live_bytes = 0
        self._live_dropped = False  # the live queue overflowed: catch up from the peer's clock instead
        self._last_repair: tuple[int, frozenset[tuple[bytes, bytes]]] | None = None
        self._forks_sent: frozenset[tuple[bytes, bytes, bytes]] = frozenset()
        # writer -> (the peer's clock, its digest, since when, our clock then) from its last check, where
        # it was ahead of us with a different digest: a fork only if we are still behind, having received
        # nothing more of that writer, `recheck_ms` later (see _on_check)
        self._peer_ahead: dict[bytes, tuple[bytes, bytes, int, bytes]] = {}
        # receiving
        self._batches: dict[int, list[int]] = {}  # key -> [count, remaining, is_catchup, seq]
        self._batch_key = 0
        self._ingesting: frozenset[bytes] = frozenset()  # wires handed to the driver, not yet answered
        self._outstanding = 0
        self._received = 0
        self._told_clock: VectorClock = {}
        self._ack_due = 0  # highest batch seq ingested and not yet acknowledged
        self._caught_up_due = False  # the first catch-up from the peer just ended: check at once (see _caught_up_now)
        self._caught_up_once = False
        self._rejections = 0
        # liveness and checks
        self._frames_before_open = 0
        self._ping_tokens = float(self.config.ping_burst)
        self._ping_at = now
        self._last_rx = now
        self._pinged_at: int | None = None
        self._last_activity = now
        self._last_check: tuple[int, StateKey] | None = None
        self._held_check: Check | None = None  # the peer's check, waiting for our paged hash (hash_in_steps)
        self._reported: StateKey | None = None
        # blobs (see blob_messages.py): our unanswered requests, and the peer's we still owe an answer
        self._blob_asked: dict[tuple[bytes, int], int] = {}
        self._blob_owed = 0
        self._send(Hello(version=PROTOCOL_VERSION, workspace=replica.workspace_id, actor=replica.actor_id,
                         nonce=nonce, features=(BLOBS_FEATURE,) if self.config.blobs else ()))

    # --- inputs -------------------------------------------------------------------------------

    def receive_frame(self, frame: bytes, now: int) -> None:
        """One frame from the transport. Bad input refuses the session; it never raises."""
        self._now = now
        if self.state is State.CLOSED:
            return
        self._last_rx = now
        self._pinged_at = None
        if self.state is not State.OPEN and self.role is Role.ACCEPTOR:
            self._frames_before_open += 1
            if self._frames_before_open > self.config.max_handshake_frames:
                self._refuse(REASON_PROTOCOL, f"more than {self.config.max_handshake_frames} messages before the "
                                              "session is open")
                return
        try:
            pieces = self.state is State.OPEN or self.role is Role.INITIATOR
            message = self._reasm.receive(frame, pieces_allowed=pieces)
            if message is not None:
                self._dispatch(message)
        except PeerError as exc:
            self._refuse(exc.reason, exc.detail)

    def bundle_stored(self, event: BundleEvent) -> None:
        """A bundle was stored locally (a local edit, or from another peer): push it to this peer."""
        if self.state is not State.OPEN or event.wire in self._ingesting:
            return  # not open yet (the catch-up snapshot covers it), or the peer just sent it to us
        if self._live_dropped:
            return  # the catch-up that replaces the dropped queue will read it from the store
        if self._live_bytes + len(event.wire) > self.config.max_live_bytes:
            self._live.clear()
            self._live_bytes = 0
            self._live_dropped = True
            return
        self._live.append((event.writer, event.hlc, event.wire))
        self._live_bytes += len(event.wire)

    def proof_signed(self, signature: bytes, now: int) -> None:
        """The driver signed the `SignProof` message."""
        self._now = now
        if self.state is State.CLOSED:
            return
        if self._peer_hello is None or self._proved:
            raise SyncUsageError("proof_signed() without an outstanding SignProof")
        self._proved = True
        proof = Proof(signature=signature, clock=self.replica.vector_clock())
        if self.role is Role.INITIATOR and len(encode_message_v1(proof)) > self.config.max_frame:
            proof = Proof(signature=signature, clock={}, more=True)  # the acceptor takes no pieces yet
            self._clock_follows = True
        self._send(proof)
        if self.role is Role.ACCEPTOR:
            self._establish()

    def proof_verified(self, ok: bool, now: int) -> None:
        """The driver checked the peer's proof (`VerifyProof`)."""
        self._now = now
        if self.state is State.CLOSED:
            return
        if self._peer_proof is None or self._verified or self._peer_hello is None:
            raise SyncUsageError("proof_verified() without an outstanding VerifyProof")
        actor = self._peer_hello.actor
        if not ok:
            self._refuse(REASON_BAD_SIGNATURE, f"handshake proof does not verify for actor {short_actor(actor)}")
            return
        if self._admit is not None:
            refusal = self._admit(actor)
            if refusal is not None:
                self._refuse(*refusal)
                return
        self._verified = True
        self.peer = actor
        if self.role is Role.ACCEPTOR:
            self._work.append(SignProof(self._proof_message(mine=True)))
        else:
            self._establish()

    def batch_ingested(self, item: IngestBatch, results: list[IngestResult], now: int) -> None:
        """The driver ingested `item.wires` (`Workspace.ingest_many` or its async twin): one result each."""
        self._now = now
        self._ingesting = frozenset()
        if self.state is State.CLOSED:
            return
        if len(results) != len(item.wires) or any(key not in self._batches for key, _n in item.parts):
            raise SyncUsageError("batch_ingested() must answer an IngestBatch of this session, one result per wire")
        self._outstanding -= len(item.wires)
        results_left = iter(results)
        for key, count in item.parts:
            for _ in range(count):
                result = next(results_left)
                if result.status in ("applied", "duplicate") and result.writer is not None and result.hlc is not None:
                    self._peer_holds(result.writer, result.hlc)
                elif result.status == "rejected":
                    reason = result.reason or "malformed"
                    refused = None if result.bundle_id is None else from_str(result.bundle_id)
                    self._send(Nack(bundle_id=refused, reason=reason, detail=result.detail))
                    self._events.append(BundleRefused(result.bundle_id, reason, result.detail))
                    self._rejections += 1
            self._finish_batch(key)
        if self._peer_ahead:  # still receiving a writer the peer was ahead on: not a stuck fork (yet)
            mine = self.replica.vector_clock()
            for w, (h, d, _since, was) in list(self._peer_ahead.items()):
                if mine.get(w, ZERO) != was:
                    self._peer_ahead[w] = (h, d, self._now, mine.get(w, ZERO))
        self._send_ack()
        if self._rejections > self.config.max_rejections:
            self._refuse(REASON_TOO_MANY_REJECTIONS, f"refused {self._rejections} bundles from this peer")
        else:
            self._caught_up_now()

    def connection_lost(self, now: int) -> None:
        """The transport closed under us. Half-received messages are dropped, never applied."""
        self._now = now
        if self.state is not State.CLOSED:
            self._close(REASON_CLOSED, "connection lost", by_peer=True)

    def close(self, now: int, reason: str = REASON_CLOSED, detail: str = "goodbye") -> None:
        """Close orderly, telling the peer why (send the remaining data, then close the transport)."""
        self._now = now
        if self.state is not State.CLOSED:
            self._refuse(reason, detail)

    @property
    def blobs_ready(self) -> bool:
        """Open, and both sides speak `blobs/1`: blobs may be asked for."""
        hello = self._peer_hello
        return (self.state is State.OPEN and self.config.blobs and hello is not None
                and BLOBS_FEATURE in hello.features)

    @property
    def blob_capacity(self) -> int:
        """How many more blob requests may be sent to this peer now."""
        return MAX_BLOB_WANTS - len(self._blob_asked) if self.blobs_ready else 0

    def blob_asked(self, digest: bytes, offset: int) -> bool:
        """This range was asked of the peer and is still unanswered (a request is never sent twice)."""
        return (digest, offset) in self._blob_asked

    def request_blob(self, digest: bytes, offset: int, length: int) -> None:
        """Ask the peer for a range of a blob; the answer comes as `BlobArrived` or `BlobUnavailable`."""
        if not self.blobs_ready:
            raise SyncUsageError("this peer does not exchange blobs (not open, or an older version)")
        if self.blob_capacity <= 0:
            raise SyncUsageError(f"at most {MAX_BLOB_WANTS} blob requests may be unanswered")
        if len(digest) != 32 or not 0 < length <= MAX_PIECE or (digest, offset) in self._blob_asked:
            raise SyncUsageError("a blob request names a 32-byte digest, a new offset and 1 to "
                                 f"{MAX_PIECE} bytes")
        self._blob_asked[(digest, offset)] = length
        self._send(BlobWant(digest=digest, offset=offset, length=length))

    def send_blob_piece(self, digest: bytes, offset: int, total: int, data: bytes) -> None:
        """Answer a `BlobWanted` with the bytes."""
        self._answer_blob()
        self._send(BlobPiece(digest=digest, offset=offset, total=total, data=data))

    def send_blob_none(self, digest: bytes, offset: int, reason: str) -> None:
        """Answer a `BlobWanted`: not here, or too large for this side."""
        self._answer_blob()
        self._send(BlobNone(digest=digest, offset=offset, reason=reason))

    def _answer_blob(self) -> None:
        if self.state is State.CLOSED:
            raise SyncUsageError("the session is closed")
        if self._blob_owed <= 0:
            raise SyncUsageError("no blob request is waiting for an answer")
        self._blob_owed -= 1
        self._last_activity = self._now

    # --- outputs ------------------------------------------------------------------------------

    def next_work(self) -> Work | None:
        """The next thing the driver must do (sign, verify, ingest), or None."""
        if not self._work:
            return None
        item = self._work.popleft()
        if isinstance(item, IngestBatch):
            # Consecutive batches go to the driver together: one commit for all of them.
            wires, parts = list(item.wires), list(item.parts)
            while self._work and isinstance(self._work[0], IngestBatch) and len(wires) < MAX_INGEST:
                more = self._work.popleft()
                assert isinstance(more, IngestBatch)
                wires.extend(more.wires)
                parts.extend(more.parts)
            item = IngestBatch(tuple(wires), tuple(parts))
            self._ingesting = frozenset(wires)
        return item

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        """Frames to put on the wire now, in order (each at most `config.max_frame` bytes)."""
        if self.state is State.OPEN:
            self._fill()
        out, self._out = self._out, []
        return out

    def get_timer(self) -> int | None:
        """When `handle_timer` should next be called (ms), or None if never."""
        if self.state is State.CLOSED:
            return None
        cfg = self.config
        times = [self._last_rx + cfg.ping_interval_ms if self._pinged_at is None
                 else self._pinged_at + cfg.pong_timeout_ms]
        if self._deadline is not None:
            times.append(self._deadline)
        if self.state is State.OPEN:
            quiet = self._next_quiet_action()
            if quiet is not None:
                times.append(quiet)
            if self._unacked:
                times.append(min(self._unacked.values()) + cfg.ack_timeout_ms)
            if self._held_check is not None and self._hash_ready():
                times.append(self._now)
        return max(min(times), self._now)

    def handle_timer(self, now: int) -> None:
        self._now = now
        if self.state is State.CLOSED:
            return
        cfg = self.config
        if self._deadline is not None and now >= self._deadline:
            self._refuse(REASON_TIMEOUT, "the handshake did not complete in time")
            return
        if self._pinged_at is not None and now >= self._pinged_at + cfg.pong_timeout_ms:
            self._refuse(REASON_TIMEOUT, f"no answer from the peer for {now - self._last_rx} ms")
            return
        if self._pinged_at is None and now >= self._last_rx + cfg.ping_interval_ms:
            self._pinged_at = now
            self._send(Ping(stamp=now))
        if self.state is not State.OPEN:
            return
        if self._unacked and now >= min(self._unacked.values()) + cfg.ack_timeout_ms:
            self._unacked.clear()  # presumed lost; the repair pass re-sends whatever the peer still lacks
            self._unacked_sizes.clear()
            self._unacked_bytes = 0
            self._live_unacked.clear()
        if self._held_check is not None and self._hash_ready():
            check, self._held_check = self._held_check, None
            self._on_check(check)
        if self._caught_up_due and self._quiet() and self._hash_ready():
            self._caught_up_now()
        elif now >= self._last_activity + cfg.quiet_ms and self._quiet():
            self._when_quiet(now)

    @property
    def peer_clock(self) -> VectorClock:
        """What we know the peer holds (from its proof, acknowledgements and checks)."""
        return dict(self._peer_clock)

    @property
    def idle(self) -> bool:
        """Nothing in flight in either direction."""
        return self.state is State.OPEN and self._quiet()

    # --- internals ----------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._message_id += 1
        self._out.extend(split_v1(message, self._message_id, self.config.max_frame))
        if isinstance(message, (Batch, Ack, Nack)):
            self._last_activity = self._now

    def _refuse(self, reason: str, detail: str) -> None:
        self._send(Refuse(reason=reason, detail=detail))
        self._close(reason, detail, by_peer=False)

    def _close(self, reason: str, detail: str, *, by_peer: bool) -> None:
        self.state = State.CLOSED
        self._held.clear()
        self._work.clear()
        self._reasm.clear()
        self._live.clear()
        self._live_bytes = 0
        self._cursor = None
        self._blob_asked.clear()
        self._blob_owed = 0
        self._events.append(Closed(reason, detail, by_peer))

    def _proof_message(self, *, mine: bool) -> bytes:
        hello = self._peer_hello
        assert hello is not None
        me, peer = self.replica.actor_id, hello.actor
        if mine:
            return proof_bytes_v1(workspace=self.replica.workspace_id, prover=me, verifier=peer,
                                  verifier_nonce=hello.nonce, prover_nonce=self._nonce)
        return proof_bytes_v1(workspace=self.replica.workspace_id, prover=peer, verifier=me,
                              verifier_nonce=self._nonce, prover_nonce=hello.nonce)

    def _dispatch(self, message: Message) -> None:
        if isinstance(message, Refuse):
            self._close(message.reason, message.detail, by_peer=True)
        elif isinstance(message, Ping):
            cfg = self.config
            self._ping_tokens = min(float(cfg.ping_burst),
                                    self._ping_tokens + (self._now - self._ping_at) / cfg.ping_every_ms)
            self._ping_at = self._now
            if self._ping_tokens < 1:
                raise PeerError(REASON_PROTOCOL, f"pings come too often (at most {cfg.ping_burst} at once, then one "
                                                 f"every {cfg.ping_every_ms} ms)")
            self._ping_tokens -= 1
            self._send(Pong(stamp=message.stamp))
        elif isinstance(message, Pong):
            pass
        elif isinstance(message, Hello):
            self._on_hello(message)
        elif isinstance(message, Proof):
            self._on_proof(message)
        elif self.state is not State.OPEN:
            # Data right behind the peer's proof waits until the proof is verified (async verifiers
            # take a while), a catch-up window of it and MAX_HELD more; anything earlier is never looked
            # at. On an ordered transport only a misbehaving peer sends that; on a reordering link it is
            # a loss the repair pass recovers.
            if self._peer_proof is not None and len(self._held) < self.config.catchup_window + MAX_HELD:
                self._held.append(message)
            return
        elif isinstance(message, Batch):
            self._on_batch(message)
        elif isinstance(message, Ack):
            self._on_ack(message)
        elif isinstance(message, Nack):
            self._events.append(PeerRefusedBundle(id_str(message.bundle_id), message.reason, message.detail))
        elif isinstance(message, Check):
            self._on_check(message)
        elif isinstance(message, (BlobWant, BlobPiece, BlobNone)):
            self._on_blob(message)

    def _on_blob(self, message: BlobWant | BlobPiece | BlobNone) -> None:
        if not self.blobs_ready:
            raise PeerError(REASON_PROTOCOL, "a blob message, but blobs/1 was not agreed in the hellos")
        self._last_activity = self._now
        if isinstance(message, BlobWant):
            if self._blob_owed >= MAX_BLOB_WANTS:
                raise PeerError(REASON_PROTOCOL, f"more than {MAX_BLOB_WANTS} blob requests unanswered")
            self._blob_owed += 1
            self._events.append(BlobWanted(message.digest, message.offset, message.length))
        elif isinstance(message, BlobPiece):
            asked = self._blob_asked.pop((message.digest, message.offset), None)
            if asked is None or len(message.data) > asked:
                raise PeerError(REASON_PROTOCOL, "a blob piece nobody asked for (or longer than asked)")
            self._events.append(BlobArrived(message.digest, message.offset, message.total, message.data))
        else:
            if self._blob_asked.pop((message.digest, message.offset), None) is None:
                raise PeerError(REASON_PROTOCOL, "a blob refusal nobody asked for")
            self._events.append(BlobUnavailable(message.digest, message.reason))

    def _on_hello(self, hello: Hello) -> None:
        if self._peer_hello is not None:
            if hello != self._peer_hello:
                raise PeerError(REASON_PROTOCOL, "a second, different hello in one session")
            return  # a duplicated frame
        if hello.version != PROTOCOL_VERSION:
            raise PeerError(REASON_UNSUPPORTED_VERSION,
                            f"peer speaks sync protocol v{hello.version}; this side speaks v{PROTOCOL_VERSION}")
        if hello.workspace != self.replica.workspace_id:
            raise PeerError(REASON_WRONG_WORKSPACE, "the peer asked for another workspace than this session's")
        self._peer_hello = hello
        if self.role is Role.INITIATOR:
            self._work.append(SignProof(self._proof_message(mine=True)))
        if self._early_proof is not None:
            early, self._early_proof = self._early_proof, None
            self._on_proof(early)

    def _on_proof(self, proof: Proof) -> None:
        if self._peer_proof is not None:
            if proof != self._peer_proof:
                raise PeerError(REASON_PROTOCOL, "a second, different proof in one session")
            return
        if self._peer_hello is None:
            if self._early_proof is not None and self._early_proof != proof:
                raise PeerError(REASON_PROTOCOL, "a proof before any hello")
            self._early_proof = proof  # reordered ahead of its hello
            return
        if self.role is Role.INITIATOR and not self._proved:
            raise PeerError(REASON_PROTOCOL, "the acceptor proved itself before the initiator did")
        self._peer_proof = proof
        self._peer_clock = dict(proof.clock)
        self._awaiting_clock = proof.more
        self._work.append(VerifyProof(self._peer_hello.actor, self._proof_message(mine=False), proof.signature))

    def _establish(self) -> None:
        assert self._peer_hello is not None
        self.state = State.OPEN
        self._deadline = None
        self.peer = self._peer_hello.actor
        self._reasm.max_partial = MAX_PARTIAL
        self._events.append(Established(self.peer, dict(self._peer_clock)))
        if self._clock_follows:
            mine = self.replica.vector_clock()
            self._told_clock.update(mine)
            self._send(Ack(seq=0, clock=mine))
        if not self._awaiting_clock:
            self._start_catchup(self._peer_clock)
        held, self._held = self._held, []
        for message in held:
            self._dispatch(message)

    def _start_catchup(self, peer_clock: VectorClock) -> None:
        self._start_delta(self.replica.delta(peer_clock))
        self._catchup_from = dict(peer_clock)

    def _start_delta(self, delta: Delta) -> None:
        self._cursor = iter(delta)
        self._carry = None
        self._catchup_total = delta.total
        self._catchup_sent = 0
        self._catchup_from = None

    # sending side

    def _fill(self) -> None:
        budget = self.config.max_frame - CHUNK_OVERHEAD
        while True:
            window = self.config.catchup_window if self._cursor is not None else self.config.window
            if len(self._unacked) >= window or (self._unacked
                                                and self._unacked_bytes >= window * self.config.max_frame):
                return
            if self._cursor is None and self._live_dropped and not self._awaiting_clock:
                self._live_dropped = False
                self._start_catchup(self._peer_clock)
            if self._cursor is not None and self._catchup_sent == 0 and self._catchup_from is not None \
                    and self._catchup_from != self._peer_clock:
                # Not started, and the peer has shown it holds more since (a live batch it sent while
                # its proof was on the way, ingested before our first batch left): read it again, or
                # we send the peer what it just sent us. The new read holds every stored bundle the peer
                # lacks, so the live queue (bundles stored since the first read) would only repeat it.
                self._start_catchup(self._peer_clock)
                self._live.clear()
                self._live_bytes = 0
            if self._cursor is not None:
                wires = self._take_catchup(budget)
                self._catchup_sent += len(wires)
                remaining = max(self._catchup_total - self._catchup_sent, 0)
                if remaining == 0:
                    self._cursor = None  # the snapshot is exhausted: this batch says "caught up"
                self._send_batch(wires, remaining, CATCHUP)
                continue
            if len(self._live_unacked) >= self.config.live_window:
                return
            wires = self._take_live(budget)
            if not wires:
                return
            self._send_batch(wires, 0, LIVE)
            self._live_unacked.add(self._seq)

    def _take_catchup(self, budget: int) -> list[bytes]:
        wires: list[bytes] = []
        size = 0
        while True:
            wire = self._carry
            self._carry = None
            if wire is None:
                assert self._cursor is not None
                wire = next(self._cursor, None)
                if wire is None:
                    self._cursor = None
                    return wires
            if wires and size + len(wire) + 8 > budget:
                self._carry = wire
                return wires
            wires.append(wire)
            size += len(wire) + 8
            if size >= budget:
                return wires

    def _take_live(self, budget: int) -> list[bytes]:
        wires: list[bytes] = []
        size = 0
        while self._live:
            actor, hlc, wire = self._live[0]
            if self._peer_clock.get(actor, ZERO) >= hlc:
                self._live.popleft()
                self._live_bytes -= len(wire)
                continue
            if wires and size + len(wire) + 8 > budget:
                break
            self._live.popleft()
            self._live_bytes -= len(wire)
            wires.append(wire)
            size += len(wire) + 8
        return wires

    def _send_batch(self, wires: list[bytes], remaining: int, kind: str) -> None:
        self._seq += 1
        self._unacked[self._seq] = self._now
        size = sum(len(w) for w in wires)
        self._unacked_sizes[self._seq] = size
        self._unacked_bytes += size
        self._send(Batch(seq=self._seq, bundles=tuple(wires), remaining=remaining, kind=kind))

    def _on_ack(self, ack: Ack) -> None:
        # Cumulative: every batch up to `seq` is done (on a reordering link, an earlier batch still in
        # flight is forgotten too; if it is lost after all, the repair pass sends what is missing).
        for seq in [s for s in self._unacked if s <= ack.seq]:
            del self._unacked[seq]
            self._unacked_bytes -= self._unacked_sizes.pop(seq, 0)
            self._live_unacked.discard(seq)
        self._merge_peer_clock(ack.clock)
        if self._awaiting_clock:  # the clock our peer's proof left out: now catch-up can start
            self._awaiting_clock = False
            self._start_catchup(self._peer_clock)

    def _peer_holds(self, writer: bytes, hlc: bytes) -> None:
        """The peer sent us this bundle, so it holds it: an honest peer sends only bundles it stored,
        each writer's in chain order, so its clock is at least `hlc` for `writer`. Without this, a
        side that goes quiet before the peer's next acknowledgement or check would take what the
        peer sent for something it lacks and send the peer its own bundles back. Only a bundle applied
        here or already stored counts, its header being its author's (the result carries `writer` and
        `hlc` only then); a refused one claims nothing, so a garbled or forged header cannot make us
        believe the peer holds what it lacks, and neither does a parked one (claiming those stalled the
        relay's drain of a parked flood in tests/server/test_resources.py; under-claiming costs at most
        a bundle sent twice). Knowledge is per session: a new session starts again from the peer's proof."""
        if hlc > self._peer_clock.get(writer, ZERO):
            self._peer_clock[writer] = hlc

    def _merge_peer_clock(self, clock: VectorClock) -> None:
        known = self._peer_clock
        for actor, hlc in clock.items():
            if hlc > known.get(actor, ZERO):
                known[actor] = hlc

    # receiving side

    def _on_batch(self, batch: Batch) -> None:
        self._last_activity = self._now
        self._batch_key += 1
        key = self._batch_key
        self._batches[key] = [len(batch.bundles), batch.remaining, 1 if batch.kind == CATCHUP else 0, batch.seq]
        self._outstanding += len(batch.bundles)
        if batch.bundles:
            self._work.append(IngestBatch(batch.bundles, ((key, len(batch.bundles)),)))
        else:
            self._finish_batch(key)
            self._send_ack()
            self._caught_up_now()

    def _finish_batch(self, key: int) -> None:
        count, remaining, catchup, seq = self._batches.pop(key)
        self._ack_due = max(self._ack_due, seq)
        if catchup:
            self._received += count
            self._events.append(Progress(self._received, remaining))
            if remaining == 0:
                self._events.append(CaughtUp(self._received))
                # Only the session's first catch-up (the join or reconnect): one that replaces an
                # overflowed live queue comes mid-traffic, where a check would cost the relay a state
                # hash per peer for nothing.
                self._caught_up_due = self.config.check_when_caught_up and not self._caught_up_once
                self._caught_up_once = True

    def _send_ack(self) -> None:
        """One cumulative acknowledgement for everything ingested since the last one."""
        if not self._ack_due:
            return
        mine = self.replica.vector_clock()
        moved = {a: h for a, h in mine.items() if self._told_clock.get(a) != h}
        self._told_clock.update(moved)
        self._send(Ack(seq=self._ack_due, clock=moved))
        self._ack_due = 0

    # checks and repairs

    def _caught_up_now(self) -> None:
        """We ingested the last batch of the peer's first catch-up (`check_when_caught_up`): send the
        check now instead of `quiet_ms` later, or as soon as the session is quiet (our own sends may
        still be in flight: the timer is then due at once). Only the check: a repair waits for the
        quiet delay as before (what we hold beyond the peer's last known clock may be what it just
        sent us; its check answering ours tells us)."""
        if self._caught_up_due and self.state is State.OPEN and self._quiet() and self._hash_ready():
            self._caught_up_due = False
            mine = self.replica.vector_clock()
            if self._last_check is None or self._last_check[1] != self._state_key(mine):
                self._send_check(mine)

    def _quiet(self) -> bool:
        return (not self._unacked and self._cursor is None and not self._live and self._outstanding == 0
                and not self._work and self._reasm.partial == 0 and not self._awaiting_clock
                and not self._live_dropped)

    def _next_quiet_action(self) -> int | None:
        """When `_when_quiet` would next do something (a repair or a check), if the session stays quiet."""
        if not self._quiet():
            return None
        if self._caught_up_due and self._hash_ready():
            return self._now
        base = self._last_activity + self.config.quiet_ms
        mine = self.replica.vector_clock()
        times = [max(since for _h, _d, since, _m in behind.values()) + self.config.recheck_ms
                 for behind in (self._behind_peer(mine),) if behind]
        if lacks(mine, self._peer_clock):
            if self._last_repair is None or self._last_repair[1] != frozenset(self._peer_clock.items()):
                return base
            times.append(self._last_repair[0] + self.config.recheck_ms)
        if self._hash_ready():  # else the check waits for the driver's paged hash, not for a timer
            if self._last_check is None or self._last_check[1] != self._state_key(mine):
                return base
            times.append(self._last_check[0] + self.config.recheck_ms)
        return max(base, min(times)) if times else None

    def _when_quiet(self, now: int) -> None:
        mine = self.replica.vector_clock()
        behind = self._behind_peer(mine)
        if behind and all(now >= since + self.config.recheck_ms for _h, _d, since, _m in behind.values()):
            # Quiet, still short of what the peer's check said it held, digests differing, and nothing
            # more of that writer for `recheck_ms`: what we wait for hangs on a branch of a forked chain
            # that we hold and it lacks (a bundle of its branch parked here). Send those chains.
            self._peer_ahead.clear()
            digests = self.replica.digests()
            fork_key = frozenset((w, peer_digest, digests[w]) for w, (_h, peer_digest, _s, _m) in behind.items())
            if fork_key != self._forks_sent:
                self._forks_sent = fork_key
                self._start_delta(self.replica.chains(sorted(behind)))
                return
        if lacks(mine, self._peer_clock):
            key = frozenset(self._peer_clock.items())
            if (self._last_repair is None or self._last_repair[1] != key
                    or now >= self._last_repair[0] + self.config.recheck_ms):
                self._last_repair = (now, key)
                self._start_catchup(self._peer_clock)
                return
        mine_key = self._state_key(mine)
        if self._hash_ready() and (self._last_check is None or self._last_check[1] != mine_key
                                   or now >= self._last_check[0] + self.config.recheck_ms):
            self._send_check(mine)

    def _hash_ready(self) -> bool:
        """Whether a check may read the state hash now: always, unless the driver pages it
        (`hash_in_steps`) and the replica's cache is not the current state's yet."""
        if not self.config.hash_in_steps:
            return True
        current = getattr(self.replica, "hash_is_current", None)
        return current is None or bool(current())

    def _behind_peer(self, mine: VectorClock) -> dict[bytes, tuple[bytes, bytes, int, bytes]]:
        """The writers of `_peer_ahead` on which we are still behind the peer's last check."""
        return {w: seen for w, seen in self._peer_ahead.items() if mine.get(w, ZERO) < seen[0]}

    def _state_key(self, mine: VectorClock) -> StateKey:
        """What a check reports: the clock, and the chain digests (a forked branch leaves the clock as it was)."""
        return frozenset(mine.items()), frozenset(self.replica.digests().items())

    def _send_check(self, mine: VectorClock) -> None:
        self._last_check = (self._now, self._state_key(mine))
        self._send(Check(clock=mine, state_hash=self.replica.state_hash(), digests=self.replica.digests()))

    def _on_check(self, check: Check) -> None:
        self._merge_peer_clock(check.clock)
        if not self._hash_ready():
            self._held_check = check  # answered once the driver's paged hash is cached (handle_timer)
            return
        mine = self.replica.vector_clock()
        mine_key = self._state_key(mine)
        digests = self.replica.digests()
        # A writer whose bundles differ though both clocks stand at the same bundle: its chain forked (a
        # copied database, or an author equivocating). Send that writer's whole chain, once per state.
        # Not yet when the peer is ahead on that writer: its digest differs because it holds more (its
        # check can overtake the rest of its catch-up: sending the chain then would send the peer its own
        # bundles). Once the clocks are equal a fork shows here; if we are still behind `recheck_ms` later
        # (what we wait for hangs on a branch it lacks), `_when_quiet` sends the chain (`_peer_ahead`).
        forked = sorted(w for w, d in digests.items()
                        if check.digests.get(w) != d and check.clock.get(w, ZERO) == mine.get(w, ZERO))
        fork_key = frozenset((w, check.digests.get(w, b""), digests[w]) for w in forked)
        ahead = {w: (check.clock[w], check.digests.get(w, b"")) for w, d in digests.items()
                 if check.digests.get(w) != d and check.clock.get(w, ZERO) > mine.get(w, ZERO)}
        self._peer_ahead = {w: known if (known := self._peer_ahead.get(w)) and known[:2] == seen
                            and known[3] == mine.get(w, ZERO) else (*seen, self._now, mine.get(w, ZERO))
                            for w, seen in ahead.items()}
        if forked and self._quiet() and fork_key != self._forks_sent:
            self._forks_sent = fork_key
            self._start_delta(self.replica.chains(forked))
            return
        if check.clock == mine and check.digests == digests:
            local = self.replica.state_hash()
            if self._reported != mine_key:
                self._reported = mine_key
                self._events.append(InSync(local) if local == check.state_hash else Diverged(local, check.state_hash))
        elif lacks(mine, check.clock) and self._quiet():
            self._when_quiet(self._now)
            return
        if self._last_check is None or self._last_check[1] != mine_key:
            self._send_check(mine)
