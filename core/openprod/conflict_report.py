"""Conflicts as people see them: table, record, field, each value with who and when.

Detection lives in `conflicts`; this turns its branch tips into `Conflict` objects (with a
sentence for the UI) and groups large batches between the same people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hlc as hlc_mod
from .conflicts import Competitor, Conflict, Write, conflict_id, is_field_key, open_conflict_rows
from .identity import short_actor
from .reads import actor_names, edge_state, entity_state, group_value
from .transaction import IdLike, as_id
from .values import from_sql

if TYPE_CHECKING:
    from .workspace import Workspace


def open_conflicts(ws: Workspace, record: IdLike | None = None) -> list[Conflict]:
    """Open conflicts on visible records and edges, oldest first, ready to show people."""
    ws.overlays.ensure_view()
    target = as_id(record, "record id") if record is not None else None
    names = actor_names(ws.conn)
    out = []
    for (tgt, key), tips in open_conflict_rows(ws.conn, target).items():
        built = _conflict(ws, tgt, key, tips, names)
        if built is not None:
            out.append(built)
    return out

def conflict(ws: Workspace, record: IdLike, field_id: str) -> Conflict | None:
    """The open conflict on one field of a record (any mapped field of it), if there is one."""
    key = ws.groups.key(field_id) if field_id.count(".") == 2 else field_id
    return next((c for c in open_conflicts(ws, record) if c.key == key), None)

def _conflict(ws: Workspace, target: bytes, key: str, tips: list[Write], names: dict[bytes, str]) -> Conflict | None:
    competitors = tuple(Competitor(t.op_id, t.value, t.actor, names.get(t.actor, short_actor(t.actor)),
                                   t.ord[:12], hlc_mod.to_display(t.ord[:12]), t.field) for t in tips)
    cid = conflict_id(target, key, [t.op_id for t in tips])
    if is_field_key(key):
        if not entity_state(ws.conn, target) or entity_state(ws.conn, target) != (True, True):
            return None
        fdef = ws.schema.fields.get(tips[-1].field) or ws.schema.fields.get(key)
        if fdef is None:
            return None
        table = ws.schema.tables[fdef.table].display_name
        current = group_value(ws.conn, ws.groups, target, key)
        return Conflict(cid, target, key, False, table, ws.record_label(target), fdef.display_name,
                        None if current is None else current.value, competitors)
    edge = edge_state(ws.conn, target)
    if edge is None or not edge[3] or edge[1] is None:
        return None
    row = ws.conn.execute("SELECT kind, value FROM edge_props WHERE edge_id = ? AND key = ?",
                            (target, key)).fetchone()
    etype = ws.schema.edge_types.get(edge[0] or "")
    label = f"{ws.record_label(edge[1])} → {ws.record_label(edge[2])}" if edge[2] else ""
    return Conflict(cid, target, key, True, etype.display_name if etype else "", label, key,
                    None if row is None else from_sql(row[0], row[1]), competitors)

def conflict_groups(ws: Workspace, threshold: int = 100) -> list[tuple[tuple[str, ...], list[Conflict]]]:
    """Open conflicts grouped by the people involved; groups over `threshold` offer take-all.

    For example a script and a colleague both renumbering 500 cues: one group of 500, which
    a person can settle by taking one side for all, or go through one by one.
    """
    groups: dict[tuple[bytes, ...], list[Conflict]] = {}
    for found in open_conflicts(ws):
        groups.setdefault(found.actors, []).append(found)
    names = actor_names(ws.conn)
    return [(tuple(names.get(a, short_actor(a)) for a in actors), items)
            for actors, items in sorted(groups.items(), key=lambda kv: -len(kv[1])) if len(items) > threshold]
