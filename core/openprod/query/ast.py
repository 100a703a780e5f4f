"""Query trees, in three stages, all frozen dataclasses (hashable, shareable, cacheable).

1. Syntax (from the parser, schema-free): `Or`/`And`/`Not` over `Pred`, whose `Path` is a flat
   list of `Part`s and whose value is a `Lit`, `Arr` or `Ref`. Positions are kept for errors.
2. Resolved (against a schema): predicates name concrete things: `Member` (table membership),
   `FieldTest` on a `FieldTarget`, `EdgeHop`, `EdgePropTest`, `CreatedByTest`, `ChangesTest`.
   Tests may still hold run-time operands ($source, $now, $actor).
3. Bound (against one workspace and one run): operands become typed constants, `FieldTarget`s
   become `BField`s with their confirmed-mapping members, `ChangesTest`s become `Const`s. Both
   evaluators (SQL and Python) read only bound trees, which is what keeps them in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# --- 1. syntax -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True)
class Part:
    """One step of a path: a name, maybe prefixed by `<-`, after a `.` or `->` (or first)."""

    name: str
    incoming: bool
    sep: str  # "" for the first part, "." or "->"
    pos: Pos


@dataclass(frozen=True)
class Path:
    parts: tuple[Part, ...]
    pos: Pos

    def text(self) -> str:
        out = ""
        for part in self.parts:
            out += part.sep + ("<-" if part.incoming else "") + part.name
        return out


@dataclass(frozen=True)
class Lit:
    value: str | int | float | bool | None
    pos: Pos


@dataclass(frozen=True)
class Arr:
    items: tuple[SyntaxValue, ...]
    pos: Pos


@dataclass(frozen=True)
class Ref:
    names: tuple[str, ...]  # ("source", "lighting", "cue_number") for $source.lighting.cue_number
    arg: SyntaxValue | None  # $literal("x")
    pos: Pos


SyntaxValue = Union[Lit, Arr, Ref]  # noqa: UP007 (a runtime alias; `|` of forward refs fails on 3.11)


@dataclass(frozen=True)
class Pred:
    """`path <op> value`; op is exists, in, changes, matches, like, truthy or a comparison."""

    op: str
    path: Path
    value: SyntaxValue | None
    pos: Pos  # of the operator (of the path for truthy)


# --- 2./3. resolved and bound ------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Member:
    """The record is in at least one of these tables (facet attached)."""

    tables: tuple[str, ...]


@dataclass(frozen=True)
class FieldRef:
    field_id: str
    table: str
    type: str  # the schema type: string, number, boolean, timestamp, blob, list
    crdt: bool


@dataclass(frozen=True)
class FieldTarget:
    """What a field name resolved to: one field, or the fields sharing one shared key.

    A field has a value on a record only while the record is in the field's table; the value is
    the latest register among the field's confirmed-mapping members (and, for a shared key,
    among all its fields whose tables the record is in).
    """

    fields: tuple[FieldRef, ...]
    label: str  # how the query named it, for messages and watched-field lists

    @property
    def timestamp(self) -> bool:
        return all(f.type == "timestamp" for f in self.fields)

    @property
    def cue(self) -> bool:
        """Cue number fields compare in cue order (17 < 17A < 18), through `cues.cue_key`."""
        return all(f.type == "cue" for f in self.fields)


@dataclass(frozen=True)
class BField:
    """A FieldTarget bound to the workspace's mappings: (table, member field ids) entries."""

    entries: tuple[tuple[str, tuple[str, ...]], ...]
    crdt: bool  # some member is a CRDT field: its content is only known by rendering
    timestamp: bool
    cue: bool = False

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(sorted({m for _, ms in self.entries for m in ms}))


# Operands of comparisons before binding.
@dataclass(frozen=True)
class Value:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class SourceRef:
    """$source.<field>: candidate fields, best first; the source record's tables pick one."""

    fields: tuple[FieldRef, ...]
    pos: Pos


@dataclass(frozen=True)
class NowRef:
    pass


@dataclass(frozen=True)
class ActorRef:
    pass


Operand = Union[Value, SourceRef, NowRef, ActorRef]  # noqa: UP007


# Tests applied to a value (a field's, an edge property's, the creator's).
@dataclass(frozen=True)
class Exists:
    pass


@dataclass(frozen=True)
class IsNull:
    pass


@dataclass(frozen=True)
class Truthy:
    pass


@dataclass(frozen=True)
class Like:
    pattern: str


@dataclass(frozen=True)
class Regex:
    pattern: str


@dataclass(frozen=True)
class Compare:
    """Unbound comparison: `op` against an operand still to be looked up."""

    op: str
    operand: Operand


@dataclass(frozen=True)
class InList:
    operands: tuple[Operand, ...]


@dataclass(frozen=True)
class Cmp:
    """Bound comparison: kind is s (text), n (number), b (boolean), t (timestamp key) or q (cue key)."""

    op: str
    kind: str
    value: str | int | float | bool


@dataclass(frozen=True)
class AnyOf:
    """Bound IN: equal to one of the items, or missing when `null` is listed."""

    items: tuple[tuple[str, str | int | float | bool], ...]
    null: bool


Test = Union[Exists, IsNull, Truthy, Like, Regex, Compare, InList, Cmp, AnyOf]  # noqa: UP007


@dataclass(frozen=True)
class FieldTest:
    target: FieldTarget | BField
    test: Test


@dataclass(frozen=True)
class EdgeHop:
    """Some visible edge of this type (outgoing: record -> far end) whose far end satisfies `inner`."""

    edge_type: str
    outgoing: bool
    inner: Node


@dataclass(frozen=True)
class EdgePropTest:
    """Some visible edge of this type whose property `key` passes the test."""

    edge_type: str
    outgoing: bool
    key: str
    timestamp: bool
    test: Test


@dataclass(frozen=True)
class CreatedByTest:
    """The record's creator (actor id as lowercase hex) passes the test."""

    test: Test


@dataclass(frozen=True)
class ChangesTest:
    """Trigger context: one of these fields (or tables) changed in the triggering operation."""

    fields: tuple[str, ...]
    tables: tuple[str, ...]


# One union for every stage: syntax trees hold Pred leaves, resolved and bound trees the rest.
Node = Union[Const, Or, And, Not, Pred, Member, FieldTest, EdgeHop, EdgePropTest, CreatedByTest,  # noqa: UP007
             ChangesTest]
