"""Schema checks that every receiver applies to every op before anything is written.

They depend only on the schema, which only grows and reaches a receiver before any bundle
that relies on it (bundles are applied in causal order). So an honest author's bundle passes
everywhere, and a bundle that fails here fails on every peer alike: no divergence.
State-dependent checks (does the record exist, is it deleted) are for local writes only.
"""

from __future__ import annotations

from typing import Any

from . import operations as o
from .errors import SchemaError, ValidationError
from .modules import FieldDef, Schema, normalize_number, normalize_value, parse_manifest, union


def check_op(op: o.Op, schema: Schema) -> Schema:
    """Raise ValidationError if `op` does not fit `schema`; return the schema after the op."""
    if isinstance(op, o.AdoptModule):
        try:
            module = parse_manifest(op.manifest)
        except SchemaError as exc:
            raise ValidationError(f"AdoptModule: invalid manifest: {exc}") from None
        if module.name != op.module or module.version != op.version:
            raise ValidationError("AdoptModule: module name/version differ from the manifest's")
        existing = schema.modules.get(module.name)
        return schema.with_module(union(existing, module) if existing else module)
    checker = _CHECKS.get(type(op))
    if checker is not None:
        checker(op, schema)
    return schema


def _field_value(schema: Schema, field_id: str, value: Any) -> None:
    fdef = schema.field(field_id)
    if fdef.crdt is not None:
        raise ValidationError(f"field {field_id!r} is a {fdef.crdt} CRDT field: SetField is not allowed")
    if fdef.type == "cue" and not isinstance(value, (bool, str)):
        # Written while the field was still a number (before its module widened it to a cue
        # number): valid for every receiver whichever schema it holds, so no peer refuses it.
        canonical = normalize_number(value, f"field {fdef.display_name!r}")
    else:
        canonical = normalize_value(fdef, value)
    if type(canonical) is not type(value) or canonical != value:
        raise ValidationError(f"field {field_id!r}: value {value!r} is not in canonical form")


def _table_fields(schema: Schema, table: str, values: dict[str, Any], *, allow_none: bool) -> None:
    schema.table(table)
    for field_id, value in values.items():
        schema.field(field_id)
        if value is not None:
            _field_value(schema, field_id, value)
        elif not allow_none:
            raise ValidationError(f"field {field_id!r}: a default cannot be empty")


def _props(schema: Schema, edge_type: str, props: dict[str, Any]) -> None:
    from .modules import property_def

    etype = schema.edge_type(edge_type)
    for key, value in props.items():
        canonical = normalize_value(property_def(etype, key), value)
        if type(canonical) is not type(value) or canonical != value:
            raise ValidationError(f"property {key!r}: value {value!r} is not in canonical form")


def check_set_field(op: o.SetField, schema: Schema) -> None:
    """A SetField's value fits its field (the receive path calls it directly for its most common op)."""
    _field_value(schema, op.field, op.value)


def _check_reference(op: o.SetReference, schema: Schema) -> None:
    fdef, source = schema.field(op.field), schema.field(op.source_field)
    if fdef.crdt is not None or source.crdt is not None:
        raise ValidationError("collaborative (CRDT) fields cannot be references or referenced")
    if fdef.type != source.type:
        raise ValidationError(f"field {op.field!r} ({fdef.type}) cannot show {op.source_field!r} ({source.type})")


def _check_clear_field(op: o.ClearField, schema: Schema) -> None:
    fdef = schema.field(op.field)
    if fdef.crdt is not None:
        raise ValidationError(f"field {op.field!r} is a CRDT field: ClearField is not allowed")


def _check_crdt(op: o.ApplyCrdt, schema: Schema) -> None:
    fdef = schema.field(op.field)
    if fdef.crdt != op.crdt_type:
        raise ValidationError(f"field {op.field!r} is not a {op.crdt_type} CRDT field")


def _check_clear_and_add(op: o.ClearAndAdd, schema: Schema) -> None:
    fdef = schema.field(op.field)
    if fdef.crdt != "list":
        raise ValidationError(f"field {op.field!r} is not a list CRDT field: ClearAndAdd is not allowed")
    item = FieldDef(id=fdef.id, table=fdef.table, name=fdef.name, type=fdef.item_type or "string",
                    display_name=fdef.display_name)
    for value in op.values:
        normalize_value(item, value)


def _check_create_entity(op: o.CreateEntity, schema: Schema) -> None:
    if op.initial_table is not None:
        schema.table(op.initial_table)


def _check_facet(op: Any, schema: Schema) -> None:
    table = getattr(op, "facet", None) or op.table
    schema.table(table)
    if isinstance(op, o.AddToTable):
        _table_fields(schema, table, op.defaults, allow_none=False)
    elif isinstance(op, (o.DetachFacet, o.RemoveFromTable)):
        _table_fields(schema, table, op.preserved, allow_none=True)


def _check_create_edge(op: o.CreateEdge | o.CreateOrderedEdge, schema: Schema) -> None:
    etype = schema.edge_type(op.edge_type)
    if etype.ordered != isinstance(op, o.CreateOrderedEdge):
        kind = "ordered" if etype.ordered else "unordered"
        raise ValidationError(f"edge type {op.edge_type!r} is {kind}; use the matching create operation")
    _props(schema, op.edge_type, op.properties)


def _check_link(op: o.LinkTables | o.UnlinkTables | o.ConfirmFieldMapping, schema: Schema) -> None:
    schema.table(op.source_table)
    schema.table(op.target_table)
    pairs: list[tuple[str, str]] = []
    if isinstance(op, o.LinkTables):
        pairs = list(op.field_mappings)
    elif isinstance(op, o.UnlinkTables):
        pairs = list(op.mappings)
        for _entity, field_id, value in op.copies:
            if value is not None:
                _field_value(schema, field_id, value)
    else:
        pairs = [(op.source_field, op.target_field)]
    for a, b in pairs:
        fa, fb = schema.field(a), schema.field(b)
        if a == b:
            raise ValidationError(f"a field cannot be mapped to itself ({a!r})")
        if (fa.type, fa.crdt) != (fb.type, fb.crdt):
            raise ValidationError(f"fields {a!r} ({fa.type}) and {b!r} ({fb.type}) have different types")


def _check_resolution(op: o.ResolveConflict, schema: Schema) -> None:
    if op.field.count(".") == 2:
        fdef = schema.field(op.field)
        if fdef.crdt is not None:
            raise ValidationError(f"field {op.field!r} is a CRDT field: it never has conflicts")
        if op.chosen is not None:
            _field_value(schema, op.field, op.chosen)
    if not op.tips:
        raise ValidationError("a resolution must name the competing writes it resolves")


def _check_rule(op: o.CreateRule, schema: Schema) -> None:
    d = op.definition
    if d.get("kind") not in ("membership", "match") or not isinstance(d.get("when"), str):
        raise ValidationError("a rule definition needs a kind (membership or match) and a 'when' query")
    if d.get("kind") == "membership":
        schema.table(d.get("table") or "")


def _check_view(op: o.SaveView, schema: Schema) -> None:
    from .view_definitions import check_definition, view_name

    view_name(op.name)
    definition = check_definition(op.definition)
    if not definition.get("deleted"):
        schema.table(definition["table"])


def _check_calling(op: o.SetCallingPosition, schema: Schema) -> None:
    if op.cue == op.cue_list:
        raise ValidationError("a calling position names a cue in a cue list, not the list itself")


def _check_setting(op: o.SetWorkspaceSetting, schema: Schema) -> None:
    from .settings import validate_setting

    validate_setting(op.key, op.value)


_CHECKS: dict[type[o.Op], Any] = {
    o.SetField: check_set_field,
    o.ClearField: _check_clear_field,
    o.SetReference: _check_reference,
    o.ApplyCrdt: _check_crdt,
    o.ClearAndAdd: _check_clear_and_add,
    o.CreateEntity: _check_create_entity,
    o.AttachFacet: _check_facet,
    o.DetachFacet: _check_facet,
    o.RestoreFacet: _check_facet,
    o.AddToTable: _check_facet,
    o.RemoveFromTable: _check_facet,
    o.CreateEdge: _check_create_edge,
    o.CreateOrderedEdge: _check_create_edge,
    o.LinkTables: _check_link,
    o.UnlinkTables: _check_link,
    o.ConfirmFieldMapping: _check_link,
    o.SetWorkspaceSetting: _check_setting,
    o.ResolveConflict: _check_resolution,
    o.CreateRule: _check_rule,
    o.SaveView: _check_view,
    o.SetCallingPosition: _check_calling,
}
