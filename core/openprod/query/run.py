"""Running queries: `run_query` over a workspace, `matches` for one record.

Both read the workspace's current context: canonical state, or canonical state plus the one
active overlay (`ws.overlays.reading()` applies it inside an open SQLite transaction, so the
same SQL sees the merged view and never another overlay's changes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..context import HasContext, context_of
from ..cues import cue_key
from ..ids import IdLike, as_id, to_str
from .ast import And, Node
from .bind import bind
from .evaluator import PythonEvaluator
from .patterns import CUE_FUNCTION, regex_match
from .resolve import CompiledQuery, compile_query
from .sqlplan import REGEXP_FUNCTION, SqlPlan, select_sql

if TYPE_CHECKING:
    from ..context import Context


def _sql_matches(pattern: Any, value: Any) -> int:
    return 1 if isinstance(pattern, str) and regex_match(pattern, value) else 0


def _register(conn: sqlite3.Connection) -> None:
    conn.create_function(REGEXP_FUNCTION, 2, _sql_matches, deterministic=True)
    conn.create_function(CUE_FUNCTION, 1, cue_key, deterministic=True)


def _compiled(ws: Context, query: str | CompiledQuery, table: str | None, context: str) -> CompiledQuery:
    if isinstance(query, CompiledQuery):
        return query
    return compile_query(query, ws.schema, table=table, context=context)


def _bound(ws: Context, compiled: CompiledQuery, source: IdLike | None, actor: bytes | None,
           now_ms: int | None, changes: Iterable[str] | None) -> Node:
    source_id = ws.redirects.resolve(as_id(source, "source record id")) if source is not None else None
    return bind(ws, compiled, source=source_id, actor=actor, now_ms=now_ms, changes=changes)


def plan_sql(bound: Node) -> tuple[str, dict[str, Any], list[Node]]:
    """(SELECT statement, its parameters, the top-level conditions SQL could only approximate)."""
    conjuncts: list[Node] = list(bound.items) if isinstance(bound, And) else [bound]
    plan = SqlPlan()
    translated = plan.conjunction(conjuncts, "e.entity_id", frozenset(), drive=True)
    residual = [item for item, (_, exact) in zip(conjuncts, translated, strict=True) if not exact]
    return select_sql([sql for sql, _ in translated]), plan.params, residual


def execute_sql(ws: Context, bound: Node) -> list[bytes]:
    """The SQL path, with the Python evaluator confirming only what SQL could not decide."""
    sql, params, residual = plan_sql(bound)
    _register(ws.conn)
    rows = [r[0] for r in ws.conn.execute(sql, params)]
    if not residual:
        return rows
    evaluator = PythonEvaluator(ws)
    return [r for r in rows if all(evaluator.eval(c, r) for c in residual)]


def run_query(ws: Context | HasContext, query: str | CompiledQuery, *, table: str | None = None,
              source: IdLike | None = None, actor: bytes | None = None, now_ms: int | None = None,
              context: str = "filter", changes: Iterable[str] | None = None) -> list[str]:
    """Ids of the visible records that match, oldest first (creation order, then id).

    `query`: text, or a CompiledQuery from `compile_query` (then `table` and `context` are its
    own). `source`: the record $source refers to. `actor`: for $actor (default: this workspace's
    actor). `now_ms`: for $now (default: the workspace clock). `changes`: in trigger context, the
    field ids (and table ids) changed by the triggering operation.

    Raises QueryError for a query that cannot run (syntax, ambiguous name, bad regex, `changes`
    outside a trigger, $source without a source record).
    """
    ws = context_of(ws)
    compiled = _compiled(ws, query, table, context)
    with ws.overlays.reading():
        bound = _bound(ws, compiled, source, actor, now_ms, changes)
        return [to_str(e) for e in execute_sql(ws, bound)]


def run_query_python(ws: Context | HasContext, query: str | CompiledQuery, *, table: str | None = None,
                     source: IdLike | None = None, actor: bytes | None = None, now_ms: int | None = None,
                     context: str = "filter", changes: Iterable[str] | None = None) -> list[str]:
    """`run_query` evaluated entirely in Python, record by record: the reference implementation
    the SQL path is tested against (and a fallback for diagnosing a suspected planner bug)."""
    ws = context_of(ws)
    compiled = _compiled(ws, query, table, context)
    with ws.overlays.reading():
        bound = _bound(ws, compiled, source, actor, now_ms, changes)
        return [to_str(e) for e in PythonEvaluator(ws).all_matching(bound)]


def matches(ws: Context | HasContext, entity_id: IdLike, query: str | CompiledQuery, *, source: IdLike | None = None,
            actor: bytes | None = None, now_ms: int | None = None, changes: Iterable[str] | None = None,
            context: str = "filter") -> bool:
    """Does this one record match? False for a record that does not exist or is deleted. An id
    merged into another record (identity repair) stands for the surviving record, as for `source`.

    Rules call this with a compiled query (parse and resolve once) for each record they check.
    """
    ws = context_of(ws)
    compiled = _compiled(ws, query, None, context)
    entity = ws.redirects.resolve(as_id(entity_id, "record id"))  # a merged-away id means its survivor
    with ws.overlays.reading():
        bound = _bound(ws, compiled, source, actor, now_ms, changes)
        evaluator = PythonEvaluator(ws)
        return evaluator.visible(entity) and evaluator.eval(bound, entity)
