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
from .errors import ALL_REASONS, REASON_MALFORMED, PeerError

PROTOCOL_VERSION = 2  # v2: vector clocks keyed by writer (actor || device); checks carry chain digests
NONCE_LEN = 16
MAX_CLOCK_ENTRIES = 100_000
MAX_DETAIL = 500
DIGEST_LEN = 32

VectorClock = dict[bytes, bytes]


def _bad(detail: str) -> PeerError:
    return PeerError(REASON_MALFORMED, detail)


def _need(wire: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = wire.get(key)
    if isinstance(value, bool) and kind is int:
        raise _bad(f"{what}: field {key!r} must be an integer")
    if not isinstance(value, kind):
        raise _bad(f"{what}: field {key!r} is missing or of the wrong type")
    return value


def _need_bytes(wire: dict[str, Any], key: str, size: int, what: str) -> bytes:
    value: bytes = _need(wire, key, bytes, what)
    if len(value) != size:
        raise _bad(f"{what}: field {key!r} must be {size} bytes, got {len(value)}")
    return value


def _need_count(wire: dict[str, Any], key: str, what: str) -> int:
    value: int = _need(wire, key, int, what)
    if not 0 <= value < 1 << 63:
        raise _bad(f"{what}: field {key!r} must be a non-negative integer")
    return value


def _need_clock(wire: dict[str, Any], key: str, what: str) -> VectorClock:
    clock = _need(wire, key, dict, what)
    if len(clock) > MAX_CLOCK_ENTRIES:
        raise _bad(f"{what}: vector clock has more than {MAX_CLOCK_ENTRIES} actors")
    for writer, hlc in clock.items():
        if not (isinstance(writer, bytes) and len(writer) == WRITER_LEN
                and isinstance(hlc, bytes) and len(hlc) == HLC_LEN):
            raise _bad(f"{what}: vector clock must map {WRITER_LEN}-byte writers to 12-byte HLCs")
    return dict(clock)


def _need_digests(wire: dict[str, Any], key: str, what: str) -> dict[bytes, bytes]:
    digests = _need(wire, key, dict, what)
    if len(digests) > MAX_CLOCK_ENTRIES:
        raise _bad(f"{what}: more than {MAX_CLOCK_ENTRIES} chain digests")
    for writer, digest in digests.items():
        if not (isinstance(writer, bytes) and len(writer) == WRITER_LEN
                and isinstance(digest, bytes) and len(digest) == DIGEST_LEN):
            raise _bad(f"{what}: chain digests must map {WRITER_LEN}-byte writers to {DIGEST_LEN}-byte digests")
    return dict(digests)


def _need_reason(wire: dict[str, Any], what: str) -> tuple[str, str]:
    reason = _need(wire, "r", str, what)
    if reason not in ALL_REASONS:
        raise _bad(f"{what}: unknown reason {reason[:40]!r}")
    detail = _need(wire, "d", str, what)
    return reason, detail[:MAX_DETAIL]


@dataclass(frozen=True, kw_only=True, slots=True)
class Hello:
    """Who I am and what I speak. Carries a fresh nonce the peer must sign to prove its key."""

    T: ClassVar[str] = "hello"
    version: int
    workspace: bytes
    actor: bytes
    nonce: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "v": self.version, "ws": self.workspace, "actor": self.actor, "nonce": self.nonce}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Hello:
        # The version is read first and loosely: a peer speaking v2 must get `unsupported_version`,
        # not `malformed`, even if the rest of its hello looks different.
        return cls(version=_need(wire, "v", int, "hello"), workspace=_need(wire, "ws", bytes, "hello"),
                   actor=_need_bytes(wire, "actor", ACTOR_ID_LEN, "hello"),
                   nonce=_need_bytes(wire, "nonce", NONCE_LEN, "hello"))


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
    def from_wire(cls, wire: dict[str, Any]) -> Proof:
        more = wire.get("more", False)
        if not isinstance(more, bool):
            raise _bad("proof: field 'more' must be a boolean")
        return cls(signature=_need_bytes(wire, "sig", SIGNATURE_LEN, "proof"), clock=_need_clock(wire, "vc", "proof"),
                   more=more)


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
    def from_wire(cls, wire: dict[str, Any]) -> Batch:
        bundles = _need(wire, "b", list, "batch")
        if not all(isinstance(b, bytes) and b for b in bundles):
            raise _bad("batch: bundles must be non-empty byte strings")
        kind = _need(wire, "k", str, "batch")
        if kind not in (CATCHUP, LIVE):
            raise _bad(f"batch: kind must be {CATCHUP!r} or {LIVE!r}")
        return cls(seq=_need_count(wire, "n", "batch"), bundles=tuple(bundles),
                   remaining=_need_count(wire, "r", "batch"), kind=kind)


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
    def from_wire(cls, wire: dict[str, Any]) -> Ack:
        return cls(seq=_need_count(wire, "n", "ack"), clock=_need_clock(wire, "vc", "ack"))


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
    def from_wire(cls, wire: dict[str, Any]) -> Nack:
        bundle_id = wire.get("id")
        if bundle_id is not None and not (isinstance(bundle_id, bytes) and len(bundle_id) == ID_LEN):
            raise _bad("nack: id must be a 16-byte bundle id or null")
        reason, detail = _need_reason(wire, "nack")
        return cls(bundle_id=bundle_id, reason=reason, detail=detail)


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
    def from_wire(cls, wire: dict[str, Any]) -> Check:
        digest = _need(wire, "h", str, "check")
        if len(digest) != 64:
            raise _bad("check: state hash must be 64 hex characters")
        return cls(clock=_need_clock(wire, "vc", "check"), state_hash=digest,
                   digests=_need_digests(wire, "dg", "check"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Ping:
    T: ClassVar[str] = "ping"
    stamp: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "ts": self.stamp}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Ping:
        return cls(stamp=_need_count(wire, "ts", "ping"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Pong:
    T: ClassVar[str] = "pong"
    stamp: int

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "ts": self.stamp}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Pong:
        return cls(stamp=_need_count(wire, "ts", "pong"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Refuse:
    """The sender closes the session, and says why."""

    T: ClassVar[str] = "refuse"
    reason: str
    detail: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.T, "r": self.reason, "d": self.detail[:MAX_DETAIL]}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Refuse:
        reason, detail = _need_reason(wire, "refuse")
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
    def from_wire(cls, wire: dict[str, Any]) -> Chunk:
        chunk = cls(message_id=_need_count(wire, "id", "chunk"), index=_need_count(wire, "i", "chunk"),
                    count=_need_count(wire, "n", "chunk"), data=_need(wire, "d", bytes, "chunk"))
        if chunk.count < 2 or chunk.index >= chunk.count or not chunk.data:
            raise _bad("chunk: need 0 <= index < count, count >= 2 and some data")
        return chunk


Message = Hello | Proof | Batch | Ack | Nack | Check | Ping | Pong | Refuse | Chunk

_TYPES: dict[str, Any] = {cls.T: cls for cls in (Hello, Proof, Batch, Ack, Nack, Check, Ping, Pong, Refuse, Chunk)}


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
    message: Message = cls.from_wire(wire)
    return message
