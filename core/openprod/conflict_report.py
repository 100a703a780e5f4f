"""Conflicts as people see them: table, record, field, each value with who and when.

Detection lives in `conflicts`; this turns its branch tips into `Conflict` objects (with a
sentence for the UI), lists the decisions that settled conflicts (`Resolution`), and groups
large batches between the same people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import hlc as hlc_mod
from . import operations as o
from .conflicts import Competitor, Conflict, Write, _listed, _shown, is_field_key, open_conflict_rows
from .context import Part
from .identity import short_actor
from .ids import IdLike, as_id, to_str
from .reads import actor_names, edge_state, entity_state, group_value
from .results import actor_str
from .values import from_sql

if TYPE_CHECKING:
    from .context import Context


@dataclass(frozen=True)
class Resolution:
    """A decision that settled a conflict: what was chosen, over what, by whom and when.

    `supersedes` names the earlier resolution of the same conflict that this one overrides (the
    conflict was reopened by a late edit and settled again): original conflict -> first
    resolution -> later override. `accepted` is False for a resolution of a state that someone
    else had already settled (it counts as nothing, kept for the record)."""

    id: str
    conflict_id: str
    target: str
    key: str
    is_edge: bool
    record_label: str
    field_name: str
    value: Any
    chose: str | None  # op id of the competitor picked, or None for a value typed in
    competitors: tuple[Competitor, ...]  # everything it chose between
    actor: str
    display_name: str
    hlc: bytes
    when: str
    supersedes: str | None
    accepted: bool

    def describe(self) -> str:
        """ "Alice chose 'done' over Bob's 'blocked'" (with who wrote what)."""
        others = [c for c in self.competitors if c.op_id != self.chose and c.value != self.value]
        over = _listed([f"{c.display_name}'s {_shown(c.value)!r}" for c in others]) if others else "the others"
        sentence = f"{self.display_name} chose {_shown(self.value)!r} over {over}"
        if self.supersedes is not None:
            sentence += ", replacing an earlier decision"
        if not self.accepted:
            sentence += " (not applied: someone had already settled it)"
        return sentence


def open_conflicts(ws: Context, record: IdLike | None = None) -> list[Conflict]:
    """Open conflicts on visible records and edges, oldest first, ready to show people.

    Conflicts are canonical: an active overlay does not hide them (a staged edit over a
    conflicted field settles it only when the overlay is committed)."""
    if ws._tx is None:
        ws.overlays.close_view()
    target = ws.redirects.resolve(as_id(record, "record id")) if record is not None else None
    names = actor_names(ws.conn)
    out = []
    for (tgt, key), tips in open_conflict_rows(ws.conn, target).items():
        built = _conflict(ws, tgt, key, tips, names)
        if built is not None:
            out.append(built)
    return out


def conflict(ws: Context, record: IdLike, field: str) -> Conflict | None:
    """The open conflict on one field of a record (any mapped field of it), if there is one."""
    key = ws._semantic_key(record, field)
    return next((c for c in open_conflicts(ws, record) if c.key == key), None)


def competitor(write: Write, names: dict[bytes, str], resolution: bool = False) -> Competitor:
    return Competitor(to_str(write.op_id), write.value, actor_str(write.actor),
                      names.get(write.actor, short_actor(write.actor)), write.ord[:12],
                      hlc_mod.to_display(write.ord[:12]), write.field, resolution)


def _described(ws: Context, target: bytes, key: str, field: str) -> tuple[bool, str, str, str] | None:
    """(is edge, table, record label, field name) for a visible record field or edge property."""
    if is_field_key(key):
        if entity_state(ws.conn, target) != (True, True):
            return None
        fdef = ws.schema.fields.get(field) or ws.schema.fields.get(key)
        if fdef is None:
            return None
        table = ws.schema.tables[fdef.table].display_name
        return False, table, ws._record_label(target, fdef.id), fdef.display_name
    edge = edge_state(ws.conn, target)
    if edge is None or not edge[3] or edge[1] is None:
        return None
    etype = ws.schema.edge_types.get(edge[0] or "")
    label = f"{ws._record_label(edge[1])} → {ws._record_label(edge[2])}" if edge[2] else ""
    return True, etype.display_name if etype else "", label, key


def _conflict(ws: Context, target: bytes, key: str, tips: list[Write], names: dict[bytes, str]) -> Conflict | None:
    described = _described(ws, target, key, tips[-1].field)
    if described is None:
        return None
    is_edge, table, label, field_name = described
    cid, standing = ws.conflicts.identify(target, key, tips)
    competitors = tuple(competitor(t, names, standing is not None and t.op_id == standing.op_id) for t in tips)
    if is_edge:
        row = ws.conn.execute("SELECT kind, value FROM edge_props WHERE edge_id = ? AND key = ?",
                              (target, key)).fetchone()
        current = None if row is None else from_sql(row[0], row[1])
    else:
        found = group_value(ws.conn, ws.groups, target, key)
        current = None if found is None else found.value
    return Conflict(to_str(cid), to_str(target), key, is_edge, table, label, field_name, current, competitors,
                    None if standing is None else to_str(standing.op_id))


def resolved_conflicts(ws: Context, record: IdLike | None = None) -> list[Resolution]:
    """Every resolution (of visible records and edges), oldest first; with `record`, its own."""
    ws.overlays.close_view()
    sql = "SELECT r.op_id, r.conflict_id, r.target, r.key, r.accepted, r.actor, l.payload FROM resolutions r" \
          " JOIN oplog l ON l.op_id = r.op_id"
    params: list[Any] = []
    if record is not None:
        members = ws.redirects.members(as_id(record, "record id"))
        sql += f" WHERE r.target IN ({','.join('?' * len(members))})"
        params.extend(members)
    names = actor_names(ws.conn)
    out = []
    resolution_ids = {r[0] for r in ws.conn.execute("SELECT op_id FROM resolutions")}
    for op_id, conflict_id, named, key, accepted, actor, payload in ws.conn.execute(sql + " ORDER BY r.ord", params):
        op = o.decode_stored_op(payload)
        assert isinstance(op, o.ResolveConflict)
        target = ws.redirects.resolve(named) if is_field_key(key) else named
        described = _described(ws, target, key, op.field)
        if described is None:
            continue
        is_edge, _table, label, field_name = described
        tips = [w for w in (ws.conflicts.lookup(t, named, key) for t in op.tips) if w is not None]
        superseded = [w for w in tips if w.op_id in resolution_ids]
        out.append(Resolution(
            to_str(op_id), to_str(conflict_id), to_str(target), key, is_edge, label, field_name, op.chosen,
            None if op.chosen_op is None else to_str(op.chosen_op),
            tuple(competitor(w, names, w.op_id in resolution_ids) for w in tips), actor_str(actor),
            names.get(actor, short_actor(actor)), op.hlc, hlc_mod.to_display(op.hlc),
            to_str(max(superseded, key=lambda w: w.ord).op_id) if superseded else None, bool(accepted)))
    return out


def conflict_groups(ws: Context, threshold: int = 100) -> list[tuple[tuple[str, ...], list[Conflict]]]:
    """Open conflicts grouped by the people involved; groups over `threshold` offer take-all.

    For example a script and a colleague both renumbering 500 cues: one group of 500, which
    a person can settle by taking one side for all, or go through one by one.
    """
    groups: dict[tuple[str, ...], list[Conflict]] = {}
    for found in open_conflicts(ws):
        groups.setdefault(found.actors, []).append(found)
    names = {actor_str(a): n for a, n in actor_names(ws.conn).items()}
    return [(tuple(names.get(a, a[:8]) for a in actors), items)
            for actors, items in sorted(groups.items(), key=lambda kv: -len(kv[1])) if len(items) > threshold]


class Conflicts(Part):
    """`ws.conflicts`: conflicts as people read them, open and settled."""

    def open(self, record: IdLike | None = None) -> list[Conflict]:
        """Open conflicts on visible records and edges, oldest first, ready to show people."""
        return open_conflicts(self._cx, record)

    def get(self, record: IdLike, field: str) -> Conflict | None:
        """The open conflict on one field of a record (any mapped field of it), if there is one."""
        return conflict(self._cx, record, field)

    def resolved(self, record: IdLike | None = None) -> list[Resolution]:
        """Every decision that settled a conflict, oldest first: the value chosen, what it was chosen
        over, who decided and when, and which earlier decision it replaced (if any)."""
        return resolved_conflicts(self._cx, record)

    def groups(self, threshold: int = 100) -> list[tuple[tuple[str, ...], list[Conflict]]]:
        """Open conflicts grouped by the people involved; groups over `threshold` offer take-all
        (a script and a colleague both renumbering 500 cues: settle all at once, or one by one)."""
        return conflict_groups(self._cx, threshold)
