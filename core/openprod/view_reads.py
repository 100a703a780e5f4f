"""Reading what a view shows, in bulk: the rows' values, their links and the linked records.

A document reads the same few fields of hundreds of records and follows the same link type out of
each. Read one record at a time (`Workspace.records.get`, `edges_from`), a 500-cue sheet costs thousands
of small statements; here each kind of read is one statement per 500 records. The rules are the
ones `Workspace.records.get` and `Workspace.records.edges_from` follow (reads.py): a record is visible once
created and while alive; a field has a value only while the record is in the field's table; a link
is visible while it and both its ends are; mapped fields show their latest write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .ids import as_id, from_str, to_str
from .reads import edges, public_edge, values_for
from .registers import POSITION_KEY
from .results import Edge, Record
from .values import from_sql

if TYPE_CHECKING:
    from .context import Context
    from .view_definitions import Column, Step

CHUNK = 500

_LINKS = """
SELECT g.edge_id, g.edge_type, g.source, g.target, g.created_by FROM edges g
JOIN entities s ON s.entity_id = g.source AND s.alive = 1 AND s.created_ord IS NOT NULL
JOIN entities t ON t.entity_id = g.target AND t.alive = 1 AND t.created_ord IS NOT NULL
WHERE g.alive = 1 AND g.created_ord IS NOT NULL AND g.edge_type = ? AND g.{end} IN ({marks})
"""


def _chunks(items: list[bytes]) -> Iterable[list[bytes]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


class ViewReader:
    """Cells for many rows. `prefetch` reads in bulk what the columns need; anything not prefetched
    is read on demand the same way, so every cell is right whichever path reads it."""

    def __init__(self, ws: Context, fields: Iterable[str] = ()) -> None:
        self.ws = ws
        self.fields = set(fields)  # every field a column reads, on a row or across a link
        self.records: dict[str, Record | None] = {}
        self.edges: dict[tuple[str, str, str], list[Edge]] = {}
        self.positions: dict[tuple[str, str], dict[str, int]] = {}

    @classmethod
    def for_columns(cls, ws: Context, columns: Iterable[Column]) -> ViewReader:
        return cls(ws, {s.field for c in columns for s in c.steps if s.field is not None})

    # --- bulk ---------------------------------------------------------------------------------

    def load_records(self, ids: Iterable[str]) -> None:
        todo = [i for i in dict.fromkeys(ids) if i not in self.records]
        if not todo:
            return
        conn = self.ws.conn
        raw = [from_str(i) for i in todo]
        alive: set[bytes] = set()
        tables: dict[bytes, list[str]] = {e: [] for e in raw}
        for chunk in _chunks(raw):
            marks = ",".join("?" * len(chunk))
            alive.update(r[0] for r in conn.execute(
                f"SELECT entity_id FROM entities WHERE alive = 1 AND created_ord IS NOT NULL"
                f" AND entity_id IN ({marks})", chunk))
            for entity, facet in conn.execute(
                    f"SELECT entity_id, facet FROM facets WHERE attached = 1 AND entity_id IN ({marks})"
                    " ORDER BY facet", chunk):
                tables[entity].append(facet)
        schema = self.ws.schema
        wanted = sorted(f for f in self.fields if f in schema.fields)
        shown = [e for e in raw if e in alive and tables[e]]
        values = values_for(conn, self.ws.groups, shown, wanted, self.ws._show) if wanted else {}
        for rid, entity in zip(todo, raw, strict=True):
            if entity not in alive or not tables[entity]:
                self.records[rid] = None
                continue
            member = set(tables[entity])
            found = values.get(entity, {})
            self.records[rid] = Record(rid, tables[entity], {
                f: v.value for f, v in found.items() if v.value is not None and schema.fields[f].table in member})

    def load_links(self, ids: Iterable[str], direction: str, edge_type: str) -> None:
        todo = [i for i in dict.fromkeys(ids) if (i, direction, edge_type) not in self.edges]
        if not todo:
            return
        conn = self.ws.conn
        end = "target" if direction == "in" else "source"
        rows: list[tuple[bytes, str, bytes, bytes, bytes]] = []
        for chunk in _chunks([from_str(i) for i in todo]):
            sql = _LINKS.format(end=end, marks=",".join("?" * len(chunk)))
            rows.extend(conn.execute(sql, (edge_type, *chunk)).fetchall())
        props: dict[bytes, dict[str, Any]] = {r[0]: {} for r in rows}
        for chunk in _chunks(list(props)):
            marks = ",".join("?" * len(chunk))
            for edge_id, key, kind, value in conn.execute(
                    f"SELECT edge_id, key, kind, value FROM edge_props WHERE edge_id IN ({marks})"
                    " AND kind IS NOT NULL", chunk):
                props[edge_id][key] = from_sql(kind, value)
        for i in todo:
            self.edges[(i, direction, edge_type)] = []
        found = []
        for edge_id, etype, source, target, created_by in rows:
            p = props[edge_id]
            position = p.pop(POSITION_KEY, None)
            found.append(Edge(to_str(edge_id), etype, to_str(source), to_str(target), created_by.hex(), p, position))
        found.sort(key=lambda e: (e.position or "", e.created_by, e.id))  # as reads.edges orders them
        for edge in found:
            self.edges[(edge.target if direction == "in" else edge.source, direction, edge_type)].append(edge)

    def prefetch(self, ids: list[str], columns: Iterable[Column], expand: tuple[str, str] | None = None) -> None:
        """Everything the columns read for these rows: their values, their links, the linked records."""
        self.load_records(ids)
        hops: set[tuple[str, str]] = set()
        for column in columns:
            for step in column.steps:
                if step.kind != "field" and step.edge is not None:
                    hops.add(("in" if step.kind in ("in", "in_prop") else "out", step.edge))
        if expand is not None:
            hops.add(expand)
        others: list[str] = []
        for direction, edge_type in sorted(hops):
            self.load_links(ids, direction, edge_type)
            for rid in ids:
                others.extend(e.source if direction == "in" else e.target
                              for e in self.edges[(rid, direction, edge_type)])
        self.load_records(others)

    # --- one at a time --------------------------------------------------------------------------

    def record(self, rid: str) -> Record | None:
        if rid not in self.records:
            self.load_records([rid])
        return self.records[rid]

    def links(self, rid: str, direction: str, edge_type: str) -> list[Edge]:
        if (rid, direction, edge_type) not in self.edges:
            self.load_links([rid], direction, edge_type)
        return self.edges[(rid, direction, edge_type)]

    def position(self, edge: Edge) -> int:
        key = (edge.target, edge.edge_type)
        if key not in self.positions:
            listed = edges(self.ws.conn, target=self.ws.redirects.resolve(as_id(edge.target, "record id")),
                          edge_type=edge.edge_type)  # as `Workspace.records.ordered_list`: list order
            self.positions[key] = {public_edge(e).id: i for i, e in enumerate(listed)}
        return self.positions[key].get(edge.id, 0)

    def step(self, rid: str, step: Step, expanded: tuple[str, str, Any] | None) -> list[Any]:
        if step.kind == "field":
            rec = self.record(rid)
            value = None if rec is None else rec.values.get(step.field or "")
            return [] if value is None else [value]
        direction = "in" if step.kind in ("in", "in_prop") else "out"
        assert step.edge is not None
        if expanded is not None and expanded[0] == direction and expanded[1] == step.edge:
            links = [expanded[2]] if expanded[2] is not None else []
        else:
            links = self.links(rid, direction, step.edge)
        out: list[Any] = []
        for link in links:
            if step.kind in ("in_prop", "out_prop"):
                value = link.properties.get(step.prop or "")
            elif step.kind == "position":
                value = self.position(link)
            else:
                other = self.record(link.source if direction == "in" else link.target)
                value = None if other is None else other.values.get(step.field or "")
            if value is not None and value not in out:
                out.append(value)
        return out

    def cell(self, rid: str, column: Column, expanded: tuple[str, str, Any] | None) -> Any:
        for step in column.steps:
            values = self.step(rid, step, expanded)
            if values:
                return values[0] if len(values) == 1 else values
        return None
