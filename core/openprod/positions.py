"""Fractional positions for ordered edges: base-62 strings compared as plain bytes.

A position is a fraction 0.d1d2d3... in base 62 with no trailing '0', so there is always room
between two positions. The author computes the position when it inserts or moves, and stores it
in the operation: every peer then orders edges identically by (position, author, edge id),
whatever the arrival order.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {ch: i for i, ch in enumerate(DIGITS)}
BASE = len(DIGITS)
FIRST = DIGITS[BASE // 2]


def is_valid(position: str) -> bool:
    return bool(position) and not position.endswith("0") and all(ch in _INDEX for ch in position)


def between(low: str | None, high: str | None) -> str:
    """A position strictly between `low` and `high` (None = open end)."""
    if low is not None and high is not None and low >= high:
        raise ValueError(f"positions out of order: {low!r} >= {high!r}")
    for p in (low, high):
        if p is not None and not is_valid(p):
            raise ValueError(f"invalid position {p!r}")
    if high is None:
        return after(low) if low else FIRST
    return _midpoint(low or "", high)


def after(low: str) -> str:
    """A short position greater than `low`: bump the first digit that can grow."""
    digit = _INDEX[low[0]]
    if digit < BASE - 1:
        return DIGITS[digit + 1]
    return low[0] + (after(low[1:]) if len(low) > 1 else FIRST)


def _midpoint(low: str, high: str) -> str:
    # Common prefix (low padded with '0') is kept; recurse on the rest.
    n = 0
    while n < len(high) and (low[n] if n < len(low) else "0") == high[n]:
        n += 1
    if n:
        return high[:n] + _midpoint(low[n:], high[n:])
    d_low = _INDEX[low[0]] if low else 0
    d_high = _INDEX[high[0]]
    if d_high - d_low > 1:
        return DIGITS[(d_low + d_high) // 2]
    if len(high) > 1:
        return high[0]
    return DIGITS[d_low] + (after(low[1:]) if len(low) > 1 else FIRST)


def spread(low: str | None, high: str | None, count: int) -> list[str]:
    """`count` increasing positions between `low` and `high`, balanced (for bulk inserts)."""
    if count <= 0:
        return []
    mid = between(low, high)
    left = spread(low, mid, (count - 1) // 2)
    right = spread(mid, high, count - 1 - len(left))
    return [*left, mid, *right]
