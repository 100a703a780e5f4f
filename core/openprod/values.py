"""How field and property values sit in SQLite: a kind tag beside a native SQL value.

Native values let SQLite compare and index them (queries, matching rules); the kind keeps
booleans apart from numbers and marks a cleared field (a tombstone) as NULL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .encoding import decode, encode

KIND_STRING = "s"
KIND_NUMBER = "n"
KIND_BOOL = "b"
KIND_LIST = "l"
KIND_CRDT = "c"  # a CRDT field: content is the merge of its deltas, rendered on demand
KIND_REF = "r"  # a field in reference mode: shows another record's field


@dataclass(frozen=True)
class Reference:
    """The value of a field in reference mode: which record's field it shows."""

    source: bytes
    field: str


def to_sql(value: Any) -> tuple[str | None, Any]:
    if value is None:
        return None, None
    if isinstance(value, bool):
        return KIND_BOOL, 1 if value else 0
    if isinstance(value, (int, float)):
        return KIND_NUMBER, value
    if isinstance(value, str):
        return KIND_STRING, value
    if isinstance(value, (list, tuple)):
        return KIND_LIST, encode(list(value))
    if isinstance(value, Reference):
        return KIND_REF, encode([value.source, value.field])
    raise TypeError(f"cannot store {type(value).__name__}")


def from_sql(kind: str | None, value: Any) -> Any:
    if kind is None:
        return None
    if kind == KIND_BOOL:
        return bool(value)
    if kind == KIND_LIST:
        return decode(value, what="list value")
    if kind == KIND_REF:
        source, field = decode(value, what="reference")
        return Reference(source, field)
    return value
