"""Fractional positions: always room between two, compared as plain strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openprod import positions


@given(st.lists(st.tuples(st.integers(0, 1000), st.booleans()), min_size=1, max_size=200))
def test_random_inserts_keep_strict_order(moves: list[tuple[int, bool]]) -> None:
    keys: list[str] = []
    for where, _ in moves:
        i = where % (len(keys) + 1)
        low = keys[i - 1] if i > 0 else None
        high = keys[i] if i < len(keys) else None
        new = positions.between(low, high)
        assert positions.is_valid(new)
        assert (low is None or low < new) and (high is None or new < high)
        keys.insert(i, new)
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_appends_grow_slowly() -> None:
    key = None
    for _ in range(1000):
        key = positions.between(key, None)
    assert key is not None and len(key) <= 40


@given(st.integers(1, 300))
def test_spread_is_sorted_and_between(count: int) -> None:
    out = positions.spread("A", "B", count)
    assert len(out) == count and out == sorted(out) and all("A" < p < "B" for p in out)


def test_out_of_order_bounds_are_an_error() -> None:
    with pytest.raises(ValueError):
        positions.between("b", "a")
    with pytest.raises(ValueError):
        positions.between("a0", None)
