"""Views: saved, named ways of looking at a table, and the paperwork built from them.

A view names a table, the columns to show (fields, or fields one link away: `appears_in->target.title`,
`<-called_to.source.name`, a link's own property `<-called_to.call_time`, alternatives `a | b`
meaning "the first that has a value"), how to sort and group the rows, and a filter in the
query language (docs/query.md). Two places hold views:

* **saved views** are workspace data: a `SaveView` operation (signed, synced, staged in the active
  overlay like any edit; the same id again replaces the view, last writer wins on the whole
  definition, as for rules);
* **module views** ship in a module's manifest (`[view.CallSheet]`): every workspace that adopts
  the module has them, and a person changes one by saving a copy.

Running a view reads through the active overlay (staged edits show), so a printed call sheet
and a preview of an import agree. Nothing here writes except `save_view` / `delete_view` on a
transaction. A definition is checked when it is saved (shape) and when it runs (names, against
the schema: a column naming nothing is a warning shown above the rows, a bad filter is the query
language's own error with its line and column).
"""

from __future__ import annotations

import builtins
import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .context import Part
from .cues import cue_sort_key, cue_text
from .errors import ValidationError
from .ids import IdLike, to_str
from .query import matches, run_query
from .view_definitions import (
    _EXPAND,
    _IN,
    _IN_PROP,
    _OUT,
    _PLAIN,
    Column,
    Step,
    ViewDef,
    ViewError,
    view_name,
)
from .view_definitions import check_definition as check_definition  # the shells check a definition before saving it
from .view_reads import ViewReader

if TYPE_CHECKING:
    from . import operations as ops
    from .context import Context
    from .modules import EdgeTypeDef, Schema


class ViewWriter(Protocol):
    """What saving a view needs of a transaction (`transaction.Transaction`): its context and `add`."""

    ws: Context

    def add(self, cls: type[ops.Op], _before: Any = ..., **payload: Any) -> ops.Op: ...

# --- saving (on a transaction) ------------------------------------------------------------------


def save_view(tx: ViewWriter, name: str, definition: dict[str, Any], view_id: Any = None) -> str:
    """Check and save a view (new, or replacing `view_id`); returns its id."""
    from . import operations as o
    from .ids import as_id

    clean = check_definition(definition)
    clean["table"] = tx.ws.schema.table(clean["table"]).id
    resolve(tx.ws, clean)  # names and filter must make sense now; raises ViewError / QueryError
    vid = as_id(view_id, "view id") if view_id is not None else tx.ws.ids.new()
    tx.add(o.SaveView, view=vid, name=view_name(name), definition=clean)
    return to_str(vid)


def delete_view(tx: ViewWriter, view_id: Any) -> None:
    from . import operations as o
    from .errors import NotFoundError
    from .ids import as_id

    shipped = isinstance(view_id, str) and any(view_id in m.views for m in tx.ws.schema.modules.values())
    found = None if shipped else saved_view(tx.ws, to_str(as_id(view_id, "view id")))
    if found is None:
        raise NotFoundError(f"no saved view {view_id} (a module's own view cannot be deleted, only copied)")
    vid = as_id(found.id, "view id")
    tx.add(o.SaveView, view=vid, name=found.name, definition={"deleted": True})


# --- listing ------------------------------------------------------------------------------------


def saved_view(ws: Context, view_id: str) -> ViewDef | None:
    return next((v for v in list_views(ws) if v.id == view_id), None)


def list_views(ws: Context) -> list[ViewDef]:
    """Module views, then saved views, each by name; deleted ones left out."""
    from .encoding import decode

    out: list[ViewDef] = []
    for module in ws.schema.modules.values():
        for vid, (name, definition) in module.views.items():
            if definition.get("table") in ws.schema.tables:
                out.append(ViewDef(vid, name, definition, module=module.name))
    out.sort(key=lambda v: (v.name.casefold(), v.id))
    saved = []
    with ws.overlays.reading():
        rows = ws.conn.execute("SELECT view_id, name, definition, actor FROM views").fetchall()
    for view_id, name, blob, actor in rows:
        definition = decode(blob)
        if definition.get("deleted"):
            continue
        saved.append(ViewDef(to_str(view_id), name, definition, author=bytes(actor).hex()))
    saved.sort(key=lambda v: (v.name.casefold(), v.id))
    return out + saved


def find_view(ws: Context, view: str | ViewDef) -> ViewDef:
    if isinstance(view, ViewDef):
        return view
    found = next((v for v in list_views(ws) if v.id == view), None)
    if found is None:
        named = [v for v in list_views(ws) if v.name == view]
        if len(named) == 1:
            return named[0]
        from .errors import NotFoundError

        raise NotFoundError(f"no view {view!r}")
    return found


def table_view(ws: Context, table: str) -> ViewDef:
    """Every field of a table, in creation order: what 'export this table' exports."""
    tdef = ws.schema.table(table)
    columns = [{"path": f.id, "label": ""} for f in tdef.fields.values()]
    return ViewDef(tdef.id, tdef.display_name, check_definition({"table": tdef.id, "columns": columns}))


# --- resolving names ----------------------------------------------------------------------------


@dataclass
class Resolved:
    definition: dict[str, Any]
    table: str
    columns: list[Column]
    sort: list[tuple[Column, bool]]
    group_by: list[Column]
    expand: tuple[str, str] | None  # (direction 'in'/'out', edge type id)
    warnings: list[str] = field(default_factory=list)


def _edge_tables(edef: EdgeTypeDef, end: str) -> list[str]:
    if end == "target":
        return [*edef.target_tables, *edef.target_tables_hint]
    return [*edef.source_tables, *edef.source_tables_hint]


def _field_in(schema: Schema, name: str, tables: list[str]) -> Any:
    from .modules import FieldDef

    try:
        found: FieldDef = schema.field(name, [t for t in tables if t in schema.tables] or None)
        return found
    except ValidationError as exc:
        raise ViewError(str(exc)) from None


def _across(schema: Schema, kind: str, edef: EdgeTypeDef, name: str, tables: list[str]) -> Step:
    """A field read across a link. When the link's end names tables (declared or hinted) and none of
    them is in this workspace (a lighting cue sheet's Scene column in a show without Scenes), the
    column reads that table's field and shows nothing, rather than looking the name up in every
    other table: a bare "title" is then Events' or Reports' (or ambiguous, and the whole document
    failed to open)."""
    if tables and not any(t in schema.tables for t in tables) and name.count(".") < 2:
        return Step(kind, f"{tables[0]}.{name}", edef.id)
    fdef = _field_in(schema, name, tables)
    return Step(kind, fdef.id, edef.id, type=fdef.type)


def _step(schema: Schema, table: str, text: str) -> Step:
    from .modules import property_def

    def edge(name: str) -> EdgeTypeDef:
        try:
            return schema.edge_type(name)
        except ValidationError as exc:
            raise ViewError(str(exc)) from None

    if m := _OUT.match(text):
        edef = edge(m[1])
        return _across(schema, "out", edef, m[2], _edge_tables(edef, "target"))
    if m := _IN.match(text):
        edef = edge(m[1])
        return _across(schema, "in", edef, m[2], _edge_tables(edef, "source"))
    if m := _IN_PROP.match(text):
        edef = edge(m[1])
        try:
            pdef = property_def(edef, m[2])
        except ValidationError as exc:
            raise ViewError(str(exc)) from None
        return Step("in_prop", None, edef.id, m[2], pdef.type)
    if "->" in text and "->target." not in text:
        raise ViewError(f"{text!r}: after '->' write 'target.' and a field, like 'appears_in->target.title'")
    if _PLAIN.match(text):
        if text.endswith("._position"):
            edef = edge(text[: -len("._position")])
            if not edef.ordered:
                raise ViewError(f"{text!r}: {edef.display_name} links have no order")
            return Step("position", None, edef.id, type="number")
        try:
            fdef = schema.field(text, [table])
        except ValidationError:
            fdef = None
            if text.count(".") == 2:
                fdef = schema.fields.get(text)
        if fdef is not None:
            return Step("field", fdef.id, type=fdef.type)
        head, _dot, prop = text.rpartition(".")
        if head:
            edef = edge(head)
            try:
                pdef = property_def(edef, prop)
            except ValidationError as exc:
                raise ViewError(str(exc)) from None
            return Step("out_prop", None, edef.id, prop, pdef.type)
        _field_in(schema, text, [table])  # raises with the list of known fields
    raise ViewError(f"{text!r} is not a column path: write a field ('phone'), a field one link away "
                    "('appears_in->target.title', '<-called_to.source.name') or a link's property "
                    "('<-called_to.call_time')")


def _resolve_column(schema: Schema, table: str, path: str, label: str) -> Column:
    steps = tuple(_step(schema, table, part.strip()) for part in path.split("|"))
    if not label:
        label = _default_label(schema, steps[0])
    return Column(path, label, steps[0].type, steps)


def _default_label(schema: Schema, step: Step) -> str:
    if step.field is not None:
        return schema.fields[step.field].display_name
    if step.kind == "position":
        return "Order"
    return (step.prop or "").replace("_", " ").capitalize()


def resolve(ws: Context, definition: dict[str, Any]) -> Resolved:
    """Names checked against the schema; the filter compiled (QueryError with its position)."""
    from .query import compile_query

    schema = ws.schema
    try:
        table = schema.table(definition["table"]).id
    except ValidationError as exc:
        raise ViewError(str(exc)) from None
    if definition.get("filter"):
        compile_query(definition["filter"], schema, table=table)
    columns = []
    for c in definition.get("columns", []):
        try:
            columns.append(_resolve_column(schema, table, c["path"], c.get("label", "")))
        except ViewError as exc:
            raise ViewError(f"column {c['path']!r}: {exc}") from None
    by_path = {c.path: c for c in columns}

    def named(path: str, what: str) -> Column:
        if path in by_path:
            return by_path[path]
        try:
            return _resolve_column(schema, table, path, "")
        except ViewError as exc:
            raise ViewError(f"{what} {path!r}: {exc}") from None

    sort = [(named(s["path"], "sort by"), bool(s.get("descending"))) for s in definition.get("sort", [])]
    group_by = []
    for g in definition.get("group_by", []):
        column = named(g["path"], "group by")
        group_by.append(Column(column.path, g.get("label") or column.label, column.type, column.steps))
    expand = None
    if definition.get("expand"):
        m = _EXPAND.match(definition["expand"])
        assert m is not None
        try:
            edef = schema.edge_type(m[2])
        except ValidationError as exc:
            raise ViewError(f"expand: {exc}") from None
        expand = ("in" if m[1] else "out", edef.id)
    if definition.get("date_field"):
        fdef = named(definition["date_field"], "date field")
        if fdef.type != "timestamp":
            raise ViewError(f"date field {definition['date_field']!r} is not a date and time")
    return Resolved(definition, table, columns, sort, group_by, expand)


# --- running ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    record: str
    cells: list[Any]  # one per column: a value, a list of values (several links), or None
    edge: str | None = None  # the link this row stands for, in an expanded view


@dataclass(frozen=True)
class Group:
    values: list[Any]  # the group_by columns' values (empty: one group, no heading)
    rows: list[Row]


@dataclass(frozen=True)
class ChartColumn:
    record: str
    label: list[Any]


@dataclass
class ViewResult:
    view: ViewDef
    columns: list[Column]
    group_columns: list[Column]
    groups: list[Group]
    warnings: list[str] = field(default_factory=list)
    chart_columns: list[ChartColumn] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [r for g in self.groups for r in g.rows]


def sort_key(value: Any, ftype: str) -> tuple[Any, ...]:
    """One order for every value kind: empty cells last, cue numbers as theatres read them."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return (9,)
    if ftype == "cue":
        return (1, cue_sort_key(cue_text(value)))
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value.casefold(), value)
    return (4, repr(value))


class _Desc:
    """Reverses one sort key inside a tuple of keys."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.key == self.key


def day_filter(field_path: str, day: str, utc_offset_minutes: int = 0) -> str:
    """A query for 'on this day' in the viewer's time zone: `field >= start AND field < end`."""
    try:
        start = _dt.date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ViewError(f"a day is written 2026-03-02, got {day!r}") from None
    offset = _dt.timezone(_dt.timedelta(minutes=int(utc_offset_minutes)))
    begin = _dt.datetime.combine(start, _dt.time(), offset)
    end = begin + _dt.timedelta(days=1)
    return f'{field_path} >= "{begin.isoformat()}" AND {field_path} < "{end.isoformat()}"'


def _member_ids(ws: Context, table: str) -> list[str]:
    """Ids of the visible records of a table, oldest first (as `Workspace.records.ids`)."""
    from .reads import table_members

    return [to_str(e) for e in table_members(ws.conn, ws.schema.table(table).id)]


def run_view(ws: Context, view: str | ViewDef, *, also: str | None = None) -> ViewResult:
    """The rows of a view, grouped and sorted, read through the active overlay.

    `also`: a second filter the caller adds for this run only (the call sheet's day). Raises
    QueryError for a bad filter (its line, column and caret) and ViewError for names that do
    not resolve."""
    from .query import compile_query, run_query

    found = find_view(ws, view)
    with ws.overlays.reading():
        resolved = resolve(ws, found.definition)
        filters = [t for t in (found.definition.get("filter"), also) if t]
        for text in filters:  # each on its own first: its errors point into the text as written
            compiled = compile_query(text, ws.schema, table=resolved.table)
            resolved.warnings.extend(w.message for w in compiled.warnings)
        if filters:  # one query, so the most selective condition drives it (docs/query.md)
            ids = run_query(ws, " AND ".join([f'table == "{resolved.table}"', *(f"({t})" for t in filters)]),
                            table=resolved.table)
        else:
            ids = _member_ids(ws, resolved.table)
        if found.definition.get("layout") == "chart":
            return _run_chart(ws, found, resolved, ids)
        reader = ViewReader.for_columns(ws, [*resolved.columns, *resolved.group_by, *(c for c, _d in resolved.sort)])
        reader.prefetch(ids, [*resolved.columns, *resolved.group_by, *(c for c, _d in resolved.sort)],
                        resolved.expand)
        rows: list[tuple[Row, tuple[str, str, Any] | None]] = []
        for rid in ids:
            if resolved.expand is None:
                rows.append((Row(rid, []), None))
                continue
            direction, edge_type = resolved.expand
            links = reader.links(rid, direction, edge_type)
            if not links:
                rows.append((Row(rid, []), (direction, edge_type, None)))
            for link in links:
                rows.append((Row(rid, [], link.id), (direction, edge_type, link)))
        filled = []
        for row, expanded in rows:
            cells = [reader.cell(row.record, c, expanded) for c in resolved.columns]
            keys = [reader.cell(row.record, c, expanded) for c in resolved.group_by]
            order = []
            for column, descending in resolved.sort:
                k = sort_key(reader.cell(row.record, column, expanded), column.type)
                order.append(_Desc(k) if descending else k)
            group_key = tuple(sort_key(v, c.type) for v, c in zip(keys, resolved.group_by, strict=True))
            filled.append((group_key, tuple(order), Row(row.record, cells, row.edge), keys))
        filled.sort(key=lambda item: (item[0], item[1]))
        groups: list[Group] = []
        last: Any = object()
        for group_key, _order, row, keys in filled:
            if group_key != last:
                groups.append(Group(keys, []))
                last = group_key
            groups[-1].rows.append(row)
        if not groups and not resolved.group_by:
            groups.append(Group([], []))
        return ViewResult(found, resolved.columns, resolved.group_by, groups, resolved.warnings)


def _run_chart(ws: Context, found: ViewDef, resolved: Resolved, ids: list[str]) -> ViewResult:
    """Records down the side, the `across` table's records over the top, a mark (or the link's
    property) where a link joins them: the scene-by-character chart."""
    chart = found.definition["chart"]
    schema = ws.schema
    try:
        edef = schema.edge_type(chart["edge"])
        across = schema.table(chart["across"]).id
    except ValidationError as exc:
        raise ViewError(f"chart: {exc}") from None
    if chart["cell"]:
        from .modules import property_def

        try:
            property_def(edef, chart["cell"])
        except ValidationError as exc:
            raise ViewError(f"chart cell: {exc}") from None
    label_cols = [_resolve_column(schema, across, p, "") for p in chart["across_label"]]
    sort_cols = [_resolve_column(schema, across, p, "") for p in chart["across_sort"]]
    row_cols = [*resolved.columns, *(c for c, _d in resolved.sort)]
    reader = ViewReader.for_columns(ws, [*label_cols, *sort_cols, *row_cols])
    reader.prefetch(ids, row_cols, ("out", edef.id))
    top = []
    for rid in _member_ids(ws, across):
        label = [reader.cell(rid, c, None) for c in label_cols]
        key = tuple(sort_key(reader.cell(rid, c, None), c.type) for c in sort_cols)
        top.append((key, ChartColumn(rid, label)))
    top.sort(key=lambda item: item[0])
    chart_columns = [c for _k, c in top]
    index = {c.record: i for i, c in enumerate(chart_columns)}
    rows = []
    for rid in ids:
        cells: list[Any] = [reader.cell(rid, c, None) for c in resolved.columns]
        marks: list[Any] = [None] * len(chart_columns)
        for link in reader.links(rid, "out", edef.id):
            i = index.get(link.target)
            if i is None:
                continue
            value = link.properties.get(chart["cell"]) if chart["cell"] else None
            shown = value if value not in (None, "") else "✕"
            marks[i] = shown if marks[i] in (None, shown) else f"{marks[i]}, {shown}"
        order = [(_Desc(k) if d else k) for k, d in
                 ((sort_key(reader.cell(rid, c, None), c.type), d) for c, d in resolved.sort)]
        rows.append((tuple(order), Row(rid, cells + marks)))
    rows.sort(key=lambda item: item[0])
    return ViewResult(found, resolved.columns, [], [Group([], [r for _k, r in rows])], resolved.warnings,
                      chart_columns)


def column_types(result: ViewResult) -> list[str]:
    return [c.type for c in result.columns] + ["string"] * len(result.chart_columns)


def result_json(result: ViewResult) -> dict[str, Any]:
    """What the page draws: columns with labels and types, groups with their rows."""
    view = result.view
    return {
        "view": {"id": view.id, "name": view.name, "module": view.module, "definition": view.definition},
        "columns": [{"path": c.path, "label": c.label, "type": c.type, "field": c.steps[0].field}
                    for c in result.columns],
        "group_columns": [{"path": c.path, "label": c.label, "type": c.type} for c in result.group_columns],
        "chart_columns": [{"record": c.record, "label": c.label} for c in result.chart_columns],
        "groups": [{"values": g.values, "rows": [{"id": r.record, "edge": r.edge, "cells": r.cells} for r in g.rows]}
                   for g in result.groups],
        "warnings": result.warnings,
        "count": sum(len(g.rows) for g in result.groups),
    }


def views_json(views: Iterable[ViewDef]) -> list[dict[str, Any]]:
    return [{"id": v.id, "name": v.name, "module": v.module, "table": v.table, "definition": v.definition,
             "description": v.definition.get("description", "")} for v in views]


class Views(Part):
    """`ws.views`: views (saved and the modules' own) and queries, through the active overlay."""

    def list(self) -> list[ViewDef]:
        """Every view: the adopted modules' own (ids 'module.Name'), then saved ones by name."""
        return list_views(self._cx)

    def run(self, view: str | ViewDef, *, also: str | None = None) -> ViewResult:
        """A view's rows, grouped and sorted, through the active overlay."""
        return run_view(self._cx, view, also=also)

    def find(self, view: str | ViewDef) -> ViewDef:
        """A view by id (a module's 'module.Name' or a saved view's id). Raises ViewError."""
        return find_view(self._cx, view)

    def table(self, table: str) -> ViewDef:
        """Every field of a table, as a view (for printing or exporting a whole table)."""
        return table_view(self._cx, table)

    def query(self, text: str, **kwargs: Any) -> builtins.list[str]:
        """Record ids matching a query (spec/query-language.md, docs/query.md); through the
        active overlay. Raises QueryError with line, column and a caret for a bad query."""
        return run_query(self._cx, text, **kwargs)

    def matches(self, record: IdLike, query: str, **kwargs: Any) -> bool:
        """Does one record match a query?"""
        return matches(self._cx, record, query, **kwargs)
