"""The Python path: evaluate a bound query against one record at a time.

Why it exists next to the SQL path: rules ask "does this one record match?" (`matches`), some
values are only known in Python (CRDT text is rendered from its deltas), and it is the reference
the SQL translation is tested against. It reads state with plain point lookups, written
independently of the SQL translation, so a disagreement between the two is a bug in one of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..cues import cue_key
from ..values import KIND_BOOL, KIND_CRDT, KIND_LIST, KIND_NUMBER, KIND_STRING, from_sql
from .ast import (
    And,
    AnyOf,
    BField,
    Cmp,
    Const,
    CreatedByTest,
    EdgeHop,
    EdgePropTest,
    Exists,
    FieldTest,
    IsNull,
    Like,
    Member,
    Node,
    Not,
    Or,
    Regex,
    Test,
    Truthy,
)
from .patterns import CUE_KIND, like_match, regex_match, timestamp_key, truthy

if TYPE_CHECKING:
    from ..context import Context

Typed = tuple[str, Any] | None  # (kind, value) of a present value, None when missing or cleared

_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

_FAR_EDGES = """
SELECT g.edge_id, g.{far} FROM edges g JOIN entities t ON t.entity_id = g.{far}
WHERE g.{near} = ? AND g.edge_type = ? AND g.alive = 1 AND g.created_ord IS NOT NULL
  AND t.alive = 1 AND t.created_ord IS NOT NULL
ORDER BY g.edge_id
"""


def apply_test(test: Test, value: Typed) -> bool:
    """One bound test against one value; a missing value or another kind fails (is false)."""
    if isinstance(test, Exists):
        return value is not None
    if isinstance(test, IsNull):
        return value is None
    if value is None:
        return isinstance(test, AnyOf) and test.null
    kind, raw = value
    if isinstance(test, Truthy):
        return truthy(raw)
    if isinstance(test, Like):
        return kind == KIND_STRING and like_match(test.pattern, raw)
    if isinstance(test, Regex):
        return kind == KIND_STRING and regex_match(test.pattern, raw)
    if isinstance(test, Cmp):
        return _cmp(test.op, test.kind, test.value, kind, raw)
    if isinstance(test, AnyOf):
        return any(_cmp("==", k, v, kind, raw) for k, v in test.items)
    raise TypeError(f"unbound test {test!r}")


def _cmp(op: str, want_kind: str, want: Any, kind: str, raw: Any) -> bool:
    if want_kind == CUE_KIND:  # a cue number, or a number written before the field became one
        key = cue_key(raw) if kind in (KIND_STRING, KIND_NUMBER) else None
        return key is not None and _COMPARE[op](key, want)
    if want_kind == "t":
        if kind != KIND_STRING:
            return False
        key = timestamp_key(raw)
        return key is not None and _COMPARE[op](key, want)
    if kind != want_kind:
        return False
    return bool(_COMPARE[op](raw, want))


class PythonEvaluator:
    """Evaluates bound trees for records of one workspace (through the active overlay, if any)."""

    def __init__(self, ws: Context) -> None:
        self.ws = ws
        self.conn: sqlite3.Connection = ws.conn

    # --- reads ------------------------------------------------------------------------------

    def attached(self, entity: bytes, table: str) -> bool:
        return self.conn.execute("SELECT 1 FROM facets WHERE entity_id = ? AND facet = ? AND attached = 1",
                                 (entity, table)).fetchone() is not None

    def field_value(self, entity: bytes, field: BField) -> Typed:
        """The latest register among the members of the entries whose tables hold the record."""
        members = sorted({m for table, ms in field.entries if self.attached(entity, table) for m in ms})
        if not members:
            return None
        marks = ",".join("?" * len(members))
        row = self.conn.execute(
            f"SELECT field, kind, value FROM fields WHERE entity_id = ? AND field IN ({marks})"
            " ORDER BY ord DESC, field DESC LIMIT 1", (entity, *members)).fetchone()
        if row is None or row[1] is None:
            return None
        field_id, kind, value = row
        if kind == KIND_CRDT:
            rendered = self.ws._render(entity, field_id)
            if isinstance(rendered, str):
                return (KIND_STRING, rendered)
            if isinstance(rendered, list):
                return (KIND_LIST, rendered)
            return None
        return (kind, from_sql(kind, value)) if kind in (KIND_BOOL, KIND_LIST) else (kind, value)

    def far_edges(self, entity: bytes, edge_type: str, outgoing: bool) -> Iterator[tuple[bytes, bytes]]:
        near, far = ("source", "target") if outgoing else ("target", "source")
        yield from self.conn.execute(_FAR_EDGES.format(near=near, far=far), (entity, edge_type)).fetchall()

    def edge_property(self, edge: bytes, key: str) -> Typed:
        row = self.conn.execute("SELECT kind, value FROM edge_props WHERE edge_id = ? AND key = ?",
                                (edge, key)).fetchone()
        if row is None or row[0] is None:
            return None
        return (row[0], from_sql(row[0], row[1]))

    def created_by(self, entity: bytes) -> Typed:
        row = self.conn.execute("SELECT created_by FROM entities WHERE entity_id = ?", (entity,)).fetchone()
        return None if row is None or row[0] is None else (KIND_STRING, bytes(row[0]).hex())

    def visible(self, entity: bytes) -> bool:
        row = self.conn.execute("SELECT created_ord IS NOT NULL AND alive = 1 FROM entities WHERE entity_id = ?",
                                (entity,)).fetchone()
        return row is not None and bool(row[0])

    # --- evaluation ---------------------------------------------------------------------------

    def eval(self, node: Node, entity: bytes) -> bool:
        if isinstance(node, Const):
            return node.value
        if isinstance(node, And):
            return all(self.eval(i, entity) for i in node.items)
        if isinstance(node, Or):
            return any(self.eval(i, entity) for i in node.items)
        if isinstance(node, Not):
            return not self.eval(node.item, entity)
        if isinstance(node, Member):
            return any(self.attached(entity, t) for t in node.tables)
        if isinstance(node, FieldTest):
            assert isinstance(node.target, BField)
            return apply_test(node.test, self.field_value(entity, node.target))
        if isinstance(node, EdgeHop):
            return any(self.eval(node.inner, far) for _, far in self.far_edges(entity, node.edge_type, node.outgoing))
        if isinstance(node, EdgePropTest):
            return any(apply_test(node.test, self.edge_property(edge, node.key))
                       for edge, _ in self.far_edges(entity, node.edge_type, node.outgoing))
        if isinstance(node, CreatedByTest):
            return apply_test(node.test, self.created_by(entity))
        raise TypeError(f"cannot evaluate unbound node {node!r}")

    def all_matching(self, node: Node) -> list[bytes]:
        """Every visible record that matches, in creation order (the reference for the SQL path)."""
        rows = self.conn.execute("SELECT entity_id FROM entities WHERE alive = 1 AND created_ord IS NOT NULL"
                                 " ORDER BY created_ord, entity_id").fetchall()
        return [r[0] for r in rows if self.eval(node, r[0])]
