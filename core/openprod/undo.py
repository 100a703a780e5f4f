"""Undo/redo per actor, on bundles (in memory, 100 deep, not persisted).

When a local op is applied, `capture` records how to reverse it from the state just before.
Undo commits those inverse ops as a new signed bundle, unless another actor wrote one of the
registers since: then the entry is skipped with a message naming the field and the person.
Redo is the undo of an undo bundle, so both directions share one mechanism.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import operations as o
from .groups import FieldGroups
from .reads import edge_state, entity_visible, group_value
from .registers import LIFE, POSITION_KEY, facet_key
from .values import Reference, from_sql

UNDO_DEPTH = 100


@dataclass(frozen=True)
class Step:
    """One inverse op, and the register that must not have been changed by someone else."""

    op_cls: type[o.Op]
    payload: dict[str, Any]
    guard_target: bytes | None
    guard_fields: tuple[str, ...]
    label: Callable[[], str]  # what the register is, for messages (computed only if needed)


@dataclass
class Entry:
    bundle_id: bytes
    ord: bytes  # ord of the bundle's first op: guards look for writes after it
    steps: list[Step] = field(default_factory=list)
    description: str = ""  # what the change was, in words, when its steps cannot say (`reverting.describe`)


@dataclass(frozen=True)
class UndoResult:
    done: bool
    message: str
    bundle_id: str | None = None  # the bundle whose effect was reversed
    # where the change is, so the app can show it: the table, record and field (ids as text)
    table: str | None = None
    record: str | None = None
    field: str | None = None


# What a change that has no undo was, in words, by bundle kind.
_NO_UNDO_WORDS = {"calling": "calling a cue", "import": "the import", "match": "the match",
                  "membership": "the change to who is in this workspace", "module": "adding the tables",
                  "resolution": "the conflict choice", "script": "the script's changes",
                  "workspace": "the workspace change"}


class Stacks:
    def __init__(self) -> None:
        self.undo: deque[Entry] = deque(maxlen=UNDO_DEPTH)
        self.redo: deque[Entry] = deque(maxlen=UNDO_DEPTH)
        self.barrier: str | None = None  # why undo stops here (a change with no inverse)

    def stop_at(self, kind: str) -> None:
        """A committed change has no inverse: undo must not reach past it to an earlier change,
        which would reverse something the person did not mean (as spreadsheets clear undo after
        an action they cannot undo)."""
        if self.undo or self.redo:
            self.undo.clear()
            self.redo.clear()
            self.barrier = _NO_UNDO_WORDS.get(kind, "the last change")

    def nothing_left(self, redo: bool) -> str:
        if not redo and self.barrier is not None:
            return f"Nothing more to undo: {self.barrier} can't be undone, so earlier changes stay as they are"
        return f"Nothing to {'redo' if redo else 'undo'}"


_UNREAD = object()  # capture(before=...): the caller has not read the field's current value


def _prior_field(conn: sqlite3.Connection, groups: FieldGroups, entity: bytes, field_id: str) -> Any:
    current = group_value(conn, groups, entity, field_id)
    return None if current is None else current.value


def _set_or_clear(entity: bytes, field_id: str, value: Any, label: Callable[[], str], groups: FieldGroups) -> Step:
    guard = groups.members(field_id)
    if isinstance(value, Reference):
        return Step(o.SetReference, {"entity": entity, "field": field_id, "source": value.source,
                                     "source_field": value.field}, entity, guard, label)
    if value is None:
        return Step(o.ClearField, {"entity": entity, "field": field_id}, entity, guard, label)
    return Step(o.SetField, {"entity": entity, "field": field_id, "value": value}, entity, guard, label)


def capture(conn: sqlite3.Connection, groups: FieldGroups, op: o.Op, label: Callable[[], str],
            before: Any = _UNREAD) -> list[Step] | None:
    """Inverse steps for `op` given the state before it; None if the op cannot be undone.
    `before`: a field write's current value, when the caller has just read it."""
    if isinstance(op, (o.SetField, o.ClearField, o.SetReference)):
        if before is _UNREAD:
            before = _prior_field(conn, groups, op.entity, op.field)
        return [_set_or_clear(op.entity, op.field, before, label, groups)]
    if isinstance(op, (o.CreateEntity, o.RestoreEntity)):
        steps = [Step(o.DeleteEntity, {"entity": op.entity}, op.entity, (LIFE,), label)]
        return steps
    if isinstance(op, o.DeleteEntity):
        steps = [Step(o.RestoreEntity, {"entity": op.entity}, op.entity, (LIFE,), label)]
        steps += [Step(o.RestoreEdge, {"edge": e, "_cascade_of": op.entity}, e, (LIFE,), label)
                  for e in op.cascade_edges]
        return steps
    if isinstance(op, (o.AddToTable, o.AttachFacet, o.RestoreFacet)):
        table = op.table if isinstance(op, o.AddToTable) else op.facet
        steps = [Step(o.RemoveFromTable, {"entity": op.entity, "table": table}, op.entity,
                      (facet_key(table),), label)]
        if isinstance(op, o.AddToTable):
            steps += [_set_or_clear(op.entity, f, _prior_field(conn, groups, op.entity, f), label, groups)
                      for f in op.defaults]
        return steps
    if isinstance(op, (o.RemoveFromTable, o.DetachFacet)):
        table = op.table if isinstance(op, o.RemoveFromTable) else op.facet
        steps = [Step(o.RestoreFacet, {"entity": op.entity, "facet": table, "from_op": op.op_id}, op.entity,
                      (facet_key(table),), label)]
        discard = op.data_handling == "discard" if isinstance(op, o.RemoveFromTable) else not op.preserve
        if discard:
            steps += [_set_or_clear(op.entity, f, v, label, groups) for f, v in op.preserved.items()]
        return steps
    if isinstance(op, (o.CreateEdge, o.CreateOrderedEdge, o.RestoreEdge)):
        return [Step(o.DeleteEdge, {"edge": op.edge}, op.edge, (LIFE,), label)]
    if isinstance(op, o.DeleteEdge):
        return [Step(o.RestoreEdge, {"edge": op.edge}, op.edge, (LIFE,), label)]
    if isinstance(op, (o.SetEdgeProperty, o.ClearEdgeProperty)):
        row = conn.execute("SELECT kind, value FROM edge_props WHERE edge_id = ? AND key = ?",
                           (op.edge, op.key)).fetchone()
        prior = None if row is None else from_sql(row[0], row[1])
        if prior is None:
            return [Step(o.ClearEdgeProperty, {"edge": op.edge, "key": op.key}, op.edge, (op.key,), label)]
        return [Step(o.SetEdgeProperty, {"edge": op.edge, "key": op.key, "value": prior}, op.edge, (op.key,), label)]
    if isinstance(op, o.SplitEntity):  # also how unlinking tables detaches a shared record
        steps = [Step(o.DeleteEntity, {"entity": op.new_entity}, op.new_entity, (LIFE,), label)]
        steps += [Step(o.RestoreFacet, {"entity": op.source, "facet": t, "from_op": op.op_id}, op.source,
                       (facet_key(t),), label) for t in op.facets]
        steps += [_set_or_clear(op.source, f, _prior_field(conn, groups, op.source, f), label, groups)
                  for f in op.moved_fields]
        return steps
    if isinstance(op, o.UnlinkTables):
        steps = [Step(o.LinkTables, {"source_table": op.source_table, "target_table": op.target_table,
                                     "field_mappings": list(op.mappings)}, None, (), label)]
        for a, b in op.mappings:
            row = conn.execute("SELECT shared_key FROM field_mappings WHERE field_a = ? AND field_b = ?",
                               tuple(sorted((a, b)))).fetchone()
            steps.append(Step(o.ConfirmFieldMapping, {
                "source_table": a.rsplit(".", 1)[0], "target_table": b.rsplit(".", 1)[0], "source_field": a,
                "target_field": b, "shared_key": (row[0] if row and row[0] else a.rsplit(".", 1)[1])}, None, (),
                label))
        steps += [_set_or_clear(entity, f, _prior_field(conn, groups, entity, f), label, groups)
                  for entity, f, _value in op.copies]
        return steps
    if isinstance(op, o.MergeEntities) and isinstance(before, dict):  # tx_repair.merge_records: a split
        new, plan = before["new"], before["unmerge"]
        steps = [_set_or_clear(op.survivor, f, v, label, groups) for f, v in plan.restore.items()]
        steps += [Step(o.AddToTable, {"entity": new, "table": t, "defaults": {}, "source": {"type": "user"}}, None, (),
                      label) for t in reversed(plan.tables_shared)]  # steps run last first: after the split
        steps.append(Step(o.SplitEntity, {"source": op.survivor, "new_entity": new, "facets": list(plan.tables_moved),
                                          "moved_fields": list(plan.moved_fields), "copied_fields": [],
                                          "values": dict(plan.values)}, None, (), label))
        return steps
    if isinstance(op, o.LinkTables):  # undone by unlinking, unless they were linked already
        if _linked(conn, op.source_table, op.target_table):
            return []
        return [Step(o.UnlinkTables, {"source_table": op.source_table, "target_table": op.target_table,
                                      "data_handling": "copy", "mappings": [], "copies": []}, None, (), label)]
    if isinstance(op, o.ConfirmFieldMapping):  # the two fields become separate again, each with its own value
        row = conn.execute("SELECT status FROM field_mappings WHERE field_a = ? AND field_b = ?",
                           tuple(sorted((op.source_field, op.target_field)))).fetchone()
        if row is not None and row[0] == "confirmed":
            return []
        tables = {"source_table": op.source_table, "target_table": op.target_table}
        steps = [Step(o.UnlinkTables, {**tables, "data_handling": "copy", "copies": [],
                                       "mappings": [(op.source_field, op.target_field)]}, None, (), label)]
        if _linked(conn, op.source_table, op.target_table):  # steps run last first: link again after
            steps.insert(0, Step(o.LinkTables, {**tables, "field_mappings": []}, None, (), label))
        return steps
    if isinstance(op, o.MoveOrderedEdge):
        row = conn.execute("SELECT value FROM edge_props WHERE edge_id = ? AND key = ?",
                           (op.edge, POSITION_KEY)).fetchone()
        if row is None:
            return None
        return [Step(o.MoveOrderedEdge, {"edge": op.edge, "after": None, "before": None, "position": row[0]},
                     op.edge, (POSITION_KEY,), label)]
    return None


def _linked(conn: sqlite3.Connection, a: str, b: str) -> bool:
    row = conn.execute("SELECT linked FROM table_links WHERE table_a = ? AND table_b = ?", tuple(sorted((a, b))))
    found = row.fetchone()
    return found is not None and bool(found[0])


def restorable_cascade(conn: sqlite3.Connection, step: Step) -> bool:
    """A cascaded edge comes back with its entity only if its other end still exists."""
    entity = step.payload.get("_cascade_of")
    if entity is None:
        return True
    state = edge_state(conn, step.payload["edge"])
    if state is None or state[1] is None or state[2] is None:
        return False
    other = state[2] if state[1] == entity else state[1]
    return entity_visible(conn, other)
