"""A bundle's wire bytes are joined by hand (`bundle.encode_wire`, every commit): they must be the
canonical CBOR that `canonical_bytes` gives for the same three items, at every length boundary of
CBOR's head (23/24, 255/256, 65535/65536 bytes or items), or peers would see different bytes."""

from __future__ import annotations

import pytest

from openprod.bundle import encode_wire
from openprod.encoding import canonical_bytes

LENGTHS = [0, 1, 23, 24, 255, 256, 65_535, 65_536]


@pytest.mark.parametrize("length", LENGTHS)
def test_byte_string_lengths(length: int) -> None:
    header, signature, op = b"h" * length, bytes(range(64)), b"\x01" * length
    assert encode_wire(header, signature, [op]) == canonical_bytes([header, signature, [op]])


@pytest.mark.parametrize("count", [0, 1, 23, 24, 255, 256])
def test_op_counts(count: int) -> None:
    ops = tuple(bytes([i % 256]) * (i % 30) for i in range(count))
    assert encode_wire(b"header", bytes(64), ops) == canonical_bytes([b"header", bytes(64), list(ops)])
