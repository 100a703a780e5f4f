"""The SQL path: translate a bound query into one SELECT over the state tables.

Why: SQLite does the filtering in C with its indexes instead of Python visiting every record.

Plan shape. Of the conditions joined by AND, one is chosen to *drive*: it is written as
`entity IN (uncorrelated subquery)`, which SQLite computes once from an index and iterates,
looking each record up by primary key. Every other condition is a *probe*: a correlated
`EXISTS (...)` answered by primary-key lookups for just the rows the driver produced. Measured on
50,000 records, driving from the most selective condition and probing the rest is several times
faster than materialising every condition's set (docs/query.md). The driver is the condition
most likely to be selective: a field equality (index fields(field, value)), then an edge hop
whose far side has one (edges(target, edge_type) / edges(source, edge_type)), then a field range,
then table membership (facets(facet, attached)), then field existence.

Every predicate is an IN or EXISTS, which is never NULL, so NOT keeps two-valued logic (missing
is false, NOT missing is true) exactly as the Python evaluator has it. Kinds are checked beside
values, so '5' is never 5 and a boolean is never the number 1. MATCHES calls Python's `re`
through a registered SQL function. CRDT fields cannot be read in SQL: a test on one becomes a
superset (the field exists) flagged inexact, and the runner confirms those candidates in Python.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..values import KIND_BOOL
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
from .patterns import CUE_FUNCTION, CUE_KIND, SQL_TIMESTAMP_KEY, like_to_glob

REGEXP_FUNCTION = "openprod_query_matches"
_SQL_OP = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_VISIBLE = "{a}.alive = 1 AND {a}.created_ord IS NOT NULL"
NO_DRIVER = 99


def balanced(items: list[str], joiner: str) -> str:
    """Join with AND/OR as a balanced tree: SQLite limits expression depth (1000), not width."""
    if len(items) == 1:
        return items[0]
    mid = len(items) // 2
    return f"({balanced(items[:mid], joiner)} {joiner} {balanced(items[mid:], joiner)})"


def drive_rank(node: Node) -> int:
    """How good a driver the condition is (lower is better); NO_DRIVER if it cannot drive."""
    if isinstance(node, FieldTest):
        assert isinstance(node.target, BField)
        test = node.test
        if node.target.crdt or node.target.timestamp or node.target.cue:
            return 4 if not isinstance(test, IsNull) else NO_DRIVER
        if isinstance(test, Cmp):
            return 0 if test.op == "==" else (2 if test.op != "!=" else 4)
        if isinstance(test, AnyOf):
            return 0 if not test.null else NO_DRIVER
        return NO_DRIVER if isinstance(test, IsNull) else 4
    if isinstance(node, EdgeHop):
        inner = drive_rank(node.inner) if not isinstance(node.inner, Const) else NO_DRIVER
        return 1 if inner == 0 else (inner + 1 if inner < NO_DRIVER else 5)
    if isinstance(node, Member):
        return 3
    if isinstance(node, And):
        return min((drive_rank(i) for i in node.items), default=NO_DRIVER)
    if isinstance(node, Or):
        return max((drive_rank(i) for i in node.items), default=NO_DRIVER)
    return NO_DRIVER


class SqlPlan:
    """Collects named parameters while translating; `params` goes with the produced SQL."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._aliases = 0

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def params_list(self, values: list[Any] | tuple[Any, ...]) -> str:
        return ", ".join(self.param(v) for v in values)

    def alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    # --- nodes ----------------------------------------------------------------------------------

    def conjunction(self, items: tuple[Node, ...] | list[Node], ent: str, known: frozenset[str],
                    drive: bool) -> list[tuple[str, bool]]:
        """Translate AND-ed conditions: the best driver (if driving) drives, the rest probe.

        `known` grows with single-table memberships, whose checks sibling field tests then skip.
        """
        driver = -1
        if drive:
            ranks = [drive_rank(i) for i in items]
            best = min(ranks, default=NO_DRIVER)
            driver = ranks.index(best) if best < NO_DRIVER else -1
        facts = set(known)
        for item in items:
            if isinstance(item, Member) and len(item.tables) == 1:
                facts.add(item.tables[0])
        out = []
        for index, item in enumerate(items):
            mine = frozenset(facts - {item.tables[0]}) if isinstance(item, Member) and len(item.tables) == 1 \
                else frozenset(facts)
            out.append(self.node(item, ent, mine, drive=index == driver))
        return out

    def node(self, node: Node, ent: str, known: frozenset[str] = frozenset(), *,
             drive: bool = False) -> tuple[str, bool]:
        """(SQL boolean over the entity column `ent`, exact?). Inexact SQL is a superset.

        `drive`: write the condition as `ent IN (uncorrelated set)` so it can drive the scan;
        otherwise as a correlated probe. `known`: tables `ent` is known to be in.
        """
        if isinstance(node, Const):
            return ("1" if node.value else "0"), True
        if isinstance(node, And):
            results = self.conjunction(node.items, ent, known, drive)
            return balanced([s for s, _ in results], "AND"), all(ok for _, ok in results)
        if isinstance(node, Or):
            each = drive and all(drive_rank(i) < NO_DRIVER for i in node.items)
            results = [self.node(i, ent, known, drive=each) for i in node.items]
            return balanced([s for s, _ in results], "OR"), all(ok for _, ok in results)
        if isinstance(node, Not):
            sql, ok = self.node(node.item, ent, known)
            return (f"NOT ({sql})", True) if ok else ("1", False)
        if isinstance(node, Member):
            facet = (f"facet = {self.param(node.tables[0])}" if len(node.tables) == 1
                     else f"facet IN ({self.params_list(node.tables)})")
            if drive:
                return f"{ent} IN (SELECT entity_id FROM facets WHERE {facet} AND attached = 1)", True
            return f"EXISTS (SELECT 1 FROM facets WHERE entity_id = {ent} AND {facet} AND attached = 1)", True
        if isinstance(node, FieldTest):
            assert isinstance(node.target, BField)
            return self.field_test(node.target, node.test, ent, known, drive)
        if isinstance(node, EdgeHop):
            return self.edge_hop(node, ent, drive)
        if isinstance(node, EdgePropTest):
            return self.edge_prop(node, ent), True
        if isinstance(node, CreatedByTest):
            return self.created_by(node.test, ent), True
        raise TypeError(f"cannot translate unbound node {node!r}")

    # --- value conditions ---------------------------------------------------------------------------

    def cond(self, test: Test, kind: str, value: str) -> str:
        """SQL over a register's kind and value expressions for a test that needs a value."""
        if isinstance(test, Exists):
            return f"{kind} IS NOT NULL"
        if isinstance(test, Truthy):
            return (f"(({kind} = 'b' AND {value} = 1) OR ({kind} = 'n' AND {value} != 0) OR "
                    f"({kind} = 's' AND {value} != '') OR ({kind} = 'l' AND {value} != X'80'))")
        if isinstance(test, Like):
            return f"{kind} = 's' AND {value} GLOB {self.param(like_to_glob(test.pattern))}"
        if isinstance(test, Regex):
            return f"{kind} = 's' AND {REGEXP_FUNCTION}({self.param(test.pattern)}, {value})"
        if isinstance(test, Cmp):
            return self.cmp(test.op, test.kind, [test.value], kind, value)
        if isinstance(test, AnyOf):
            groups: dict[str, list[Any]] = defaultdict(list)
            for k, v in test.items:
                groups[k].append(v)
            parts = [self.cmp("in", k, vs, kind, value) for k, vs in groups.items()]
            return balanced(parts, "OR") if parts else "0"
        raise TypeError(f"no value condition for {test!r}")

    def cmp(self, op: str, want_kind: str, values: list[Any], kind: str, value: str) -> str:
        if want_kind == KIND_BOOL:
            values = [1 if v else 0 for v in values]
        if want_kind == "t":
            lhs, kind_check = SQL_TIMESTAMP_KEY.format(value=value), f"{kind} = 's'"
        elif want_kind == CUE_KIND:
            lhs, kind_check = f"{CUE_FUNCTION}({value})", f"{kind} IN ('s', 'n')"
        else:
            lhs, kind_check = value, f"{kind} = {self.param(want_kind)}"
        if op == "in":
            rhs = f"IN ({self.params_list(values)})" if len(values) > 1 else f"= {self.param(values[0])}"
        else:
            rhs = f"{_SQL_OP[op]} {self.param(values[0])}"
        return f"({kind_check} AND {lhs} {rhs})"

    # --- fields ------------------------------------------------------------------------------------

    def field_test(self, field: BField, test: Test, ent: str, known: frozenset[str],
                   drive: bool) -> tuple[str, bool]:
        if isinstance(test, IsNull) or (isinstance(test, AnyOf) and test.null and not test.items):
            return f"NOT ({self.field_leaf(field, Exists(), ent, known, False)})", True
        if isinstance(test, AnyOf) and test.null:
            if field.crdt:
                return "1", False
            present = self.field_leaf(field, AnyOf(test.items, False), ent, known, False)
            return f"({present} OR NOT ({self.field_leaf(field, Exists(), ent, known, False)}))", True
        if field.crdt and not isinstance(test, Exists):
            return self.field_leaf(field, Exists(), ent, known, drive), False
        return self.field_leaf(field, test, ent, known, drive), True

    def _newer(self, r2: str, r: str) -> str:
        return f"({r2}.ord > {r}.ord OR ({r2}.ord = {r}.ord AND {r2}.field > {r}.field))"

    def field_leaf(self, field: BField, test: Test, ent: str, known: frozenset[str], drive: bool) -> str:
        """`ent` has a value for the field (its latest eligible register) that passes `test`."""
        r = self.alias("r")
        # Driving: the set of matching records, from the index on (field, value).
        # Probing: a lookup of this record's register by primary key (entity_id, field).
        head = f"SELECT {r}.entity_id FROM fields {r} WHERE " if drive else \
            f"SELECT 1 FROM fields {r} WHERE {r}.entity_id = {ent} AND "
        if len(field.entries) == 1:
            table, members = field.entries[0]
            if len(members) == 1:
                sub = f"{head}{r}.field = {self.param(members[0])} AND {self.cond(test, f'{r}.kind', f'{r}.value')}"
            else:
                r2 = self.alias("r")
                sub = (f"{head}{r}.field IN ({self.params_list(members)}) AND "
                       f"{self.cond(test, f'{r}.kind', f'{r}.value')} AND NOT EXISTS (SELECT 1 FROM fields {r2} "
                       f"WHERE {r2}.entity_id = {r}.entity_id AND {r2}.field IN ({self.params_list(members)}) AND "
                       f"{self._newer(r2, r)})")
            sql = f"{ent} IN ({sub})" if drive else f"EXISTS ({sub})"
            if table not in known:
                sql = (f"({sql} AND EXISTS (SELECT 1 FROM facets WHERE entity_id = {ent} AND facet = "
                       f"{self.param(table)} AND attached = 1))")
            return sql
        members = field.members
        r2 = self.alias("r")
        sub = (f"{head}{r}.field IN ({self.params_list(members)}) AND "
               f"{self.cond(test, f'{r}.kind', f'{r}.value')} AND {self.eligible(field, r)} AND NOT EXISTS ("
               f"SELECT 1 FROM fields {r2} WHERE {r2}.entity_id = {r}.entity_id AND {r2}.field IN "
               f"({self.params_list(members)}) AND {self._newer(r2, r)} AND {self.eligible(field, r2)})")
        return f"{ent} IN ({sub})" if drive else f"EXISTS ({sub})"

    def eligible(self, field: BField, r: str) -> str:
        """A register counts for a shared key only while the record is in its field's table."""
        tables_for: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for table, members in field.entries:
            tables_for[members].append(table)
        parts = []
        for members, tables in tables_for.items():
            fa = self.alias("fa")
            parts.append(f"({r}.field IN ({self.params_list(members)}) AND EXISTS (SELECT 1 FROM facets {fa} WHERE "
                         f"{fa}.entity_id = {r}.entity_id AND {fa}.facet IN ({self.params_list(tables)}) AND "
                         f"{fa}.attached = 1))")
        return balanced(parts, "OR")

    # --- edges ------------------------------------------------------------------------------------

    def edge_hop(self, node: EdgeHop, ent: str, drive: bool) -> tuple[str, bool]:
        """Driving: `ent IN (near ends of matching edges)`, computed once from the far side's
        indexes. Probing: EXISTS over this record's edges (edges(source|target, edge_type))."""
        g, t = self.alias("g"), self.alias("t")
        near, far = ("source", "target") if node.outgoing else ("target", "source")
        joined = (f"FROM edges {g} JOIN entities {t} ON {t}.entity_id = {g}.{far} WHERE "
                  f"{g}.edge_type = {self.param(node.edge_type)} AND {_VISIBLE.format(a=g)} AND "
                  f"{_VISIBLE.format(a=t)}")
        inner, exact = ("", True)
        if not (isinstance(node.inner, Const) and node.inner.value):
            sql, exact = self.node(node.inner, f"{t}.entity_id", drive=drive)
            inner = f" AND {sql}"
        if drive:
            return f"{ent} IN (SELECT {g}.{near} {joined}{inner})", exact
        return f"EXISTS (SELECT 1 {joined} AND {g}.{near} = {ent}{inner})", exact

    def edge_prop(self, node: EdgePropTest, ent: str) -> str:
        g, t = self.alias("g"), self.alias("t")
        near, far = ("source", "target") if node.outgoing else ("target", "source")
        body = (f"FROM edges {g} JOIN entities {t} ON {t}.entity_id = {g}.{far} WHERE {g}.{near} = {ent} AND "
                f"{g}.edge_type = {self.param(node.edge_type)} AND {_VISIBLE.format(a=g)} AND "
                f"{_VISIBLE.format(a=t)}")

        def prop(test: Test) -> str:
            p = self.alias("p")
            return (f"EXISTS (SELECT 1 FROM edge_props {p} WHERE {p}.edge_id = {g}.edge_id AND {p}.key = "
                    f"{self.param(node.key)} AND {self.cond(test, f'{p}.kind', f'{p}.value')})")

        test = node.test
        if isinstance(test, IsNull) or (isinstance(test, AnyOf) and test.null and not test.items):
            cond = f"NOT {prop(Exists())}"
        elif isinstance(test, AnyOf) and test.null:
            cond = f"({prop(AnyOf(test.items, False))} OR NOT {prop(Exists())})"
        else:
            cond = prop(test)
        return f"EXISTS (SELECT 1 {body} AND {cond})"

    def created_by(self, test: Test, ent: str) -> str:
        if isinstance(test, IsNull):
            return f"NOT ({self.created_by(Exists(), ent)})"
        if isinstance(test, AnyOf) and test.null:
            present = self.created_by(AnyOf(test.items, False), ent) if test.items else "0"
            return f"({present} OR NOT ({self.created_by(Exists(), ent)}))"
        c = self.alias("c")
        value = f"lower(hex({c}.created_by))"
        kind = f"(CASE WHEN {c}.created_by IS NULL THEN NULL ELSE 's' END)"
        return f"EXISTS (SELECT 1 FROM entities {c} WHERE {c}.entity_id = {ent} AND {self.cond(test, kind, value)})"


def select_sql(conditions: list[str]) -> str:
    """The statement: visible records meeting every condition, in creation order."""
    where = " AND ".join(["e.alive = 1", "e.created_ord IS NOT NULL", *conditions])
    return f"SELECT e.entity_id FROM entities e WHERE {where} ORDER BY e.created_ord, e.entity_id"
