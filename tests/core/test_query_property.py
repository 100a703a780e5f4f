"""Property: the SQL path and the pure-Python path agree on random queries over random data.

The data mixes every value kind (text, numbers, booleans, timestamps with and without
milliseconds, CRDT text), two tables with a confirmed field mapping and shared keys, records in
both tables, records removed from a table (their values kept but no longer visible), cleared
fields, deleted records, and edges with properties, some pointing at deleted records.
Hypothesis writes the queries as text, so the parser is exercised along the way.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ManualClock, make_peer
from openprod.query import QueryError, compile_query, matches, run_query, run_query_python

FUZZ = """
[module]
name = "fz"
version = "1.0.0"

[table.A.fields.s]
type = "string"
shared_key = "fzkey"
[table.A.fields.n]
type = "number"
[table.A.fields.b]
type = "boolean"
[table.A.fields.t]
type = "timestamp"
[table.A.fields.c]
type = "string"
crdt = "text"
[table.A.fields.name]
type = "string"
shared_key = "name"

[table.B.fields.s]
type = "string"
shared_key = "fzkey"
[table.B.fields.n]
type = "number"
[table.B.fields.k]
type = "string"

[edge.rel.properties]
ps = "string"
pn = "number"
pb = "boolean"
"""

TEXTS = ["", "a", "ab", "B", "a%b", "5", "x_y", "émile", "A b"]
NUMBERS = [-1, 0, 1, 1.5, 5]
STAMPS = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.500Z", "2025-12-31T23:59:59Z", "2026-06-01T12:00:00"]
LIKES = ["a%", "%b", "_", "%", "a\\%b", "", "%_%", "é%", "A _"]
REGEXES = ["a.*", "(?i)A.*", "[0-9]+", ".*", "x_y", "é.+"]
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def build(seed: int = 3):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    ws = make_peer("Fuzzer", ":memory:", ManualClock(), seed=seed, rng=random.Random(seed)).ws
    ws.adopt_module(FUZZ)
    with ws.transaction(kind="module") as tx:
        tx.confirm_field_mapping("fz.A.n", "fz.B.n")
    ids = []
    with ws.transaction() as tx:
        for i in range(36):
            table = ("fz.A", "fz.B")[i % 3 == 2]
            values = {}
            for name, pool in (("s", TEXTS), ("n", NUMBERS), ("b", [True, False]), ("t", STAMPS), ("name", TEXTS),
                               ("k", TEXTS)):
                if rng.random() < 0.7:
                    values[name] = rng.choice(pool)
            fields = ws.schema.tables[table].fields
            ids.append(tx.create_record(table, {k: v for k, v in values.items() if k in fields}))
        for i, rid in enumerate(ids):
            if i % 4 == 0:
                other = "fz.B" if i % 3 != 2 else "fz.A"
                tx.add_to_table(rid, other, {"s": rng.choice(TEXTS)} if rng.random() < 0.5 else {})
            if i % 5 == 1 and i % 3 != 2:
                tx.set_text(rid, "fz.A.c", rng.choice(TEXTS))
        for _ in range(40):
            src, tgt = rng.choice(ids), rng.choice(ids)
            props = {k: rng.choice(pool) for k, pool in (("ps", TEXTS), ("pn", NUMBERS), ("pb", [True, False]))
                     if rng.random() < 0.6}
            tx.create_edge("fz.rel", src, tgt, props)
    with ws.transaction() as tx:
        for i, rid in enumerate(ids):
            if i % 4 == 0:  # in both tables: a second register of the mapped number, written later
                tx.set_field(rid, "fz.B.n" if i % 3 != 2 else "fz.A.n", rng.choice(NUMBERS))
    with ws.transaction() as tx:
        for i, rid in enumerate(ids):
            if i % 12 == 4:  # and back to the first register for some
                tx.set_field(rid, "fz.A.n" if i % 3 != 2 else "fz.B.n", rng.choice(NUMBERS))
            if i % 4 == 0 and i % 8 == 0:
                tx.remove_from_table(rid, "fz.B" if i % 3 != 2 else "fz.A")  # values preserved, not visible
            if i % 7 == 3:
                tx.set_field(rid, "fz.A.n" if i % 3 != 2 else "fz.B.n", rng.choice(NUMBERS))  # later mapped write
            if i % 9 == 4 and i % 3 != 2:
                tx.clear_field(rid, "fz.A.s")
    for rid in ids[5::11]:
        ws.delete_record(rid)
    return ws


@pytest.fixture(scope="module")
def fuzz_ws():  # type: ignore[no-untyped-def]
    return build()


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


literal = st.one_of(
    st.sampled_from(TEXTS).map(quoted),
    st.sampled_from(NUMBERS).map(str),
    st.sampled_from(["true", "false", "null", "$now", "$actor"]),
    st.sampled_from(STAMPS).map(quoted),
)
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
field_paths = st.sampled_from(["fz.A.s", "fz.B.s", "fzkey", "fz.A.n", "fz.B.n", "fz.A.b", "fz.A.t", "fz.A.c",
                               "name", "fz.B.k", "created_by"])


@st.composite
def field_predicate(draw, path=field_paths):  # type: ignore[no-untyped-def]
    p = draw(path)
    kind = draw(st.sampled_from(["cmp", "cmp", "cmp", "exists", "truthy", "in", "like", "matches"]))
    if kind == "cmp":
        return f"{p} {draw(ops)} {draw(literal)}"
    if kind == "exists":
        return f"{p} exists"
    if kind == "truthy":
        return p
    if kind == "in":
        items = draw(st.lists(literal.filter(lambda v: not v.startswith("$")), max_size=3))
        return f"{p} IN [{', '.join(items)}]"
    if kind == "like":
        return f"{p} LIKE {quoted(draw(st.sampled_from(LIKES)))}"
    return f"{p} MATCHES {quoted(draw(st.sampled_from(REGEXES)))}"


@st.composite
def leaf(draw):  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["field", "field", "field", "table", "edge", "edge", "prop"]))
    if kind == "table":
        return draw(st.sampled_from(['table == "fz.A"', 'table != "fz.B"', 'table IN ["fz.A", "fz.B"]',
                                     "fz.B exists", 'table == "A"']))
    if kind == "edge":
        inner = draw(field_predicate())
        return draw(st.sampled_from([f"rel->target.{inner}", f"<-rel.source.{inner}", "rel exists",
                                     "<-rel exists", "rel->target exists"]))
    if kind == "prop":
        p = draw(st.sampled_from(["rel.ps", "rel.pn", "rel.pb", "<-rel.ps", "<-fz.rel.pn"]))
        return draw(st.sampled_from([f"{p} {draw(ops)} {draw(literal)}", f"{p} exists", f"{p} == null", p]))
    return draw(field_predicate())


queries = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda ab: f"{ab[0]} AND {ab[1]}"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} OR {ab[1]})"),
        inner.map(lambda a: f"NOT ({a})"),
    ),
    max_leaves=6,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries, table=st.sampled_from([None, None, "fz.A", "fz.B"]))
def test_sql_and_python_paths_agree(fuzz_ws, query: str, table: str | None) -> None:  # type: ignore[no-untyped-def]
    try:
        compiled = compile_query(query, fuzz_ws.schema, table=table)
    except QueryError as exc:
        pytest.fail(f"generated query should be valid: {query!r}: {exc}")
    sql = run_query(fuzz_ws, compiled, now_ms=NOW_MS)
    python = run_query_python(fuzz_ws, compiled, now_ms=NOW_MS)
    assert sql == python, query


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries)
def test_matches_agrees_with_run_query(fuzz_ws, query: str) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_query(query, fuzz_ws.schema)
    hits = set(run_query(fuzz_ws, compiled, now_ms=NOW_MS))
    every = run_query(fuzz_ws, "created_by exists")
    assert {e for e in every if matches(fuzz_ws, e, compiled, now_ms=NOW_MS)} == hits


def test_the_data_exercises_what_it_should(fuzz_ws) -> None:  # type: ignore[no-untyped-def]
    def count(q: str) -> int:
        return len(run_query(fuzz_ws, q, now_ms=NOW_MS))

    assert count('table == "fz.A" AND table == "fz.B"') > 0
    assert count("fz.A.c exists") > 0 and count("rel exists") > 0 and count("rel.pb exists") > 0
    assert count("fz.A.t exists") > 0 and count("fz.B.n exists") > 0
    assert 0 < count("fzkey exists") < count("created_by exists")
    two_registers = fuzz_ws.conn.execute(
        "SELECT count(*) FROM fields a JOIN fields b ON a.entity_id = b.entity_id AND a.field = 'fz.A.n' AND "
        "b.field = 'fz.B.n' AND a.value != b.value").fetchone()[0]
    assert two_registers > 0
    assert fuzz_ws.conn.execute("SELECT count(*) FROM entities WHERE alive = 0").fetchone()[0] > 0
    assert fuzz_ws.conn.execute("SELECT count(*) FROM facets WHERE attached = 0").fetchone()[0] > 0
    assert fuzz_ws.conn.execute("SELECT count(*) FROM fields WHERE kind IS NULL").fetchone()[0] > 0
