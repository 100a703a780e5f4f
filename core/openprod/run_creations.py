"""Which record creations a receiving batch's plain run may take (receive.py `_PlainRun`).

A bundle that creates records and writes plain values (a new record and its values: a tenth of
a catch-up) joins the run when the run can prove, before any write, what the per-bundle way
(`receive._checked`, `ConflictTracker.prior`) would find: the record has no `entities` row (so
`_taken` names no earlier creator), the bundle creates it once, in a table the schema has, it is
not merged, and each of its writes to it comes after its creation (its first write to a register
then follows nothing, as the run assumes for a register with no stored or run write). Anything
else leaves the bundle to the per-bundle way, which decides as it always did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from . import operations as o
from .merge import Redirects
from .modules import Schema
from .validation import check_op

_PLAIN_OPS = frozenset((o.SetField, o.ClearField))


def absent_records(conn: sqlite3.Connection, ops: Iterable[o.Op]) -> set[bytes]:
    """The records these ops' `CreateEntity`s create that no `entities` row holds (one query per 500)."""
    new = list(dict.fromkeys(op.entity for op in ops if type(op) is o.CreateEntity))
    absent = set(new)
    for start in range(0, len(new), 500):
        part = new[start:start + 500]
        absent.difference_update(r[0] for r in conn.execute(
            f"SELECT entity_id FROM entities WHERE entity_id IN ({','.join('?' * len(part))})", part))
    return absent


def forget_named(absent: set[bytes], op: o.Op) -> None:
    """An op applied the per-bundle way may have written the `entities` row of any record it
    names (a creation, a deletion, a split, a merge...): those are no longer known absent."""
    for name in op.SPEC:
        value = getattr(op, name)
        for one in value if isinstance(value, tuple) else (value,):
            if isinstance(one, bytes):
                absent.discard(one)


def creations(ops: Sequence[o.Op], absent: set[bytes], redirects: Redirects,
              schema: Schema) -> tuple[list[o.CreateEntity], list[o.Op]] | None:
    """A bundle of record creations and plain writes, when a run can take it: its `CreateEntity`
    ops and its writes, each creation of a record in `absent` (see the module). None: the
    per-bundle way decides."""
    made = [op for op in ops if type(op) is o.CreateEntity]
    new = {op.entity for op in made}
    if len(new) != len(made) or not new.issubset(absent):
        return None
    root = redirects.root_lookup()
    merges = redirects.merge_ops if redirects.any_merges() else None
    created: set[bytes] = set()
    writes: list[o.Op] = []
    for op in ops:
        kind = type(op)
        if kind is o.CreateEntity:
            entity: bytes = op.entity  # type: ignore[attr-defined]
            if root(entity, entity) != entity or (merges is not None and merges(entity)):
                return None
            try:
                if check_op(op, schema) is not schema:
                    return None
            except Exception:
                return None  # refused the per-bundle way, with its reason
            created.add(entity)
        elif kind in _PLAIN_OPS and (op.entity not in new or op.entity in created):  # type: ignore[attr-defined]
            writes.append(op)
        else:
            return None
    return made, writes
