"""Union-find with the smallest member as each class's root, so peers that join the same pairs in
any order agree on every root without coordinating (mapped fields, merged records)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T", str, bytes)


def roots(pairs: Iterable[tuple[T, T]]) -> dict[T, T]:
    """Every item named in `pairs` -> the smallest member of its class."""
    parent: dict[T, T] = {}

    def find(x: T) -> T:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def classes(root_of: dict[T, T]) -> dict[T, list[T]]:
    """Root -> its class's members, sorted (the root first)."""
    members: dict[T, list[T]] = {}
    for x, root in root_of.items():
        members.setdefault(root, []).append(x)
    for group in members.values():
        group.sort()
    return members
