"""UUIDv7 ids and the canonical CBOR boundary."""

from __future__ import annotations

import random

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openprod import ids
from openprod.encoding import decode, encode
from openprod.errors import DecodeError


def test_uuid7_layout_and_monotonic_within_a_millisecond() -> None:
    rng = random.Random(1)
    factory = ids.IdFactory(lambda: 1_700_000_000_000, rng.randbytes)
    made = [factory.new() for _ in range(5000)]
    assert made == sorted(made) and len(set(made)) == 5000
    text = ids.to_str(made[0])
    assert text[14] == "7" and text[19] in "89ab"
    assert ids.from_str(text) == made[0]
    assert ids.timestamp_ms(made[-1]) >= 1_700_000_000_000


def test_bad_uuid_text_is_refused() -> None:
    with pytest.raises(ValueError):
        ids.from_str("not-a-uuid")


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(plain)
def test_roundtrip_is_exact_and_deterministic(value: object) -> None:
    data = encode(value)
    assert encode(decode(data)) == data


def test_non_canonical_and_trailing_bytes_are_refused() -> None:
    non_canonical = cbor2.dumps({"b": 1, "a": 2})  # keys not in canonical order
    with pytest.raises(DecodeError, match="canonical"):
        decode(non_canonical)
    with pytest.raises(DecodeError):
        decode(encode([1, 2]) + b"\x00")
    with pytest.raises(DecodeError):
        decode(b"")
    with pytest.raises(DecodeError):
        decode(b"\xff\xfe\xfd")


def test_tags_sets_and_nan_are_refused() -> None:
    with pytest.raises(DecodeError):
        decode(cbor2.dumps(cbor2.CBORTag(1, 5)))
    with pytest.raises(DecodeError):
        decode(cbor2.dumps(float("nan")))
    with pytest.raises(TypeError):
        encode({1: "int keys are not allowed"})
    with pytest.raises(ValueError):
        encode(float("inf"))
