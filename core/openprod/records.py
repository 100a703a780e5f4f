"""Reading records and links as the public API hands them out: ids as strings, values as shown.

A record id merged into another reads as the survivor; a field in reference mode shows what it
points at; a collaborative (CRDT) field shows its merged content. The facade runs each of these
inside the active overlay's view (`Overlays.reading`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import Context, Part, reads
from .duplicates import duplicate_edges
from .errors import NotFoundError, ValidationError
from .ids import IdLike, as_id, to_str
from .reads import (
    edge_state,
    edges,
    entity_state,
    entity_visible,
    public_edge,
    table_members,
    tables_of,
    values_for,
)
from .references import reference_of as _reference_of
from .results import Edge, Record
from .values import KIND_REF, Reference, from_sql


def record(cx: Context, record: IdLike, table: str | None = None) -> Record | None:
    """One visible record; with `table`, only if it is in that table (values of that table)."""
    entity = cx.redirects.resolve(as_id(record, "record id"))
    state = entity_state(cx.conn, entity)
    if state is None or not state[0] or not state[1]:
        return None
    tables = tables_of(cx.conn, entity)
    if table is not None:
        table = cx.schema.table(table).id
        if table not in tables:
            return None
    shown = [table] if table is not None else tables
    field_ids = [f.id for t in shown if t in cx.schema.tables for f in cx.schema.tables[t].fields.values()]
    writes = values_for(cx.conn, cx.groups, [entity], field_ids, cx._show)[entity]
    return Record(to_str(entity), tables, {k: v.value for k, v in writes.items() if v.value is not None})


def records(cx: Context, table: str) -> list[Record]:
    """All visible records of a table, oldest first, with that table's fields."""
    tdef = cx.schema.table(table)
    members = table_members(cx.conn, tdef.id)
    field_ids = [f.id for f in tdef.fields.values()]
    all_values = values_for(cx.conn, cx.groups, members, field_ids, cx._show)
    memberships: dict[bytes, list[str]] = {e: [] for e in members}
    for start in range(0, len(members), 500):
        chunk = members[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for entity, facet in cx.conn.execute(
            f"SELECT entity_id, facet FROM facets WHERE attached = 1 AND entity_id IN ({marks})"
            " ORDER BY facet", chunk):
            memberships[entity].append(facet)
    return [Record(to_str(entity), memberships[entity],
                   {k: v.value for k, v in all_values[entity].items() if v.value is not None})
            for entity in members]


def member_ids(cx: Context, table: str) -> list[str]:
    """Ids of the visible records of a table, oldest first."""
    return [to_str(e) for e in table_members(cx.conn, cx.schema.table(table).id)]


def get(cx: Context, record: IdLike, field: str) -> Any:
    """One field's value (None if empty)."""
    entity = cx.redirects.resolve(as_id(record, "record id"))
    if not entity_visible(cx.conn, entity):
        raise NotFoundError(f"record {to_str(entity)} does not exist")
    field_id = cx.schema.field(field, lambda: tables_of(cx.conn, entity)).id
    found = values_for(cx.conn, cx.groups, [entity], [field_id], cx._show)[entity].get(field_id)
    return None if found is None else found.value


def render(cx: Context, record: IdLike, field: str) -> Any:
    """Current content of a collaborative (CRDT) field, merged from all its edits."""
    entity = cx.redirects.resolve(as_id(record, "record id"))
    field_id = cx.schema.field(field, lambda: tables_of(cx.conn, entity)).id
    return cx._render(entity, field_id)


def crdt_state(cx: Context, record: IdLike, field: str) -> bytes:
    """A collaborative field's whole Yjs document as one update (what a peer holding nothing of it
    would need): for measuring, exporting, or handing to another Yjs document."""
    entity = cx.redirects.resolve(as_id(record, "record id"))
    fdef = cx.schema.field(field, lambda: tables_of(cx.conn, entity))
    if fdef.crdt is None:
        raise ValidationError(f"field {fdef.display_name!r} is not a collaborative text or list field")
    return cx.crdt.require().encode_state(cx.crdt.doc(entity, fdef.id, fdef.crdt))


def reference_of(cx: Context, record: IdLike, field: str) -> tuple[str, str, str | None] | None:
    """If the field is in reference mode: (source record id, source field, broken reason)."""
    entity = cx.redirects.resolve(as_id(record, "record id"))
    return _reference_of(cx, record, cx.schema.field(field, lambda: tables_of(cx.conn, entity)).id)


def find_edges(cx: Context, **where: Any) -> list[Edge]:
    """Visible edges by source, target and/or type (ids of merged records read as the survivor)."""
    if "edge_type" in where and where["edge_type"] is not None:
        where["edge_type"] = cx.schema.edge_type(where["edge_type"]).id
    for end in ("source", "target"):
        if end in where:
            where[end] = cx.redirects.resolve(as_id(where[end], "record id"))
    return [public_edge(e) for e in edges(cx.conn, **where)]


def edge(cx: Context, edge: IdLike) -> Edge | None:
    """One visible edge (with its properties), or None if it is deleted or an end is gone."""
    edge_id = as_id(edge, "edge id")
    state = edge_state(cx.conn, edge_id)
    if state is None or state[1] is None:
        return None
    wanted = to_str(edge_id)
    return next((e for e in find_edges(cx, source=state[1], edge_type=state[0]) if e.id == wanted), None)


def edge_type_of(cx: Context, edge: IdLike) -> str | None:
    """An edge's type, whether or not it is visible now; None if no such edge is stored."""
    state = edge_state(cx.conn, as_id(edge, "edge id"))
    return None if state is None else state[0]


# Ops whose only effect on what `records.all` shows is on their own target record (or on an edge,
# which no row shows): a reader can re-read just those records. Anything else (merges, splits,
# references, links and mappings, schema, conflict resolutions, settings) can change other records
# or the fields themselves, so `changed_since` answers "unknown" and the reader reads everything.
ROW_LOCAL_OPS = frozenset({
    "SetField", "ClearField", "ApplyCrdt", "ClearAndAdd", "CreateEntity", "DeleteEntity", "RestoreEntity",
    "AttachFacet", "DetachFacet", "RestoreFacet", "AddToTable", "RemoveFromTable",
    "CreateEdge", "CreateOrderedEdge", "DeleteEdge", "RestoreEdge", "SetEdgeProperty", "ClearEdgeProperty",
    "MoveOrderedEdge", "SaveView", "SetCallingPosition", "IdentifyActor",
})
# Of those, the ops that can put a record into a table or take it out (the reader's row set changes).
MEMBERSHIP_OPS = frozenset({"CreateEntity", "DeleteEntity", "RestoreEntity", "AttachFacet", "DetachFacet",
                            "RestoreFacet", "AddToTable", "RemoveFromTable"})


@dataclass(frozen=True)
class RecordChanges:
    """What the oplog gained since a mark (`Records.mark`), as a grid needs it to re-read only those rows.

    `records`: the (surviving) ids of the records the new ops are about, including the writes that
    rules and triggers made and bundles received from peers (all are oplog entries). `membership`:
    whether any of them can have entered or left a table. `mark`: the mark to ask with next time."""

    records: tuple[str, ...]
    membership: bool
    mark: int


def change_mark(cx: Context) -> int:
    """The oplog's last op seq: ops stored later have larger seqs (reception order)."""
    row = cx.conn.execute("SELECT max(seq) FROM oplog").fetchone()
    return int(row[0] or 0)


def row_local_ops(cx: Context, mark: int, limit: int) -> list[tuple[int, str, Any]] | None:
    """(seq, op type, target) of the ops stored after `mark`; None when one of them can change other
    records or the schema, or there are more than `limit` (then reading everything is as cheap)."""
    rows: list[tuple[int, str, Any]] = cx.conn.execute(
        "SELECT seq, op_type, target FROM oplog WHERE seq > ? ORDER BY seq LIMIT ?", (mark, limit + 1)).fetchall()
    if len(rows) > limit or any(op_type not in ROW_LOCAL_OPS for _seq, op_type, _target in rows):
        return None
    return rows


def shown_in(cx: Context) -> dict[bytes, tuple[bytes, ...]]:
    """For each record a field in reference mode reads from, the records whose rows show it (ids as
    merges left them). Deleted records' references count too, so a restore needs no new scan."""
    shows: dict[bytes, dict[bytes, None]] = {}
    for entity, value in cx.conn.execute("SELECT entity_id, value FROM fields WHERE kind = ?", (KIND_REF,)):
        reference = from_sql(KIND_REF, value)
        shows.setdefault(cx.redirects.resolve(reference.source), {})[cx.redirects.resolve(entity)] = None
    return {source: tuple(readers) for source, readers in shows.items()}


def with_readers(touched: dict[bytes, None], shows: dict[bytes, tuple[bytes, ...]]) -> dict[bytes, None]:
    """`touched` and every record that shows one of them through references, chains included."""
    if not shows:
        return touched
    found = dict(touched)
    todo = list(touched)
    while todo:
        for reader in shows.get(todo.pop(), ()):
            if reader not in found:
                found[reader] = None
                todo.append(reader)
    return found


class Records(Part):
    """`ws.records`: records and links as people see them, through the active overlay."""

    def __init__(self, cx: Context) -> None:
        super().__init__(cx)
        # `shown_in` as of an op seq: only SetReference (not row-local) adds a reference, and row-local
        # ops can only take one away, so it stays right (or names a record too many) while the ops
        # since are row-local
        self._shows: tuple[int, dict[bytes, tuple[bytes, ...]]] | None = None

    @reads
    def get(self, record: IdLike, table: str | None = None) -> Record | None:
        """One visible record; with `table`, only if it is in that table (values of that table).

        An id merged into another record reads as that record (the survivor)."""
        return record_(self._cx, record, table)

    def mark(self) -> int:
        """Where the oplog is now, for `changed_since` (a grid read keeps it with its rows)."""
        return change_mark(self._cx)

    def changed_since(self, mark: int, limit: int = 100) -> RecordChanges | None:
        """The records whose rows ops stored after `mark` (local writes, what rules and triggers
        wrote, bundles from peers) can have changed: their targets and the records that show those
        through references. None if that is unknown or large: read everything then. Staged edits
        are not in the oplog: a reader in staging mode reads everything."""
        cx = self._cx
        rows = row_local_ops(cx, mark, limit)
        if rows is None:
            return None
        at = rows[-1][0] if rows else mark
        kept = self._shows
        shows = kept[1] if kept is not None and kept[0] >= mark else shown_in(cx)
        self._shows = (at, shows)
        touched: dict[bytes, None] = {}
        for _seq, _op_type, target in rows:
            if isinstance(target, bytes):
                touched[cx.redirects.resolve(target)] = None
        touched = with_readers(touched, shows)
        if len(touched) > limit:
            return None
        return RecordChanges(tuple(to_str(e) for e in touched),
                             any(op_type in MEMBERSHIP_OPS for _seq, op_type, _target in rows), at)

    @reads
    def all(self, table: str) -> list[Record]:
        """All visible records of a table, oldest first, with that table's fields."""
        return records(self._cx, table)

    @reads
    def ids(self, table: str) -> list[str]:
        """Ids of the visible records of a table, oldest first."""
        return member_ids(self._cx, table)

    @reads
    def value(self, record: IdLike, field: str) -> Any:
        """One field's value (None if empty); `field` as in `set_field`."""
        return get(self._cx, record, field)

    @reads
    def label(self, record: IdLike) -> str:
        """How a record is named in messages: its name/title/label, else its first text field."""
        return self._cx.record_label(record)

    @reads
    def render(self, record: IdLike, field: str) -> Any:
        """Current content of a collaborative (CRDT) field: text, or a list, merged from all its edits."""
        return render(self._cx, record, field)

    @reads
    def crdt_state(self, record: IdLike, field: str) -> bytes:
        """A collaborative field's whole Yjs document as one update (its state, not its history)."""
        return crdt_state(self._cx, record, field)

    def follow(self, reference: Reference, depth: int = 0) -> tuple[Any, str | None]:
        """(value, why it is broken or None) for a reference, through merges and chains."""
        return self._cx.follow(reference, depth)

    @reads
    def reference_of(self, record: IdLike, field: str) -> tuple[str, str, str | None] | None:
        """If the field is in reference mode: (source record id, source field, broken reason)."""
        return reference_of(self._cx, record, field)

    @reads
    def edges_from(self, record: IdLike, edge_type: str | None = None) -> list[Edge]:
        """Visible edges out of a record (optionally of one type)."""
        return find_edges(self._cx, source=record, edge_type=edge_type)

    @reads
    def edges_to(self, record: IdLike, edge_type: str | None = None) -> list[Edge]:
        """Visible edges into a record (optionally of one type)."""
        return find_edges(self._cx, target=record, edge_type=edge_type)

    @reads
    def ordered_list(self, target: IdLike, edge_type: str) -> list[Edge]:
        """The ordered edges into `target` (e.g. cues in a cue list), in list order."""
        return find_edges(self._cx, target=target, edge_type=edge_type)

    @reads
    def edge(self, edge: IdLike) -> Edge | None:
        """One visible edge (with its properties), or None if it is deleted or an end is gone."""
        return edge_(self._cx, edge)

    def edge_type_of(self, edge: IdLike) -> str | None:
        """An edge's type, whether or not it is visible now; None if no such edge is stored."""
        return edge_type_of(self._cx, edge)

    @reads
    def duplicate_edges(self) -> list[tuple[Edge, ...]]:
        """Links of one type between the same two records, made by people who had not seen each
        other's (for example both added Jane to Scene 3 while apart). All are kept; each group is
        listed so a person can remove the extra one (see `duplicates`)."""
        return duplicate_edges(self._cx)


record_, edge_ = record, edge  # the module functions, under names the methods do not shadow
