"""Binding: a CompiledQuery meets one workspace and one run.

Run-time values ($source.<field>, $now, $actor, the trigger's changed fields) become typed
constants and field targets gain their confirmed-mapping members, so the SQL translation and the
Python evaluator both read one and the same fully known tree. Type rules decided once, here:
a comparison's kind is s (text), n (number), b (boolean) or t (timestamp key); comparing a
timestamp field reads a text value as a timestamp; anything that can never be equal, such as
an ordering of booleans or $now against a text field, becomes a constant false.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..cues import cue_key
from ..values import KIND_BOOL, KIND_NUMBER, KIND_STRING
from . import errors as e
from .ast import (
    ActorRef,
    And,
    AnyOf,
    BField,
    ChangesTest,
    Cmp,
    Compare,
    Const,
    CreatedByTest,
    EdgeHop,
    EdgePropTest,
    FieldTarget,
    FieldTest,
    InList,
    Node,
    Not,
    NowRef,
    Operand,
    Or,
    SourceRef,
    Test,
    Value,
)
from .evaluator import PythonEvaluator
from .patterns import CUE_KIND, timestamp_key, timestamp_key_from_ms
from .resolve import CompiledQuery, simplify

if TYPE_CHECKING:
    from ..context import Context

RELATIONAL = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True)
class RunContext:
    """The values a run supplies: who, when, which record triggered it, what changed."""

    source: bytes | None
    actor: bytes
    now_ms: int
    changes: frozenset[str]


Typed = tuple[str, Any]  # (kind, value)


class Binder:
    def __init__(self, ws: Context, compiled: CompiledQuery, run: RunContext) -> None:
        self.ws = ws
        self.compiled = compiled
        self.run = run
        self._source_values: dict[SourceRef, Typed | None] = {}

    def bind(self, node: Node) -> Node:
        if isinstance(node, Or):
            return Or(tuple(self.bind(i) for i in node.items))
        if isinstance(node, And):
            return And(tuple(self.bind(i) for i in node.items))
        if isinstance(node, Not):
            return Not(self.bind(node.item))
        if isinstance(node, EdgeHop):
            return EdgeHop(node.edge_type, node.outgoing, self.bind(node.inner))
        if isinstance(node, ChangesTest):
            changed = self.run.changes
            hit = any(m in changed for f in node.fields for m in self.ws.groups.members(f)) or any(
                t in changed for t in node.tables)
            return _const(hit)
        if isinstance(node, FieldTest):
            assert isinstance(node.target, FieldTarget)
            field = self.field(node.target)
            test = self.test(node.test, field.timestamp, field.cue)
            return _const(False) if test is None else FieldTest(field, test)
        if isinstance(node, EdgePropTest):
            test = self.test(node.test, node.timestamp)
            return _const(False) if test is None else EdgePropTest(node.edge_type, node.outgoing, node.key,
                                                                  node.timestamp, test)
        if isinstance(node, CreatedByTest):
            test = self.test(node.test, False)
            return _const(False) if test is None else CreatedByTest(test)
        return node

    def field(self, target: FieldTarget) -> BField:
        entries = tuple((f.table, self.ws.groups.members(f.field_id)) for f in target.fields)
        fields = self.ws.schema.fields
        crdt = any(f.crdt for f in target.fields) or any(
            (fields.get(m) is not None and fields[m].crdt is not None) for _, ms in entries for m in ms)
        return BField(entries, crdt, target.timestamp, target.cue)

    # --- tests and operands ---------------------------------------------------------------------

    def test(self, test: Test, timestamp: bool, cue: bool = False) -> Test | None:
        """The bound test, or None when no value can pass it."""
        if isinstance(test, Compare):
            typed = self.operand(test.operand)
            return None if typed is None else _typed_cmp(test.op, typed, timestamp, cue)
        if isinstance(test, InList):
            items: list[tuple[str, Any]] = []
            null = False
            for operand in test.operands:
                if isinstance(operand, Value) and operand.value is None:
                    null = True
                    continue
                typed = self.operand(operand)
                cmp = None if typed is None else _typed_cmp("==", typed, timestamp, cue)
                if cmp is not None and (cmp.kind, cmp.value) not in items:
                    items.append((cmp.kind, cmp.value))
            if not items and not null:
                return None
            return AnyOf(tuple(items), null)
        return test

    def operand(self, operand: Operand) -> Typed | None:
        if isinstance(operand, Value):
            return _typed_literal(operand.value)
        if isinstance(operand, NowRef):
            return ("t", timestamp_key_from_ms(self.run.now_ms))
        if isinstance(operand, ActorRef):
            return (KIND_STRING, self.run.actor.hex())
        assert isinstance(operand, SourceRef)
        if operand not in self._source_values:
            self._source_values[operand] = self.source_value(operand)
        return self._source_values[operand]

    def source_value(self, ref: SourceRef) -> Typed | None:
        """$source.<field>: the value the field has on the source record, read exactly as a field
        of the record being tested would be (the latest register among the candidates whose tables
        the source is in), so a name shared by several tables picks the one the source uses."""
        source = self.run.source
        if source is None:
            raise e.QueryError("this query uses $source, but no source record was given", code=e.MISSING_REFERENCE,
                               text=self.compiled.text, line=ref.pos.line, column=ref.pos.column,
                               type=e.EVALUATION_ERROR)
        reader = PythonEvaluator(self.ws)
        if not ref.fields or not reader.visible(source):
            return None
        field = self.field(FieldTarget(ref.fields, "$source"))
        typed = reader.field_value(source, field)
        if typed is None or typed[0] not in (KIND_STRING, KIND_NUMBER, KIND_BOOL):
            return None
        if typed[0] == KIND_STRING and field.timestamp:
            key = timestamp_key(typed[1])
            return ("t", key) if key is not None else typed
        return typed


def _const(value: bool) -> Node:
    return Const(value)


def _typed_literal(value: Any) -> Typed | None:
    if isinstance(value, bool):
        return (KIND_BOOL, value)
    if isinstance(value, int | float):
        return (KIND_NUMBER, value)
    if isinstance(value, str):
        return (KIND_STRING, value)
    return None


def _typed_cmp(op: str, typed: Typed, timestamp: bool, cue: bool = False) -> Cmp | None:
    kind, value = typed
    if cue:
        key = cue_key(value) if kind in (KIND_STRING, KIND_NUMBER) else None
        return None if key is None else Cmp(op, CUE_KIND, key)
    if timestamp:
        if kind == KIND_STRING:
            key = timestamp_key(value)
            return None if key is None else Cmp(op, "t", key)
        return Cmp(op, "t", value) if kind == "t" else None
    if kind == "t":
        return None
    if kind == KIND_BOOL and op in RELATIONAL:
        return None
    return Cmp(op, kind, value)


def bind(ws: Context, compiled: CompiledQuery, *, source: bytes | None, actor: bytes | None,
         now_ms: int | None, changes: Iterable[str] | None) -> Node:
    """The compiled query's tree with every run-time value filled in, simplified."""
    run = RunContext(
        source=source,
        actor=actor if actor is not None else ws.actor_id,
        now_ms=now_ms if now_ms is not None else ws.env.now_ms(),
        changes=frozenset(changes or ()),
    )
    return simplify(Binder(ws, compiled, run).bind(compiled.root))
