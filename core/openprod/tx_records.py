"""Local writes to records, fields (plain, reference and collaborative) and table memberships, on
the plumbing every local write goes through: validate, capture the inverse for undo, apply at
once inside the open SQLite transaction, observe for conflicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import operations as o
from .blobs import BlobRef, check_limit
from .errors import NotFoundError, ValidationError
from .ids import IdLike, as_id, to_str
from .modules import FieldDef, TableDef, normalize_value
from .reads import (
    edge_state,
    edges,
    entity_state,
    facet_attached,
    group_value,
    tables_of,
)
from .undo import _UNREAD, Step, capture
from .validation import check_op
from .values import Reference

if TYPE_CHECKING:
    from .context import Checked, Context


class RecordWrites:
    """The plumbing of a local transaction (`add`: validate, capture undo, apply, observe) and the
    writes to records, fields and table memberships. `transaction.Transaction` adds the rest."""

    def __init__(self, ws: Context, kind: str = "edit", meta: dict[str, Any] | None = None, *,
                 staging: bool = False) -> None:
        self.ws = ws
        # began with the database as this context's last local commit left it (`Context.since_commit`),
        # read before any of its own writes move the connection's change count
        self.began_since_commit = not staging and ws.since_commit()
        self.kind = kind
        self.meta = dict(meta or {})
        # what this change is, in words, for its undo message ("12 pasted rows in Contacts"); local
        # only, never in the bundle. Empty: undo words it from the change itself (`reverting.describe`)
        self.description = ""
        self.staging = staging  # writes go into the active overlay, not into a bundle
        self.ops: list[o.Op] = []
        self.op_bytes: list[bytes] = []  # each op's wire bytes, encoded once (`bundle.build`)
        # inverse steps for undo; None once an op that cannot be undone is added (or when staging)
        self.steps: list[Step] | None = None if staging else []
        self.schema = ws.schema
        self.created: list[str] = []
        self.after_commit: list[Callable[[], None]] = []  # run once the bundle is committed (commit.py)
        self.clock = ws.vector_clock  # a copy: what this actor had integrated, decides conflicts
        ws.conflicts.begin_bundle()

    # --- plumbing ---------------------------------------------------------------------------

    def _next_hlc(self) -> bytes:
        return self.ws.overlays.next_hlc() if self.staging else self.ws.clock.tick()

    def add(self, cls: type[o.Op], _before: Any = _UNREAD, _hlc: bytes | None = None, **payload: Any) -> o.Op:
        """Validate, apply and record one op. Raises ValidationError; the caller rolls back.
        `_before`: the field's current value when the caller has just read it (saves undo a read);
        `_hlc`: the op's clock, when the caller took it first (`_next_hlc`) to stamp the op's content."""
        ws = self.ws
        if self.staging:
            ws.overlays.check(cls)
        op, raw = o.encoded_op(cls, ws.ids.new(), _hlc or self._next_hlc(), **payload)
        self.schema = check_op(op, self.schema)
        if self.steps is not None and cls is not o.IdentifyActor:
            inverse = capture(ws.conn, ws.groups, op, lambda: self._label(op), _before)
            if inverse is None:
                self.steps = None
            else:
                self.steps.extend(inverse)
        # a CRDT op writes no value register (it merges, never conflicts): the tracker's prior and
        # observe would plan nothing for it, so a keystroke skips both
        crdt = cls is o.ApplyCrdt or cls is o.ClearAndAdd
        prior = None if crdt else ws.conflicts.prior(op)
        effects = ws.applier.apply(op, ws.actor_id)
        ws._after_effects(effects, self.schema, op)
        ws.conflicts.pending.append((op, ws.writer, self.clock))
        if not crdt:
            ws.conflicts.observe(op, ws.writer, self.clock, prior)
        self.ops.append(op)
        self.op_bytes.append(raw)
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

    def _kept(self) -> Checked | None:
        """What was checked since this context's last local commit, while nothing else has written
        (`Context.checked`; never while staging, where the overlay's view is read)."""
        return None if self.staging else self.ws.checked()

    def _live_entity(self, record: IdLike) -> bytes:
        """The record's id, checked: it exists, is not deleted and was not merged away. A record
        checked since the last local commit is not read again (a keystroke reads no row for it)."""
        entity = as_id(record, "record id")
        kept = self._kept()
        if kept is not None and entity in kept.live:
            return entity
        survivor = self.ws.redirects.resolve(entity)
        if survivor != entity:
            raise ValidationError(f"record {to_str(entity)} was merged into {to_str(survivor)}; "
                                  "use that record")
        state = entity_state(self.ws.conn, entity)
        if state is None or not state[0]:
            raise NotFoundError(f"record {to_str(entity)} does not exist")
        if not state[1]:
            raise ValidationError(f"record {to_str(entity)} is deleted; restore it before changing it")
        if kept is not None:
            kept.live.add(entity)
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
            out[fdef.id] = self._normalized(fdef, value)
        return out

    def _normalized(self, fdef: FieldDef, value: Any) -> Any:
        """The canonical value; an attachment also within the workspace's size limit (local writes only:
        record fields and edge properties alike)."""
        canonical = normalize_value(fdef, value)
        if fdef.type == "blob":
            check_limit(BlobRef.parse(canonical), self.ws.settings.max_blob_bytes)
        return canonical

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
        self.add(o.SetField, before, entity=entity, field=fdef.id, value=self._normalized(fdef, value))

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
        kept = self._kept()
        if kept is not None and (entity, fdef.table) in kept.members:
            return
        if not facet_attached(self.ws.conn, entity, fdef.table):
            table = self.schema.tables[fdef.table].display_name
            raise ValidationError(f"record {to_str(entity)} is not in table {table!r}; add it to the table first")
        if kept is not None:
            kept.members.add((entity, fdef.table))

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

    def _live_edge(self, edge: IdLike) -> tuple[bytes, str]:
        edge = as_id(edge, "edge id")
        state = edge_state(self.ws.conn, edge)
        if state is None or state[0] is None:
            raise NotFoundError(f"edge {to_str(edge)} does not exist")
        if not state[3]:
            raise ValidationError(f"edge {to_str(edge)} is deleted")
        return edge, state[0]

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
