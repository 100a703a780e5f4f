"""Calling a show: one cue list read as a calling script, and the shared position in it.

The position (which cue was called last) is a pointer, not an edit: a `SetCallingPosition` op
writes one register per cue list (`calling_positions`), last writer wins in canonical order, and
never touches a record's field, so it can never put a cue in conflict. A GO names the cue it
called (absolute, not "one more"): two devices that press GO from the same cue while apart both
say "18" and agree once they sync; if they called different cues, the later call wins and both
calls stay in the oplog. docs/design.md ("Calling a show") gives the reasons.

The cues are read as the cue sheet reads them (`views.resolve` and `view_reads.ViewReader`), in
the list's order (its ordered links), always from the real data, never from a staged overlay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import hlc as hlc_mod
from . import operations as o
from .context import Part
from .errors import NotFoundError, ValidationError
from .ids import IdLike, as_id, to_str
from .reads import edges, entity_state, public_edge, tables_of
from .results import Edge, actor_str
from .view_reads import ViewReader
from .views import resolve

if TYPE_CHECKING:
    from .context import Context

# What the calling script shows of each cue, by the field's short name (shared keys in the starters).
CUE_FIELDS = ("cue_number", "label", "description", "page", "is_called", "fade_time")


@dataclass(frozen=True)
class CallingCue:
    """One cue as the person calling the show reads it."""

    id: str
    number: str | None
    label: str | None
    description: str | None
    page: Any
    scene: str | None
    called: bool  # False: it runs on its own (an autofollow), nobody calls it
    fade: Any
    call_text: str | None  # what to say, from the cue list's link ("Lights 17 and sound B")


@dataclass(frozen=True)
class CallingPosition:
    """The cue called last (None: not started), who called it and when (their clock, ms)."""

    cue: str | None
    index: int  # -1: not started, or the cue is no longer in the list
    by: str
    by_name: str
    at_ms: int


@dataclass(frozen=True)
class CallingSheet:
    cue_list: str
    name: str
    edge_type: str | None  # the ordered link that puts cues in this list
    cues: list[CallingCue] = field(default_factory=list)
    position: CallingPosition | None = None

    @property
    def index(self) -> int:
        return -1 if self.position is None else self.position.index

    def at(self, index: int) -> CallingCue | None:
        return self.cues[index] if 0 <= index < len(self.cues) else None


@dataclass(frozen=True)
class CueList:
    id: str
    name: str
    edge_type: str
    count: int


class PositionWriter(Protocol):
    """What a GO needs of a local transaction (`transaction.Transaction` has it)."""

    staging: bool

    def add(self, cls: type[o.Op], _before: Any = ..., **payload: Any) -> o.Op: ...


def find_edges(cx: Context, *, target: bytes, edge_type: str) -> list[Edge]:
    """The visible links of one ordered type into `target`, in list order (as `Workspace.records.ordered_list`)."""
    return [public_edge(e) for e in edges(cx.conn, target=target, edge_type=edge_type)]


def _ordered_types(cx: Context, entity: bytes) -> list[str]:
    """Ordered link types whose lists this record can be (e.g. lighting.in_cue_list into a cue list)."""
    tables = set(tables_of(cx.conn, entity))
    return sorted(e.id for e in cx.schema.edge_types.values() if e.ordered and tables & set(e.target_tables))


def cue_lists(cx: Context) -> list[CueList]:
    """Every record that is the target of an ordered link type (the cue lists), by name."""
    from .reads import table_members

    out = []
    for etype in sorted((e for e in cx.schema.edge_types.values() if e.ordered), key=lambda e: e.id):
        for table in etype.target_tables:
            if table not in cx.schema.tables:
                continue
            for entity in table_members(cx.conn, table):
                count = len(find_edges(cx, target=entity, edge_type=etype.id))
                out.append(CueList(to_str(entity), cx.record_label(entity), etype.id, count))
    return sorted(out, key=lambda c: (c.name.casefold(), c.id))


def _live_list(cx: Context, cue_list: IdLike) -> bytes:
    entity = cx.redirects.resolve(as_id(cue_list, "cue list id"))
    state = entity_state(cx.conn, entity)
    if state is None or not state[0] or not state[1]:
        raise NotFoundError(f"cue list {to_str(entity)} does not exist (deleted, or not synced yet)")
    if not _ordered_types(cx, entity):
        raise ValidationError(f"{cx.record_label(entity)!r} is not a cue list: no cues can be put in order in it")
    return entity


def _scene_path(cx: Context, table: str) -> str | None:
    """The column path to a cue's scene title, when the cue's table links to scenes. The title is
    named by its full id: a bare "title" is ambiguous once two other tables have one (Events and
    Reports), and without a scenes table in the workspace there is no scene to show."""
    for etype in cx.schema.edge_types.values():
        if etype.name == "in_scene" and table in etype.source_tables:
            for target in (*etype.target_tables, *etype.target_tables_hint):
                if f"{target}.title" in cx.schema.fields:
                    return f"{etype.id}->target.{target}.title"
    return None


def sheet(cx: Context, cue_list: IdLike) -> CallingSheet:
    """The cue list as a calling script: cues in list order with what the caller reads, and the
    shared position. Reads the real data (staged changes are not called)."""
    cx.overlays.close_view()
    entity = _live_list(cx, cue_list)
    types = _ordered_types(cx, entity)
    links = []
    edge_type = None
    for etype in types:  # the first ordered link type that has cues in this list
        links = find_edges(cx, target=entity, edge_type=etype)
        if links:
            edge_type = etype
            break
    ids = [link.source for link in links]
    cues: list[CallingCue] = []
    tables = {t for rid in ids[:1] for t in tables_of(cx.conn, as_id(rid, "cue id"))}
    table = next((t for t in sorted(tables) if any(f"{t}.{n}" in cx.schema.fields for n in CUE_FIELDS)), None)
    if table is not None:
        names = [n for n in CUE_FIELDS if f"{table}.{n}" in cx.schema.fields]
        columns = [{"path": n, "label": ""} for n in names]
        scene = _scene_path(cx, table)
        if scene is not None:
            names.append("scene")
            columns.append({"path": scene, "label": "Scene"})
        resolved = resolve(cx, {"table": table, "columns": columns})
        reader = ViewReader.for_columns(cx, resolved.columns)
        reader.prefetch(ids, resolved.columns)
        for link in links:
            cells = dict(zip(names, (reader.cell(link.source, c, None) for c in resolved.columns), strict=True))
            scene_value = cells.get("scene")
            if isinstance(scene_value, list):
                scene_value = ", ".join(str(v) for v in scene_value)
            cues.append(CallingCue(
                link.source, _text(cells.get("cue_number")), _text(cells.get("label")),
                _text(cells.get("description")), cells.get("page"), _text(scene_value),
                cells.get("is_called") is not False, cells.get("fade_time"), _text(link.properties.get("call_text"))))
    return CallingSheet(to_str(entity), cx.record_label(entity), edge_type, cues, _position(cx, entity, cues))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _position(cx: Context, entity: bytes, cues: list[CallingCue]) -> CallingPosition | None:
    row = cx.conn.execute("SELECT cue, ord, actor FROM calling_positions WHERE cue_list = ?", (entity,)).fetchone()
    if row is None:
        return None
    cue = None if row[0] is None else to_str(cx.redirects.resolve(row[0]))
    index = next((i for i, c in enumerate(cues) if c.id == cue), -1)
    return CallingPosition(cue, index, actor_str(row[2]), cx.actor_name(row[2]), hlc_mod.wall_ms(row[1][:12]))


def set_position(tx: PositionWriter, cx: Context, cue_list: IdLike, cue: IdLike | None) -> None:
    """Record that `cue` was just called in `cue_list` (None: back to the top, nothing called).

    Raises NotFoundError for a list that is gone and ValidationError for a cue not in the list, or
    when the transaction stages into an overlay (the show's position is never a staged change)."""
    if tx.staging:
        raise ValidationError("a GO is never staged: open its transaction with staging=False")
    entity = _live_list(cx, cue_list)
    target = None
    if cue is not None:
        target = cx.redirects.resolve(as_id(cue, "cue id"))
        listed = {link.source for etype in _ordered_types(cx, entity)
                  for link in find_edges(cx, target=entity, edge_type=etype)}
        if to_str(target) not in listed:
            raise ValidationError(f"{cx.record_label(target)!r} is not in the cue list {cx.record_label(entity)!r}")
    tx.add(o.SetCallingPosition, cue_list=entity, cue=target)


class Calling(Part):
    """`ws.calling`: cue lists as calling scripts."""

    def cue_lists(self) -> list[CueList]:
        """Every cue list (a record other records are put in order in), by name."""
        return cue_lists(self._cx)

    def sheet(self, cue_list: IdLike) -> CallingSheet:
        """A cue list as a calling script, with the shared calling position."""
        return sheet(self._cx, cue_list)
