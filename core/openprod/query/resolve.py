"""Name resolution: a syntax tree plus a schema becomes a CompiledQuery (or a QueryError).

How a name resolves (docs/query.md has the user-facing version):

* `table` is reserved: `table == "..."`, `table != "..."`, `table IN [...]` test membership. A
  table is named by its id (`contacts.Contacts`), its name (`Contacts`), its module when that
  module has one table (`contacts`), or its display name (`Lighting Cues`).
* `module.Table.field` is that field. `module.Table` is a table (facet existence with `exists`).
* A bare `field` is looked up first in its table context: the `table=` argument, then every
  table named by a `table == "..."` (or `table IN [...]`) condition joined to it by AND, at
  its own level or any enclosing one, in order; the first of those tables with the field wins.
  Outside that context: a shared key (every field declaring it), else the one field with that
  name, else the fields with that name if they all declare the same shared key. Anything else
  with several candidates is ambiguous: an error listing the full ids to choose from.
* `module.field` is the field of that module's tables (context first, then the same rules).
* Edges: `edge->target.<path>` follows outgoing edges, `<-edge.source.<path>` incoming ones;
  `edge.prop` / `<-edge.prop` test an edge property; `edge`, `edge->target`, `<-edge` exist.
  An edge type is named `module.edge` or `edge` (if only one module declares it). After a hop,
  bare names resolve against the edge type's declared (or hinted) tables for that end.
* A name that matches nothing makes its predicate false (spec: FieldNotFound, EdgeNotFound) and
  is reported in `CompiledQuery.warnings`, so a UI can say "no field called 'nmae'".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..modules import EdgeTypeDef, FieldDef, Schema
from . import errors as e
from .ast import (
    ActorRef,
    And,
    Arr,
    ChangesTest,
    Compare,
    Const,
    CreatedByTest,
    EdgeHop,
    EdgePropTest,
    Exists,
    FieldRef,
    FieldTarget,
    FieldTest,
    InList,
    IsNull,
    Like,
    Lit,
    Member,
    Node,
    Not,
    NowRef,
    Operand,
    Or,
    Part,
    Pos,
    Pred,
    Regex,
    SourceRef,
    SyntaxValue,
    Test,
    Truthy,
    Value,
)
from .parser import parse
from .patterns import PatternTooLong, UnsafeRegex, check_regex

CONTEXTS = ("filter", "trigger")
CREATED_BY = "created_by"


@dataclass(frozen=True)
class QueryWarning:
    """Something in the query that names nothing: its predicate is false, as the spec says."""

    message: str
    line: int
    column: int


@dataclass(frozen=True)
class CompiledQuery:
    """A parsed, name-resolved query, reusable for many runs against workspaces of this schema."""

    text: str
    table: str | None
    context: str
    root: Node
    warnings: tuple[QueryWarning, ...]
    watched: frozenset[str]  # field ids, table ids and edge types the query reads (for rules)
    uses_source: bool
    schema: Schema = field(compare=False, repr=False)


# --- resolved paths (internal) -------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    target: FieldTarget


@dataclass(frozen=True)
class _Facet:
    table: str


@dataclass(frozen=True)
class _Hop:
    edge_type: str
    outgoing: bool
    inner: _PathRef | None  # None: the far record itself (existence)


@dataclass(frozen=True)
class _EdgeProp:
    edge_type: str
    outgoing: bool
    key: str
    type: str


@dataclass(frozen=True)
class _Table:
    """The name `table`: a membership test, not a field."""


@dataclass(frozen=True)
class _CreatedBy:
    """The name `created_by`: the actor who created the record."""


@dataclass(frozen=True)
class _Unknown:
    message: str
    pos: Pos


_PathRef = _Field | _Facet | _Hop | _EdgeProp | _Table | _CreatedBy | _Unknown


@dataclass(frozen=True)
class _Never:
    """A test no value can pass (`x < null`): the predicate is false."""


def _ref(fdef: FieldDef) -> FieldRef:
    return FieldRef(fdef.id, fdef.table, fdef.type, fdef.crdt is not None)


def _ids(fields: list[FieldDef]) -> str:
    return ", ".join(sorted(f.id for f in fields))


class Resolver:
    def __init__(self, text: str, schema: Schema, context: str) -> None:
        self.text = text
        self.schema = schema
        self.context = context
        self.warnings: list[QueryWarning] = []
        self.watched: set[str] = set()
        self.uses_source = False
        self.by_name: dict[str, list[FieldDef]] = {}
        self.by_shared: dict[str, list[FieldDef]] = {}
        for fdef in sorted(schema.fields.values(), key=lambda f: f.id):
            self.by_name.setdefault(fdef.name, []).append(fdef)
            if fdef.shared_key:
                self.by_shared.setdefault(fdef.shared_key, []).append(fdef)
        self.edges_by_name: dict[str, list[EdgeTypeDef]] = {}
        for edef in sorted(schema.edge_types.values(), key=lambda d: d.id):
            self.edges_by_name.setdefault(edef.name, []).append(edef)

    # --- errors ---------------------------------------------------------------------------------

    def fail(self, detail: str, pos: Pos, code: str) -> e.QueryError:
        return e.QueryError(detail, code=code, text=self.text, line=pos.line, column=pos.column)

    def warn(self, message: str, pos: Pos) -> None:
        self.warnings.append(QueryWarning(message, pos.line, pos.column))

    # --- tables -----------------------------------------------------------------------------------

    def table_ids(self, name: str, pos: Pos) -> tuple[str, ...]:
        """A table named by id, name, single-table module or display name; () if none."""
        tables = self.schema.tables
        if name in tables:
            return (name,)
        candidates = [
            [t.id for t in tables.values() if t.name == name],
            [t.id for t in tables.values() if t.module == name],
            [t.id for t in tables.values() if t.display_name.casefold() == name.casefold()],
        ]
        for found in candidates:
            if len(found) == 1:
                return (found[0],)
            if found:
                raise self.fail(f"{name!r} could be any of the tables {', '.join(sorted(found))}; "
                                f"write the full table id", pos, e.AMBIGUOUS_NAME)
        return ()

    def scope_of(self, items: tuple[Node, ...], scope: tuple[str, ...]) -> tuple[str, ...]:
        """`scope` extended by the tables that `table == ...` / `table IN [...]` items of one AND name."""
        out = list(scope)
        for item in items:
            if not (isinstance(item, Pred) and len(item.path.parts) == 1 and item.path.parts[0].name == "table"):
                continue
            if item.op == "==" and isinstance(item.value, Lit) and isinstance(item.value.value, str):
                names = [item.value]
            elif item.op == "in" and isinstance(item.value, Arr):
                names = [v for v in item.value.items if isinstance(v, Lit) and isinstance(v.value, str)]
            else:
                continue
            for lit in names:
                assert isinstance(lit.value, str)
                out.extend(t for t in self.table_ids(lit.value, lit.pos) if t not in out)
        return tuple(out)

    def end_tables(self, edef: EdgeTypeDef, source_end: bool) -> tuple[str, ...]:
        raw = (edef.source_tables + edef.source_tables_hint) if source_end else (
            edef.target_tables + edef.target_tables_hint)
        return tuple(dict.fromkeys(t for t in raw if t in self.schema.tables))

    # --- fields -----------------------------------------------------------------------------------

    def target(self, fields: list[FieldDef], label: str) -> _Field:
        self.watched.update(f.id for f in fields)
        return _Field(FieldTarget(tuple(_ref(f) for f in fields), label))

    def among(self, fields: list[FieldDef], label: str, pos: Pos) -> _Field | None:
        """One field, or several that declare one shared key; else ambiguous."""
        if not fields:
            return None
        if len(fields) == 1:
            return self.target(fields, label)
        keys = {f.shared_key for f in fields}
        if len(keys) == 1 and None not in keys:
            return self.target(fields, label)
        raise self.fail(f"{label!r} is ambiguous: it could be {_ids(fields)}; write the full field id "
                        f"or add table == \"...\" to the query", pos, e.AMBIGUOUS_NAME)

    def bare_field(self, name: str, scope: tuple[str, ...], pos: Pos) -> _Field | None:
        for tid in scope:
            fdef = self.schema.tables[tid].fields.get(name)
            if fdef is not None:
                return self.target([fdef], name)
        shared = self.by_shared.get(name, [])
        if shared:
            others = [f for f in self.by_name.get(name, []) if f.shared_key != name]
            if others:
                raise self.fail(f"{name!r} is ambiguous: it is the shared key of {_ids(shared)} and also the "
                                f"field {_ids(others)}; write the full field id", pos, e.AMBIGUOUS_NAME)
            return self.target(shared, name)
        return self.among(self.by_name.get(name, []), name, pos)

    def module_field(self, module: str, name: str, scope: tuple[str, ...], pos: Pos) -> _Field | None:
        for tid in scope:
            tdef = self.schema.tables[tid]
            if tdef.module == module and name in tdef.fields:
                return self.target([tdef.fields[name]], f"{module}.{name}")
        fields = [f for f in self.by_name.get(name, []) if f.table.split(".")[0] == module]
        return self.among(fields, f"{module}.{name}", pos)

    # --- edges ------------------------------------------------------------------------------------

    def edge_named(self, name: str, pos: Pos) -> EdgeTypeDef | None:
        if name in self.schema.edge_types:
            return self.schema.edge_types[name]
        found = self.edges_by_name.get(name, [])
        if len(found) > 1:
            raise self.fail(f"edge type {name!r} is ambiguous: {', '.join(d.id for d in found)}; write "
                            f"module.edge", pos, e.AMBIGUOUS_NAME)
        return found[0] if found else None

    def edge_prop(self, edef: EdgeTypeDef, outgoing: bool, part: Part) -> _PathRef:
        ptype = edef.properties.get(part.name)
        if ptype is None:
            known = ", ".join(sorted(edef.properties)) or "none"
            return _Unknown(f"edge type {edef.id} has no property {part.name!r} (properties: {known})", part.pos)
        return _EdgeProp(edef.id, outgoing, part.name, ptype)

    def hop_rest(self, edef: EdgeTypeDef, outgoing: bool, rest: list[Part]) -> _PathRef:
        self.watched.add(edef.id)
        if not rest:
            return _Hop(edef.id, outgoing, None)
        if rest[0].sep != ".":
            raise self.fail("after the far end of an edge comes '.' and a field", rest[0].pos, e.INVALID_PATH)
        scope = self.end_tables(edef, source_end=not outgoing)
        return _Hop(edef.id, outgoing, self.path(rest, scope))

    # --- paths ------------------------------------------------------------------------------------

    def path(self, parts: list[Part], scope: tuple[str, ...]) -> _PathRef:
        first = parts[0]
        if first.incoming:
            return self.incoming(parts, scope)
        arrow = next((i for i, p in enumerate(parts) if p.sep == "->"), None)
        if arrow is not None:
            head = parts[:arrow]
            if len(head) > 2 or any(p.incoming or p.sep == "->" for p in head[1:]):
                raise self.fail("an edge type is written edge or module.edge before '->'", first.pos, e.INVALID_PATH)
            end = parts[arrow]
            if end.incoming or end.name != "target":
                raise self.fail("after '->' write target, as in appears_in->target.title", end.pos, e.INVALID_PATH)
            name = ".".join(p.name for p in head)
            edef = self.edge_named(name, first.pos)
            if edef is None:
                return _Unknown(f"no edge type called {name!r}", first.pos)
            return self.hop_rest(edef, True, parts[arrow + 1:])
        for p in parts[1:]:
            if p.incoming:
                raise self.fail("'<-' starts a path, or follows '->target.' or '.source.'", p.pos, e.INVALID_PATH)
        return self.dotted(parts, scope)

    def incoming(self, parts: list[Part], scope: tuple[str, ...]) -> _PathRef:
        first = parts[0]
        used = 1
        edef = None
        if len(parts) > 1 and f"{first.name}.{parts[1].name}" in self.schema.edge_types and parts[1].sep == ".":
            edef, used = self.schema.edge_types[f"{first.name}.{parts[1].name}"], 2
        else:
            edef = self.edge_named(first.name, first.pos)
        if edef is None:
            return _Unknown(f"no edge type called {first.name!r}", first.pos)
        rest = parts[used:]
        if not rest:
            self.watched.add(edef.id)
            return _Hop(edef.id, False, None)
        nxt = rest[0]
        if nxt.sep != "." or nxt.incoming:
            raise self.fail(f"after <-{first.name} write .source (the record it comes from) or .<property>",
                            nxt.pos, e.INVALID_PATH)
        if nxt.name == "source":
            return self.hop_rest(edef, False, rest[1:])
        if nxt.name == "target":
            raise self.fail(f"the target of an incoming edge is this record; write <-{first.name}.source",
                            nxt.pos, e.INVALID_PATH)
        if len(rest) > 1:
            raise self.fail("an edge property ends the path", rest[1].pos, e.INVALID_PATH)
        self.watched.add(edef.id)
        return self.edge_prop(edef, False, nxt)

    def dotted(self, parts: list[Part], scope: tuple[str, ...]) -> _PathRef:
        names = [p.name for p in parts]
        pos = parts[0].pos
        full = ".".join(names)
        if len(names) == 1:
            name = names[0]
            if name == "table":
                return _Table()
            found = self.bare_field(name, scope, pos)
            if found is not None:
                return found
            edef = self.edge_named(name, pos)
            if edef is not None:
                self.watched.add(edef.id)
                return _Hop(edef.id, True, None)
            if name == CREATED_BY:
                return _CreatedBy()
            return _Unknown(f"no field, table or edge type called {name!r}", pos)
        options: list[tuple[str, _PathRef]] = []
        if len(names) == 2:
            module, name = names
            if full in self.schema.tables:
                self.watched.add(full)
                options.append((f"the table {full}", _Facet(full)))
            if full in self.schema.edge_types:
                self.watched.add(full)
                options.append((f"the edge type {full}", _Hop(full, True, None)))
            if module in self.schema.modules:
                found = self.module_field(module, name, scope, pos)
                if found is not None:
                    options.append((f"the field {module}.{name}", found))
            edges = [d for d in self.edges_by_name.get(module, []) if name in d.properties]
            for edef in edges:
                self.watched.add(edef.id)
                options.append((f"the property {name} of edge type {edef.id}", self.edge_prop(edef, True, parts[1])))
        elif len(names) == 3:
            if full in self.schema.fields:
                options.append((f"the field {full}", self.target([self.schema.fields[full]], full)))
            edge_id = f"{names[0]}.{names[1]}"
            edef = self.schema.edge_types.get(edge_id)
            if edef is not None and names[2] in edef.properties:
                self.watched.add(edge_id)
                prop = self.edge_prop(edef, True, parts[2])
                options.append((f"the property {names[2]} of edge type {edge_id}", prop))
        else:
            raise self.fail(f"{full!r} has too many parts: write field, module.field, module.Table.field or "
                            f"edge.property", pos, e.INVALID_PATH)
        if len(options) > 1:
            raise self.fail(f"{full!r} is ambiguous: it could be {' or '.join(o[0] for o in options)}", pos,
                            e.AMBIGUOUS_NAME)
        if options:
            return options[0][1]
        return _Unknown(f"no field, table or edge type called {full!r}", pos)

    # --- values -----------------------------------------------------------------------------------

    def operand(self, value: SyntaxValue, *, in_array: bool = False) -> Operand:
        if isinstance(value, Lit):
            return Value(value.value)
        if isinstance(value, Arr):
            detail = "arrays cannot be nested" if in_array else "an array can only follow IN"
            raise self.fail(detail, value.pos, e.INVALID_VALUE)
        head, rest = value.names[0], value.names[1:]
        if head == "literal" and not rest:
            if not isinstance(value.arg, Lit):
                raise self.fail("$literal takes one plain value, as in $literal(\"text\")", value.pos, e.INVALID_VALUE)
            return Value(value.arg.value)
        if value.arg is not None:
            raise self.fail(f"${head} takes no argument", value.pos, e.INVALID_VALUE)
        if in_array:
            raise self.fail("array items must be plain values, not references", value.pos, e.INVALID_VALUE)
        if head == "now" and not rest:
            return NowRef()
        if head == "actor" and not rest:
            return ActorRef()
        if head == "source":
            if not rest:
                raise self.fail("$source needs a field, as in $source.department", value.pos, e.INVALID_VALUE)
            self.uses_source = True
            return SourceRef(self.source_fields(rest, value.pos), value.pos)
        raise self.fail(f"unknown reference ${'.'.join(value.names)}; use $source.<field>, $now, $actor or "
                        f"$literal(...)", value.pos, e.UNKNOWN_REFERENCE)

    def source_fields(self, names: tuple[str, ...], pos: Pos) -> tuple[FieldRef, ...]:
        """Candidate fields for $source.<path>, best first; the source record's tables pick one."""
        if len(names) == 3:
            found = [self.schema.fields[".".join(names)]] if ".".join(names) in self.schema.fields else []
        elif len(names) == 2:
            found = [f for f in self.by_name.get(names[1], []) if f.table.split(".")[0] == names[0]]
        elif len(names) == 1:
            found = list(self.by_name.get(names[0], []))
            found += [f for f in self.by_shared.get(names[0], []) if f not in found]
        else:
            found = []
        if not found:
            self.warn(f"no field called {'.'.join(names)!r} for $source", pos)
        self.watched.update(f.id for f in found)
        return tuple(_ref(f) for f in found)

    def test(self, pred: Pred) -> Test | _Never:
        op, value = pred.op, pred.value
        if op == "exists":
            return Exists()
        if op == "truthy":
            return Truthy()
        if op in ("like", "matches"):
            if not (isinstance(value, Lit) and isinstance(value.value, str)):
                pos = value.pos if value is not None else pred.pos
                raise self.fail(f"{op.upper()} needs a quoted pattern", pos, e.INVALID_VALUE)
            if op == "like":
                return Like(value.value)
            try:
                check_regex(value.value)
            except (UnsafeRegex, re.error) as exc:
                code = e.TOO_COMPLEX if isinstance(exc, PatternTooLong) else e.INVALID_REGEX
                raise self.fail(f"invalid regular expression {value.value!r}: {exc}", value.pos, code) from None
            return Regex(value.value)
        if op == "in":
            if not isinstance(value, Arr):
                pos = value.pos if value is not None else pred.pos
                raise self.fail("IN needs an array, as in department IN [\"lighting\", \"sound\"]", pos,
                                e.INVALID_VALUE)
            return InList(tuple(self.operand(v, in_array=True) for v in value.items))
        assert value is not None
        operand = self.operand(value)
        if isinstance(operand, Value) and operand.value is None:
            if op == "==":
                return IsNull()
            if op == "!=":
                return Exists()
            return _Never()
        return Compare(op, operand)

    # --- predicates ---------------------------------------------------------------------------------

    def node(self, syn: Node, scope: tuple[str, ...]) -> Node:
        if isinstance(syn, Or):
            return Or(tuple(self.node(i, scope) for i in syn.items))
        if isinstance(syn, And):
            inner = self.scope_of(syn.items, scope)
            return And(tuple(self.node(i, inner) for i in syn.items))
        if isinstance(syn, Not):
            return Not(self.node(syn.item, scope))
        assert isinstance(syn, Pred)
        return self.predicate(syn, scope)

    def predicate(self, pred: Pred, scope: tuple[str, ...]) -> Node:
        ref = self.path(list(pred.path.parts), scope)
        if pred.op == "changes":
            return self.changes(pred, ref)
        test = self.test(pred)
        if isinstance(ref, _Table):
            return self.table_test(pred)
        return self.apply(ref, test, pred)

    def changes(self, pred: Pred, ref: _PathRef) -> Node:
        if self.context != "trigger":
            raise self.fail("'changes' can only be used in trigger conditions, not in filters or rule 'when' "
                            "clauses", pred.pos, e.CHANGES_NOT_ALLOWED)
        if isinstance(ref, _Field):
            return ChangesTest(tuple(f.field_id for f in ref.target.fields), ())
        if isinstance(ref, _Facet):
            return ChangesTest((), (ref.table,))
        if isinstance(ref, _Unknown):
            self.warn(ref.message, ref.pos)
            return Const(False)
        raise self.fail("'changes' applies to a field or a table of the record itself", pred.pos, e.INVALID_PATH)

    def table_test(self, pred: Pred) -> Node:
        value = pred.value
        names: list[Lit] = []
        if pred.op in ("==", "!=") and isinstance(value, Lit) and isinstance(value.value, str):
            names = [value]
        elif pred.op == "in" and isinstance(value, Arr) and all(
                isinstance(v, Lit) and isinstance(v.value, str) for v in value.items):
            names = [v for v in value.items if isinstance(v, Lit)]
        else:
            raise self.fail("table is compared with ==, != or IN and table names, as in "
                            "table == \"contacts.Contacts\"", pred.pos, e.INVALID_VALUE)
        tables: list[str] = []
        for lit in names:
            assert isinstance(lit.value, str)
            found = self.table_ids(lit.value, lit.pos)
            if not found:
                self.warn(f"no table called {lit.value!r}", lit.pos)
            tables.extend(t for t in found if t not in tables)
        self.watched.update(tables)
        member: Node = Member(tuple(tables)) if tables else Const(False)
        return Not(member) if pred.op == "!=" else member

    def apply(self, ref: _PathRef, test: Test | _Never, pred: Pred) -> Node:
        if isinstance(ref, _Unknown):
            self.warn(ref.message, ref.pos)
            return Const(False)
        if isinstance(ref, _Table):
            raise self.fail("table is only compared directly, as in table == \"contacts.Contacts\"", pred.pos,
                            e.INVALID_PATH)
        if isinstance(ref, _Facet):
            if not isinstance(test, Exists | Truthy):
                raise self.fail(f"{ref.table} is a table: write `{ref.table} exists` or table == \"{ref.table}\"",
                                pred.pos, e.INVALID_VALUE)
            return Member((ref.table,))
        if isinstance(ref, _Hop):
            if ref.inner is None:
                if not isinstance(test, Exists | Truthy):
                    raise self.fail(f"{pred.path.text()} is a record, not a value: test one of its fields, as in "
                                    f"{_field_hint(pred.path.parts)}", pred.pos, e.INVALID_VALUE)
                return EdgeHop(ref.edge_type, ref.outgoing, Const(True))
            return EdgeHop(ref.edge_type, ref.outgoing, self.apply(ref.inner, test, pred))
        if isinstance(test, _Never):
            return Const(False)
        if isinstance(ref, _EdgeProp):
            return EdgePropTest(ref.edge_type, ref.outgoing, ref.key, ref.type == "timestamp", test)
        if isinstance(ref, _CreatedBy):
            return CreatedByTest(test)
        return FieldTest(ref.target, test)


def _field_hint(parts: tuple[Part, ...]) -> str:
    text = "".join(p.sep + ("<-" if p.incoming else "") + p.name for p in parts)
    last = parts[-1]
    if last.incoming:
        return text + ".source.<field>"
    if last.name in ("target", "source"):
        return text + ".<field>"
    return text + "->target.<field>"


def simplify(node: Node) -> Node:
    """Fold constants and flatten nested AND/OR, so both evaluators see the smallest tree."""
    if isinstance(node, And | Or):
        is_and = isinstance(node, And)
        items: list[Node] = []
        for child in (simplify(i) for i in node.items):
            if isinstance(child, Const):
                if child.value != is_and:  # False in AND, True in OR decides it
                    return Const(child.value)
                continue
            if isinstance(child, type(node)):
                items.extend(child.items)
            else:
                items.append(child)
        if not items:
            return Const(is_and)
        if len(items) == 1:
            return items[0]
        return And(tuple(items)) if is_and else Or(tuple(items))
    if isinstance(node, Not):
        inner = simplify(node.item)
        if isinstance(inner, Const):
            return Const(not inner.value)
        if isinstance(inner, Not):
            return inner.item
        return Not(inner)
    if isinstance(node, EdgeHop):
        inner = simplify(node.inner)
        if isinstance(inner, Const) and not inner.value:
            return Const(False)
        return EdgeHop(node.edge_type, node.outgoing, inner)
    return node


def compile_query(text: str, schema: Schema, *, table: str | None = None, context: str = "filter") -> CompiledQuery:
    """Parse and resolve a query. Raises QueryError (syntax, names, regex, misplaced `changes`).

    `table`: the table the query runs in (a grid's table): only its records match, and bare
    field names look there first. `context`: "filter" (views, searches, rule `when` clauses) or
    "trigger" (the only place `changes` is allowed).
    """
    if context not in CONTEXTS:
        raise e.QueryError(f"context must be 'filter' or 'trigger', got {context!r}", code=e.INVALID_CONTEXT,
                           text=text, type=e.EVALUATION_ERROR)
    syntax = parse(text)
    resolver = Resolver(text, schema, context)
    table_id = None
    if table is not None:
        found = resolver.table_ids(table, Pos(1, 1)) if isinstance(table, str) else ()
        if not found:
            known = ", ".join(sorted(schema.tables)) or "none adopted yet"
            raise e.QueryError(f"unknown table {table!r} (tables: {known})", code=e.UNKNOWN_TABLE, text=text,
                               type=e.EVALUATION_ERROR)
        table_id = found[0]
    root = resolver.node(syntax, (table_id,) if table_id else ())
    if table_id is not None:
        resolver.watched.add(table_id)
        root = And((Member((table_id,)), root))
    return CompiledQuery(text=text, table=table_id, context=context, root=simplify(root),
                         warnings=tuple(resolver.warnings), watched=frozenset(resolver.watched),
                         uses_source=resolver.uses_source, schema=schema)
