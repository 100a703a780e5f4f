"""Identity repair, before it happens: what merging two records would give, field by field, and
how to take a merge back.

data-model.md ("Identity Repair"): "these are the same person" merges two records; the smaller
id survives, it appears in every table either was in, and fields where the two disagree become
conflicts for a person to settle. `merge_preview` says all of that before anything is written.
A merge cannot be unwritten (the absorbed id redirects to the survivor for good), so taking it
back is a split (`split` below): a new record in the absorbed one's tables, with the values it
had, and a merge exception so no rule proposes the pair again.

Readers only: nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .context import Part, reads
from .errors import NotFoundError, ValidationError
from .ids import IdLike, as_id, to_str
from .reads import entity_state, group_value, tables_of

if TYPE_CHECKING:
    from .context import Context


@dataclass(frozen=True)
class FieldOutcome:
    """One field of the merged record: each side's value now, and what the merged record shows."""

    field: str
    name: str
    table: str
    values: tuple[Any, Any]  # (first record's, second record's), in the order asked
    result: Any
    conflict: bool  # both have a value and they differ: someone will choose


@dataclass(frozen=True)
class MergePreview:
    records: tuple[str, str]  # as asked
    labels: tuple[str, str]
    survivor: str
    tables: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # first's, second's, merged
    fields: tuple[FieldOutcome, ...]

    @property
    def conflicts(self) -> int:
        return sum(f.conflict for f in self.fields)


@dataclass(frozen=True)
class Unmerge:
    """How to split a merged record back into two: what the new record gets."""

    tables_moved: tuple[str, ...]  # only the absorbed record was in them: they leave the survivor
    tables_shared: tuple[str, ...]  # both were in them: the new record joins them too
    values: dict[str, Any]  # the absorbed record's own values
    moved_fields: tuple[str, ...]  # values only the absorbed record had: cleared on the survivor
    restore: dict[str, Any]  # what the survivor showed where the merge changes it (None: empty)


def _live(cx: Context, record: IdLike, which: str) -> bytes:
    entity = cx.redirects.resolve(as_id(record, f"{which} record"))
    state = entity_state(cx.conn, entity)
    if state is None or not state[0] or not state[1]:
        raise NotFoundError(f"the {which} record does not exist or was deleted")
    return entity


def _fields(cx: Context, tables: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for table in tables:
        tdef = cx.schema.tables.get(table)
        if tdef is None:
            continue
        for fdef in tdef.fields.values():
            key = cx.groups.key(fdef.id)
            if fdef.crdt is None and key not in seen:
                seen.add(key)
                out.append(fdef.id)
    return out


def merge_preview(cx: Context, first: IdLike, second: IdLike) -> MergePreview:
    """Field by field: each record's value and what the merged record will show (the later
    edit), with the fields that will be conflicts. Raises ValidationError for a record and itself,
    NotFoundError for a missing or deleted one."""
    a, b = _live(cx, first, "first"), _live(cx, second, "second")
    if a == b:
        raise ValidationError("these are already one record")
    ta, tb = tables_of(cx.conn, a), tables_of(cx.conn, b)
    merged = sorted(set(ta) | set(tb))
    outcomes = []
    for field_id in _fields(cx, merged):
        fa = group_value(cx.conn, cx.groups, a, field_id, cx._show)
        fb = group_value(cx.conn, cx.groups, b, field_id, cx._show)
        va = None if fa is None else fa.value
        vb = None if fb is None else fb.value
        if va is None and vb is None:
            continue
        if va is None or vb is None:
            result = va if vb is None else vb
        else:
            assert fa is not None and fb is not None
            result = va if fa.ord > fb.ord else vb
        fdef = cx.schema.fields[field_id]
        table = cx.schema.tables[fdef.table].display_name if fdef.table in cx.schema.tables else fdef.table
        outcomes.append(FieldOutcome(field_id, fdef.display_name, table, (va, vb), result,
                                     va is not None and vb is not None and va != vb))
    return MergePreview((to_str(a), to_str(b)), (cx.record_label(a), cx.record_label(b)), to_str(min(a, b)),
                        (tuple(ta), tuple(tb), tuple(merged)), tuple(outcomes))


def unmerge(cx: Context, survivor: bytes, absorbed: bytes) -> Unmerge:
    """Before merging: what a split needs to bring the absorbed record back as it is now."""
    ts, ta = set(tables_of(cx.conn, survivor)), tables_of(cx.conn, absorbed)
    kept = {f.id for t in ts if t in cx.schema.tables for f in cx.schema.tables[t].fields.values()}
    values: dict[str, Any] = {}
    moved = []
    restore: dict[str, Any] = {}
    for field_id in _fields(cx, ta):
        mine = group_value(cx.conn, cx.groups, absorbed, field_id)
        if mine is None or mine.value is None:
            continue
        values[field_id] = mine.value
        theirs = group_value(cx.conn, cx.groups, survivor, field_id)
        shown = None if theirs is None else theirs.value
        shared = next((f for f in cx.groups.members(field_id) if f in kept), None)
        if shared is None:
            moved.append(field_id)
        elif shown != mine.value:
            restore[shared] = shown
    return Unmerge(tuple(t for t in ta if t not in ts), tuple(t for t in ta if t in ts), values, tuple(moved),
                   restore)


class Merges(Part):
    """`ws.merges`: "these are the same person", before and after (identity repair)."""

    @reads
    def preview(self, first: IdLike, second: IdLike) -> MergePreview:
        """What the merged record would show, field by field, and which fields would be conflicts,
        before `tx.merge_records`."""
        return merge_preview(self._cx, first, second)

    def exceptions(self) -> set[tuple[str, str]]:
        """Pairs of records a person split apart: rules must never propose merging them again."""
        return {(to_str(a), to_str(b)) for a, b in self._cx._merge_exceptions()}
