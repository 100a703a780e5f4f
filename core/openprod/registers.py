"""Registers: what each op type writes, declared once, and the one rule that writes values.

A register is named by (target, key): a record or edge id, and a field id, an edge property,
`@life` (create/delete/restore) or `@facet:<table>` (membership). `REGISTERS` declares, for every
op type, the registers it writes (its main one and the others: defaults, discards, copies,
cascades) and which of them get a value (the writes that can conflict). The oplog indexes the
former (history, undo guards: `touches`), conflicts and awareness read the latter
(`register_writes`); a test checks every op type is declared here and handled by the applier.

A value register is a record's field (`fields`) or an edge's property (`edge_props`). Every write
is an upsert that replaces the stored value only when it comes later in canonical order (`ord`:
HLC, then op id), so applying the same writes in any order leaves the same rows. The state
applier (`state.py`) and the conflict tracker (`conflicts.py`, re-deriving a register after a
merge or a regroup) both write through the statements below; no other module writes a register.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import operations as o
from .values import Reference

LIFE = "@life"
FACET_PREFIX = "@facet:"
POSITION_KEY = "_position"  # an ordered edge's position, kept as one of its properties

Touch = tuple[bytes, str]
Write = tuple[bytes, str, Any]  # (target, key, value); value None clears


def facet_key(table: str) -> str:
    return FACET_PREFIX + table


@dataclass(frozen=True)
class Writes:
    """The registers one op writes: its main one (None for ops without one), the others, and the
    value writes among them (the ones that can conflict)."""

    main: Touch | None = None
    others: list[Touch] = field(default_factory=list)
    values: list[Write] = field(default_factory=list)


def _entity_field(op: Any) -> Writes:
    return Writes((op.entity, op.field))


def _value(op: Any, value: Any) -> Writes:
    return Writes((op.entity, op.field), values=[(op.entity, op.field, value)])


def _create_entity(op: o.CreateEntity) -> Writes:
    return Writes((op.entity, LIFE), [(op.entity, facet_key(op.initial_table))] if op.initial_table else [])


def _detach(op: o.DetachFacet) -> Writes:
    discarded = [] if op.preserve else list(op.preserved)
    return Writes((op.entity, facet_key(op.facet)), [(op.entity, f) for f in discarded],
                  [(op.entity, f, None) for f in discarded])


def _add_to_table(op: o.AddToTable) -> Writes:
    return Writes((op.entity, facet_key(op.table)), [(op.entity, f) for f in op.defaults],
                  [(op.entity, f, v) for f, v in op.defaults.items()])


def _remove_from_table(op: o.RemoveFromTable) -> Writes:
    discarded = list(op.preserved) if op.data_handling == "discard" else []
    return Writes((op.entity, facet_key(op.table)), [(op.entity, f) for f in discarded],
                  [(op.entity, f, None) for f in discarded])


def _create_edge(op: o.CreateEdge | o.CreateOrderedEdge) -> Writes:
    others = [(op.edge, k) for k in op.properties]
    if isinstance(op, o.CreateOrderedEdge):
        others.append((op.edge, POSITION_KEY))
    return Writes((op.edge, LIFE), others, [(op.edge, k, v) for k, v in op.properties.items()])


def _split(op: o.SplitEntity) -> Writes:
    return Writes((op.new_entity, LIFE),
                  [(op.source, LIFE), *((op.new_entity, f) for f in op.values),
                   *((op.source, f) for f in op.moved_fields), *((op.source, facet_key(t)) for t in op.facets)],
                  [*((op.new_entity, f, v) for f, v in op.values.items()),
                   *((op.source, f, None) for f in op.moved_fields)])


_NOTHING = Writes()

REGISTERS: dict[type[o.Op], Callable[[Any], Writes]] = {
    # the workspace itself, people, modules, mappings and rules: no record or edge register
    o.InitWorkspace: lambda op: _NOTHING,
    o.IdentifyActor: lambda op: _NOTHING,
    o.SetWorkspaceSetting: lambda op: _NOTHING,
    o.RecoverOwnership: lambda op: _NOTHING,  # moves ownership: a workspace setting, not a record's
    o.AdoptModule: lambda op: _NOTHING,
    o.LinkTables: lambda op: _NOTHING,
    o.ConfirmFieldMapping: lambda op: _NOTHING,
    o.CreateRule: lambda op: _NOTHING,
    o.SaveView: lambda op: _NOTHING,
    o.SetCallingPosition: lambda op: _NOTHING,  # a pointer into a cue list, not a record's register
    # records
    o.CreateEntity: _create_entity,
    o.RestoreEntity: lambda op: Writes((op.entity, LIFE)),
    o.DeleteEntity: lambda op: Writes((op.entity, LIFE), [(edge, LIFE) for edge in op.cascade_edges]),
    o.MergeEntities: lambda op: Writes((op.absorbed, LIFE), [(op.survivor, LIFE)]),
    o.SplitEntity: _split,
    # fields
    o.SetField: lambda op: _value(op, op.value),
    o.ClearField: lambda op: _value(op, None),
    o.SetReference: lambda op: _value(op, Reference(op.source, op.source_field)),
    o.ApplyCrdt: _entity_field,
    o.ClearAndAdd: _entity_field,
    o.ResolveConflict: lambda op: Writes((op.target, op.field), values=[(op.target, op.field, op.chosen)]),
    # tables
    o.AttachFacet: lambda op: Writes((op.entity, facet_key(op.facet))),
    o.RestoreFacet: lambda op: Writes((op.entity, facet_key(op.facet))),
    o.DetachFacet: _detach,
    o.AddToTable: _add_to_table,
    o.RemoveFromTable: _remove_from_table,
    o.UnlinkTables: lambda op: Writes(None, [(e, f) for e, f, _ in op.copies], [(e, f, v) for e, f, v in op.copies]),
    # edges
    o.CreateEdge: _create_edge,
    o.CreateOrderedEdge: _create_edge,
    o.DeleteEdge: lambda op: Writes((op.edge, LIFE)),
    o.RestoreEdge: lambda op: Writes((op.edge, LIFE)),
    o.SetEdgeProperty: lambda op: Writes((op.edge, op.key), values=[(op.edge, op.key, op.value)]),
    o.ClearEdgeProperty: lambda op: Writes((op.edge, op.key), values=[(op.edge, op.key, None)]),
    o.MoveOrderedEdge: lambda op: Writes((op.edge, POSITION_KEY)),
}


def writes(op: o.Op) -> Writes:
    """The registers `op` writes (see `REGISTERS`)."""
    return REGISTERS[type(op)](op)


def touches(op: o.Op) -> tuple[Touch | None, list[Touch]]:
    """(main register, other registers) written by `op`: what the oplog indexes."""
    if type(op) is o.SetField:  # most ops by far
        return (op.entity, op.field), []
    found = REGISTERS[type(op)](op)
    return found.main, found.others


def register_writes(op: o.Op) -> list[Write]:
    """(target, field or property, value) for every value register `op` writes (None = clear).

    These are the writes that can conflict: field edits, table defaults, values discarded on
    removal, copies on unlink, conflict resolutions, and edge properties.
    """
    if type(op) is o.SetField:
        return [(op.entity, op.field, op.value)]
    return REGISTERS[type(op)](op).values

SET_FIELD = """
INSERT INTO fields (entity_id, field, kind, value, ord, actor) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (entity_id, field) DO UPDATE SET
    kind = excluded.kind, value = excluded.value, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > fields.ord
"""

# A CRDT field's row marks that it exists and who edited it last; its content is the merge of
# all its ApplyCrdt deltas, rendered on demand (kind 'c', value NULL).
CRDT_FIELD = """
INSERT INTO fields (entity_id, field, kind, value, ord, actor) VALUES (?, ?, 'c', NULL, ?, ?)
ON CONFLICT (entity_id, field) DO UPDATE SET ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > fields.ord
"""

SET_PROP = """
INSERT INTO edge_props (edge_id, key, kind, value, ord, actor) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (edge_id, key) DO UPDATE SET
    kind = excluded.kind, value = excluded.value, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > edge_props.ord
"""

# The other registers (lifecycles, memberships, modules, links, mappings, settings, names, rules):
# the same rule, each statement keeping the later write by `ord` (a creation keeps the earliest).

CREATE_ENTITY = """
INSERT INTO entities (entity_id, created_ord, created_by, initial_table, life_ord, alive)
VALUES (?, ?, ?, ?, ?, 1)
ON CONFLICT (entity_id) DO UPDATE SET
    created_by = CASE WHEN entities.created_ord IS NULL OR excluded.created_ord < entities.created_ord
                      THEN excluded.created_by ELSE entities.created_by END,
    initial_table = CASE WHEN entities.created_ord IS NULL OR excluded.created_ord < entities.created_ord
                      THEN excluded.initial_table ELSE entities.initial_table END,
    created_ord = CASE WHEN entities.created_ord IS NULL OR excluded.created_ord < entities.created_ord
                      THEN excluded.created_ord ELSE entities.created_ord END,
    alive = CASE WHEN excluded.life_ord > entities.life_ord THEN 1 ELSE entities.alive END,
    life_ord = max(entities.life_ord, excluded.life_ord)
"""

ENTITY_LIFE = """
INSERT INTO entities (entity_id, created_ord, created_by, initial_table, life_ord, alive)
VALUES (?, NULL, NULL, NULL, ?, ?)
ON CONFLICT (entity_id) DO UPDATE SET
    alive = CASE WHEN excluded.life_ord > entities.life_ord THEN excluded.alive ELSE entities.alive END,
    life_ord = max(entities.life_ord, excluded.life_ord)
"""

CREATE_EDGE = """
INSERT INTO edges (edge_id, edge_type, source, target, created_ord, created_by, life_ord, alive)
VALUES (?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (edge_id) DO UPDATE SET
    edge_type = CASE WHEN edges.created_ord IS NULL OR excluded.created_ord < edges.created_ord
                     THEN excluded.edge_type ELSE edges.edge_type END,
    source = CASE WHEN edges.created_ord IS NULL OR excluded.created_ord < edges.created_ord
                  THEN excluded.source ELSE edges.source END,
    target = CASE WHEN edges.created_ord IS NULL OR excluded.created_ord < edges.created_ord
                  THEN excluded.target ELSE edges.target END,
    created_by = CASE WHEN edges.created_ord IS NULL OR excluded.created_ord < edges.created_ord
                      THEN excluded.created_by ELSE edges.created_by END,
    created_ord = CASE WHEN edges.created_ord IS NULL OR excluded.created_ord < edges.created_ord
                       THEN excluded.created_ord ELSE edges.created_ord END,
    alive = CASE WHEN excluded.life_ord > edges.life_ord THEN 1 ELSE edges.alive END,
    life_ord = max(edges.life_ord, excluded.life_ord)
"""

EDGE_LIFE = """
INSERT INTO edges (edge_id, edge_type, source, target, created_ord, created_by, life_ord, alive)
VALUES (?, NULL, NULL, NULL, NULL, NULL, ?, ?)
ON CONFLICT (edge_id) DO UPDATE SET
    alive = CASE WHEN excluded.life_ord > edges.life_ord THEN excluded.alive ELSE edges.alive END,
    life_ord = max(edges.life_ord, excluded.life_ord)
"""

FACET = """
INSERT INTO facets (entity_id, facet, attached, ord, actor, source) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (entity_id, facet) DO UPDATE SET
    attached = excluded.attached, ord = excluded.ord, actor = excluded.actor, source = excluded.source
WHERE excluded.ord > facets.ord
"""

MODULE = """
INSERT OR IGNORE INTO modules (module, ord, version, manifest, actor) VALUES (?, ?, ?, ?, ?)
"""

LINK = """
INSERT INTO table_links (table_a, table_b, linked, ord, actor) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (table_a, table_b) DO UPDATE SET
    linked = excluded.linked, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > table_links.ord
"""

# A suggestion never overrides a decision (confirmed/removed); decisions are LWW among themselves.
SUGGEST_MAPPING = """
INSERT INTO field_mappings (field_a, field_b, shared_key, status, ord, actor) VALUES (?, ?, NULL, 'suggested', ?, ?)
ON CONFLICT (field_a, field_b) DO UPDATE SET ord = excluded.ord, actor = excluded.actor
WHERE field_mappings.status = 'suggested' AND excluded.ord > field_mappings.ord
"""

DECIDE_MAPPING = """
INSERT INTO field_mappings (field_a, field_b, shared_key, status, ord, actor) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (field_a, field_b) DO UPDATE SET
    shared_key = excluded.shared_key, status = excluded.status, ord = excluded.ord, actor = excluded.actor
WHERE field_mappings.status = 'suggested' OR excluded.ord > field_mappings.ord
"""

SETTING = """
INSERT INTO settings (key, value, ord, actor) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > settings.ord
"""

# The workspace owner is whoever initialised it first (smallest ord wins).
OWNER = """
INSERT INTO settings (key, value, ord, actor) VALUES ('owner', ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord < settings.ord
"""

ACTOR = """
INSERT INTO actors (actor, display_name, ord) VALUES (?, ?, ?)
ON CONFLICT (actor) DO UPDATE SET display_name = excluded.display_name, ord = excluded.ord
WHERE excluded.ord > actors.ord
"""

RULE = """
INSERT INTO rules (rule_id, name, definition, ord, actor) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (rule_id) DO UPDATE SET
    name = excluded.name, definition = excluded.definition, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > rules.ord
"""

VIEW = """
INSERT INTO views (view_id, name, definition, ord, actor) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (view_id) DO UPDATE SET
    name = excluded.name, definition = excluded.definition, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > views.ord
"""

CALLING = """
INSERT INTO calling_positions (cue_list, cue, ord, actor) VALUES (?, ?, ?, ?)
ON CONFLICT (cue_list) DO UPDATE SET cue = excluded.cue, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > calling_positions.ord
"""

# Moving an absorbed record's registers onto the survivor: last writer wins, as for any write.
MOVE_FIELDS = """
INSERT INTO fields (entity_id, field, kind, value, ord, actor)
SELECT ?, field, kind, value, ord, actor FROM fields WHERE entity_id = ? AND true
ON CONFLICT (entity_id, field) DO UPDATE SET
    kind = excluded.kind, value = excluded.value, ord = excluded.ord, actor = excluded.actor
WHERE excluded.ord > fields.ord
"""

# A split writes both records' memberships at one ord (detached here, attached there): merging
# them again keeps the table (attached wins the tie, whatever order the two rows meet in).
MOVE_FACETS = """
INSERT INTO facets (entity_id, facet, attached, ord, actor, source)
SELECT ?, facet, attached, ord, actor, source FROM facets WHERE entity_id = ? AND true
ON CONFLICT (entity_id, facet) DO UPDATE SET
    attached = excluded.attached, ord = excluded.ord, actor = excluded.actor, source = excluded.source
WHERE excluded.ord > facets.ord OR (excluded.ord = facets.ord AND excluded.attached > facets.attached)
"""
