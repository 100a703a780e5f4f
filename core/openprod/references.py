"""References (Smart Field reference mode): a field that shows another record's field.

A reference is the field's stored value (a `values.Reference`); reading follows it through
merges (an absorbed id stands for its survivor) and through chains of references, and says why
when it is broken (deleted record, unknown field, a loop) instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import follow
from .ids import IdLike, as_id, to_str
from .reads import group_value
from .values import Reference

if TYPE_CHECKING:
    from .context import Context

def reference_of(ws: Context, record: IdLike, field_id: str) -> tuple[str, str, str | None] | None:
    """If the field is in reference mode: (source record id, source field, broken reason)."""
    entity = ws.redirects.resolve(as_id(record, "record id"))
    found = group_value(ws.conn, ws.groups, entity, field_id)
    if found is None or not isinstance(found.value, Reference):
        return None
    _value, broken = follow(ws, found.value)
    return to_str(ws.redirects.resolve(found.value.source)), found.value.field, broken
