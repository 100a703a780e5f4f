"""The sync protocol's messages, version 1, and their one wire form: a canonical CBOR map.

Every message is a map with a type tag `t`. Messages are plain frozen dataclasses so a session
can be tested by comparing values; `encode_message_v1` / `decode_message_v1` are the only way
in and out of bytes, and decoding untrusted bytes either yields a valid message or raises
`PeerError` with reason `malformed` (never anything else).

Messages bigger than one frame (a large bundle, a huge vector clock) are split by `chunks.py`;
this module does not care about frame sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..bundle import WRITER_LEN
from ..encoding import decode, encode
from ..errors import DecodeError
from ..hlc import HLC_LEN
from ..identity import ACTOR_ID_LEN, SIGNATURE_LEN
from ..ids import ID_LEN
from ..wire import WireMap
from .blob_messages import BLOB_MESSAGES, BlobNone, BlobPiece, BlobWant
from .errors import ALL_REASONS, REASON_MALFORMED, PeerError

PROTOCOL_VERSION = 2  # v2: vector clocks keyed by writer (actor || device); checks carry chain digests
NONCE_LEN = 16
MAX_CLOCK_ENTRIES = 100_000
MAX_DETAIL = 500
MAX_FEATURES = 16
DIGEST_LEN = 32

VectorClock = dict[bytes, bytes]


def _bad(detail: str) -> PeerError:
    return PeerError(REASON_MALFORMED, detail)


def _clock(wire: WireMap, key: str) -> VectorClock:
    return wire.byte_map(key, key_len=WRITER_LEN, value_len=HLC_LEN, max_entries=MAX_CLOCK_ENTRIES,
                         describe="vector clock (writer -> HLC)")


def _reason(wire: WireMap) -> tuple[str, str]:
    return wire.text("r", ALL_REASONS), wire.text("d")[:MAX_DETAIL]


@dataclass(frozen=True, kw_only=True, slots=True)
class Hello:
    """Who I am and what I speak. Carries a fresh nonce the peer must sign to prove its key."""

    T: ClassVar[str] = "hello"
    version: int
    workspace: bytes
    actor: bytes
    nonce: bytes
    features: tuple[str, ...] = ()
    """Optional parts of the protocol this side speaks (`blobs/1`). Older peers send none and ignore
    ours (an unknown key), so a feature is used only when both hellos list it."""

    def to_wire(self) -> dict[str, Any]:
        wire = {"t": self.T, "v": self.version, "ws": self.workspace, "actor": self.actor, "nonce": self.nonce}
        if self.features:
            wire["f"] = list(self.features)
        return wire

    @classmethod
    def from_wire(cls, wire: WireMap) -> Hello:
        # The version is read first and loosely: a peer speaking v2 must get `unsupported_version`,
        # not `malformed`, even if the rest of its hello looks different.
        # Features are read loosely too (a later version may say more): names we know are kept.
        listed = wire.raw("f")
        features = [f for f in listed[:MAX_FEATURES] if isinstance(f, str) and len(f) <= 40] \
            if isinstance(listed, list) else []
        return cls(version=wire.need("v", int), workspace=wire.byte_string("ws"),
                   actor=wire.byte_string("actor", ACTOR_ID_LEN),
                   nonce=wire.byte_string("nonce", NONCE_LEN), features=tuple(features))


@dataclass(frozen=True, kw_only=True, slots=True)
class Proof:
    """The signature over the peer's nonce (see `proof.py`), and my vector clock.

    `more` says the clock did not fit in one frame and follows in an `ack` (seq 0) once the
    session is open: an acceptor reassembles nothing for a peer it has not yet admitted.
    """

    T: ClassVar[str] = "proof"
    signature: bytes
    clock: VectorClock
    more: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"t": self.T, "sig": self.signature, "vc": dict(self.clock)}
        if self.more:
            wire["more"] = True
        return wire

    @classmethod
    def from_wire(cls, wire: WireMap) -> Proof:
        return cls(signature=wire.byte_string("sig", SIGNATURE_LEN), clock=_clock(wire, "vc"), more=wire.flag("more"))


CATCHUP = "catchup"
LIVE = "live"


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """Bundles, byte-for-byte as their authors signed them, in causal (HLC) order.

    `kind` is `catchup` (with `remaining` bundles still to come: progress bars) or `live`.
    """

    T: ClassVar[str] = "batch"
    seq: int
    bundles: tuple[bytes, ...]
    remaining: int = 0
    kind: str = CATCHUP

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "n": self.seq, "b": list(self.bundles), "r": self.remaining, "k": self.kind}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Batch:
        return cls(seq=wire.count("n"), bundles=tuple(wire.byte_list("b")), remaining=wire.count("r"),
                   kind=wire.text("k", (CATCHUP, LIVE)))


@dataclass(frozen=True, kw_only=True, slots=True)
class Ack:
    """Every batch up to `seq` is processed (cumulative: one ack per burst of frames); `clock` holds
    the entries of my vector clock that moved since my last ack."""

    T: ClassVar[str] = "ack"
    seq: int
    clock: VectorClock = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "n": self.seq, "vc": dict(self.clock)}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Ack:
        return cls(seq=wire.count("n"), clock=_clock(wire, "vc"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Nack:
    """One bundle you sent was refused (not applied), and why. The session carries on."""

    T: ClassVar[str] = "nack"
    bundle_id: bytes | None
    reason: str
    detail: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "id": self.bundle_id, "r": self.reason, "d": self.detail[:MAX_DETAIL]}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Nack:
        reason, detail = _reason(wire)
        return cls(bundle_id=wire.optional_bytes("id", ID_LEN), reason=reason, detail=detail)


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    """Sent once quiet: my vector clock, a digest of each writer's bundles, and my state hash.

    Equal clocks and digests must mean equal hashes. A digest that differs where the clocks say
    the peer is not behind means a chain forked (two bundles after one predecessor): the side
    holding more sends that writer's whole chain, so every peer ends with every branch."""

    T: ClassVar[str] = "check"
    clock: VectorClock
    state_hash: str
    digests: dict[bytes, bytes] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "vc": dict(self.clock), "h": self.state_hash, "dg": dict(self.digests)}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Check:
        digest = wire.text("h")
        if len(digest) != 64:
            wire.fail("state hash must be 64 hex characters")
        return cls(clock=_clock(wire, "vc"), state_hash=digest,
                   digests=wire.byte_map("dg", key_len=WRITER_LEN, value_len=DIGEST_LEN,
                                         max_entries=MAX_CLOCK_ENTRIES, describe="chain digests (writer -> digest)"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Ping:
    T: ClassVar[str] = "ping"
    stamp: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "ts": self.stamp}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Ping:
        return cls(stamp=wire.count("ts"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Pong:
    T: ClassVar[str] = "pong"
    stamp: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "ts": self.stamp}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Pong:
        return cls(stamp=wire.count("ts"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Refuse:
    """The sender closes the session, and says why."""

    T: ClassVar[str] = "refuse"
    reason: str
    detail: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "r": self.reason, "d": self.detail[:MAX_DETAIL]}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Refuse:
        reason, detail = _reason(wire)
        return cls(reason=reason, detail=detail)


@dataclass(frozen=True, kw_only=True, slots=True)
class Chunk:
    """One piece of a message too big for a frame (see `chunks.py`)."""

    T: ClassVar[str] = "chunk"
    message_id: int
    index: int
    count: int
    data: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "id": self.message_id, "i": self.index, "n": self.count, "d": self.data}

    @classmethod
    def from_wire(cls, wire: WireMap) -> Chunk:
        chunk = cls(message_id=wire.count("id"), index=wire.count("i"),
                    count=wire.count("n"), data=wire.byte_string("d"))
        if chunk.count < 2 or chunk.index >= chunk.count or not chunk.data:
            wire.fail("need 0 <= index < count, count >= 2 and some data")
        return chunk


Message = Hello | Proof | Batch | Ack | Nack | Check | Ping | Pong | Refuse | Chunk | BlobWant | BlobPiece | BlobNone

_TYPES: dict[str, Any] = {cls.T: cls for cls in (Hello, Proof, Batch, Ack, Nack, Check, Ping, Pong, Refuse, Chunk,
                                                 *BLOB_MESSAGES)}


def encode_message_v1(message: Message) -> bytes:
    return encode(message.to_wire())


def decode_message_v1(data: bytes) -> Message:
    """Untrusted bytes -> a message. Raises PeerError(`malformed`) for anything else."""
    try:
        wire = decode(data, what="sync message")
    except DecodeError as exc:
        raise _bad(exc.detail) from None
    if not isinstance(wire, dict) or not isinstance(wire.get("t"), str):
        raise _bad("a sync message is a map with a text type tag 't'")
    cls = _TYPES.get(wire["t"])
    if cls is None:
        raise _bad(f"unknown message type {wire['t'][:40]!r}")
    message: Message = cls.from_wire(WireMap(wire, wire["t"], _bad))
    return message
