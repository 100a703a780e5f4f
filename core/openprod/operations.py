"""Operation types for the whole V1 spec, and their one wire form.

Every op is a frozen dataclass; `decode_op` builds one only from a well-formed wire map, so
an op that exists is structurally valid. Checks that need the schema or the current state
live in `validation`. An op's author is its bundle's author, so ops carry no actor field.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, TypeVar

import cbor2

from .encoding import EXACT_TYPES, check_plain, decode, encode, key_order, ordered_bytes
from .errors import DecodeError
from .hlc import HLC_LEN
from .ids import ID_LEN

# --- field kinds ---------------------------------------------------------------------------

MAX_TEXT = 100_000
MAX_NAME = 200
TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\.[A-Za-z][A-Za-z0-9_]{0,63}$")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\.[A-Za-z][A-Za-z0-9_]{0,63}\.[A-Za-z_][A-Za-z0-9_]{0,63}$")
EDGE_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}\.[A-Za-z_][A-Za-z0-9_]{0,63}$")
PROP_RE = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")
MODULE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
POSITION_RE = re.compile(r"^[0-9A-Za-z]{1,512}$")

SOURCE_TYPES = frozenset({"user", "rule", "import", "script", "link", "undo"})


def _bad(kind: str, name: str, value: Any) -> DecodeError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DecodeError(f"field {name!r} must be {kind}, got {shown}")


def _id(name: str, v: Any) -> bytes:
    if not isinstance(v, bytes) or len(v) != ID_LEN:
        raise _bad("a 16-byte id", name, v)
    return v


def _opt_id(name: str, v: Any) -> bytes | None:
    return None if v is None else _id(name, v)


def _ids(name: str, v: Any) -> tuple[bytes, ...]:
    if not isinstance(v, list):
        raise _bad("a list of ids", name, v)
    return tuple(_id(name, x) for x in v)


def _text(name: str, v: Any, limit: int = MAX_NAME) -> str:
    if not isinstance(v, str) or not v or len(v) > limit:
        raise _bad(f"non-empty text of at most {limit} characters", name, v)
    return v


def _long_text(name: str, v: Any) -> str:
    if not isinstance(v, str) or len(v) > MAX_TEXT:
        raise _bad(f"text of at most {MAX_TEXT} characters", name, v)
    return v


class _Pattern:
    """A text field that must match `regex`. Ids repeat across ops, so the ones already matched
    are remembered (`valid`, bounded); the compiled decoders below test that set inline."""

    __slots__ = ("kind", "regex", "valid")

    def __init__(self, regex: re.Pattern[str], kind: str) -> None:
        self.regex = regex
        self.kind = kind
        self.valid: set[str] = set()

    def __call__(self, name: str, v: Any) -> str:
        if not isinstance(v, str):
            raise _bad(self.kind, name, v)
        if v in self.valid:
            return v
        if not self.regex.match(v):
            raise _bad(self.kind, name, v)
        if len(self.valid) < 10_000:
            self.valid.add(v)
        return v


_table = _Pattern(TABLE_RE, "a table id like 'module.Table'")
_field = _Pattern(FIELD_RE, "a field id like 'module.Table.field'")
_edge_type = _Pattern(EDGE_TYPE_RE, "an edge type like 'module.edge'")
_prop = _Pattern(PROP_RE, "a property name")
_module = _Pattern(MODULE_RE, "a module name (lowercase, digits, underscore)")
_position = _Pattern(POSITION_RE, "a base-62 position")


def _opt_table(name: str, v: Any) -> str | None:
    return None if v is None else _table(name, v)


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad("true or false", name, v)
    return v


def _bytes(name: str, v: Any) -> bytes:
    if not isinstance(v, bytes):
        raise _bad("bytes", name, v)
    return v


def _scalar(v: Any) -> bool:
    if v is None or isinstance(v, (bool, str)):
        return True
    if isinstance(v, int):
        return -(1 << 63) <= v < (1 << 63)  # what SQLite can store
    if isinstance(v, float):
        return math.isfinite(v)
    return False


def _value(name: str, v: Any) -> Any:
    if _scalar(v):
        return v
    if isinstance(v, list) and all(_scalar(x) for x in v):
        return tuple(v)
    raise _bad("a plain value (finite number, 64-bit integer, text, true/false or a list of them)", name, v)


def _set_value(name: str, v: Any) -> Any:
    if v is None:
        raise _bad("a value (use ClearField to clear)", name, v)
    return _value(name, v)


def _list(name: str, v: Any) -> tuple[Any, ...]:
    if not isinstance(v, list):
        raise _bad("a list", name, v)
    return tuple(_value(name, x) for x in v)


def _value_map(key_check: Any) -> Any:
    def check(name: str, v: Any) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise _bad("a map", name, v)
        checked = [(key_check(name, k), x) for k, x in v.items()]  # keys are text before they are sorted
        return {k: _value(name, x) for k, x in sorted(checked, key=lambda kv: kv[0])}

    return check


_field_values = _value_map(_field)
_prop_values = _value_map(_prop)


def _any_map(name: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise _bad("a map with text keys", name, v)
    try:
        check_plain(v)
    except (TypeError, ValueError) as exc:
        raise _bad(f"plain data ({exc})", name, v) from None
    return v


def _source(name: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, dict) or not isinstance(v.get("type"), str) or v["type"] not in SOURCE_TYPES:
        raise _bad(f"a source map with type in {sorted(SOURCE_TYPES)}", name, v)
    for key, item in v.items():
        if key not in ("type", "rule", "triggered_by", "script", "note"):
            raise _bad("a source map", name, v)
        if key in ("rule", "triggered_by") and not (isinstance(item, bytes) and len(item) == ID_LEN):
            raise _bad("a source map with 16-byte ids", name, v)
        if key in ("script", "note") and not (isinstance(item, str) and len(item) <= MAX_NAME):
            raise _bad("a source map", name, v)
    return v


def _enum(*choices: str) -> Any:
    def check(name: str, v: Any) -> str:
        if v not in choices:
            raise _bad(f"one of {list(choices)}", name, v)
        return str(v)

    return check


def _pairs(first: Any, second: Any) -> Any:
    def check(name: str, v: Any) -> tuple[tuple[Any, Any], ...]:
        if not isinstance(v, list) or not all(isinstance(x, list) and len(x) == 2 for x in v):
            raise _bad("a list of pairs", name, v)
        return tuple((first(name, a), second(name, b)) for a, b in v)

    return check


def _copies(name: str, v: Any) -> tuple[tuple[bytes, str, Any], ...]:
    if not isinstance(v, list) or not all(isinstance(x, list) and len(x) == 3 for x in v):
        raise _bad("a list of [entity, field, value] triples", name, v)
    return tuple((_id(name, e), _field(name, f), _value(name, x)) for e, f, x in v)


# --- op classes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Op:
    """Common header. `op_id` is a UUIDv7; `hlc` the author's clock when the op was made."""

    op_id: bytes
    hlc: bytes
    TYPE: ClassVar[str] = ""
    SPEC: ClassVar[dict[str, Any]] = {}

    @property
    def ord(self) -> bytes:
        """Canonical order key: (HLC, op_id) as one comparable byte string."""
        return self.hlc + self.op_id

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self)[2:]:
            value = getattr(self, f.name)
            out[f.name] = _to_wire_value(value)
        return out


def _to_wire_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_wire_value(x) for x in value]
    if isinstance(value, dict):
        return {k: _to_wire_value(x) for k, x in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class InitWorkspace(Op):
    """Founds the workspace. `nonce` proves its author is the one the workspace id commits to."""

    name: str
    nonce: bytes
    TYPE: ClassVar[str] = "InitWorkspace"
    SPEC: ClassVar[dict[str, Any]] = {"name": _text, "nonce": _id}


@dataclass(frozen=True, slots=True)
class IdentifyActor(Op):
    display_name: str
    TYPE: ClassVar[str] = "IdentifyActor"
    SPEC: ClassVar[dict[str, Any]] = {"display_name": _text}


@dataclass(frozen=True, slots=True)
class SetWorkspaceSetting(Op):
    key: str
    value: Any
    TYPE: ClassVar[str] = "SetWorkspaceSetting"
    SPEC: ClassVar[dict[str, Any]] = {"key": _text, "value": _value}


def _key32(name: str, v: Any) -> bytes:
    if not isinstance(v, bytes) or len(v) != 32:
        raise _bad("a 32-byte public key", name, v)
    return v


def _signature(name: str, v: Any) -> bytes:
    if not isinstance(v, bytes) or len(v) != 64:
        raise _bad("a 64-byte signature", name, v)
    return v


@dataclass(frozen=True, slots=True)
class RecoverOwnership(Op):
    """Makes its author the workspace's owner: `proof` is the signature, by the recovery key in
    force (`recovery_key`), over (workspace, author, `next_key`) (recovery.proof_message). Every
    peer checks it and derives the owner in canonical order (ownership.py)."""

    recovery_key: bytes
    next_key: bytes
    proof: bytes
    TYPE: ClassVar[str] = "RecoverOwnership"
    SPEC: ClassVar[dict[str, Any]] = {"recovery_key": _key32, "next_key": _key32, "proof": _signature}


@dataclass(frozen=True, slots=True)
class AdoptModule(Op):
    module: str
    version: str
    manifest: str
    TYPE: ClassVar[str] = "AdoptModule"
    SPEC: ClassVar[dict[str, Any]] = {"module": _module, "version": _text, "manifest": _long_text}


@dataclass(frozen=True, slots=True)
class CreateEntity(Op):
    entity: bytes
    initial_table: str | None
    TYPE: ClassVar[str] = "CreateEntity"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "initial_table": _opt_table}


@dataclass(frozen=True, slots=True)
class DeleteEntity(Op):
    entity: bytes
    cascade_edges: tuple[bytes, ...]
    TYPE: ClassVar[str] = "DeleteEntity"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "cascade_edges": _ids}


@dataclass(frozen=True, slots=True)
class RestoreEntity(Op):
    entity: bytes
    TYPE: ClassVar[str] = "RestoreEntity"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id}


@dataclass(frozen=True, slots=True)
class MergeEntities(Op):
    survivor: bytes
    absorbed: bytes
    TYPE: ClassVar[str] = "MergeEntities"
    SPEC: ClassVar[dict[str, Any]] = {"survivor": _id, "absorbed": _id}


@dataclass(frozen=True, slots=True)
class SplitEntity(Op):
    """Separates a record in two: `facets` (tables) move to `new_entity`, `moved_fields` move,
    `copied_fields` are copied. The author lists the values it moved or copied in `values`, so
    every peer derives the same new record whatever arrives meanwhile."""

    source: bytes
    new_entity: bytes
    facets: tuple[str, ...]
    moved_fields: tuple[str, ...]
    copied_fields: tuple[str, ...]
    values: dict[str, Any]
    TYPE: ClassVar[str] = "SplitEntity"
    SPEC: ClassVar[dict[str, Any]] = {
        "source": _id,
        "new_entity": _id,
        "facets": lambda n, v: tuple(_table(n, x) for x in _list(n, v)),
        "moved_fields": lambda n, v: tuple(_field(n, x) for x in _list(n, v)),
        "copied_fields": lambda n, v: tuple(_field(n, x) for x in _list(n, v)),
        "values": _field_values,
    }


@dataclass(frozen=True, slots=True)
class SetField(Op):
    entity: bytes
    field: str
    value: Any
    TYPE: ClassVar[str] = "SetField"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "field": _field, "value": _set_value}


@dataclass(frozen=True, slots=True)
class ClearField(Op):
    entity: bytes
    field: str
    TYPE: ClassVar[str] = "ClearField"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "field": _field}


@dataclass(frozen=True, slots=True)
class SetReference(Op):
    """Puts a field in reference mode: it shows (and edits through to) another record's field.

    The reference is the field's value, so it is last-writer-wins, conflicts and undoes like any
    other write; a SetField later puts the field back in discrete mode.
    """

    entity: bytes
    field: str
    source: bytes
    source_field: str
    TYPE: ClassVar[str] = "SetReference"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "field": _field, "source": _id, "source_field": _field}


@dataclass(frozen=True, slots=True)
class ApplyCrdt(Op):
    entity: bytes
    field: str
    crdt_type: str
    delta: bytes
    TYPE: ClassVar[str] = "ApplyCrdt"
    SPEC: ClassVar[dict[str, Any]] = {
        "entity": _id,
        "field": _field,
        "crdt_type": _enum("text", "list"),
        "delta": _bytes,
    }


@dataclass(frozen=True, slots=True)
class ClearAndAdd(Op):
    entity: bytes
    field: str
    values: tuple[Any, ...]
    delta: bytes  # the Yjs update: delete every element the author held, insert `values` stamped with this op's HLC
    TYPE: ClassVar[str] = "ClearAndAdd"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "field": _field, "values": _list, "delta": _bytes}


@dataclass(frozen=True, slots=True)
class AttachFacet(Op):
    entity: bytes
    facet: str
    source: dict[str, Any]
    TYPE: ClassVar[str] = "AttachFacet"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "facet": _table, "source": _source}


@dataclass(frozen=True, slots=True)
class DetachFacet(Op):
    entity: bytes
    facet: str
    preserve: bool
    preserved: dict[str, Any]
    TYPE: ClassVar[str] = "DetachFacet"
    SPEC: ClassVar[dict[str, Any]] = {
        "entity": _id,
        "facet": _table,
        "preserve": _bool,
        "preserved": _field_values,
    }


@dataclass(frozen=True, slots=True)
class RestoreFacet(Op):
    entity: bytes
    facet: str
    from_op: bytes | None
    TYPE: ClassVar[str] = "RestoreFacet"
    SPEC: ClassVar[dict[str, Any]] = {"entity": _id, "facet": _table, "from_op": _opt_id}


@dataclass(frozen=True, slots=True)
class AddToTable(Op):
    entity: bytes
    table: str
    defaults: dict[str, Any]
    source: dict[str, Any]
    TYPE: ClassVar[str] = "AddToTable"
    SPEC: ClassVar[dict[str, Any]] = {
        "entity": _id,
        "table": _table,
        "defaults": _field_values,
        "source": _source,
    }


@dataclass(frozen=True, slots=True)
class RemoveFromTable(Op):
    entity: bytes
    table: str
    data_handling: str
    preserved: dict[str, Any]
    TYPE: ClassVar[str] = "RemoveFromTable"
    SPEC: ClassVar[dict[str, Any]] = {
        "entity": _id,
        "table": _table,
        "data_handling": _enum("preserve", "discard"),
        "preserved": _field_values,
    }


@dataclass(frozen=True, slots=True)
class CreateEdge(Op):
    edge: bytes
    edge_type: str
    source: bytes
    target: bytes
    properties: dict[str, Any]
    TYPE: ClassVar[str] = "CreateEdge"
    SPEC: ClassVar[dict[str, Any]] = {
        "edge": _id,
        "edge_type": _edge_type,
        "source": _id,
        "target": _id,
        "properties": _prop_values,
    }


@dataclass(frozen=True, slots=True)
class DeleteEdge(Op):
    edge: bytes
    TYPE: ClassVar[str] = "DeleteEdge"
    SPEC: ClassVar[dict[str, Any]] = {"edge": _id}


@dataclass(frozen=True, slots=True)
class RestoreEdge(Op):
    edge: bytes
    TYPE: ClassVar[str] = "RestoreEdge"
    SPEC: ClassVar[dict[str, Any]] = {"edge": _id}


@dataclass(frozen=True, slots=True)
class SetEdgeProperty(Op):
    edge: bytes
    key: str
    value: Any
    TYPE: ClassVar[str] = "SetEdgeProperty"
    SPEC: ClassVar[dict[str, Any]] = {"edge": _id, "key": _prop, "value": _set_value}


@dataclass(frozen=True, slots=True)
class ClearEdgeProperty(Op):
    edge: bytes
    key: str
    TYPE: ClassVar[str] = "ClearEdgeProperty"
    SPEC: ClassVar[dict[str, Any]] = {"edge": _id, "key": _prop}


@dataclass(frozen=True, slots=True)
class CreateOrderedEdge(Op):
    edge: bytes
    edge_type: str
    source: bytes
    target: bytes
    after: bytes | None
    before: bytes | None
    position: str
    properties: dict[str, Any]
    TYPE: ClassVar[str] = "CreateOrderedEdge"
    SPEC: ClassVar[dict[str, Any]] = {
        "edge": _id,
        "edge_type": _edge_type,
        "source": _id,
        "target": _id,
        "after": _opt_id,
        "before": _opt_id,
        "position": _position,
        "properties": _prop_values,
    }


@dataclass(frozen=True, slots=True)
class MoveOrderedEdge(Op):
    edge: bytes
    after: bytes | None
    before: bytes | None
    position: str
    TYPE: ClassVar[str] = "MoveOrderedEdge"
    SPEC: ClassVar[dict[str, Any]] = {
        "edge": _id,
        "after": _opt_id,
        "before": _opt_id,
        "position": _position,
    }


@dataclass(frozen=True, slots=True)
class ResolveConflict(Op):
    """Closes the conflict on one semantic field (or edge property) by an explicit decision.

    `tips` are the op ids of the competing branch tips the resolver saw; `chosen` is the value
    (None clears). `chosen_op` names the tip that was picked, when one was.
    """

    conflict: bytes
    target: bytes
    field: str
    chosen: Any
    chosen_op: bytes | None
    tips: tuple[bytes, ...]
    TYPE: ClassVar[str] = "ResolveConflict"
    SPEC: ClassVar[dict[str, Any]] = {
        "conflict": _id,
        "target": _id,
        "field": lambda n, v: _field(n, v) if isinstance(v, str) and v.count(".") == 2 else _prop(n, v),
        "chosen": _value,
        "chosen_op": _opt_id,
        "tips": _ids,
    }


@dataclass(frozen=True, slots=True)
class LinkTables(Op):
    source_table: str
    target_table: str
    field_mappings: tuple[tuple[str, str], ...]
    TYPE: ClassVar[str] = "LinkTables"
    SPEC: ClassVar[dict[str, Any]] = {
        "source_table": _table,
        "target_table": _table,
        "field_mappings": _pairs(_field, _field),
    }


@dataclass(frozen=True, slots=True)
class UnlinkTables(Op):
    """Unlinks two tables. The author lists the mappings it deactivates and, for `copy`, the
    shared values it copies into each field, so every peer derives the same result."""

    source_table: str
    target_table: str
    data_handling: str
    mappings: tuple[tuple[str, str], ...]
    copies: tuple[tuple[bytes, str, Any], ...]
    TYPE: ClassVar[str] = "UnlinkTables"
    SPEC: ClassVar[dict[str, Any]] = {
        "source_table": _table,
        "target_table": _table,
        "data_handling": _enum("copy", "discard"),
        "mappings": _pairs(_field, _field),
        "copies": _copies,
    }


@dataclass(frozen=True, slots=True)
class ConfirmFieldMapping(Op):
    source_table: str
    target_table: str
    source_field: str
    target_field: str
    shared_key: str
    TYPE: ClassVar[str] = "ConfirmFieldMapping"
    SPEC: ClassVar[dict[str, Any]] = {
        "source_table": _table,
        "target_table": _table,
        "source_field": _field,
        "target_field": _field,
        "shared_key": _prop,
    }


@dataclass(frozen=True, slots=True)
class CreateRule(Op):
    rule: bytes
    name: str
    definition: dict[str, Any]
    TYPE: ClassVar[str] = "CreateRule"
    SPEC: ClassVar[dict[str, Any]] = {"rule": _id, "name": _text, "definition": _any_map}


@dataclass(frozen=True, slots=True)
class SaveView(Op):
    """A named view (columns, sort, grouping, filter: views.py); the same id again replaces it,
    `{"deleted": true}` removes it. Last writer wins on the whole definition, like a rule."""

    view: bytes
    name: str
    definition: dict[str, Any]
    TYPE: ClassVar[str] = "SaveView"
    SPEC: ClassVar[dict[str, Any]] = {"view": _id, "name": _text, "definition": _any_map}


@dataclass(frozen=True, slots=True)
class SetCallingPosition(Op):
    """Where the show is in one cue list: the cue last called (None: not started). A pointer,
    not an edit: one register per cue list, last writer wins, never a conflict (calling.py)."""

    cue_list: bytes
    cue: bytes | None
    TYPE: ClassVar[str] = "SetCallingPosition"
    SPEC: ClassVar[dict[str, Any]] = {"cue_list": _id, "cue": _opt_id}


OP_TYPES: dict[str, type[Op]] = {
    cls.TYPE: cls
    for cls in (
        InitWorkspace,
        IdentifyActor,
        SetWorkspaceSetting,
        RecoverOwnership,
        AdoptModule,
        CreateEntity,
        DeleteEntity,
        RestoreEntity,
        MergeEntities,
        SplitEntity,
        SetField,
        ClearField,
        SetReference,
        ApplyCrdt,
        ClearAndAdd,
        AttachFacet,
        DetachFacet,
        RestoreFacet,
        AddToTable,
        RemoveFromTable,
        CreateEdge,
        DeleteEdge,
        RestoreEdge,
        SetEdgeProperty,
        ClearEdgeProperty,
        CreateOrderedEdge,
        MoveOrderedEdge,
        ResolveConflict,
        LinkTables,
        UnlinkTables,
        ConfirmFieldMapping,
        CreateRule,
        SaveView,
        SetCallingPosition,
    )
}


# --- wire ----------------------------------------------------------------------------------


def encode_op(op: Op) -> bytes:
    wire = {"id": op.op_id, "hlc": op.hlc, "t": op.TYPE}
    wire.update(op.payload())
    return encode(wire)


_KEYS = {name: frozenset({"id", "hlc", "t", *cls.SPEC}) for name, cls in OP_TYPES.items()}


def decode_op(data: bytes) -> Op:
    """Bytes -> a structurally valid Op, or DecodeError naming what is wrong."""
    if type(data) is bytes and data:  # the hot path on ingest: skip the generic wrapper
        try:
            wire = _loads(data)
        except Exception as exc:  # cbor2 raises several types for garbage
            raise DecodeError(f"operation: not valid CBOR ({exc.__class__.__name__}: {exc})") from None
    else:
        wire = decode(data, what="operation", strict=False)
    if type(wire) is dict:
        try:
            return _DECODERS[wire["t"]](wire)
        except Exception:  # anything unusual: the checked path below refuses it in words
            pass
    return _decode_checked(wire)


def _decode_checked(wire: Any) -> Op:
    """The reference decoder: every check in order, each failure in words. The compiled decoders
    (`_compile`) only ever return what this returns; for anything else they defer to it."""
    if not isinstance(wire, dict):
        raise DecodeError("operation must be a map")
    name = wire.get("t")
    cls = OP_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise DecodeError(f"unknown operation type {name!r}")
    op_id = wire.get("id")
    hlc = wire.get("hlc")
    if not isinstance(op_id, bytes) or len(op_id) != ID_LEN:
        raise DecodeError("operation id must be 16 bytes")
    if not isinstance(hlc, bytes) or len(hlc) != HLC_LEN:
        raise DecodeError("operation hlc must be 12 bytes")
    expected = _KEYS[cls.TYPE]
    if wire.keys() != expected:
        extra = sorted(str(k) for k in wire.keys() - expected)
        if extra:
            raise DecodeError(f"{cls.TYPE} has unknown fields {extra}")
        raise DecodeError(f"{cls.TYPE} is missing fields {sorted(expected - wire.keys())}")
    return cls(op_id, hlc, **{field: check(field, wire[field]) for field, check in cls.SPEC.items()})


# --- compiled decoders ---------------------------------------------------------------------
# Ingest decodes every op of every bundle (10 per bundle in a catch-up): a generic walk over
# SPEC with keyword construction of a frozen dataclass cost more than the CBOR decoding itself.
# So each op type gets a small decoder generated from its SPEC: the same checks in the same
# order, the commonest ones (ids, patterned names, scalar values) inlined, and the op's slots
# filled directly (a frozen dataclass's __init__ goes through object.__setattr__ per field).
# A decoder raises on anything it does not expect and `decode_op` then runs `_decode_checked`,
# so refusals and their words are the reference decoder's; tests/core/test_op_decoders.py
# checks both agree.


class _Unusual(Exception):
    """A compiled decoder met a shape it leaves to the reference decoder."""


def _slot_setter(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None:
            if not isinstance(descriptor, types.MemberDescriptorType):
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            return descriptor.__set__
    raise TypeError(f"{cls.__name__} has no slot {name}")


def _scalar_test(var: str) -> str:
    """Inline `_scalar` for the exact types cbor2 returns (anything else calls the check)."""
    return (f"(type({var}) is str or type({var}) is bool"
            f" or (type({var}) is int and {-(1 << 63)} <= {var} < {1 << 63})"
            f" or (type({var}) is float and isfinite({var})))")


def _compile(cls: type[Op]) -> Callable[[dict[Any, Any]], Op]:
    names = [f.name for f in fields(cls)]
    plain = all(f.default is MISSING and f.default_factory is MISSING for f in fields(cls))
    if names[:2] != ["op_id", "hlc"] or sorted(names[2:]) != sorted(cls.SPEC) or not plain \
            or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: its fields do not match its SPEC")
    env: dict[str, Any] = {"cls": cls, "new": object.__new__, "isfinite": math.isfinite, "_Unusual": _Unusual}
    lines = [
        "def decode(w):",
        f"    if len(w) != {len(names) + 1}:",
        "        raise _Unusual",
        "    v0 = w['id']",
        "    v1 = w['hlc']",
        f"    if type(v0) is not bytes or len(v0) != {ID_LEN} or type(v1) is not bytes or len(v1) != {HLC_LEN}:",
        "        raise _Unusual",
    ]
    for k, name in enumerate(names[2:], start=2):
        check = cls.SPEC[name]
        env[f"c{k}"] = check
        lines.append(f"    v{k} = w[{name!r}]")
        if check is _id:
            lines += [f"    if type(v{k}) is not bytes or len(v{k}) != {ID_LEN}:", "        raise _Unusual"]
        elif isinstance(check, _Pattern):
            env[f"p{k}"] = check.valid
            lines += [f"    if type(v{k}) is not str or v{k} not in p{k}:", f"        v{k} = c{k}({name!r}, v{k})"]
        elif check is _set_value or check is _value:
            lines += [f"    if not {_scalar_test(f'v{k}')}:", f"        v{k} = c{k}({name!r}, v{k})"]
        else:
            lines.append(f"    v{k} = c{k}({name!r}, v{k})")
    lines.append("    o = new(cls)")
    for k, name in enumerate(names):
        env[f"s{k}"] = _slot_setter(cls, name)
        lines.append(f"    s{k}(o, v{k})")
    lines.append("    return o")
    exec("\n".join(lines), env)  # generated from the SPEC tables above, no outside input
    decoder: Callable[[dict[Any, Any]], Op] = env["decode"]
    return decoder


_DECODERS: dict[str, Callable[[dict[Any, Any]], Op]] = {name: _compile(cls) for name, cls in OP_TYPES.items()}
_loads = cbor2.loads
_dumps = cbor2.dumps


def decode_op_fast(data: bytes) -> Op:
    """`decode_op` for an op that is well formed; anything else raises some exception without
    words (the caller then asks `decode_op`, which refuses it in words). For decoding loops."""
    wire = _loads(data)
    if type(wire) is not dict:
        raise _Unusual
    return _DECODERS[wire["t"]](wire)


T = TypeVar("T")


def slots_filler(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen slots dataclass `cls` taking its fields positionally and filling
    its slots directly, for values already checked (no defaults, no __post_init__): a frozen
    dataclass's own __init__ sets each field through object.__setattr__, several times slower."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    env: dict[str, Any] = {"cls": cls, "new": object.__new__}
    args = ", ".join(f"v{k}" for k in range(len(names)))
    lines = [f"def make({args}):", "    o = new(cls)"]
    for k, name in enumerate(names):
        env[f"s{k}"] = _slot_setter(cls, name)
        lines.append(f"    s{k}(o, v{k})")
    lines.append("    return o")
    exec("\n".join(lines), env)  # generated from the dataclass's own fields
    make: Callable[..., T] = env["make"]
    return make


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(x) for x in value)
    if isinstance(value, dict):
        return {k: _freeze(x) for k, x in value.items()}
    return value


def decode_stored_op(data: bytes) -> Op:
    """An op read back from this workspace's own oplog: it passed `decode_op` on the way in,
    so only the shape conversions are repeated (rebuilds read every op)."""
    wire = decode(data, what="operation", strict=False)
    cls = OP_TYPES[wire["t"]]
    return cls(wire["id"], wire["hlc"], **{name: _freeze(wire[name]) for name in cls.SPEC})


def make_op(cls: type[Op], op_id: bytes, hlc: bytes, **payload: Any) -> Op:
    """Build an op locally through the same checks a receiver applies."""
    return encoded_op(cls, op_id, hlc, **payload)[0]


_FLAT = frozenset({str, int, float, bool, bytes, type(None)})


def encoded_op(cls: type[Op], op_id: bytes, hlc: bytes, **payload: Any) -> tuple[Op, bytes]:
    """`make_op` and the op's wire bytes (what `encode_op` gives), encoded once.

    An op whose values are flat plain data (the usual case: ids, names, scalar values, lists of
    them) is checked by the receiver's own decoder on the values as they are, then encoded: the
    same op and bytes as the round trip below, which every other op takes (maps: their keys are
    ordered by the encoding, and the op must hold its own copy)."""
    # a value of an exact type (ids, names, a delta) is its own wire value: `_to_wire_value` only for the rest
    wire = {"id": op_id, "hlc": hlc, "t": cls.TYPE,
            **{k: v if type(v) in EXACT_TYPES else _to_wire_value(v) for k, v in payload.items()}}
    exact = True  # no float anywhere: the keys put in canonical order give the canonical bytes
    for value in wire.values():
        kind = type(value)
        if kind in EXACT_TYPES:
            continue
        if kind is list and all(type(x) in EXACT_TYPES for x in value):
            continue
        if kind not in _FLAT and not (kind is list and all(type(x) in _FLAT for x in value)):
            break
        exact = False
    else:
        try:
            op = _DECODERS[cls.TYPE](wire)
        except Exception:  # the round trip below refuses it in words
            pass
        else:
            keys = _WIRE_KEYS[cls.TYPE]
            if exact and wire.keys() == keys[1]:
                return op, ordered_bytes({k: wire[k] for k in keys[0]})
            return op, _dumps(wire, canonical=True)
    data = encode(wire)
    return decode_op(data), data


# Each op type's wire keys in canonical order, and as a set (`encoded_op`'s fast path)
_WIRE_KEYS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    name: (tuple(key_order(("id", "hlc", "t", *cls.SPEC))), frozenset(("id", "hlc", "t", *cls.SPEC)))
    for name, cls in OP_TYPES.items()}


def describe(op: Op) -> str:
    """One line for logs and error messages."""
    parts = [op.TYPE]
    for f in fields(op)[2:]:
        value = getattr(op, f.name)
        if isinstance(value, bytes):
            value = value.hex()[:8]
        parts.append(f"{f.name}={value!r}"[:60])
    return " ".join(parts)
