"""Field mappings and table links, before they happen: suggestions, previews, dismissals.

FUNCTIONALITY.md ("Field Mapping"): the system suggests that two tables' fields are the same
data ("Contacts and Attendees both have Email"), a person confirms or says no, and "the system
never guesses". A suggestion comes from the modules' shared keys, for tables that are linked or
that their modules declare compatible; it is shown with what would become one field, record by
record, before anything is written. Confirming is an operation (`tx.confirm_field_mapping`);
saying no is remembered on this device (like dismissed rule suggestions), so the same question
is not asked again here.

Readers only: nothing here writes canonical state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .context import Part, reads
from .errors import ValidationError
from .groups import FieldGroups
from .ids import to_str
from .reads import group_value, table_members

if TYPE_CHECKING:
    from .context import Context
    from .modules import FieldDef, TableDef

ROWS_SHOWN = 200  # a preview lists at most this many records; the counts cover them all


@dataclass(frozen=True)
class MappingSuggestion:
    """Two fields of two tables that their modules say are the same data (one shared key)."""

    fields: tuple[str, str]  # full field ids, in table order
    tables: tuple[str, str]
    shared_key: str
    description: str  # "Contacts and Attendees both have Email: keep them as one field?"


@dataclass(frozen=True)
class SideBySide:
    """One record in both tables: what each field holds now, and what both will show."""

    record: str
    label: str
    values: tuple[Any, Any]
    after: Any

    @property
    def differ(self) -> bool:
        return self.values[0] != self.values[1] and None not in self.values


@dataclass(frozen=True)
class MappingPreview:
    fields: tuple[str, str]
    tables: tuple[str, str]
    description: str
    rows: tuple[SideBySide, ...]  # records in both tables with a value in either field
    in_both: int  # records in both tables
    differing: int  # of them, how many hold two different values now
    problem: str | None  # why it cannot be confirmed (None: it can)


@dataclass(frozen=True)
class LinkPreview:
    """What linking two tables would do: every record of the first also appears in the second."""

    tables: tuple[str, str]
    mappings: tuple[MappingSuggestion, ...]  # the fields that would become one
    to_add: tuple[tuple[str, str], ...]  # (record id, label) joining the second table
    cannot_add: tuple[tuple[str, str, str], ...]  # (record id, label, why)
    already: int  # records already in both
    linked: bool  # the tables are linked already


@dataclass(frozen=True)
class UnlinkPreview:
    tables: tuple[str, str]
    shared: tuple[tuple[str, str], ...]  # (record id, label): each becomes two records
    mappings: tuple[tuple[str, str], ...]  # confirmed mappings between the two that end
    linked: bool


def _name(cx: Context, field_id: str) -> str:
    fdef = cx.schema.fields[field_id]
    return fdef.display_name


def _table_name(cx: Context, table: str) -> str:
    tdef = cx.schema.tables.get(table)
    return tdef.display_name if tdef is not None else table


def describe(cx: Context, a: str, b: str) -> str:
    fa, fb = cx.schema.fields[a], cx.schema.fields[b]
    ta, tb = _table_name(cx, fa.table), _table_name(cx, fb.table)
    if fa.display_name == fb.display_name:
        return f"{ta} and {tb} both have {fa.display_name}: keep them as one field?"
    return f"{ta} has {fa.display_name} and {tb} has {fb.display_name}: keep them as one field?"


def linked_tables(cx: Context) -> set[tuple[str, str]]:
    return {(a, b) for a, b in cx.conn.execute("SELECT table_a, table_b FROM table_links WHERE linked = 1")}


def _pairs(cx: Context) -> list[tuple[TableDef, TableDef]]:
    """Table pairs whose shared keys are worth asking about: linked, or declared compatible."""
    tables = cx.schema.tables
    wanted: set[tuple[str, str]] = set(linked_tables(cx))
    for tdef in tables.values():
        for other in tdef.compatible_tables:
            if other in tables and other != tdef.id:
                wanted.add(tuple(sorted((tdef.id, other))))  # type: ignore[arg-type]
    return [(tables[a], tables[b]) for a, b in sorted(wanted) if a in tables and b in tables]


def _same_data(fa: FieldDef, fb: FieldDef) -> bool:
    return bool(fa.shared_key) and fa.shared_key == fb.shared_key and (fa.type, fa.crdt) == (fb.type, fb.crdt)


def dismissed(cx: Context) -> set[tuple[str, str]]:
    return {(a, b) for a, b in cx.conn.execute("SELECT field_a, field_b FROM dismissed_mappings")}


def shared_fields(cx: Context, a: TableDef, b: TableDef) -> list[MappingSuggestion]:
    """Every pair of fields of `a` and `b` with one shared key and one type."""
    out = []
    for fa in a.fields.values():
        for fb in b.fields.values():
            if _same_data(fa, fb):
                assert fa.shared_key is not None
                out.append(MappingSuggestion((fa.id, fb.id), (a.id, b.id), fa.shared_key, describe(cx, fa.id, fb.id)))
    return out


def suggestions(cx: Context) -> list[MappingSuggestion]:
    """The questions still open: not one field yet, and not turned down on this device."""
    no = dismissed(cx)
    out = []
    for a, b in _pairs(cx):
        for s in shared_fields(cx, a, b):
            x, y = sorted(s.fields)
            if cx.groups.key(x) == cx.groups.key(y) or (x, y) in no:
                continue
            out.append(s)
    return out


def _fields(cx: Context, a: str, b: str) -> tuple[FieldDef, FieldDef]:
    fa, fb = cx.schema.field(a), cx.schema.field(b)
    if fa.table == fb.table:
        raise ValidationError(f"{fa.display_name} and {fb.display_name} are in the same table; "
                              "only fields of two different tables can be kept as one")
    return fa, fb


def preview(cx: Context, a: str, b: str) -> MappingPreview:
    """Records in both tables, the two values side by side, and what both fields will show after:
    the later of the two edits (each keeps its own value underneath; separating the fields again
    brings it back)."""
    fa, fb = _fields(cx, a, b)
    problem = None
    if (fa.type, fa.crdt) != (fb.type, fb.crdt):
        problem = (f"{fa.display_name} in {_table_name(cx, fa.table)} holds {_kind(fa)} and "
                   f"{fb.display_name} in {_table_name(cx, fb.table)} holds {_kind(fb)}: they cannot be one field.")
    elif cx.groups.key(fa.id) == cx.groups.key(fb.id):
        problem = "These are already one field."
    joined = FieldGroups([*cx.confirmed_mappings(), (fa.id, fb.id)])
    both = sorted(set(table_members(cx.conn, fa.table)) & set(table_members(cx.conn, fb.table)))
    rows: list[SideBySide] = []
    differing = 0
    for entity in both:
        va = _value(cx, cx.groups, entity, fa.id)
        vb = _value(cx, cx.groups, entity, fb.id)
        if va is None and vb is None:
            continue
        row = SideBySide(to_str(entity), cx.record_label(entity), (va, vb), _value(cx, joined, entity, fa.id))
        differing += row.differ
        if len(rows) < ROWS_SHOWN:
            rows.append(row)
    return MappingPreview((fa.id, fb.id), (fa.table, fb.table), describe(cx, fa.id, fb.id), tuple(rows), len(both),
                          differing, problem)


def _kind(fdef: FieldDef) -> str:
    if fdef.crdt == "text":
        return "shared notes"
    return {"string": "text", "number": "numbers", "boolean": "yes/no", "timestamp": "dates and times",
            "cue": "cue numbers", "list": "lists", "blob": "files"}.get(fdef.type, fdef.type)


def _value(cx: Context, groups: FieldGroups, entity: bytes, field_id: str) -> Any:
    if cx.schema.fields[field_id].crdt is not None:
        return None
    found = group_value(cx.conn, groups, entity, field_id, cx._show)
    return None if found is None else found.value


def dismiss(cx: Context, a: str, b: str) -> None:
    """Turn a suggestion down on this device (local, like a dismissed rule suggestion)."""
    fa, fb = _fields(cx, a, b)
    x, y = sorted((fa.id, fb.id))
    cx.conn.execute("INSERT OR IGNORE INTO dismissed_mappings (field_a, field_b, dismissed_at) VALUES (?, ?, ?)",
                    (x, y, cx.env.now_ms()))


def link_preview(cx: Context, source: str, target: str) -> LinkPreview:
    """Linking `source` to `target`: the shared fields become one, and every record of `source`
    also appears in `target`; a record that would leave a required field of `target` empty is
    listed with the reason (it is not added)."""
    src, tgt = cx.schema.table(source), cx.schema.table(target)
    if src.id == tgt.id:
        raise ValidationError("a table cannot be linked to itself")
    mappings = tuple(shared_fields(cx, src, tgt))
    joined = FieldGroups([*cx.confirmed_mappings(), *(m.fields for m in mappings)])
    inside = set(table_members(cx.conn, tgt.id))
    to_add, cannot = [], []
    already = 0
    for entity in table_members(cx.conn, src.id):
        if entity in inside:
            already += 1
            continue
        missing = [f.display_name for f in tgt.fields.values()
                   if f.required and f.default is None and f.crdt is None and _value(cx, joined, entity, f.id) is None]
        label = cx.record_label(entity)
        if missing:
            cannot.append((to_str(entity), label, f"it has no {' or '.join(missing)}"))
        else:
            to_add.append((to_str(entity), label))
    pair = tuple(sorted((src.id, tgt.id)))
    return LinkPreview((src.id, tgt.id), mappings, tuple(to_add), tuple(cannot), already, pair in linked_tables(cx))


def unlink_preview(cx: Context, source: str, target: str) -> UnlinkPreview:
    """Unlinking: every record in both becomes two (its `target` values copied to a new record),
    and the fields kept as one between the two tables become separate again."""
    src, tgt = cx.schema.table(source), cx.schema.table(target)
    if src.id == tgt.id:
        raise ValidationError("a table cannot be unlinked from itself")
    shared = sorted(set(table_members(cx.conn, src.id)) & set(table_members(cx.conn, tgt.id)))
    mappings = []
    for a, b in cx.confirmed_mappings():
        fa, fb = cx.schema.fields.get(a), cx.schema.fields.get(b)
        if fa and fb and {fa.table, fb.table} == {src.id, tgt.id}:
            mappings.append((a, b))
    pair = tuple(sorted((src.id, tgt.id)))
    return UnlinkPreview((src.id, tgt.id), tuple((to_str(e), cx.record_label(e)) for e in shared), tuple(mappings),
                         pair in linked_tables(cx))


class Mappings(Part):
    """`ws.mappings`: field mappings (two fields kept as one) and table links."""

    def suggestions(self) -> list[MappingSuggestion]:
        """Fields of two tables their modules say are the same data, not yet one field and not
        turned down on this device ("Contacts and Attendees both have Email: keep them as one field?")."""
        return suggestions(self._cx)

    @reads
    def preview(self, field_a: str, field_b: str) -> MappingPreview:
        """What keeping two fields as one would show, record by record, before it is confirmed."""
        return preview(self._cx, field_a, field_b)

    def dismiss(self, field_a: str, field_b: str) -> None:
        """Turn a mapping suggestion down on this device; it is not suggested here again."""
        self._cx.overlays.close_view()
        dismiss(self._cx, field_a, field_b)

    def confirmed(self) -> list[tuple[str, str]]:
        """Confirmed field mappings as (field, field) pairs (what a fork or template carries)."""
        return self._cx.confirmed_mappings()

    def linked_tables(self) -> set[tuple[str, str]]:
        """Pairs of linked tables (each pair in sorted order)."""
        return linked_tables(self._cx)

    @reads
    def link_preview(self, source_table: str, target_table: str) -> LinkPreview:
        """What `tx.link_tables(source, target, add_records=True)` would do, before it does."""
        return link_preview(self._cx, source_table, target_table)

    @reads
    def unlink_preview(self, source_table: str, target_table: str) -> UnlinkPreview:
        """What `tx.unlink_tables(source, target)` would do, before it does."""
        return unlink_preview(self._cx, source_table, target_table)
