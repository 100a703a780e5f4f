"""Bundles: the atomic, signed unit of change that is stored, synced and undone.

Wire form: CBOR `[header_bytes, signature, [op_bytes, ...]]`. The signature covers the exact
header bytes, and the header lists the SHA-256 of every op's exact bytes plus the author's
vector clock at creation. Peers store and forward those bytes unchanged, so every receiver
verifies the author's own signature, never a relay's.

A person may use one key pair on several devices (identity.md), so bundles form one chain per
*writer*: the author's key plus the device it wrote on. Format v2 carries the device (`dev`) and
keys vector clocks by writer (key || device, 48 bytes); a v1 header (no device, clocks keyed by
the 32-byte actor) reads as device zero, so stored v1 bundles keep verifying and syncing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .encoding import canonical_bytes, decode, encode
from .errors import (
    REASON_BAD_HASH,
    REASON_MALFORMED,
    REASON_UNSUPPORTED_VERSION,
    BundleRejected,
    DecodeError,
    ValidationError,
)
from .hlc import HLC_LEN
from .identity import ACTOR_ID_LEN, SIGNATURE_LEN
from .ids import ID_LEN
from .operations import Op, RecoverOwnership, decode_op, encode_op
from .recovery import proof_message
from .wire import WireMap

BUNDLE_VERSION = 2
DEVICE_LEN = 16
NO_DEVICE = bytes(DEVICE_LEN)  # the device of every v1 bundle
WRITER_LEN = ACTOR_ID_LEN + DEVICE_LEN
SIGN_CONTEXT = b"openprod/bundle/v1\x00"
MAX_OPS_PER_BUNDLE = 50_000
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_CLOCK_ENTRIES = 100_000  # writers a header's vector clock may name
BUNDLE_KINDS = frozenset(
    {"edit", "undo", "redo", "import", "script", "rule", "resolution", "overlay", "module", "workspace",
     "calling"}  # calling: a GO in a calling view (calling.py), no record changed
)

VectorClock = dict[bytes, bytes]  # writer (actor || device) -> HLC of the latest bundle seen from it


def writer_of(actor: bytes, device: bytes) -> bytes:
    """The vector-clock key of one device's chain of bundles."""
    return actor + device


def op_hash(op_bytes: bytes) -> bytes:
    return hashlib.sha256(op_bytes).digest()


@dataclass(frozen=True, slots=True)
class BundleHeader:
    workspace: bytes
    bundle_id: bytes
    actor: bytes
    hlc: bytes
    kind: str
    clock: VectorClock
    op_hashes: tuple[bytes, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    device: bytes = NO_DEVICE

    @property
    def writer(self) -> bytes:
        return self.actor + self.device

    def to_wire(self) -> dict[str, Any]:
        return {
            "v": BUNDLE_VERSION,
            "ws": self.workspace,
            "id": self.bundle_id,
            "actor": self.actor,
            "dev": self.device,
            "hlc": self.hlc,
            "kind": self.kind,
            "clock": dict(self.clock),
            "ops": list(self.op_hashes),
            "meta": self.meta,
        }


@dataclass(frozen=True, slots=True)
class Bundle:
    header: BundleHeader
    header_bytes: bytes
    signature: bytes
    ops: tuple[Op, ...]
    op_bytes: tuple[bytes, ...]

    @property
    def bundle_id(self) -> bytes:
        return self.header.bundle_id

    @property
    def actor(self) -> bytes:
        return self.header.actor

    @property
    def writer(self) -> bytes:
        return self.header.writer

    @property
    def hlc(self) -> bytes:
        return self.header.hlc

    def signing_bytes(self) -> bytes:
        return SIGN_CONTEXT + self.header_bytes

    def signatures(self) -> list[tuple[bytes, bytes, bytes]]:
        """Every (public key, message, signature) a receiver checks before applying: the author's
        over the header, and each recovery proof inside (ownership.py). A receiver verifies them all
        with its own verifier (sync or async) and hands in one verdict: all of them hold."""
        out = [(self.actor, self.signing_bytes(), self.signature)]
        for op in self.ops:
            if isinstance(op, RecoverOwnership):
                out.append((op.recovery_key, proof_message(self.header.workspace, self.actor, op.next_key), op.proof))
        return out

    def has_recovery(self) -> bool:
        return any(isinstance(op, RecoverOwnership) for op in self.ops)

    def wire(self) -> bytes:
        return encode_wire(self.header_bytes, self.signature, self.op_bytes)


def encode_wire(header_bytes: bytes, signature: bytes, op_bytes: tuple[bytes, ...] | list[bytes]) -> bytes:
    return encode([header_bytes, signature, list(op_bytes)])


@dataclass(frozen=True, slots=True)
class UnsignedBundle:
    """A bundle built locally, waiting for its author's signature."""

    header: BundleHeader
    header_bytes: bytes
    ops: tuple[Op, ...]
    op_bytes: tuple[bytes, ...]

    def signing_bytes(self) -> bytes:
        return SIGN_CONTEXT + self.header_bytes

    def seal(self, signature: bytes) -> Bundle:
        if len(signature) != SIGNATURE_LEN:
            raise ValueError("an Ed25519 signature is 64 bytes")
        return Bundle(self.header, self.header_bytes, signature, self.ops, self.op_bytes)


def build(
    *,
    workspace: bytes,
    bundle_id: bytes,
    actor: bytes,
    device: bytes,
    kind: str,
    clock: VectorClock,
    ops: list[Op],
    meta: dict[str, Any] | None = None,
) -> UnsignedBundle:
    if not ops:
        raise ValueError("a bundle needs at least one operation")
    if kind not in BUNDLE_KINDS:
        raise ValueError(f"unknown bundle kind {kind!r}")
    if len(device) != DEVICE_LEN:
        raise ValueError(f"a device id is {DEVICE_LEN} bytes")
    if len(ops) > MAX_OPS_PER_BUNDLE:
        # every receiver (this device too, when it restores its log) would refuse it: refuse it here
        raise ValidationError(f"this change is too large to save as one: {len(ops):,} operations, at most "
                              f"{MAX_OPS_PER_BUNDLE:,}; nothing was saved. Make it in smaller parts "
                              "(for an import, split the file)")
    op_bytes = tuple(encode_op(op) for op in ops)
    if sum(len(b) for b in op_bytes) > MAX_BUNDLE_BYTES - 64 * 1024:
        raise ValidationError(f"this change is too large to save as one (over {MAX_BUNDLE_BYTES // 2**20} MiB); "
                              "nothing was saved. Make it in smaller parts (for an import, split the file)")
    header = BundleHeader(
        workspace=workspace,
        bundle_id=bundle_id,
        actor=actor,
        hlc=max(op.hlc for op in ops),
        kind=kind,
        clock=dict(clock),
        op_hashes=tuple(op_hash(b) for b in op_bytes),
        meta=dict(meta or {}),
        device=device,
    )
    return UnsignedBundle(header, encode(header.to_wire()), tuple(ops), op_bytes)


def decode_bundle(data: bytes) -> Bundle:
    """Untrusted bytes -> a structurally valid Bundle whose op hashes match its header.

    The signature is NOT checked here (that needs a verifier, possibly async): callers must
    verify `signing_bytes()` against `actor` before applying. Raises BundleRejected, and only
    that: a shape no check foresaw is refused as malformed, never an exception that ends a sync.
    """
    try:
        return _decode_bundle(data)
    except BundleRejected:
        raise
    except Exception as exc:  # a crafted shape a check above did not foresee
        raise BundleRejected(REASON_MALFORMED, f"bundle could not be decoded ({failure(exc)})") from None


def failure(exc: BaseException) -> str:
    """An unexpected exception in one short line (for a quarantine reason, never a traceback)."""
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _decode_bundle(data: bytes) -> Bundle:
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleRejected(REASON_MALFORMED, f"bundle is {len(data)} bytes, over {MAX_BUNDLE_BYTES}")
    try:  # the shape is checked just below, so the generic plain-data walk is not needed
        outer = decode(data, what="bundle", strict=False)
    except DecodeError as exc:
        raise BundleRejected(REASON_MALFORMED, exc.detail) from None
    if (
        not isinstance(outer, list)
        or len(outer) != 3
        or not isinstance(outer[0], bytes)
        or not isinstance(outer[1], bytes)
        or not isinstance(outer[2], list)
        or not all(isinstance(b, bytes) for b in outer[2])
    ):
        raise BundleRejected(REASON_MALFORMED, "bundle must be [header bytes, signature, [op bytes]]")
    if canonical_bytes(outer) != bytes(data):
        raise BundleRejected(REASON_MALFORMED, "bundle: not in canonical form (or has trailing bytes)")
    header_bytes, signature, op_bytes = outer[0], outer[1], tuple(outer[2])
    if len(signature) != SIGNATURE_LEN:
        raise BundleRejected(REASON_MALFORMED, "signature must be 64 bytes")
    header = decode_header(header_bytes)
    if len(op_bytes) != len(header.op_hashes):
        raise BundleRejected(
            REASON_BAD_HASH, f"header lists {len(header.op_hashes)} ops, bundle carries {len(op_bytes)}"
        )
    ops: list[Op] = []
    seen: set[bytes] = set()
    previous = b""
    for index, (raw, expected) in enumerate(zip(op_bytes, header.op_hashes, strict=True)):
        if op_hash(raw) != expected:
            raise BundleRejected(REASON_BAD_HASH, f"operation {index} does not match its hash in the header")
        try:
            op = decode_op(raw)
        except DecodeError as exc:
            raise BundleRejected(REASON_MALFORMED, f"operation {index}: {exc.detail}") from None
        if op.op_id in seen:
            raise BundleRejected(REASON_MALFORMED, f"operation {index} repeats an op id")
        if op.hlc <= previous:
            raise BundleRejected(REASON_MALFORMED, f"operation {index}: op clocks must increase within a bundle")
        seen.add(op.op_id)
        previous = op.hlc
        ops.append(op)
    if ops[-1].hlc != header.hlc:
        raise BundleRejected(REASON_MALFORMED, "bundle hlc must equal its last operation's hlc")
    return Bundle(header, header_bytes, signature, tuple(ops), op_bytes)


def stored_clock(header_bytes: bytes) -> VectorClock:
    """The writer-keyed vector clock of a header this workspace stored (already checked)."""
    wire = decode(header_bytes, what="bundle header", strict=False)
    clock: VectorClock = wire["clock"]
    return clock if wire["v"] != 1 else {actor + NO_DEVICE: hlc for actor, hlc in clock.items()}


def _malformed(detail: str) -> BundleRejected:
    return BundleRejected(REASON_MALFORMED, detail)


_HEADER_FIELDS = ("v", "ws", "id", "actor", "hlc", "kind", "clock", "ops", "meta")


def decode_header(header_bytes: bytes) -> BundleHeader:
    try:  # every field is type-checked below; the signature pins the exact bytes
        decoded = decode(header_bytes, what="bundle header", strict=False)
    except DecodeError as exc:
        raise _malformed(exc.detail) from None
    version = decoded.get("v") if isinstance(decoded, dict) else None
    if isinstance(decoded, dict) and version not in (1, BUNDLE_VERSION):
        raise BundleRejected(REASON_UNSUPPORTED_VERSION, f"bundle format {version!r} is not supported")
    wire = WireMap(decoded, "bundle header", _malformed,
                   fields=_HEADER_FIELDS + (("dev",) if version == 2 else ()))
    clock = wire.byte_map("clock", key_len=ACTOR_ID_LEN if version == 1 else WRITER_LEN, value_len=HLC_LEN,
                          max_entries=MAX_CLOCK_ENTRIES, describe="clock (writer -> HLC)")
    if version == 1:  # every v1 bundle was written on "device zero"
        clock = {actor + NO_DEVICE: hlc for actor, hlc in clock.items()}
    return BundleHeader(
        workspace=wire.byte_string("ws", ID_LEN),
        bundle_id=wire.byte_string("id", ID_LEN),
        actor=wire.byte_string("actor", ACTOR_ID_LEN),
        hlc=wire.byte_string("hlc", HLC_LEN),
        kind=wire.text("kind", BUNDLE_KINDS),
        clock=clock,
        op_hashes=tuple(wire.byte_list("ops", size=32, min_len=1, max_len=MAX_OPS_PER_BUNDLE)),
        meta=wire.text_map("meta"),
        device=wire.byte_string("dev", DEVICE_LEN) if version == 2 else NO_DEVICE,
    )
