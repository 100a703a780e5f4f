"""Undo and redo as local writes: which bundle to reverse, whether it still may be, and how.

Undo reverses this device's latest bundle with a new bundle of inverse steps (captured when the
bundle was written, `undo.capture`); it is skipped, with the reason, when another writer (another
person, or this person on another device) has written one of its registers since. While an
overlay is active, undo and redo step through the overlay's staged edits instead.
"""

from __future__ import annotations

from . import operations as o
from . import oplog
from .commit import abort, begin
from .context import Context
from .identity import short_actor
from .ids import to_str
from .reads import actor_names
from .transaction import Transaction
from .undo import Entry, UndoResult, restorable_cascade


def begin_undo(cx: Context, redo: bool) -> UndoResult | tuple[Transaction, UndoResult]:
    """The result at once (nothing to do, skipped, or a staged step), or an open transaction
    holding the inverse steps and the result to report once the caller has committed it."""
    entry = _next(cx, redo)
    if isinstance(entry, UndoResult):
        return entry
    tx = begin(cx, "redo" if redo else "undo", {"reverts": entry.bundle_id}, True)
    try:
        for step in reversed(entry.steps):
            if step.op_cls is o.RestoreEdge and not restorable_cascade(cx.conn, step):
                continue
            tx.apply_step(step)
    except BaseException:
        abort(cx)
        raise
    message = "Redid change" if redo else f"Undid {entry.description or 'change'}"
    return tx, UndoResult(True, message, to_str(entry.bundle_id))


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
