"""Undo and redo as local writes: which bundle to reverse, whether it still may be, and how.

Undo reverses this device's latest bundle with a new bundle of inverse steps (captured when the
bundle was written, `undo.capture`); it is skipped, with the reason, when another writer (another
person, or this person on another device) has written one of its registers since. While an
overlay is active, undo and redo step through the overlay's staged edits instead.
"""

from __future__ import annotations

from typing import Any

from . import operations as o
from . import oplog
from .commit import abort, begin
from .context import Context
from .cues import cue_text
from .identity import short_actor
from .ids import to_str
from .reads import actor_names, tables_of, values_for
from .transaction import Transaction
from .undo import Entry, Step, UndoResult, restorable_cascade
from .values import Reference


def begin_undo(cx: Context, redo: bool) -> UndoResult | tuple[Transaction, UndoResult]:
    """The result at once (nothing to do, skipped, or a staged step), or an open transaction
    holding the inverse steps and the result to report once the caller has committed it."""
    entry = _next(cx, redo)
    if isinstance(entry, UndoResult):
        return entry
    what, value, where = describe(cx, entry, redo)
    tx = begin(cx, "redo" if redo else "undo", {"reverts": entry.bundle_id}, True)
    tx.description = what  # its redo (or the undo of that) names the same change
    try:
        for step in reversed(entry.steps):
            if step.op_cls is o.RestoreEdge and not restorable_cascade(cx.conn, step):
                continue
            tx.apply_step(step)
    except BaseException:
        abort(cx)
        raise
    message = f"{'Redid' if redo else 'Undid'}: {what}{value}"
    return tx, UndoResult(True, message, to_str(entry.bundle_id), *where)


# --- what an entry changed, in words, and where (for the message and for showing it) -----------

_VALUE_STEPS = (o.SetField, o.ClearField, o.SetReference)
_FIELD_STEPS = (*_VALUE_STEPS, o.ApplyCrdt, o.ClearAndAdd)
Where = tuple[str | None, str | None, str | None]  # table, record, field (ids as text)


def describe(cx: Context, entry: Entry, redo: bool) -> tuple[str, str, Where]:
    """What reversing `entry` does, in a stage manager's words: the change ("Cue 17A's Label",
    "adding Jane Doe to Contacts", "12 pasted rows in Lighting Cues"), the value a single field
    goes to (", back to "Preset"", or ""), and the table, record and field to show it at. Read
    before its steps are applied, while the records it names still read as the person last saw them.
    `entry.description`, when set, names the change (a paste, or the change an undo being redone undid)."""
    steps = [s for s in entry.steps if "_cascade_of" not in s.payload]
    created = _entities(steps, o.DeleteEntity)  # undoing a creation deletes
    deleted = _entities(steps, o.RestoreEntity)
    tables = {s.payload["entity"]: s.payload["table"] for s in steps if s.op_cls is o.RemoveFromTable}
    removed = {s.payload["entity"]: s.payload["facet"] for s in steps if s.op_cls is o.RestoreFacet}
    fields = [(s.payload["entity"], s.payload["field"]) for s in steps
              if s.op_cls in _FIELD_STEPS and s.payload["entity"] not in created]
    # shown first: a record that is still there after this (an edited one), last one it takes away
    records = list(dict.fromkeys([*(e for e, _f in fields), *deleted, *tables, *removed, *created]))
    if not records:
        return entry.description or "your last change", "", (None, None, None)
    first = records[0]
    field = fields[0][1] if fields and fields[0][0] == first else None
    table = tables.get(first) or removed.get(first) or _table_of(cx, first, field)
    where: Where = (table, to_str(first), field)
    # the record the words name: the one of the kind of change they name
    subject = next(iter([*created, *deleted, *tables, *removed]), first)
    in_table = tables.get(subject) or removed.get(subject)
    in_table = in_table or (table if subject == first else _table_of(cx, subject, None))
    name, table_name = _name(cx, subject, in_table), _table_name(cx, in_table)
    if entry.description:
        what = entry.description
    elif created:
        what = f"adding {name} to {table_name}" if len(created) == 1 else f"{len(created)} new rows in {table_name}"
    elif deleted:
        what = f"deleting {name}" if len(deleted) == 1 else f"deleting {len(deleted)} rows"
    elif tables:
        what = f"adding {name} to {table_name}"
    elif removed:
        what = f"removing {name} from {table_name}"
    elif len(records) > 1:
        what = f"changes to {len(records)} rows in {table_name}"
    else:
        names = list(dict.fromkeys(_field_name(cx, f) for _e, f in fields))
        shown = names[0] if len(names) == 1 else " and ".join([", ".join(names[:-1]), names[-1]])
        what = f"{name}'s {shown if len(names) <= 3 else f'{len(names)} fields'}"
    value = [s for s in steps if s.op_cls in _VALUE_STEPS]
    one = len(fields) == 1 and len(value) == 1 and not (created or deleted or tables or removed)
    goes_to = _value(cx, value[0]) if one else None  # one field of one record: the value it goes to
    return what, "" if goes_to is None else f", {'now' if redo else 'back to'} {goes_to}", where


def _entities(steps: list[Step], op_cls: type[o.Op]) -> list[bytes]:
    return list(dict.fromkeys(s.payload["entity"] for s in steps if s.op_cls is op_cls))


def _table_of(cx: Context, entity: bytes, field: str | None) -> str | None:
    fdef = cx.schema.fields.get(field) if field else None
    if fdef is not None:
        return fdef.table
    found = [t for t in tables_of(cx.conn, entity) if t in cx.schema.tables]
    return found[0] if found else None


def _table_name(cx: Context, table: str | None) -> str:
    tdef = cx.schema.tables.get(table) if table else None
    return tdef.display_name if tdef is not None else "the table"


def _field_name(cx: Context, field: str) -> str:
    fdef = cx.schema.fields.get(field)
    return fdef.display_name if fdef is not None else "a field"


def _name(cx: Context, entity: bytes, table: str | None) -> str:
    """A record's name as a stage manager says it: a cue by its number ("Cue 17A"), else its
    name, title or label; "a new row" when it has none yet."""
    tdef = cx.schema.tables.get(table) if table else None
    if tdef is not None:
        naming = tdef.naming_fields()
        found = values_for(cx.conn, cx.groups, [entity], [f.id for f in naming])[entity]
        name = tdef.name_from({fid: v.value for fid, v in found.items() if v is not None})
        cue = next((f for f in naming if f.type == "cue" and found.get(f.id) is not None), None)
        if cue is not None:
            return f"Cue {cue_text(found[cue.id].value) or found[cue.id].value}"
        if name is not None:
            return name
    return "a new row"


def _value(cx: Context, step: Step) -> str | None:
    """The value a field goes back to, as shown in the grid; None: not worth quoting."""
    if step.op_cls is o.ClearField:
        return "empty"
    value: Any = step.payload.get("value")
    if isinstance(value, Reference) or step.op_cls is o.SetReference:
        return None
    fdef = cx.schema.fields.get(step.payload["field"])
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if fdef is not None and fdef.type == "cue":
        return cue_text(value) or str(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return f'"{value if len(value) <= 40 else value[:39] + "…"}"'
    return None


def _check_entry(cx: Context, entry: Entry) -> str | None:
    """Why `entry` cannot be reversed (another writer wrote a register since), or None."""
    names = actor_names(cx.conn)
    for step in entry.steps:
        if step.guard_target is None:
            continue
        if step.op_cls is o.ApplyCrdt and "_after" in step.payload:
            continue  # a text edit is taken back alone, whatever others typed since (tx_crdt)
        if step.op_cls is o.ApplyCrdt and "_restore" in step.payload:  # merged whatever its clock
            other = oplog.other_writer_received_since(cx.conn, step.guard_target, step.guard_fields,
                                                      entry.bundle_id, cx.writer)
        else:
            other = oplog.other_writer_since(cx.conn, step.guard_target, step.guard_fields, entry.ord, cx.writer)
        if other is not None:
            if other[:32] == cx.actor_id:
                return f"Cannot undo: {step.label()} was changed on your other device since"
            who = names.get(other[:32], short_actor(other[:32]))
            return f"Cannot undo: {step.label()} was changed by {who} since"
    return None


def _next(cx: Context, redo: bool) -> Entry | UndoResult:
    """The entry to reverse, or the result of a skip / a staged undo."""
    overlays = cx.overlays
    if overlays.active() is not None:
        moved = overlays.redo() if redo else overlays.undo()
        if not moved:
            return UndoResult(False, f"No change waiting for review to {'redo' if redo else 'undo'}")
        return UndoResult(True, f"{'Redid' if redo else 'Undid'} a change waiting for review")
    stack = cx._stacks.redo if redo else cx._stacks.undo
    if not stack:
        return UndoResult(False, cx._stacks.nothing_left(redo))
    entry = stack.pop()
    blocked = _check_entry(cx, entry)
    if blocked is not None:
        message = blocked.replace("Cannot undo", "Cannot redo") if redo else blocked
        return UndoResult(False, message, to_str(entry.bundle_id))
    return entry
