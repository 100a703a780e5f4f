"""An op's and a bundle header's bytes are encoded with their maps put in canonical key order by
hand and then plain cbor2 (`encoding.key_order`, `ordered_bytes`: every keystroke's op and header),
not cbor2's canonical mode. The bytes must be exactly what canonical mode gives for the same value,
whatever the keys and values, or peers would hash and sign different bytes: a float (whose
canonical width differs from cbor2's plain eight bytes) and nested values must still take the
canonical path."""

from __future__ import annotations

import random
from typing import Any

import cbor2
import pytest

from openprod import operations as o
from openprod.bundle import build, decode_header
from openprod.encoding import canonical_bytes, encode, key_order, ordered_bytes

ENTITY, OP_ID, HLC = bytes(range(16)), bytes(range(16, 32)), bytes(range(12))


def _random_key(rnd: random.Random, kind: str) -> Any:
    length = rnd.choice([0, 1, 2, 5, 22, 23, 24, 25, 47, 48, 255, 256])
    if kind == "bytes":
        return bytes(rnd.randrange(256) for _ in range(length))
    return "".join(rnd.choice("aZ_.é😀") for _ in range(length))


@pytest.mark.parametrize("kind", ["str", "bytes", "mixed", "bytes of one length"])
def test_key_order_is_canonical_order(kind: str) -> None:
    rnd = random.Random(kind)
    for _ in range(300):
        keys: set[Any] = set()
        for _ in range(rnd.randint(0, 12)):
            if kind == "bytes of one length":
                keys.add(bytes(rnd.randrange(256) for _ in range(48)))
            else:
                keys.add(_random_key(rnd, rnd.choice(["str", "bytes"]) if kind == "mixed" else kind))
        value = {k: rnd.choice([b"x" * rnd.randint(0, 300), "y", 0, -24, 2**40, None, True, [b"a", 7]]) for k in keys}
        assert ordered_bytes({k: value[k] for k in key_order(value)}) == canonical_bytes(value)


def _op_bytes(cls: type[o.Op], **payload: Any) -> bytes:
    return o.encoded_op(cls, OP_ID, HLC, **payload)[1]


def _canonical(cls: type[o.Op], **payload: Any) -> bytes:
    return encode({"id": OP_ID, "hlc": HLC, "t": cls.TYPE, **payload})


@pytest.mark.parametrize("delta_length", [0, 23, 24, 255, 256, 70_000])
def test_a_keystrokes_op(delta_length: int) -> None:
    payload = {"entity": ENTITY, "field": "mod.Doc.body", "crdt_type": "text", "delta": b"\x07" * delta_length}
    assert _op_bytes(o.ApplyCrdt, **payload) == _canonical(o.ApplyCrdt, **payload)


@pytest.mark.parametrize("value", ["", "x" * 300, 0, -1, 2**63 - 1, -(2**63), True, 1.5, 0.1, 1e300, ["a", "b"],
                                   ["a", 2.5], [1, 2]])
def test_field_values(value: Any) -> None:
    got = _op_bytes(o.SetField, entity=ENTITY, field="mod.Table.field", value=value)
    assert got == _canonical(o.SetField, entity=ENTITY, field="mod.Table.field", value=value)
    assert o.decode_op(got).value == (tuple(value) if isinstance(value, list) else value)


def test_floats_take_the_canonical_width() -> None:
    """1.5 is two bytes of half float in canonical CBOR, nine in cbor2's plain encoding."""
    got = _op_bytes(o.SetField, entity=ENTITY, field="mod.Table.field", value=1.5)
    assert bytes.fromhex("f93e00") in got
    assert cbor2.dumps(1.5) not in got


def test_other_op_kinds() -> None:
    assert _op_bytes(o.CreateEntity, entity=ENTITY, initial_table="mod.Table") == \
        _canonical(o.CreateEntity, entity=ENTITY, initial_table="mod.Table")
    assert _op_bytes(o.IdentifyActor, display_name="Ada") == _canonical(o.IdentifyActor, display_name="Ada")


def _header_bytes(clock: dict[bytes, bytes], meta: dict[str, Any], ops: int = 1) -> tuple[bytes, Any]:
    op, raw = o.encoded_op(o.ApplyCrdt, OP_ID, HLC, entity=ENTITY, field="mod.Doc.body", crdt_type="text",
                           delta=b"d")
    unsigned = build(workspace=bytes(16), bundle_id=bytes(range(1, 17)), actor=bytes(range(32)), device=bytes(16),
                     kind="edit", clock=clock, ops=[op] * ops, meta=meta, op_bytes=[raw] * ops)
    return unsigned.header_bytes, unsigned.header


@pytest.mark.parametrize("writers", [0, 1, 3, 23, 24, 40])
@pytest.mark.parametrize("meta", [{}, {"overlay": "draft"}, {"z": 1, "aa": None, "b": b"x"}, {"ratio": 0.5},
                                  {"nested": {"b": 1, "a": [1.25]}}])
def test_headers(writers: int, meta: dict[str, Any]) -> None:
    rnd = random.Random(writers)
    clock = {bytes(rnd.randrange(256) for _ in range(48)): bytes(rnd.randrange(256) for _ in range(12))
             for _ in range(writers)}
    got, header = _header_bytes(clock, meta)
    assert got == encode(header.to_wire())
    assert decode_header(got) == header


def test_header_clock_of_mixed_key_lengths() -> None:
    """Keys of two lengths: the shorter encoded key first, whatever its bytes."""
    clock = {b"\xff" * 48: bytes(12), b"\x00" * 48: bytes(12), b"\xff" * 32: bytes(12), b"\x01" * 32: bytes(12)}
    got, header = _header_bytes(clock, {})
    assert got == encode(header.to_wire())


def test_header_many_ops() -> None:
    got, header = _header_bytes({b"\x05" * 48: bytes(12)}, {}, ops=30)
    assert got == encode(header.to_wire())


@pytest.mark.parametrize("seed", range(6))
def test_headers_joined_by_hand(seed: int) -> None:
    """A header without metadata is joined by hand (`bundle._flat_header_bytes`, every local commit):
    its bytes equal canonical mode's for fields of every length around CBOR's head boundaries,
    kinds of any text, clocks of 0-30 writers (of one length, or of mixed lengths, which the hand
    join leaves to the general path), and any number of op hashes."""
    from openprod.bundle import BundleHeader, _encode_header, _flat_header_bytes

    rnd = random.Random(seed)
    lengths = [0, 1, 12, 16, 23, 24, 32, 48, 255, 256]

    def raw(length: int) -> bytes:
        return bytes(rnd.randrange(256) for _ in range(length))

    joined = 0
    for _ in range(300):
        width = rnd.choice([48, 48, 32, *lengths])
        clock = {raw(width if rnd.random() > 0.05 else rnd.choice(lengths)): raw(rnd.choice([12, *lengths]))
                 for _ in range(rnd.choice([0, 1, 1, 2, 5, 23, 24, 30]))}
        header = BundleHeader(
            raw(rnd.choice([16, 16, *lengths])), raw(rnd.choice([16, 16, *lengths])), raw(rnd.choice([32, 32, 256])),
            raw(rnd.choice([12, 12, *lengths])), rnd.choice(["edit", "undo", "é" * 12, "x" * 23, "y" * 24, "z" * 300]),
            clock, tuple(raw(rnd.choice([32, 32, *lengths])) for _ in range(rnd.choice([1, 1, 2, 23, 24]))),
            {} if rnd.random() < 0.9 else {"overlay": "draft"}, raw(rnd.choice([16, 16, *lengths])))
        assert _encode_header(header) == canonical_bytes(header.to_wire())
        joined += _flat_header_bytes(header) is not None
    assert joined > 30  # the hand join itself was checked, not only the general path
