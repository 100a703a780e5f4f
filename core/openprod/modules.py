"""Modules: TOML manifests that declare tables, typed fields and edge types.

A manifest is parsed into frozen definitions; adopting a module puts its manifest text in the
oplog (an AdoptModule op), so every peer derives the same schema without the module folder.
Table ids are `module.Table`, field ids `module.Table.field`, edge types `module.edge`.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .blobs import BlobRef
from .cues import cue_text, normalize_cue
from .errors import SchemaError, ValidationError
from .operations import EDGE_TYPE_RE, FIELD_RE, MODULE_RE, TABLE_RE

FIELD_TYPES = frozenset({"string", "number", "cue", "boolean", "timestamp", "blob", "list"})
# A field first defined with one type may be redefined with a wider one: every value of the old
# type has a form in the new (cue numbers: 10.1 reads as "10.1"). See `union` and docs/design.md.
WIDENINGS = frozenset({("number", "cue")})
CRDT_KINDS = frozenset({"text", "list"})
LIST_ITEM_TYPES = frozenset({"string", "number", "boolean"})
RESERVED_MODULES = frozenset({"core"})
MAX_STRING = 100_000
SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class FieldDef:
    id: str
    table: str
    name: str
    type: str
    display_name: str
    description: str = ""
    required: bool = False
    default: Any = None
    shared_key: str | None = None
    crdt: str | None = None
    item_type: str | None = None
    on_conflict: str = "lww"


@dataclass(frozen=True)
class TableDef:
    id: str
    module: str
    name: str
    display_name: str
    description: str
    fields: dict[str, FieldDef]
    compatible_tables: tuple[str, ...] = ()

    def field(self, name: str) -> FieldDef:
        found = self.fields.get(name)
        if found is None:
            known = ", ".join(sorted(self.fields)) or "none"
            raise ValidationError(f"table {self.display_name!r} has no field {name!r} (fields: {known})")
        return found

    def naming_fields(self) -> list[FieldDef]:
        """The fields a record's name is read from, best first: name/title/label, then a cue number
        (a cue nobody labelled is "Cue 17A", what a stage manager calls it), then other text."""
        named = [f for f in self.fields.values() if f.crdt is None and f.type in ("string", "cue")]
        named.sort(key=lambda f: (f.type != "string" or f.name not in ("name", "title", "label"), f.type != "cue"))
        return named

    def name_from(self, values: dict[str, Any]) -> str | None:
        """A record's name from its values by field id; None when every naming field is empty."""
        for fdef in self.naming_fields():
            value = values.get(fdef.id)
            if value is None or value == "":
                continue
            return f"Cue {cue_text(value) or value}" if fdef.type == "cue" else str(value)
        return None


@dataclass(frozen=True)
class EdgeTypeDef:
    id: str
    module: str
    name: str
    display_name: str
    ordered: bool
    properties: dict[str, str]
    source_tables: tuple[str, ...] = ()
    target_tables: tuple[str, ...] = ()
    source_tables_hint: tuple[str, ...] = ()
    target_tables_hint: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ModuleDef:
    name: str
    version: str
    display_name: str
    description: str
    tables: dict[str, TableDef]
    edge_types: dict[str, EdgeTypeDef]
    manifest: str = field(repr=False, default="")
    # [view.X] sections: view id 'module.X' -> (name, definition); see views.py
    views: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


# --- value checking -------------------------------------------------------------------------


def normalize_value(fdef: FieldDef, value: Any) -> Any:
    """Check `value` against the field's type and return its canonical form.

    Numbers: integral floats become ints so Python and JavaScript callers produce the same
    bytes. Timestamps: ISO 8601, normalised; an offset is converted to UTC ('Z').
    """
    kind = fdef.type
    if kind == "string" and type(value) is str and len(value) <= MAX_STRING:
        return value  # the common cases, checked without building an error prefix
    if kind == "number" and type(value) is int and -(2**53) < value < 2**53:
        return value
    where = f"field {fdef.display_name!r} ({fdef.type})"
    if value is None:
        raise ValidationError(f"{where}: use clear to remove a value")
    if kind == "string":
        if not isinstance(value, str):
            raise ValidationError(f"{where}: expected text, got {type(value).__name__} {value!r}")
        if len(value) > MAX_STRING:
            raise ValidationError(f"{where}: text longer than {MAX_STRING} characters")
        return value
    if kind == "number":
        return normalize_number(value, where)
    if kind == "cue":
        return normalize_cue(value, where)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind == "timestamp":
        return normalize_timestamp(value, where)
    if kind == "blob":
        try:
            return BlobRef.parse(value).value
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}") from None
    raise ValidationError(f"{where}: list fields change through CRDT operations only")


def normalize_number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: expected a finite number, got {value!r}")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if abs(value) >= 2**53:
        raise ValidationError(f"{where}: integer {value} is too large to be exact in a 64-bit float")
    return value


def normalize_timestamp(value: Any, where: str) -> str:
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ValidationError(f"{where}: expected an ISO 8601 date-time, got {value!r}") from None
    else:
        raise ValidationError(f"{where}: expected an ISO 8601 date-time, got {type(value).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
        suffix = "Z"
    else:
        suffix = ""
    timespec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=timespec) + suffix


# --- manifest parsing -----------------------------------------------------------------------


MAX_MANIFEST_CHARS = 100_000
MAX_MANIFEST_DEPTH = 16  # brackets and braces nested in the TOML text (a real manifest needs 4)
MAX_MANIFEST_ITEMS = 2_000  # tables, fields and edge types together


def manifest_depth(text: str) -> int:
    """How deeply `[` and `{` nest in TOML text, outside strings and comments.

    Checked before parsing: a manifest arrives in a bundle from a peer, and a parser that
    recurses per level must never be handed thousands of levels.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if ch == '"' and text[i] == "\\":
                    i += 1  # an escaped character never ends a basic string
                elif len(quote) == 1 and text[i] == "\n":
                    break  # a one-line string ends at the line's end at the latest
                i += 1
            i += len(quote)
            continue
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


def parse_manifest(text: str) -> ModuleDef:
    """TOML text -> ModuleDef, or SchemaError saying exactly what is wrong and where."""
    if len(text) > MAX_MANIFEST_CHARS:
        raise SchemaError(f"manifest is {len(text)} characters, over the limit of {MAX_MANIFEST_CHARS}")
    if manifest_depth(text) > MAX_MANIFEST_DEPTH:
        raise SchemaError(f"manifest nests lists or tables more than {MAX_MANIFEST_DEPTH} levels deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"manifest is not valid TOML: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise SchemaError("manifest nests too deeply") from None
    header = data.get("module")
    if not isinstance(header, dict):
        raise SchemaError("manifest needs a [module] section")
    name = header.get("name")
    if not isinstance(name, str) or not MODULE_RE.match(name):
        raise SchemaError(f"[module] name must be lowercase letters, digits or '_', got {name!r}")
    if name in RESERVED_MODULES:
        raise SchemaError(f"module name {name!r} is reserved")
    version = header.get("version")
    if not isinstance(version, str) or not SEMVER_RE.match(version):
        raise SchemaError(f"[module] version must be semantic (like '1.0.0'), got {version!r}")
    unknown = set(data) - {"module", "table", "edge", "capabilities", "script", "rule", "view"}
    if unknown:
        raise SchemaError(f"unknown manifest sections: {sorted(unknown)}")
    items = len(_section(data, "table")) + len(_section(data, "edge")) + sum(
        len(t.get("fields", {})) for t in _section(data, "table").values()
        if isinstance(t, dict) and isinstance(t.get("fields", {}), dict))
    if items > MAX_MANIFEST_ITEMS:
        raise SchemaError(f"manifest defines {items} tables, fields and edge types; at most {MAX_MANIFEST_ITEMS}")
    tables = {}
    for tname, tdata in _section(data, "table").items():
        table = _parse_table(name, tname, tdata)
        tables[table.id] = table
    edges = {}
    for ename, edata in _section(data, "edge").items():
        edge = _parse_edge(name, ename, edata, tables)
        edges[edge.id] = edge
    from .view_definitions import ViewError, module_views

    try:
        views = module_views(name, data.get("view", {}))
    except ViewError as exc:
        raise SchemaError(str(exc)) from None
    return ModuleDef(
        name=name,
        version=version,
        display_name=_opt_str(header, "display_name", "[module]") or name,
        description=_opt_str(header, "description", "[module]"),
        tables=tables,
        edge_types=edges,
        manifest=text,
        views=views,
    )


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SchemaError(f"[{key}] must be a table of definitions")
    return value


def _opt_str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise SchemaError(f"{where} {key} must be text")
    return value


def _parse_table(module: str, tname: str, tdata: Any) -> TableDef:
    tid = f"{module}.{tname}"
    where = f"[table.{tname}]"
    if not TABLE_RE.match(tid):
        raise SchemaError(f"{where}: table name must start with a letter and use letters, digits or '_'")
    if not isinstance(tdata, dict):
        raise SchemaError(f"{where} must be a table")
    unknown = set(tdata) - {"display_name", "description", "fields", "compatible_tables"}
    if unknown:
        raise SchemaError(f"{where}: unknown keys {sorted(unknown)}")
    fields_data = tdata.get("fields", {})
    if not isinstance(fields_data, dict) or not fields_data:
        raise SchemaError(f"{where} must declare at least one field")
    fields = {fname: _parse_field(tid, fname, fdata) for fname, fdata in fields_data.items()}
    compatible = tdata.get("compatible_tables", [])
    if not isinstance(compatible, list) or not all(isinstance(x, str) for x in compatible):
        raise SchemaError(f"{where}: compatible_tables must be a list of table ids")
    return TableDef(
        id=tid,
        module=module,
        name=tname,
        display_name=_opt_str(tdata, "display_name", where) or tname,
        description=_opt_str(tdata, "description", where),
        fields=fields,
        compatible_tables=tuple(compatible),
    )


def _parse_field(tid: str, fname: str, fdata: Any) -> FieldDef:
    fid = f"{tid}.{fname}"
    where = f"field {fid}"
    if not FIELD_RE.match(fid):
        raise SchemaError(f"{where}: field name must start with a letter and use letters, digits or '_'")
    if not isinstance(fdata, dict):
        raise SchemaError(f"{where} must be a table")
    allowed = {"type", "display_name", "description", "required", "default", "shared_key", "crdt",
               "crdt_granularity", "item_type", "on_conflict", "private"}
    unknown = set(fdata) - allowed
    if unknown:
        raise SchemaError(f"{where}: unknown keys {sorted(unknown)}")
    ftype = fdata.get("type")
    if ftype not in FIELD_TYPES:
        raise SchemaError(f"{where}: type must be one of {sorted(FIELD_TYPES)}, got {ftype!r}")
    crdt = fdata.get("crdt")
    if crdt is not None and crdt not in CRDT_KINDS:
        raise SchemaError(f"{where}: crdt must be 'text' or 'list', got {crdt!r}")
    if crdt == "text" and ftype != "string":
        raise SchemaError(f"{where}: a text CRDT field must have type 'string'")
    if (crdt == "list") != (ftype == "list"):
        raise SchemaError(f"{where}: type 'list' and crdt = 'list' go together")
    item_type = fdata.get("item_type")
    if ftype == "list" and item_type not in LIST_ITEM_TYPES:
        raise SchemaError(f"{where}: a list field needs item_type in {sorted(LIST_ITEM_TYPES)}")
    required = fdata.get("required", False)
    if not isinstance(required, bool):
        raise SchemaError(f"{where}: required must be true or false")
    shared_key = fdata.get("shared_key")
    if shared_key is not None and (not isinstance(shared_key, str) or not re.match(r"^[a-z][a-z0-9_]*$", shared_key)):
        raise SchemaError(f"{where}: shared_key must be a lowercase identifier")
    on_conflict = fdata.get("on_conflict", "lww")
    if on_conflict not in ("lww", "block"):
        raise SchemaError(f"{where}: on_conflict must be 'lww' or 'block'")
    fdef = FieldDef(
        id=fid,
        table=tid,
        name=fname,
        type=ftype,
        display_name=_opt_str(fdata, "display_name", where) or fname,
        description=_opt_str(fdata, "description", where),
        required=required,
        shared_key=shared_key,
        crdt=crdt,
        item_type=item_type,
        on_conflict=on_conflict,
    )
    if "default" in fdata:
        if crdt is not None:
            raise SchemaError(f"{where}: CRDT fields cannot declare a default")
        try:
            default = normalize_value(fdef, fdata["default"])
        except ValidationError as exc:
            raise SchemaError(f"{where}: default does not fit the type: {exc}") from None
        fdef = FieldDef(**{**fdef.__dict__, "default": default})
    return fdef


def _parse_edge(module: str, ename: str, edata: Any, tables: dict[str, TableDef]) -> EdgeTypeDef:
    eid = f"{module}.{ename}"
    where = f"[edge.{ename}]"
    if not EDGE_TYPE_RE.match(eid):
        raise SchemaError(f"{where}: edge name must start with a letter and use letters, digits or '_'")
    if not isinstance(edata, dict):
        raise SchemaError(f"{where} must be a table")
    allowed = {"display_name", "description", "ordered", "properties", "source_tables", "target_tables",
               "source_tables_hint", "target_tables_hint", "source_table", "target_description"}
    unknown = set(edata) - allowed
    if unknown:
        raise SchemaError(f"{where}: unknown keys {sorted(unknown)}")
    ordered = edata.get("ordered", False)
    if not isinstance(ordered, bool):
        raise SchemaError(f"{where}: ordered must be true or false")
    props = edata.get("properties", {})
    if not isinstance(props, dict):
        raise SchemaError(f"{where}: properties must map names to types")
    for pname, ptype in props.items():
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", pname):
            raise SchemaError(f"{where}: property name {pname!r} is invalid (names starting with '_' are reserved)")
        if ptype not in FIELD_TYPES - {"list"}:
            raise SchemaError(f"{where}: property {pname!r} type must be one of string, number, boolean, "
                              f"timestamp, blob; got {ptype!r}")

    def own_tables(key: str) -> tuple[str, ...]:
        raw = edata.get(key, [])
        if key == "source_tables" and "source_table" in edata:
            raw = [*raw, edata["source_table"]]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise SchemaError(f"{where}: {key} must be a list of table names")
        out = []
        for name in raw:
            tid = name if "." in name else f"{module}.{name}"
            if not tid.startswith(module + "."):
                raise SchemaError(
                    f"{where}: {key} may only name this module's own tables; "
                    f"use {key}_hint to suggest {tid!r}"
                )
            if tid not in tables:
                raise SchemaError(f"{where}: {key} names unknown table {tid!r}")
            out.append(tid)
        return tuple(out)

    def hints(key: str) -> tuple[str, ...]:
        raw = edata.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(x, str) and TABLE_RE.match(x) for x in raw):
            raise SchemaError(f"{where}: {key} must be a list of 'module.Table' ids")
        return tuple(raw)

    return EdgeTypeDef(
        id=eid,
        module=module,
        name=ename,
        display_name=_opt_str(edata, "display_name", where) or ename,
        ordered=ordered,
        properties=dict(props),
        source_tables=own_tables("source_tables"),
        target_tables=own_tables("target_tables"),
        source_tables_hint=hints("source_tables_hint"),
        target_tables_hint=hints("target_tables_hint"),
        description=_opt_str(edata, "description", where),
    )


def property_def(edge_type: EdgeTypeDef, key: str) -> FieldDef:
    """An edge property as a FieldDef, so properties share the field value rules."""
    ptype = edge_type.properties.get(key)
    if ptype is None:
        known = ", ".join(sorted(edge_type.properties)) or "none"
        raise ValidationError(f"edge type {edge_type.display_name!r} has no property {key!r} (properties: {known})")
    return FieldDef(id=f"{edge_type.id}.{key}", table="", name=key, type=ptype, display_name=key)


class Schema:
    """The workspace's schema: the union of adopted modules, looked up by id."""

    def __init__(self, modules: dict[str, ModuleDef] | None = None) -> None:
        self.modules: dict[str, ModuleDef] = dict(modules or {})
        self.tables: dict[str, TableDef] = {}
        self.fields: dict[str, FieldDef] = {}
        self.edge_types: dict[str, EdgeTypeDef] = {}
        for module in self.modules.values():
            self._index(module)

    def _index(self, module: ModuleDef) -> None:
        for table in module.tables.values():
            self.tables[table.id] = table
            for fdef in table.fields.values():
                self.fields[fdef.id] = fdef
        self.edge_types.update(module.edge_types)

    def with_module(self, module: ModuleDef) -> Schema:
        return Schema({**self.modules, module.name: module})

    # Names: the full id always works ('module.Table', 'module.Table.field', 'module.edge'); a
    # shorter name ('Table', 'Table.field', 'field', 'edge') works when it names exactly one.

    def table(self, name: str) -> TableDef:
        """A table by 'module.Table', or by 'Table' when one adopted module has a table so named."""
        found = self.tables.get(name)
        if found is not None:
            return found
        candidates = [t for t in self.tables.values() if isinstance(name, str) and t.name == name]
        table: TableDef = _one(candidates, name, "table", sorted(self.tables) or ["none adopted yet"], "'module.Table'")
        return table

    def field(self, name: str, tables: Iterable[str] | Callable[[], Iterable[str]] | None = None) -> FieldDef:
        """A field by 'module.Table.field'; or 'Table.field', or 'field' alone, when it names one
        field of `tables` (a record's tables, or a function giving them, called only for a short
        name; default: every table)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        if callable(tables):
            tables = list(tables()) or None
        scope = list(tables) if tables is not None else list(self.tables)
        candidates = []
        if isinstance(name, str) and name.count(".") <= 1:
            table_name, _dot, field_name = name.rpartition(".")
            for tid in scope:
                tdef = self.tables.get(tid)
                if tdef is None or (table_name and table_name != tdef.name):
                    continue
                if field_name in tdef.fields:
                    candidates.append(tdef.fields[field_name])
        known = sorted(f.id for t in scope if t in self.tables for f in self.tables[t].fields.values())
        fdef: FieldDef = _one(candidates, name, "field", known, "'module.Table.field'",
                              " in this record's tables" if tables is not None else "")
        return fdef

    def edge_type(self, name: str) -> EdgeTypeDef:
        """An edge type by 'module.edge', or by 'edge' when one adopted module declares it."""
        found = self.edge_types.get(name)
        if found is not None:
            return found
        candidates = [e for e in self.edge_types.values() if isinstance(name, str) and e.name == name]
        edge_type: EdgeTypeDef = _one(candidates, name, "edge type", sorted(self.edge_types) or ["none"],
                                      "'module.edge'")
        return edge_type


def _one(candidates: list[Any], name: object, what: str, known: list[str], form: str, where: str = "") -> Any:
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        listed = ", ".join(sorted(c.id for c in candidates))
        raise ValidationError(f"{name!r} is ambiguous: it could be {listed}; use the full id ({form})")
    shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
    raise ValidationError(f"unknown {what} {name!r}{where}; name it as {form}, or by its last part when that is "
                          f"unambiguous (known: {shown})")


def check_compatible(old: ModuleDef, new: ModuleDef) -> None:
    """Re-adopting a module may add tables, fields and edge types, never retype what exists."""
    for tid, table in old.tables.items():
        if tid not in new.tables:
            raise SchemaError(f"new version of {old.name!r} drops table {tid!r}")
        for fname, fdef in table.fields.items():
            nf = new.tables[tid].fields.get(fname)
            if nf is None:
                raise SchemaError(f"new version of {old.name!r} drops field {fdef.id!r}")
            if (nf.type, nf.crdt, nf.item_type) != (fdef.type, fdef.crdt, fdef.item_type) and \
                    (fdef.type, nf.type) not in WIDENINGS:
                raise SchemaError(f"new version of {old.name!r} changes the type of {fdef.id!r}")
    for eid, edge in old.edge_types.items():
        ne = new.edge_types.get(eid)
        if ne is None:
            raise SchemaError(f"new version of {old.name!r} drops edge type {eid!r}")
        if ne.ordered != edge.ordered:
            raise SchemaError(f"new version of {old.name!r} changes whether {eid!r} is ordered")
        for pname, ptype in edge.properties.items():
            if ne.properties.get(pname) != ptype:
                raise SchemaError(f"new version of {old.name!r} changes property {eid}.{pname}")


def _widens(old: FieldDef, new: FieldDef) -> bool:
    return (old.type, new.type) in WIDENINGS and (old.crdt, old.item_type) == (new.crdt, new.item_type)


def union(earlier: ModuleDef, later: ModuleDef) -> ModuleDef:
    """The schema of a module adopted twice: everything either version declares.

    What the earlier adoption defined keeps its definition, so a field's type never changes
    after the first adoption; the later version contributes what is new, plus its name and
    descriptions. One exception, a widening (a number field becoming a cue number field): the
    wider definition wins whichever was adopted first, so every peer derives the same type
    whatever order the adoptions reach it in (docs/design.md, "Cue numbers").
    """
    tables = dict(earlier.tables)
    for tid, table in later.tables.items():
        old = tables.get(tid)
        if old is None:
            tables[tid] = table
        else:
            fields = {**table.fields, **old.fields}
            for fname, fdef in old.fields.items():
                newer = table.fields.get(fname)
                if newer is not None and _widens(fdef, newer):
                    fields[fname] = newer
            tables[tid] = TableDef(tid, old.module, old.name, table.display_name, table.description,
                                   fields, table.compatible_tables)
    edges = dict(earlier.edge_types)
    for eid, edge in later.edge_types.items():
        old_edge = edges.get(eid)
        if old_edge is None:
            edges[eid] = edge
        else:
            props = {**edge.properties, **old_edge.properties}
            edges[eid] = EdgeTypeDef(**{**old_edge.__dict__, "properties": props,
                                        "display_name": edge.display_name})
    return ModuleDef(later.name, later.version, later.display_name, later.description, tables, edges,
                     later.manifest, {**earlier.views, **later.views})
