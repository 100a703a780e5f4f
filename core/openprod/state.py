"""State derivation: apply one operation to the derived registers.

Every handler writes registers through the upserts in `registers.py`, each guarded by
`excluded.ord > current.ord`, so applying the same ops in any order, any number of times, yields
the same rows. Lifecycle (create/delete/restore of
entities, facets and edges) is a register too, decided by canonical order, never arrival order.
Effects that depend on state at the author's side (cascaded edges, preserved values, copies on
unlink) are computed by the author and carried in the op, so derivation reads only the op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import operations as o
from . import ownership
from .crdt import CrdtStore
from .encoding import encode
from .merge import Redirects, move_state
from .registers import (
    ACTOR,
    CALLING,
    CRDT_FIELD,
    CREATE_EDGE,
    CREATE_ENTITY,
    DECIDE_MAPPING,
    EDGE_LIFE,
    ENTITY_LIFE,
    FACET,
    LINK,
    MODULE,
    OWNER,
    POSITION_KEY,
    RULE,
    SET_FIELD,
    SET_PROP,
    SETTING,
    SUGGEST_MAPPING,
    VIEW,
)
from .values import Reference, to_sql


@dataclass
class Effects:
    """What an applied batch changed that callers cache: the schema and the field groups."""

    schema: bool = False
    mappings: bool = False
    settings: bool = False
    merges: bool = False

    def merge(self, other: Effects) -> None:
        self.schema |= other.schema
        self.mappings |= other.mappings
        self.settings |= other.settings
        self.merges |= other.merges


def _source(source: dict[str, Any]) -> str:
    """How a membership came about: 'user', 'import'..., or 'rule:<rule id>' (so a rule can
    later propose removing only what it added)."""
    if source["type"] == "rule" and "rule" in source:
        return f"rule:{source['rule'].hex()}"
    return str(source["type"])


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


# Op types the applier has no handler for, and who deals with them instead (tests/core/test_op_types.py
# checks every op type is handled here or listed here).
HANDLED_ELSEWHERE: dict[type[o.Op], str] = {
    o.ResolveConflict: "conflicts.ConflictTracker: a resolution settles the register it names",
}


class Applier:
    """Applies ops to the derived tables of one connection (inside the caller's transaction)."""

    def __init__(self, conn: sqlite3.Connection, crdt: CrdtStore | None = None,
                 redirects: Redirects | None = None) -> None:
        self.conn = conn
        self.crdt = crdt
        self.redirects = redirects or Redirects(conn)
        self.r = self.redirects.resolve  # ops naming a merged-away record apply to its survivor
        # bumped by every write to the actors / rules tables: callers that cache what those tables
        # hold (the signed name checked per local commit, the rules fired per local commit) re-read
        # when it moves (a rollback also reloads the workspace, which drops those caches)
        self.actors_version = 0
        self.rules_version = 0
        self._handlers: dict[type[o.Op], Callable[[Any, bytes], Effects | None]] = {
            o.InitWorkspace: self._init_workspace,
            o.IdentifyActor: self._identify_actor,
            o.SetWorkspaceSetting: self._setting,
            o.RecoverOwnership: self._recover,
            o.AdoptModule: self._adopt_module,
            o.CreateEntity: self._create_entity,
            o.DeleteEntity: self._delete_entity,
            o.RestoreEntity: self._restore_entity,
            o.SetField: self._set_field,
            o.ClearField: self._clear_field,
            o.ApplyCrdt: self._apply_crdt,
            o.ClearAndAdd: self._clear_and_add,
            o.SetReference: self._set_reference,
            o.AttachFacet: self._attach_facet,
            o.AddToTable: self._add_to_table,
            o.DetachFacet: self._detach_facet,
            o.RemoveFromTable: self._remove_from_table,
            o.RestoreFacet: self._restore_facet,
            o.CreateEdge: self._create_edge,
            o.CreateOrderedEdge: self._create_edge,
            o.DeleteEdge: self._delete_edge,
            o.RestoreEdge: self._restore_edge,
            o.SetEdgeProperty: self._set_prop,
            o.ClearEdgeProperty: self._clear_prop,
            o.MoveOrderedEdge: self._move_edge,
            o.LinkTables: self._link_tables,
            o.UnlinkTables: self._unlink_tables,
            o.ConfirmFieldMapping: self._confirm_mapping,
            o.CreateRule: self._create_rule,
            o.SaveView: self._save_view,
            o.SetCallingPosition: self._calling,
            o.MergeEntities: self._merge_entities,
            o.SplitEntity: self._split_entity,
        }

    def supports(self, op_type: type[o.Op]) -> bool:
        return op_type in self._handlers

    def apply(self, op: o.Op, actor: bytes) -> Effects:
        handler = self._handlers.get(type(op))
        if handler is None:
            return Effects()
        return handler(op, actor) or Effects()

    # --- workspace ---------------------------------------------------------------------------

    def _init_workspace(self, op: o.InitWorkspace, actor: bytes) -> Effects:
        self.conn.execute(SETTING, ("name", encode(op.name), op.ord, actor))
        self.conn.execute(OWNER, (encode(actor), op.ord, actor))
        ownership.record(self.conn, op, actor)
        return Effects(settings=True)

    def _identify_actor(self, op: o.IdentifyActor, actor: bytes) -> None:
        self.actors_version += 1
        self.conn.execute(ACTOR, (actor, op.display_name, op.ord))

    def _setting(self, op: o.SetWorkspaceSetting, actor: bytes) -> Effects | None:
        # Only the owner's settings take effect, whatever a stored log holds: receivers refuse
        # anyone else's, and a rebuild must derive the same (the owner is set first, by InitWorkspace).
        # Once ownership was recovered, who owned the workspace when depends on canonical order.
        ownership.record(self.conn, op, actor)
        if ownership.recovered(self.conn):
            ownership.derive(self.conn)
            return Effects(settings=True)
        if self.conn.execute("SELECT 1 FROM settings WHERE key = 'owner' AND value = ?",
                             (encode(actor),)).fetchone() is None:
            return None
        self.conn.execute(SETTING, (op.key, encode(op.value), op.ord, actor))
        return Effects(settings=True)

    def _recover(self, op: o.RecoverOwnership, actor: bytes) -> Effects:
        ownership.record(self.conn, op, actor)
        ownership.derive(self.conn)
        return Effects(settings=True)

    def _adopt_module(self, op: o.AdoptModule, actor: bytes) -> Effects:
        self.conn.execute(MODULE, (op.module, op.ord, op.version, op.manifest, actor))
        return Effects(schema=True)

    def _create_rule(self, op: o.CreateRule, actor: bytes) -> None:
        self.rules_version += 1
        self.conn.execute(RULE, (op.rule, op.name, encode(op.definition), op.ord, actor))

    def _save_view(self, op: o.SaveView, actor: bytes) -> None:
        self.conn.execute(VIEW, (op.view, op.name, encode(op.definition), op.ord, actor))

    def _calling(self, op: o.SetCallingPosition, actor: bytes) -> None:
        self.conn.execute(CALLING, (op.cue_list, op.cue, op.ord, actor))

    # --- entities and fields ----------------------------------------------------------------

    def _create_entity(self, op: o.CreateEntity, actor: bytes) -> None:
        self.conn.execute(CREATE_ENTITY, (op.entity, op.ord, actor, op.initial_table, op.ord))
        if op.initial_table is not None:
            self.conn.execute(FACET, (op.entity, op.initial_table, 1, op.ord, actor, "user"))

    def create_entities(self, ops: list[tuple[o.CreateEntity, bytes]]) -> None:
        """Many record creations at once, (op, its author) in order: what `_create_entity` does per op."""
        self.conn.executemany(CREATE_ENTITY, [(op.entity, op.ord, actor, op.initial_table, op.ord)
                                              for op, actor in ops])
        self.conn.executemany(FACET, [(op.entity, op.initial_table, 1, op.ord, actor, "user")
                                      for op, actor in ops if op.initial_table is not None])

    def _delete_entity(self, op: o.DeleteEntity, actor: bytes) -> None:
        # Lifecycle is never redirected: deleting a merged-away id must not depend on whether
        # the merge arrived first (the survivor's own lifecycle decides its existence).
        self.conn.execute(ENTITY_LIFE, (op.entity, op.ord, 0))
        self.conn.executemany(EDGE_LIFE, [(edge, op.ord, 0) for edge in op.cascade_edges])

    def _restore_entity(self, op: o.RestoreEntity, actor: bytes) -> None:
        self.conn.execute(ENTITY_LIFE, (op.entity, op.ord, 1))

    def set_fields(self, rows: list[tuple[bytes, str, str | None, Any, bytes, bytes]]) -> None:
        """Many field writes at once: (record, field, kind, value, ord, actor), the record resolved."""
        if rows:
            self.conn.executemany(SET_FIELD, rows)

    def _set_field(self, op: o.SetField, actor: bytes) -> None:
        kind, value = to_sql(op.value)
        self.conn.execute(SET_FIELD, (self.r(op.entity), op.field, kind, value, op.ord, actor))

    def _clear_field(self, op: o.ClearField, actor: bytes) -> None:
        self.conn.execute(SET_FIELD, (self.r(op.entity), op.field, None, None, op.ord, actor))

    def _set_reference(self, op: o.SetReference, actor: bytes) -> None:
        kind, value = to_sql(Reference(op.source, op.source_field))
        self.conn.execute(SET_FIELD, (self.r(op.entity), op.field, kind, value, op.ord, actor))

    def _apply_crdt(self, op: o.ApplyCrdt, actor: bytes) -> None:
        self.conn.execute(CRDT_FIELD, (self.r(op.entity), op.field, op.ord, actor))
        if self.crdt is not None:
            self.crdt.applied(self.r(op.entity), op.field, op.delta)

    def _clear_and_add(self, op: o.ClearAndAdd, actor: bytes) -> None:
        self.conn.execute(CRDT_FIELD, (self.r(op.entity), op.field, op.ord, actor))
        if self.crdt is not None:
            self.crdt.applied(self.r(op.entity), op.field, op.delta, cleared=op.hlc)

    def _write_fields(self, entity: bytes, values: dict[str, Any], ord_: bytes, actor: bytes) -> None:
        rows = []
        entity = self.r(entity)
        for field, value in values.items():
            kind, sql_value = to_sql(value)
            rows.append((entity, field, kind, sql_value, ord_, actor))
        self.conn.executemany(SET_FIELD, rows)

    # --- facets (table membership) ----------------------------------------------------------

    def _attach_facet(self, op: o.AttachFacet, actor: bytes) -> None:
        self.conn.execute(FACET, (self.r(op.entity), op.facet, 1, op.ord, actor, _source(op.source)))

    def _add_to_table(self, op: o.AddToTable, actor: bytes) -> None:
        self.conn.execute(FACET, (self.r(op.entity), op.table, 1, op.ord, actor, _source(op.source)))
        self._write_fields(op.entity, op.defaults, op.ord, actor)

    def _detach(self, entity: bytes, facet: str, discard: bool, preserved: dict[str, Any],
                ord_: bytes, actor: bytes) -> None:
        self.conn.execute(FACET, (self.r(entity), facet, 0, ord_, actor, "user"))
        if discard:
            self._write_fields(entity, dict.fromkeys(preserved), ord_, actor)

    def _detach_facet(self, op: o.DetachFacet, actor: bytes) -> None:
        self._detach(op.entity, op.facet, not op.preserve, op.preserved, op.ord, actor)

    def _remove_from_table(self, op: o.RemoveFromTable, actor: bytes) -> None:
        self._detach(op.entity, op.table, op.data_handling == "discard", op.preserved, op.ord, actor)

    def _restore_facet(self, op: o.RestoreFacet, actor: bytes) -> None:
        self.conn.execute(FACET, (self.r(op.entity), op.facet, 1, op.ord, actor, "undo"))

    # --- edges ------------------------------------------------------------------------------

    def _create_edge(self, op: o.CreateEdge | o.CreateOrderedEdge, actor: bytes) -> None:
        self.conn.execute(
            CREATE_EDGE, (op.edge, op.edge_type, self.r(op.source), self.r(op.target), op.ord, actor, op.ord)
        )
        rows = []
        for key, value in op.properties.items():
            kind, sql_value = to_sql(value)
            rows.append((op.edge, key, kind, sql_value, op.ord, actor))
        if isinstance(op, o.CreateOrderedEdge):
            rows.append((op.edge, POSITION_KEY, "s", op.position, op.ord, actor))
        self.conn.executemany(SET_PROP, rows)

    def _delete_edge(self, op: o.DeleteEdge, actor: bytes) -> None:
        self.conn.execute(EDGE_LIFE, (op.edge, op.ord, 0))

    def _restore_edge(self, op: o.RestoreEdge, actor: bytes) -> None:
        self.conn.execute(EDGE_LIFE, (op.edge, op.ord, 1))

    def _set_prop(self, op: o.SetEdgeProperty, actor: bytes) -> None:
        kind, value = to_sql(op.value)
        self.conn.execute(SET_PROP, (op.edge, op.key, kind, value, op.ord, actor))

    def _clear_prop(self, op: o.ClearEdgeProperty, actor: bytes) -> None:
        self.conn.execute(SET_PROP, (op.edge, op.key, None, None, op.ord, actor))

    def _move_edge(self, op: o.MoveOrderedEdge, actor: bytes) -> None:
        self.conn.execute(SET_PROP, (op.edge, POSITION_KEY, "s", op.position, op.ord, actor))

    # --- identity repair --------------------------------------------------------------------

    def _merge_entities(self, op: o.MergeEntities, actor: bytes) -> Effects:
        a, b = sorted((op.survivor, op.absorbed))
        # Two partitions may merge the same pair: the earliest merge op is the one recorded.
        self.conn.execute("INSERT INTO merges (a, b, op_id, ord, actor) VALUES (?, ?, ?, ?, ?)"
                          " ON CONFLICT (a, b) DO UPDATE SET op_id = excluded.op_id, ord = excluded.ord,"
                          " actor = excluded.actor WHERE excluded.ord < merges.ord",
                          (a, b, op.op_id, op.ord, actor))
        self.redirects.reload()
        survivor = self.r(a)
        for member in self.redirects.members(survivor):
            if member != survivor:
                move_state(self.conn, survivor, member)
        if self.crdt is not None:
            self.crdt.reset()
        return Effects(merges=True)

    def _split_entity(self, op: o.SplitEntity, actor: bytes) -> None:
        source = self.r(op.source)
        self.conn.execute(CREATE_ENTITY, (op.new_entity, op.ord, actor, None, op.ord))
        for table in op.facets:
            self.conn.execute(FACET, (source, table, 0, op.ord, actor, "user"))
            self.conn.execute(FACET, (op.new_entity, table, 1, op.ord, actor, "user"))
        self._write_fields(op.new_entity, op.values, op.ord, actor)
        self._write_fields(source, dict.fromkeys(op.moved_fields), op.ord, actor)
        a, b = sorted((source, op.new_entity))
        self.conn.execute("INSERT INTO merge_exceptions (a, b, op_id) VALUES (?, ?, ?) ON CONFLICT (a, b)"
                          " DO UPDATE SET op_id = excluded.op_id WHERE excluded.op_id < merge_exceptions.op_id",
                          (a, b, op.op_id))

    # --- links and mappings -----------------------------------------------------------------

    def _link_tables(self, op: o.LinkTables, actor: bytes) -> Effects:
        a, b = _pair(op.source_table, op.target_table)
        self.conn.execute(LINK, (a, b, 1, op.ord, actor))
        self.conn.executemany(
            SUGGEST_MAPPING, [(*_pair(x, y), op.ord, actor) for x, y in op.field_mappings]
        )
        return Effects(mappings=True)

    def _confirm_mapping(self, op: o.ConfirmFieldMapping, actor: bytes) -> Effects:
        a, b = _pair(op.source_field, op.target_field)
        self.conn.execute(DECIDE_MAPPING, (a, b, op.shared_key, "confirmed", op.ord, actor))
        return Effects(mappings=True)

    def _unlink_tables(self, op: o.UnlinkTables, actor: bytes) -> Effects:
        a, b = _pair(op.source_table, op.target_table)
        self.conn.execute(LINK, (a, b, 0, op.ord, actor))
        self.conn.executemany(
            DECIDE_MAPPING, [(*_pair(x, y), None, "removed", op.ord, actor) for x, y in op.mappings]
        )
        rows = []
        for entity, field, value in op.copies:
            kind, sql_value = to_sql(value)
            rows.append((self.r(entity), field, kind, sql_value, op.ord, actor))
        self.conn.executemany(SET_FIELD, rows)
        return Effects(mappings=True)
