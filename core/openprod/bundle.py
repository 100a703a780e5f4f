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

import cbor2

from .encoding import EXACT_TYPES, canonical_bytes, cbor_head, check_plain, decode, encode, key_order, ordered_bytes
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
from .operations import Op, RecoverOwnership, decode_op, decode_op_fast, encode_op, slots_filler
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


# Canonical CBOR heads of a byte string of each length below 256 (ids 16, HLCs 12, hashes, keys
# and signatures 32 or 64, writers 48, a keystroke's op and header): the hand-joined encodings
# below look them up rather than calling `cbor_head` each time.
_BYTES_HEADS = tuple(cbor_head(0x40, n) for n in range(256))


def _bytes_head(length: int) -> bytes:
    return _BYTES_HEADS[length] if length < 256 else cbor_head(0x40, length)


def encode_wire(header_bytes: bytes, signature: bytes, op_bytes: tuple[bytes, ...] | list[bytes]) -> bytes:
    ops = list(op_bytes)
    if type(header_bytes) is bytes and type(signature) is bytes and all(type(b) is bytes for b in ops):
        # byte strings only: their canonical CBOR is each one's length head and its bytes, joined
        # here (what `canonical_bytes` gives, without its per-call setup: every commit's wire)
        return b"".join([b"\x83", _bytes_head(len(header_bytes)), header_bytes, _bytes_head(len(signature)),
                         signature, cbor_head(0x80, len(ops)), *[_bytes_head(len(b)) + b for b in ops]])
    return encode([header_bytes, signature, ops])


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
        return _new_bundle(self.header, self.header_bytes, signature, self.ops, self.op_bytes)


# Decoding builds a header and a bundle per received bundle: fill their slots directly (values
# checked above) rather than through a frozen dataclass's __init__, which sets each field through
# object.__setattr__.
_new_header = slots_filler(BundleHeader)
_new_bundle = slots_filler(Bundle)
_fast_op = decode_op_fast
_loads = cbor2.loads
_sha256 = hashlib.sha256
_HEADER_KEYS = tuple(key_order(("v", "ws", "id", "actor", "dev", "hlc", "kind", "clock", "ops", "meta")))  # to_wire's


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
    op_bytes: list[bytes] | None = None,
) -> UnsignedBundle:
    """An unsigned bundle of `ops`. `op_bytes`: their wire bytes when the caller has them already
    (`operations.encoded_op`, as a local transaction does), so nothing is encoded twice."""
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
    if op_bytes is None:
        encoded = tuple(encode_op(op) for op in ops)
    elif len(op_bytes) != len(ops):
        raise ValueError("one wire form per operation")
    else:
        encoded = tuple(op_bytes)
    if (len(encoded[0]) if len(encoded) == 1 else sum(len(b) for b in encoded)) > MAX_BUNDLE_BYTES - 64 * 1024:
        raise ValidationError(f"this change is too large to save as one (over {MAX_BUNDLE_BYTES // 2**20} MiB); "
                              "nothing was saved. Make it in smaller parts (for an import, split the file)")
    # the header's slots filled directly (a local commit's, once per keystroke): the values are
    # the checked ones above, in BundleHeader's field order
    header = _new_header(workspace, bundle_id, actor, ops[0].hlc if len(ops) == 1 else max(op.hlc for op in ops),
                         kind, dict(clock), tuple([_sha256(b).digest() for b in encoded]), dict(meta or {}), device)
    return UnsignedBundle(header, _encode_header(header), tuple(ops), encoded)


_KEY = {key: cbor2.dumps(key) for key in _HEADER_KEYS}
_HEADER_START = cbor_head(0xA0, len(_HEADER_KEYS)) + _KEY["v"] + cbor2.dumps(BUNDLE_VERSION)


def _flat_header_bytes(header: BundleHeader) -> bytes | None:
    """The canonical bytes of a header without metadata whose every field has its exact type, joined
    by hand (what `_encode_header` gives, without building two maps and sorting the clock's keys
    through `key_order`: every local commit's header, a keystroke's too); None for any other."""
    clock = header.clock
    ids = (header.bundle_id, header.workspace, header.device, header.hlc, header.actor)
    if header.meta or type(header.kind) is not str or not all(type(b) is bytes and len(b) < 256 for b in ids):
        return None
    parts = [_HEADER_START, _KEY["id"], _BYTES_HEADS[len(ids[0])], ids[0], _KEY["ws"], _BYTES_HEADS[len(ids[1])],
             ids[1], _KEY["dev"], _BYTES_HEADS[len(ids[2])], ids[2], _KEY["hlc"], _BYTES_HEADS[len(ids[3])], ids[3],
             _KEY["ops"], cbor_head(0x80, len(header.op_hashes))]
    for digest in header.op_hashes:
        if type(digest) is not bytes or len(digest) > 255:
            return None
        parts += (_BYTES_HEADS[len(digest)], digest)
    kind = header.kind.encode()
    parts += (_KEY["kind"], cbor_head(0x60, len(kind)), kind, _KEY["meta"], b"\xa0", _KEY["actor"],
              _BYTES_HEADS[len(ids[4])], ids[4], _KEY["clock"], cbor_head(0xA0, len(clock)))
    width = len(next(iter(clock))) if clock else 0
    for writer, hlc in clock.items():
        if type(writer) is not bytes or len(writer) != width or type(hlc) is not bytes or len(hlc) > 255:
            return None
    if width > 255:
        return None
    # writers of one length: their heads are equal, so canonical order is the bytes' own order
    for writer in sorted(clock) if len(clock) > 1 else clock:
        hlc = clock[writer]
        parts += (_BYTES_HEADS[width], writer, _BYTES_HEADS[len(hlc)], hlc)
    return b"".join(parts)


def _encode_header(header: BundleHeader) -> bytes:
    """The header's canonical bytes. Every field but the metadata has its type by construction (a
    clock maps bytes to bytes), so only the metadata gets `encode`'s plain-data walk."""
    flat = _flat_header_bytes(header)
    if flat is not None:
        return flat
    wire = header.to_wire()
    clock = wire["clock"]
    meta = header.meta
    if (meta and not all(type(k) is str for k in meta)) \
            or not all(type(k) is bytes and type(v) is bytes for k, v in clock.items()):
        return encode(wire)  # refuses what is not plain data, as it always did
    if meta:  # an empty map is plain data
        check_plain(meta)
        if not all(type(v) in EXACT_TYPES for v in meta.values()):  # a float or a nested value
            return canonical_bytes(wire)
        wire["meta"] = {k: meta[k] for k in key_order(meta)}
    # every other field has an exact type by construction: put each map in canonical key order
    wire["clock"] = {k: clock[k] for k in key_order(clock)}
    return ordered_bytes({k: wire[k] for k in _HEADER_KEYS})


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
    ops = _decode_ops(op_bytes, header.op_hashes)
    if ops[-1].hlc != header.hlc:
        raise BundleRejected(REASON_MALFORMED, "bundle hlc must equal its last operation's hlc")
    return _new_bundle(header, header_bytes, signature, ops, op_bytes)


def _decode_ops(op_bytes: tuple[bytes, ...], hashes: tuple[bytes, ...]) -> tuple[Op, ...]:
    """The bundle's ops, each matching its hash in the header, with distinct ids and rising clocks.

    The common case runs as a few comprehensions (the ops of a catch-up are most of what ingest
    decodes); anything it does not pass goes to `_decode_ops_checked`, which refuses in words.
    """
    try:
        if [_sha256(raw).digest() for raw in op_bytes] == list(hashes):
            ops = tuple(_fast_op(raw) for raw in op_bytes)
            previous = b""
            for op in ops:
                if op.hlc <= previous:
                    break
                previous = op.hlc
            else:
                if len({op.op_id for op in ops}) == len(ops):
                    return ops
    except Exception:  # the checked path below names what is wrong
        pass
    return _decode_ops_checked(op_bytes, hashes)


def _decode_ops_checked(op_bytes: tuple[bytes, ...], hashes: tuple[bytes, ...]) -> tuple[Op, ...]:
    ops: list[Op] = []
    seen: set[bytes] = set()
    previous = b""
    for index, (raw, expected) in enumerate(zip(op_bytes, hashes, strict=True)):
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
    return tuple(ops)


def stored_clock(header_bytes: bytes) -> VectorClock:
    """The writer-keyed vector clock of a header this workspace stored (already checked)."""
    wire = decode(header_bytes, what="bundle header", strict=False)
    clock: VectorClock = wire["clock"]
    return clock if wire["v"] != 1 else {actor + NO_DEVICE: hlc for actor, hlc in clock.items()}


def _malformed(detail: str) -> BundleRejected:
    return BundleRejected(REASON_MALFORMED, detail)


_HEADER_FIELDS = ("v", "ws", "id", "actor", "hlc", "kind", "clock", "ops", "meta")


def decode_header(header_bytes: bytes) -> BundleHeader:
    """A checked header (the signature pins its exact bytes). The common shape (format 2) is read
    by `_fast_header`; anything else, and every refusal, by `_decode_header_checked`."""
    if type(header_bytes) is bytes and header_bytes:
        try:
            header = _fast_header(_loads(header_bytes))
        except Exception:  # the checked path below refuses it in words
            pass
        else:
            if header is not None:
                return header
    return _decode_header_checked(header_bytes)


_HEADER_KEYS_V2 = frozenset((*_HEADER_FIELDS, "dev"))


def _fast_header(wire: Any) -> BundleHeader | None:
    """The checks of `_decode_header_checked` for a format-2 header, inline; None (or an
    exception) when the header is anything but plainly right."""
    if type(wire) is not dict or len(wire) != len(_HEADER_KEYS_V2) or wire.get("v") != BUNDLE_VERSION \
            or type(wire["v"]) is not int:
        return None
    ws, bundle_id, actor, hlc, device = wire["ws"], wire["id"], wire["actor"], wire["hlc"], wire["dev"]
    kind, clock, hashes, meta = wire["kind"], wire["clock"], wire["ops"], wire["meta"]
    if not (type(ws) is bytes and len(ws) == ID_LEN and type(bundle_id) is bytes and len(bundle_id) == ID_LEN
            and type(actor) is bytes and len(actor) == ACTOR_ID_LEN and type(hlc) is bytes and len(hlc) == HLC_LEN
            and type(device) is bytes and len(device) == DEVICE_LEN and type(kind) is str and kind in BUNDLE_KINDS
            and type(clock) is dict and len(clock) <= MAX_CLOCK_ENTRIES
            and type(hashes) is list and 1 <= len(hashes) <= MAX_OPS_PER_BUNDLE
            and type(meta) is dict):
        return None
    for key, value in clock.items():
        if type(key) is not bytes or len(key) != WRITER_LEN or type(value) is not bytes or len(value) != HLC_LEN:
            return None
    for digest in hashes:
        if type(digest) is not bytes or len(digest) != 32:
            return None
    if meta:  # plain data with text keys (WireMap.text_map)
        if not all(type(k) is str for k in meta):
            return None
        check_plain(meta)
    return _new_header(ws, bundle_id, actor, hlc, kind, clock, tuple(hashes), meta, device)


def _decode_header_checked(header_bytes: bytes) -> BundleHeader:
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
