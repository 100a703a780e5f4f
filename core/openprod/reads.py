"""Reading canonical state: records, field values, memberships and edges.

All reads resolve semantic fields (confirmed mappings) through FieldGroups, and hide what is
deleted: an entity is visible once created and while alive; an edge while it and both its
ends are alive.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .groups import FieldGroups
from .ids import to_str
from .registers import POSITION_KEY
from .results import Edge, actor_str
from .values import KIND_CRDT, KIND_REF, Reference, from_sql


@dataclass(frozen=True)
class FieldValue:
    value: Any
    field: str  # the member register that holds the value
    ord: bytes
    actor: bytes
    reference: Reference | None = None  # set when the field is in reference mode

    @property
    def hlc(self) -> bytes:
        return self.ord[:12]


@dataclass(frozen=True)
class EdgeRow:
    edge_id: bytes
    edge_type: str
    source: bytes
    target: bytes
    created_by: bytes
    properties: dict[str, Any] = field(default_factory=dict)
    position: str | None = None


def entity_state(conn: sqlite3.Connection, entity: bytes) -> tuple[bool, bool] | None:
    """(created, alive) or None if the id was never seen."""
    row = conn.execute("SELECT created_ord IS NOT NULL, alive FROM entities WHERE entity_id = ?", (entity,)).fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]))


def entity_visible(conn: sqlite3.Connection, entity: bytes) -> bool:
    state = entity_state(conn, entity)
    return state is not None and state[0] and state[1]


def tables_of(conn: sqlite3.Connection, entity: bytes) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT facet FROM facets WHERE entity_id = ? AND attached = 1 ORDER BY facet", (entity,))]


def facet_attached(conn: sqlite3.Connection, entity: bytes, table: str) -> bool | None:
    row = conn.execute("SELECT attached FROM facets WHERE entity_id = ? AND facet = ?", (entity, table)).fetchone()
    return None if row is None else bool(row[0])


# (entity, field id, stored value) -> what the field shows, for CRDT fields (stored value None)
# and fields in reference mode (stored value a Reference).
Render = Callable[[bytes, str, Any], Any]


def group_value(conn: sqlite3.Connection, groups: FieldGroups, entity: bytes, field_id: str,
                render: Render | None = None) -> FieldValue | None:
    """The semantic field's current register (latest among mapped members), or None if never set."""
    members = groups.members(field_id)
    marks = ",".join("?" * len(members))
    row = conn.execute(
        f"SELECT field, kind, value, ord, actor FROM fields WHERE entity_id = ? AND field IN ({marks})"
        " ORDER BY ord DESC LIMIT 1",
        (entity, *members),
    ).fetchone()
    if row is None:
        return None
    return _field_value(render, entity, row[0], row[1], row[2], row[3], row[4])


def _field_value(render: Render | None, entity: bytes, field: str, kind: str | None, value: Any, ord_: bytes,
                 actor: bytes) -> FieldValue:
    if kind == KIND_CRDT:
        return FieldValue(render(entity, field, None) if render else None, field, ord_, actor)
    stored = from_sql(kind, value)
    if kind == KIND_REF:  # without a render callback the value is the Reference itself
        return FieldValue(render(entity, field, stored) if render else stored, field, ord_, actor, stored)
    return FieldValue(stored, field, ord_, actor)


def values_for(conn: sqlite3.Connection, groups: FieldGroups, entities: list[bytes],
               field_ids: Iterable[str], render: Render | None = None) -> dict[bytes, dict[str, FieldValue]]:
    """{entity: {field_id: FieldValue}} for the given fields, with mappings resolved."""
    wanted = list(field_ids)
    storage = sorted(groups.expand(wanted))
    out: dict[bytes, dict[str, FieldValue]] = {e: {} for e in entities}
    if not entities or not storage:
        return out
    best: dict[tuple[bytes, str], FieldValue] = {}
    fmarks = ",".join("?" * len(storage))
    for start in range(0, len(entities), 500):
        chunk = entities[start:start + 500]
        emarks = ",".join("?" * len(chunk))
        for ent, fld, kind, value, ord_, actor in conn.execute(
            f"SELECT entity_id, field, kind, value, ord, actor FROM fields"
            f" WHERE entity_id IN ({emarks}) AND field IN ({fmarks})",
            (*chunk, *storage),
        ):
            key = (ent, groups.key(fld))
            current = best.get(key)
            if current is None or ord_ > current.ord:
                best[key] = _field_value(render, ent, fld, kind, value, ord_, actor)
    for entity in entities:
        row = out[entity]
        for field_id in wanted:
            found = best.get((entity, groups.key(field_id)))
            if found is not None:
                row[field_id] = found
    return out


def table_members(conn: sqlite3.Connection, table: str) -> list[bytes]:
    """Visible entities in a table, oldest first."""
    return [r[0] for r in conn.execute(
        "SELECT f.entity_id FROM facets f JOIN entities e ON e.entity_id = f.entity_id"
        " WHERE f.facet = ? AND f.attached = 1 AND e.alive = 1 AND e.created_ord IS NOT NULL"
        " ORDER BY e.created_ord",
        (table,),
    )]


def edge_state(conn: sqlite3.Connection, edge: bytes) -> tuple[str | None, bytes | None, bytes | None, bool] | None:
    row = conn.execute("SELECT edge_type, source, target, alive FROM edges WHERE edge_id = ?", (edge,)).fetchone()
    return None if row is None else (row[0], row[1], row[2], bool(row[3]))


_EDGE_SELECT = """
SELECT g.edge_id, g.edge_type, g.source, g.target, g.created_by FROM edges g
JOIN entities s ON s.entity_id = g.source AND s.alive = 1 AND s.created_ord IS NOT NULL
JOIN entities t ON t.entity_id = g.target AND t.alive = 1 AND t.created_ord IS NOT NULL
WHERE g.alive = 1 AND g.created_ord IS NOT NULL
"""


def edges(conn: sqlite3.Connection, *, source: bytes | None = None, target: bytes | None = None,
          edge_type: str | None = None) -> list[EdgeRow]:
    """Visible edges matching the filters, with properties; ordered edges by position."""
    sql = _EDGE_SELECT
    params: list[Any] = []
    if source is not None:
        sql += " AND g.source = ?"
        params.append(source)
    if target is not None:
        sql += " AND g.target = ?"
        params.append(target)
    if edge_type is not None:
        sql += " AND g.edge_type = ?"
        params.append(edge_type)
    rows = conn.execute(sql, params).fetchall()
    props: dict[bytes, dict[str, Any]] = {r[0]: {} for r in rows}
    ids = list(props)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for edge_id, key, kind, value in conn.execute(
            f"SELECT edge_id, key, kind, value FROM edge_props WHERE edge_id IN ({marks}) AND kind IS NOT NULL",
            chunk,
        ):
            props[edge_id][key] = from_sql(kind, value)
    out = []
    for edge_id, etype, src, tgt, created_by in rows:
        p = props[edge_id]
        position = p.pop(POSITION_KEY, None)
        out.append(EdgeRow(edge_id, etype, src, tgt, created_by, p, position))
    out.sort(key=lambda e: (e.position or "", e.created_by, e.edge_id))
    return out


def actor_names(conn: sqlite3.Connection) -> dict[bytes, str]:
    return dict(conn.execute("SELECT actor, display_name FROM actors"))


def public_edge(e: EdgeRow) -> Edge:
    """An edge row as the public API hands it out (ids as strings)."""
    return Edge(to_str(e.edge_id), e.edge_type, to_str(e.source), to_str(e.target), actor_str(e.created_by),
                e.properties, e.position)
