"""Local writes: a Transaction gathers validated ops that commit as one signed bundle.

Each write is checked against the schema and the current state, then applied at once inside
the open SQLite transaction, so later writes in the same transaction see earlier ones and a
failure rolls everything back. Public ids are canonical UUID strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import operations as o
from . import positions
from .errors import NotFoundError, ValidationError
from .groups import FieldGroups
from .ids import IdLike, as_id, to_str
from .modules import FieldDef, TableDef, normalize_value, parse_manifest, property_def
from .reads import (
    edge_state,
    edges,
    entity_state,
    facet_attached,
    group_value,
    table_members,
    tables_of,
)
from .undo import _UNREAD, Step, capture
from .validation import check_op
from .values import Reference

if TYPE_CHECKING:
    from .conflicts import Conflict
    from .workspace import Workspace

_UNSET: Any = object()



class Transaction:
    """Use through `Workspace.transaction()` (sync) or `transaction_async()`."""

    def __init__(self, ws: Workspace, kind: str = "edit", meta: dict[str, Any] | None = None, *,
                 staging: bool = False) -> None:
        self.ws = ws
        self.kind = kind
        self.meta = dict(meta or {})
        self.staging = staging  # writes go into the active overlay, not into a bundle
        self.ops: list[o.Op] = []
        # inverse steps for undo; None once an op that cannot be undone is added (or when staging)
        self.steps: list[Step] | None = None if staging else []
        self.schema = ws.schema
        self.created: list[str] = []
        self.clock = dict(ws.vector_clock)  # what this actor had integrated: decides conflicts
        ws.conflicts.begin_bundle()

    # --- plumbing ---------------------------------------------------------------------------

    def add(self, cls: type[o.Op], _before: Any = _UNREAD, **payload: Any) -> o.Op:
        """Validate, apply and record one op. Raises ValidationError; the caller rolls back.
        `_before`: the field's current value when the caller has just read it (saves undo a read)."""
        ws = self.ws
        if self.staging:
            ws.overlays.check(cls)
        op = o.make_op(cls, ws.ids.new(), ws.overlays.next_hlc() if self.staging else ws.clock.tick(), **payload)
        self.schema = check_op(op, self.schema)
        if self.steps is not None and cls is not o.IdentifyActor:
            inverse = capture(ws.conn, ws.groups, op, lambda: self._label(op), _before)
            if inverse is None:
                self.steps = None
            else:
                self.steps.extend(inverse)
        prior = ws.conflicts.prior(op)
        effects = ws.applier.apply(op, ws.actor_id)
        ws._after_effects(effects, self.schema, op)
        ws.conflicts.pending.append((op, ws.writer, self.clock))
        ws.conflicts.observe(op, ws.writer, self.clock, prior)
        self.ops.append(op)
        return op

    def _label(self, op: o.Op) -> str:
        entity = getattr(op, "entity", None)
        field_id = getattr(op, "field", None)
        if entity is None:
            return op.TYPE
        label = self.ws.record_label(entity)
        if field_id is not None and field_id in self.schema.fields:
            fdef = self.schema.fields[field_id]
            table = self.schema.tables[fdef.table]
            return f"{table.display_name} › {label} › {fdef.display_name}"
        return label

    def _live_entity(self, record: IdLike) -> bytes:
        entity = as_id(record, "record id")
        survivor = self.ws.redirects.resolve(entity)
        if survivor != entity:
            raise ValidationError(f"record {to_str(entity)} was merged into {to_str(survivor)}; "
                                  "use that record")
        state = entity_state(self.ws.conn, entity)
        if state is None or not state[0]:
            raise NotFoundError(f"record {to_str(entity)} does not exist")
        if not state[1]:
            raise ValidationError(f"record {to_str(entity)} is deleted; restore it before changing it")
        return entity

    def _field(self, name: str, entity: bytes | None = None) -> FieldDef:
        """A field by its full id, or by a shorter name that names one field of `entity`'s tables."""
        return self.schema.field(name, None if entity is None else lambda: tables_of(self.ws.conn, entity))

    def _table(self, table: str) -> TableDef:
        return self.schema.table(table)

    # --- records and fields -----------------------------------------------------------------

    def create_record(self, table: str, values: dict[str, Any] | None = None, *,
                      record_id: IdLike | None = None) -> str:
        """Create a record in `table` with `values` (field name or id -> value) and defaults."""
        tdef = self._table(table)
        entity = as_id(record_id, "record id") if record_id is not None else self.ws.ids.new()
        if entity_state(self.ws.conn, entity) is not None:
            raise ValidationError(f"record id {to_str(entity)} is already in use")
        given = self._table_values(tdef, values or {})
        for fdef in tdef.fields.values():
            if fdef.id not in given and fdef.default is not None:
                given[fdef.id] = fdef.default
        missing = [f.display_name for f in tdef.fields.values() if f.required and f.id not in given]
        if missing:
            raise ValidationError(f"{tdef.display_name}: required field(s) missing: {', '.join(missing)}")
        self.add(o.CreateEntity, entity=entity, initial_table=tdef.id)
        for field_id, value in given.items():
            self.add(o.SetField, entity=entity, field=field_id, value=value)
        self.created.append(to_str(entity))
        return to_str(entity)

    def _table_values(self, tdef: TableDef, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            fdef = tdef.field(key.rsplit(".", 1)[-1]) if isinstance(key, str) else None
            if fdef is None or (key.count(".") == 2 and key != fdef.id):
                raise ValidationError(f"{tdef.display_name} has no field {key!r}")
            if value is None:
                continue
            if fdef.crdt is not None:
                raise ValidationError(f"field {fdef.display_name!r} is collaborative text/list; edit it with "
                                      f"the CRDT methods, not set")
            out[fdef.id] = normalize_value(fdef, value)
        return out

    def _through(self, entity: bytes, field_id: str) -> tuple[bytes, str, Any]:
        """Where a write lands: a field in reference mode edits the field it shows. Also returns
        that field's current value."""
        for _ in range(9):
            current = group_value(self.ws.conn, self.ws.groups, entity, field_id)
            if current is None or not isinstance(current.value, Reference):
                return entity, field_id, None if current is None else current.value
            _value, broken = self.ws.follow(current.value)
            if broken is not None:
                raise ValidationError(f"this field shows another record's value, but {broken}; "
                                      "clear the reference to type a value here")
            entity, field_id = self.ws.redirects.resolve(current.value.source), current.value.field
        raise ValidationError("these references point at each other in a loop")

    def set_field(self, record: IdLike, field: str, value: Any) -> None:
        """Set one field; `None` clears it. A field in reference mode edits its source."""
        if value is None:
            self.clear_field(record, field)
            return
        entity = self._live_entity(record)
        entity, field, before = self._through(entity, self._field(field, entity).id)
        fdef = self._field(field)
        if fdef.crdt is not None:
            raise ValidationError(f"field {fdef.display_name!r} is a {fdef.crdt} CRDT field: SetField is not "
                                  f"allowed; use the CRDT edit methods")
        self._require_member(entity, fdef)
        self.add(o.SetField, before, entity=entity, field=fdef.id, value=normalize_value(fdef, value))

    def clear_field(self, record: IdLike, field: str) -> None:
        entity = self._live_entity(record)
        entity, field, before = self._through(entity, self._field(field, entity).id)
        fdef = self._field(field)
        if fdef.crdt is not None:
            raise ValidationError(f"field {fdef.display_name!r} is a CRDT field and cannot be cleared this way")
        if fdef.required:
            raise ValidationError(f"field {fdef.display_name!r} is required and cannot be cleared")
        self._require_member(entity, fdef)
        self.add(o.ClearField, before, entity=entity, field=fdef.id)

    def set_reference(self, record: IdLike, field: str, source: IdLike, source_field: str) -> None:
        """Reference mode: the field shows `source`'s `source_field` (and edits go there)."""
        entity = self._live_entity(record)
        origin = self._live_entity(source)
        fdef, sdef = self._field(field, entity), self._field(source_field, origin)
        field, source_field = fdef.id, sdef.id
        self._require_member(entity, fdef)
        if fdef.crdt is not None or sdef.crdt is not None:
            raise ValidationError("collaborative (CRDT) fields cannot be references or referenced")
        if fdef.type != sdef.type:
            raise ValidationError(f"{fdef.display_name} ({fdef.type}) cannot show {sdef.display_name} ({sdef.type})")
        entity_at, field_at = origin, source_field
        for _ in range(9):  # refuse a loop before it exists
            if entity_at == entity and self.ws.groups.key(field_at) == self.ws.groups.key(field):
                raise ValidationError("a field cannot show itself, directly or through other references")
            current = group_value(self.ws.conn, self.ws.groups, entity_at, field_at)
            if current is None or not isinstance(current.value, Reference):
                break
            entity_at, field_at = self.ws.redirects.resolve(current.value.source), current.value.field
        self.add(o.SetReference, entity=entity, field=fdef.id, source=origin, source_field=sdef.id)

    def clear_reference(self, record: IdLike, field: str) -> None:
        """Back to a plain value: the field keeps what it currently shows, as its own value."""
        entity = self._live_entity(record)
        fdef = self._field(field, entity)
        current = group_value(self.ws.conn, self.ws.groups, entity, fdef.id)
        if current is None or not isinstance(current.value, Reference):
            raise ValidationError(f"{fdef.display_name} is not showing another record's value")
        value, _broken = self.ws.follow(current.value)
        if value is None:
            self.add(o.ClearField, entity=entity, field=fdef.id)
        else:
            self.add(o.SetField, entity=entity, field=fdef.id, value=value)

    def _require_member(self, entity: bytes, fdef: FieldDef) -> None:
        if not facet_attached(self.ws.conn, entity, fdef.table):
            table = self.schema.tables[fdef.table].display_name
            raise ValidationError(f"record {to_str(entity)} is not in table {table!r}; add it to the table first")

    # --- CRDT text and list fields -----------------------------------------------------------

    def _crdt_field(self, record: IdLike, field: str, kind: str) -> tuple[bytes, FieldDef]:
        entity = self._live_entity(record)
        fdef = self._field(field, entity)
        if fdef.crdt != kind:
            raise ValidationError(f"field {fdef.display_name!r} is not a collaborative {kind} field")
        self._require_member(entity, fdef)
        return entity, fdef

    def edit_text(self, record: IdLike, field: str, edits: list[tuple[int, int, str]]) -> None:
        """Apply (index, delete count, insert text) edits to a text CRDT field, in order.

        Concurrent edits by others merge character by character; they never conflict.
        """
        entity, fdef = self._crdt_field(record, field, "text")
        store = self.ws.crdt
        backend = store.require()
        doc = store.doc(entity, fdef.id, "text")
        length = backend.length(doc)
        checked = []
        for edit in edits:
            if not (isinstance(edit, (tuple, list)) and len(edit) == 3):
                raise ValidationError("each text edit is (index, delete count, insert text)")
            index, delete, insert = edit
            if isinstance(index, bool) or not isinstance(index, int) or not isinstance(delete, int) \
                    or isinstance(delete, bool) or not isinstance(insert, str):
                raise ValidationError("each text edit is (index, delete count, insert text)")
            if index < 0 or delete < 0 or index + delete > length:
                raise ValidationError(f"text edit ({index}, {delete}) is outside the text (length {length})")
            length += len(insert) - delete
            checked.append((index, delete, insert))
        if not checked:
            return
        delta = backend.edit_text(doc, checked)
        self.add(o.ApplyCrdt, entity=entity, field=fdef.id, crdt_type="text", delta=delta)

    def set_text(self, record: IdLike, field: str, text: str) -> None:
        """Replace a text CRDT field's content, as the smallest edit (keeps concurrent edits)."""
        if not isinstance(text, str):
            raise ValidationError("text must be a string")
        entity, fdef = self._crdt_field(record, field, "text")
        current = self.ws.crdt.render(entity, fdef.id, "text")
        start = 0
        while start < min(len(current), len(text)) and current[start] == text[start]:
            start += 1
        end = 0
        while end < min(len(current), len(text)) - start and current[-1 - end] == text[-1 - end]:
            end += 1
        if current != text:
            self.edit_text(entity, fdef.id, [(start, len(current) - start - end, text[start:len(text) - end])])

    def set_list(self, record: IdLike, field: str, values: list[Any]) -> None:
        """Reset a list CRDT field to `values` (items others add concurrently are kept)."""
        entity, fdef = self._crdt_field(record, field, "list")
        item = FieldDef(id=fdef.id, table=fdef.table, name=fdef.name, type=fdef.item_type or "string",
                        display_name=fdef.display_name)
        clean = [normalize_value(item, v) for v in values]
        store = self.ws.crdt
        delta = store.require().replace_list(store.doc(entity, fdef.id, "list"), clean)
        self.add(o.ApplyCrdt, entity=entity, field=fdef.id, crdt_type="list", delta=delta)

    def delete_record(self, record: IdLike) -> None:
        """Delete the record everywhere; its edges are deleted with it (and listed in the op)."""
        entity = self._live_entity(record)
        cascade = sorted({e.edge_id for e in edges(self.ws.conn, source=entity)}
                         | {e.edge_id for e in edges(self.ws.conn, target=entity)})
        self.add(o.DeleteEntity, entity=entity, cascade_edges=cascade)

    def restore_record(self, record: IdLike) -> None:
        entity = as_id(record, "record id")
        state = entity_state(self.ws.conn, entity)
        if state is None or not state[0]:
            raise NotFoundError(f"record {to_str(entity)} does not exist")
        if state[1]:
            raise ValidationError(f"record {to_str(entity)} is not deleted")
        self.add(o.RestoreEntity, entity=entity)

    # --- table membership -------------------------------------------------------------------

    def add_to_table(self, record: IdLike, table: str, values: dict[str, Any] | None = None) -> None:
        """Add an existing record to another table; empty fields get `values`, then defaults."""
        entity = self._live_entity(record)
        tdef = self._table(table)
        if facet_attached(self.ws.conn, entity, tdef.id):
            raise ValidationError(f"record is already in table {tdef.display_name!r}")
        given = self._table_values(tdef, values or {})
        defaults: dict[str, Any] = {}
        missing = []
        for fdef in tdef.fields.values():
            current = group_value(self.ws.conn, self.ws.groups, entity, fdef.id)
            has_value = current is not None and current.value is not None
            if fdef.id in given:
                defaults[fdef.id] = given[fdef.id]
            elif not has_value and fdef.default is not None:
                defaults[fdef.id] = fdef.default
            elif not has_value and fdef.required:
                missing.append(fdef.display_name)
        if missing:
            raise ValidationError(f"{tdef.display_name}: required field(s) missing: {', '.join(missing)}")
        self.add(o.AddToTable, entity=entity, table=tdef.id, defaults=defaults, source={"type": "user"})

    def remove_from_table(self, record: IdLike, table: str, *, discard: bool = False) -> None:
        """Take a record out of one table. Its values are kept (recoverable) unless `discard`.

        Taking it out of its last table deletes the record, its links with it (data-model.md:
        "if the entity has no remaining facets, the entity itself is deleted"); undo restores both."""
        entity = self._live_entity(record)
        tdef = self._table(table)
        if not facet_attached(self.ws.conn, entity, tdef.id):
            raise ValidationError(f"record is not in table {tdef.display_name!r}")
        preserved: dict[str, Any] = {}
        other_tables = [t for t in tables_of(self.ws.conn, entity) if t != tdef.id]
        shared = self.ws.groups.expand(
            f.id for t in other_tables if t in self.schema.tables for f in self.schema.tables[t].fields.values()
        )
        for fdef in tdef.fields.values():
            if fdef.crdt is not None or (discard and fdef.id in shared):
                continue
            current = group_value(self.ws.conn, self.ws.groups, entity, fdef.id, self.ws._show)
            if current is not None and current.value is not None:
                preserved[fdef.id] = current.value  # what it shows (a reference's value, too)
        self.add(o.RemoveFromTable, entity=entity, table=tdef.id,
                 data_handling="discard" if discard else "preserve", preserved=preserved)
        if not other_tables:
            self.delete_record(entity)

    # --- edges ------------------------------------------------------------------------------

    def _edge_props(self, edge_type: str, props: dict[str, Any]) -> dict[str, Any]:
        etype = self.schema.edge_type(edge_type)
        return {k: normalize_value(property_def(etype, k), v) for k, v in props.items() if v is not None}

    def _check_ends(self, edge_type: str, source: bytes, target: bytes) -> None:
        etype = self.schema.edge_type(edge_type)
        for end, allowed, what in ((source, etype.source_tables, "source"), (target, etype.target_tables, "target")):
            if allowed and not set(tables_of(self.ws.conn, end)) & set(allowed):
                names = ", ".join(self.schema.tables[t].display_name for t in allowed)
                raise ValidationError(f"{etype.display_name}: the {what} must be a record in {names}")

    def create_edge(self, edge_type: str, source: IdLike, target: IdLike,
                    properties: dict[str, Any] | None = None) -> str:
        etype = self.schema.edge_type(edge_type)
        edge_type = etype.id
        if etype.ordered:
            raise ValidationError(f"edge type {etype.display_name!r} is ordered: use create_ordered_edge")
        src, tgt = self._live_entity(source), self._live_entity(target)
        self._check_ends(edge_type, src, tgt)
        edge = self.ws.ids.new()
        self.add(o.CreateEdge, edge=edge, edge_type=edge_type, source=src, target=tgt,
                 properties=self._edge_props(edge_type, properties or {}))
        return to_str(edge)

    def _live_edge(self, edge: IdLike) -> tuple[bytes, str]:
        edge = as_id(edge, "edge id")
        state = edge_state(self.ws.conn, edge)
        if state is None or state[0] is None:
            raise NotFoundError(f"edge {to_str(edge)} does not exist")
        if not state[3]:
            raise ValidationError(f"edge {to_str(edge)} is deleted")
        return edge, state[0]

    def delete_edge(self, edge: IdLike) -> None:
        edge, _ = self._live_edge(edge)
        self.add(o.DeleteEdge, edge=edge)

    def restore_edge(self, edge: IdLike) -> None:
        edge = as_id(edge, "edge id")
        state = edge_state(self.ws.conn, edge)
        if state is None or state[0] is None:
            raise NotFoundError(f"edge {to_str(edge)} does not exist")
        if state[3]:
            raise ValidationError(f"edge {to_str(edge)} is not deleted")
        self.add(o.RestoreEdge, edge=edge)

    def set_edge_property(self, edge: IdLike, key: str, value: Any) -> None:
        edge, edge_type = self._live_edge(edge)
        if value is None:
            property_def(self.schema.edge_type(edge_type), key)
            self.add(o.ClearEdgeProperty, edge=edge, key=key)
            return
        pdef = property_def(self.schema.edge_type(edge_type), key)
        self.add(o.SetEdgeProperty, edge=edge, key=key, value=normalize_value(pdef, value))

    def _neighbours(self, edge_type: str, target: bytes, exclude: bytes | None) -> list[tuple[bytes, str]]:
        rows = edges(self.ws.conn, target=target, edge_type=edge_type)
        return [(e.edge_id, e.position or "") for e in rows if e.edge_id != exclude]

    def _position(self, edge_type: str, target: bytes, after: IdLike | None, before: IdLike | None,
                  exclude: bytes | None = None) -> tuple[str, bytes | None, bytes | None, list[tuple[bytes, str]]]:
        """Position between `after` and `before` (ids of edges in the same list).

        Returns (position, after id, before id, moves) where `moves` re-spaces a neighbour in the
        rare case two concurrent inserts left equal positions exactly where we insert.
        """
        order = self._neighbours(edge_type, target, exclude)
        index = {e: i for i, (e, _) in enumerate(order)}
        after_id = as_id(after, "after") if after is not None else None
        before_id = as_id(before, "before") if before is not None else None
        for ref in (after_id, before_id):
            if ref is not None and ref not in index:
                raise ValidationError(f"edge {to_str(ref)} is not in this list")
        if after_id is None and before_id is None:
            lo = order[-1][1] if order else None
            return positions.between(lo, None), (order[-1][0] if order else None), None, []
        if after_id is not None and before_id is None:
            i = index[after_id]
            before_id = order[i + 1][0] if i + 1 < len(order) else None
        elif before_id is not None and after_id is None:
            i = index[before_id]
            after_id = order[i - 1][0] if i > 0 else None
        lo = order[index[after_id]][1] if after_id is not None else None
        hi = order[index[before_id]][1] if before_id is not None else None
        if after_id is not None and before_id is not None and index[after_id] + 1 != index[before_id]:
            raise ValidationError("'after' and 'before' must be neighbours in the list")
        moves: list[tuple[bytes, str]] = []
        if lo is not None and hi is not None and lo >= hi:
            # Equal positions from concurrent inserts: move `before` up to make room.
            j = index[before_id]  # type: ignore[index]
            nxt = next((p for _, p in order[j + 1:] if p > hi), None)
            new_hi = positions.between(hi, nxt)
            moves.append((before_id, new_hi))  # type: ignore[arg-type]
            hi = new_hi
        return positions.between(lo, hi), after_id, before_id, moves

    def create_ordered_edge(self, edge_type: str, source: IdLike, target: IdLike, *,
                            after: IdLike | None = None, before: IdLike | None = None,
                            properties: dict[str, Any] | None = None) -> str:
        """Insert into the ordered list of `target`; default is at the end."""
        etype = self.schema.edge_type(edge_type)
        edge_type = etype.id
        if not etype.ordered:
            raise ValidationError(f"edge type {etype.display_name!r} is not ordered: use create_edge")
        src, tgt = self._live_entity(source), self._live_entity(target)
        self._check_ends(edge_type, src, tgt)
        position, after_id, before_id, moves = self._position(edge_type, tgt, after, before)
        for moved, new_position in moves:
            self.add(o.MoveOrderedEdge, edge=moved, after=None, before=None, position=new_position)
        edge = self.ws.ids.new()
        self.add(o.CreateOrderedEdge, edge=edge, edge_type=edge_type, source=src, target=tgt, after=after_id,
                 before=before_id, position=position, properties=self._edge_props(edge_type, properties or {}))
        return to_str(edge)

    def move_ordered_edge(self, edge: IdLike, *, after: IdLike | None = None,
                          before: IdLike | None = None) -> None:
        edge, edge_type = self._live_edge(edge)
        if not self.schema.edge_type(edge_type).ordered:
            raise ValidationError("only ordered edges can be moved")
        state = edge_state(self.ws.conn, edge)
        assert state is not None and state[2] is not None
        position, after_id, before_id, moves = self._position(edge_type, state[2], after, before, exclude=edge)
        for moved, new_position in moves:
            self.add(o.MoveOrderedEdge, edge=moved, after=None, before=None, position=new_position)
        self.add(o.MoveOrderedEdge, edge=edge, after=after_id, before=before_id, position=position)

    # --- schema, links, settings ------------------------------------------------------------

    def adopt_module(self, manifest: str) -> str:
        """Adopt a module for the whole workspace. Returns the module name."""
        from .modules import check_compatible

        module = parse_manifest(manifest)
        existing = self.schema.modules.get(module.name)
        if existing is not None:
            check_compatible(existing, module)
        self.add(o.AdoptModule, module=module.name, version=module.version, manifest=manifest)
        return module.name

    def suggested_mappings(self, source_table: str, target_table: str) -> list[tuple[str, str, str]]:
        """(source field, target field, shared key) pairs whose modules declare the same shared key."""
        src, tgt = self._table(source_table), self._table(target_table)
        out = []
        for f in src.fields.values():
            for g in tgt.fields.values():
                if f.shared_key and f.shared_key == g.shared_key and (f.type, f.crdt) == (g.type, g.crdt):
                    out.append((f.id, g.id, f.shared_key))
        return out

    def link_tables(self, source_table: str, target_table: str) -> None:
        source_table, target_table = self._table(source_table).id, self._table(target_table).id
        if source_table == target_table:
            raise ValidationError("a table cannot be linked to itself")
        pairs = [(a, b) for a, b, _ in self.suggested_mappings(source_table, target_table)]
        self.add(o.LinkTables, source_table=source_table, target_table=target_table, field_mappings=pairs)

    def confirm_field_mapping(self, source_field: str, target_field: str, shared_key: str | None = None) -> None:
        fa, fb = self._field(source_field), self._field(target_field)
        if fa.table == fb.table:
            raise ValidationError("mapped fields must belong to different tables")
        key = shared_key or fa.shared_key or fb.shared_key or fa.name
        self.add(o.ConfirmFieldMapping, source_table=fa.table, target_table=fb.table, source_field=fa.id,
                 target_field=fb.id, shared_key=key)

    def unlink_tables(self, source_table: str, target_table: str, *, data_handling: str = "copy") -> list[str]:
        """Unlink two tables (data-model.md: "detach facets, copy data to new standalone entities").

        Their confirmed field mappings end, and every record in both tables leaves the target
        table. With `copy` (the default) a new standalone record takes its place there, holding
        what it showed in that table, while it keeps in the source table what it showed there;
        with `discard` its target-table values are dropped. Returns the new records' ids. Undo
        brings the link, the mappings and the shared records back."""
        if data_handling not in ("copy", "discard"):
            raise ValidationError("data_handling is 'copy' (new standalone records) or 'discard'")
        src, tgt = self._table(source_table), self._table(target_table)
        if src.id == tgt.id:
            raise ValidationError("a table cannot be unlinked from itself")
        conn, groups, show = self.ws.conn, self.ws.groups, self.ws._show
        confirmed = self.ws.confirmed_mappings()
        mappings = []
        for a, b in confirmed:
            fa, fb = self.schema.fields.get(a), self.schema.fields.get(b)
            if fa and fb and {fa.table, fb.table} == {src.id, tgt.id}:
                mappings.append((a, b))
        remaining = FieldGroups([pair for pair in confirmed if pair not in mappings])
        copies: list[tuple[bytes, str, Any]] = []
        plans: list[tuple[bytes, dict[str, Any], list[str]]] = []
        for entity in sorted(set(table_members(conn, src.id)) & set(table_members(conn, tgt.id))):
            for a, b in mappings:  # the source side keeps showing the shared value, as its own
                mine = a if self.schema.fields[a].table == src.id else b
                current = group_value(conn, groups, entity, mine, show)
                if current is not None and current.value is not None:
                    copies.append((entity, mine, current.value))
            values = {}
            for fdef in tgt.fields.values():
                current = group_value(conn, groups, entity, fdef.id, show) if fdef.crdt is None else None
                if current is not None and current.value is not None:
                    values[fdef.id] = current.value
            # its own target-table registers are cleared, unless the field stays one semantic
            # field with a field of another table the record is still in
            kept = {f.id for t in tables_of(conn, entity) if t != tgt.id and t in self.schema.tables
                    for f in self.schema.tables[t].fields.values()}
            moved = sorted(f.id for f in tgt.fields.values()
                           if f.crdt is None and not set(remaining.members(f.id)) & kept)
            plans.append((entity, values, moved))
        self.add(o.UnlinkTables, source_table=src.id, target_table=tgt.id, data_handling=data_handling,
                 mappings=mappings, copies=copies)
        created = []
        for entity, values, moved in plans:
            if data_handling == "discard":
                self.remove_from_table(entity, tgt.id, discard=True)
                continue
            new = self.ws.ids.new()
            self.add(o.SplitEntity, source=entity, new_entity=new, facets=[tgt.id], moved_fields=moved,
                     copied_fields=[], values=values)
            created.append(to_str(new))
        self.created.extend(created)
        return created

    def set_setting(self, key: str, value: Any) -> None:
        """Change a workspace setting (owner only: every receiver refuses it from anyone else)."""
        from .settings import check_setter

        check_setter(self.ws.settings.owner, self.ws.actor_id)
        self.add(o.SetWorkspaceSetting, key=key, value=value)

    # --- identity repair ----------------------------------------------------------------------

    def merge_records(self, first: IdLike, second: IdLike) -> str:
        """Merge two records that are the same real thing; returns the survivor's id.

        The survivor is the smaller id, so independent merges of the same pair agree. It keeps
        every table membership of both; fields where the two records disagree become conflicts.
        """
        a, b = self._live_entity(first), self._live_entity(second)
        if a == b:
            raise ValidationError("a record cannot be merged with itself")
        survivor, absorbed = min(a, b), max(a, b)
        self.add(o.MergeEntities, survivor=survivor, absorbed=absorbed)
        return to_str(survivor)

    def split_record(self, record: IdLike, *, tables: list[str], move: list[str] | None = None,
                     copy: list[str] | None = None) -> str:
        """Split a record: `tables` and the `move` fields go to a new record, `copy` fields to both.

        The pair is remembered as a merge exception so rules never propose merging them again.
        """
        entity = self._live_entity(record)
        current = set(tables_of(self.ws.conn, entity))
        tables = [self._table(t).id for t in tables]
        for table in tables:
            if table not in current:
                raise ValidationError(f"record is not in table {self._table(table).display_name!r}")
        if not tables:
            raise ValidationError("a split moves at least one table to the new record")
        if set(tables) == current:
            raise ValidationError("a split must leave at least one table with the original record")
        moved = [self._field(f, entity).id for f in move or []]
        copied = [self._field(f, entity).id for f in copy or []]
        values: dict[str, Any] = {}
        for field_id in moved + copied:
            current_value = group_value(self.ws.conn, self.ws.groups, entity, field_id, self.ws._show)
            if current_value is not None and current_value.value is not None:
                values[field_id] = current_value.value
        new = self.ws.ids.new()
        self.add(o.SplitEntity, source=entity, new_entity=new, facets=sorted(tables), moved_fields=sorted(moved),
                 copied_fields=sorted(copied), values=values)
        self.created.append(to_str(new))
        return to_str(new)

    # --- conflicts ----------------------------------------------------------------------------

    def resolve_conflict(self, conflict: Conflict, *, pick: IdLike | None = None, value: Any = _UNSET) -> None:
        """Settle an open conflict: `pick` one competitor's op id, or give a new `value` (None clears).

        The resolution is an operation that has seen every competing write, so the field has a
        single value again everywhere; a later edit from someone who had not seen it reopens it.
        Resolving a reopened conflict records that it overrides the earlier resolution.
        """
        from .conflicts import open_conflict_rows

        target = as_id(conflict.target, "conflict target")
        current = open_conflict_rows(self.ws.conn, target).get((target, conflict.key))
        if current is None or {to_str(t.op_id) for t in current} != {c.op_id for c in conflict.competitors}:
            raise ValidationError("this conflict has changed or is already resolved; reload it and try again")
        if (pick is None) == (value is _UNSET):
            raise ValidationError("resolve a conflict either by picking a competitor or by giving a value")
        field = conflict.competitors[-1].field
        picked: bytes | None = None
        if pick is not None:
            picked = as_id(pick, "picked value")
            chosen = next((c for c in conflict.competitors if as_id(c.op_id) == picked), None)
            if chosen is None:
                raise ValidationError("the picked value is not one of the competitors")
            new_value, field = chosen.value, chosen.field
        elif value is None:
            new_value = None
        elif conflict.is_edge:
            _id, edge_type = self._live_edge(target)
            new_value = normalize_value(property_def(self.schema.edge_type(edge_type), conflict.key), value)
        else:
            new_value = normalize_value(self._field(field), value)
        if new_value is None and not conflict.is_edge and self._field(field).required:
            raise ValidationError(f"field {conflict.field_name!r} is required and cannot be cleared")
        self.add(o.ResolveConflict, conflict=as_id(conflict.id, "conflict id"), target=target, field=field,
                 chosen=new_value, chosen_op=picked, tips=sorted(as_id(c.op_id) for c in conflict.competitors))

    def resolve_all(self, conflicts: list[Conflict], take: IdLike) -> int:
        """Take one person's side (their actor id) on every conflict in a group; returns how many."""
        person = take.hex() if isinstance(take, bytes) else take
        done = 0
        for item in conflicts:
            mine = [c for c in item.competitors if c.actor == person]
            if mine:
                self.resolve_conflict(item, pick=max(mine, key=lambda c: c.hlc).op_id)
                done += 1
        return done

    # --- rules --------------------------------------------------------------------------------

    def create_rule(self, name: str, *, when: str, kind: str = "membership", table: str | None = None,
                    defaults: dict[str, Any] | None = None, match_on: list[str] | None = None,
                    auto_accept: bool = False, on_condition_lost: str = "propose_remove",
                    acknowledge_cycle: bool = False, rule_id: IdLike | None = None, enabled: bool = True,
                    normalize: list[str] | None = None) -> str:
        """Create (or, with `rule_id`, replace) a rule. Refused with the cycle's path if it could
        trigger itself, directly or through other rules, unless `acknowledge_cycle`.

        `defaults`: {field id: {"value": literal or "$source.<field id>", "mode": fill_if_empty |
        always | preserve_on_restore}}. A match rule compares its `match_on` values exactly as
        typed ("Jane Doe" and "jane doe" differ; FUNCTIONALITY.md: the system never guesses at
        identity) unless `normalize` names what to ignore: "case", "spaces" (leading, trailing
        and repeated).
        """
        from .rules import Rule, RuleCycleError, check_rule, find_cycle, load_rules

        rid = as_id(rule_id, "rule id") if rule_id is not None else self.ws.ids.new()
        table = self._table(table).id if table is not None else None

        def full(name: str, tables: list[str] | None = None) -> str:  # unknown: check_rule says why
            try:
                return self.schema.field(name, tables).id
            except ValidationError:
                return name

        norm_defaults = {}
        for field_id, spec in (defaults or {}).items():
            norm_defaults[full(field_id, [table] if table else None)] = (
                spec if isinstance(spec, dict) else {"value": spec, "mode": "fill_if_empty"})
        match_on = [full(f) for f in match_on or ()]
        rule = Rule(to_str(rid), " ".join(str(name).split()), kind, when, table, norm_defaults,
                    tuple(match_on or ()), auto_accept, on_condition_lost, enabled, acknowledge_cycle,
                    tuple(normalize or ()))
        if not rule.name:
            raise ValidationError("a rule needs a name")
        check_rule(self.ws, rule)
        others = [r for r in load_rules(self.ws) if r.id != rule.id]
        cycle = find_cycle(self.ws, [*others, rule]) if enabled else None
        if cycle is not None:
            path, shared = cycle
            fields = ", ".join(f"{f} (written by {w}, watched by {x})" for f, w, x in shared)
            raise RuleCycleError(f"rule {rule.name!r} would create a cycle: {' -> '.join(path)} via {fields}",
                                 path, shared)
        self.add(o.CreateRule, rule=rid, name=rule.name, definition=rule.definition())
        return to_str(rid)

    def disable_rule(self, rule_id: IdLike) -> None:
        from .rules import load_rules

        rid = as_id(rule_id, "rule id")
        rule = next((r for r in load_rules(self.ws) if r.id == to_str(rid)), None)
        if rule is None:
            raise NotFoundError(f"no rule {to_str(rid)}")
        self.add(o.CreateRule, rule=rid, name=rule.name, definition={**rule.definition(), "enabled": False})

    # --- views (views.py) -------------------------------------------------------------------

    def save_view(self, name: str, definition: dict[str, Any], view_id: IdLike | None = None) -> str:
        """Save a named view (new, or replacing `view_id`): synced like any edit, staged while an
        overlay is active. Raises ViewError (names) or QueryError (the filter, with its position)."""
        from .views import save_view

        return save_view(self, name, definition, view_id)

    def delete_view(self, view_id: IdLike) -> None:
        """Remove a saved view (a module's own views stay; save a copy to change one)."""
        from .views import delete_view

        delete_view(self, view_id)

    def accept_proposal(self, proposal: Any) -> None:
        """Carry out a rule's suggestion, as your own change attributed to the rule."""
        self.ws.rules.accept(self, proposal)

    # used by undo: raw inverse ops with positions already known
    def apply_step(self, step: Step) -> None:
        payload = {k: v for k, v in step.payload.items() if not k.startswith("_")}
        if step.op_cls is o.DeleteEntity:
            state = entity_state(self.ws.conn, payload["entity"])
            if state is not None and state[1]:
                self.delete_record(payload["entity"])
            return
        if step.op_cls is o.RemoveFromTable:
            if facet_attached(self.ws.conn, payload["entity"], payload["table"]):
                self.remove_from_table(payload["entity"], payload["table"])
            return
        self.add(step.op_cls, **payload)

