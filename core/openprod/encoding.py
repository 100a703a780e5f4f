"""The one deterministic encoding: canonical CBOR (cbor2), for everything hashed, signed or sent.

Only plain data crosses this boundary: None, bool, int, float, str, bytes, lists and maps
with str or bytes keys. Decoding refuses anything else (tags, sets, undefined, trailing bytes,
non-canonical forms), so one value has exactly one encoding and every peer hashes the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import cbor2

from .errors import DecodeError

MAX_DEPTH = 32


def encode(value: Any) -> bytes:
    """Canonical CBOR of plain data. Raises TypeError/ValueError for anything else."""
    _check(value, 0)
    return cbor2.dumps(value, canonical=True)


def decode(data: bytes, *, what: str = "value", strict: bool = True) -> Any:
    """Decode canonical CBOR produced by `encode`; anything else raises DecodeError.

    `strict=False` skips the plain-data walk and the canonical re-encoding, for bytes whose
    hash is already pinned by a signature and whose every field a validator checks next
    (operations): a hot path on ingest.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise DecodeError(f"{what}: empty input")
    try:
        value = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for garbage
        raise DecodeError(f"{what}: not valid CBOR ({exc.__class__.__name__}: {exc})") from None
    if not strict:
        return value
    try:
        _check(value, 0)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"{what}: {exc}") from None
    if cbor2.dumps(value, canonical=True) != data:
        raise DecodeError(f"{what}: not in canonical form (or has trailing bytes)")
    return value


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of a value already known to be plain data (no walk)."""
    return cbor2.dumps(value, canonical=True)


def cbor_head(major: int, length: int) -> bytes:
    """A CBOR item's head in its shortest (canonical) form: `major` is the type's top three bits
    (0x40 a byte string, 0x80 an array), `length` its length. For joining byte strings by hand on a
    hot path (bundle.encode_wire), where the result must equal `canonical_bytes` exactly."""
    if length < 24:
        return bytes((major | length,))
    if length < 0x100:
        return bytes((major | 24, length))
    if length < 0x10000:
        return bytes((major | 25,)) + length.to_bytes(2, "big")
    if length < 0x1_0000_0000:
        return bytes((major | 26,)) + length.to_bytes(4, "big")
    return bytes((major | 27,)) + length.to_bytes(8, "big")


# Types whose plain cbor2 encoding is already the canonical one (shortest heads, one form). Not a
# float: canonical CBOR takes its shortest exact width, cbor2's plain encoding always eight bytes.
EXACT_TYPES = frozenset({str, bytes, int, bool, type(None)})


def key_order(keys: Iterable[Any]) -> list[Any]:
    """Map keys (str or bytes) in canonical CBOR's order, as `canonical_bytes` sorts them: the
    shorter encoded key first, then bytewise (RFC 7049 section 3.9)."""
    keys = list(keys)
    if keys and all(type(k) is bytes for k in keys) and len({len(k) for k in keys}) == 1:
        return sorted(keys)  # byte strings of one length (a vector clock's writers): same heads
    return sorted(keys, key=_encoded_key)


def _encoded_key(key: Any) -> bytes:
    raw = key.encode() if type(key) is str else bytes(key)
    encoded = cbor_head(0x60 if type(key) is str else 0x40, len(raw)) + raw
    return len(encoded).to_bytes(8, "big") + encoded


def ordered_bytes(value: Any) -> bytes:
    """`canonical_bytes` of a value whose every map is already in `key_order` and whose leaves are
    `EXACT_TYPES`: the same bytes without canonical mode, whose per-map sorting costs several times
    the encoding itself (a keystroke's op and bundle header: docs/benchmarks.md, Session 10)."""
    return cbor2.dumps(value)


def check_plain(value: Any) -> None:
    """Raise TypeError/ValueError unless `value` is plain data `encode` accepts."""
    _check(value, 0)


def _check(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str, bytes)):
        return
    if isinstance(value, int):
        if not -(1 << 64) < value < (1 << 64):
            raise ValueError("integer out of the 64-bit range")
        return
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("NaN and infinity are not allowed")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, bytes)):
                raise TypeError(f"map keys must be str or bytes, got {type(key).__name__}")
            _check(item, depth + 1)
        return
    raise TypeError(f"cannot encode {type(value).__name__}")
