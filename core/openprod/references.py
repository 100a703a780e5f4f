"""References (Smart Field reference mode): a field that shows another record's field.

A reference is the field's stored value (a `values.Reference`); reading follows it through
merges (an absorbed id stands for its survivor) and through chains of references, and says why
when it is broken (deleted record, unknown field, a loop) instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ids import to_str
from .reads import entity_state, group_value
from .transaction import IdLike, as_id
from .values import Reference

if TYPE_CHECKING:
    from .workspace import Workspace

MAX_REFERENCE_DEPTH = 8


def follow(ws: Workspace, reference: Reference, depth: int = 0) -> tuple[Any, str | None]:
    """(value, why it is broken or None) for a reference, through merges and chains."""
    if depth > MAX_REFERENCE_DEPTH:
        return None, "these references point at each other in a loop"
    target = ws.redirects.resolve(reference.source)
    state = entity_state(ws.conn, target)
    if state is None or not state[0]:
        return None, "the record it points to does not exist (yet)"
    if not state[1]:
        return None, f"the record it points to ({ws.record_label(target)}) was deleted"
    if reference.field not in ws.schema.fields:
        return None, f"the field it points to ({reference.field}) is not in any adopted module"
    found = group_value(ws.conn, ws.groups, target, reference.field)
    if found is None:
        return None, None
    if isinstance(found.value, Reference):
        return follow(ws, found.value, depth + 1)
    if found.value is None and ws._is_crdt(reference.field):
        return ws._render(target, reference.field), None
    return found.value, None

def reference_of(ws: Workspace, record: IdLike, field_id: str) -> tuple[str, str, str | None] | None:
    """If the field is in reference mode: (source record id, source field, broken reason)."""
    entity = ws.redirects.resolve(as_id(record, "record id"))
    found = group_value(ws.conn, ws.groups, entity, field_id)
    if found is None or not isinstance(found.value, Reference):
        return None
    _value, broken = follow(ws, found.value)
    return to_str(ws.redirects.resolve(found.value.source)), found.value.field, broken
