"""Query semantics beyond the corpus: name resolution, references, trigger context, type rules,
regex guards, value and path errors (with positions), compiled queries, `matches`, and that the
SQL path really runs in SQL."""

from __future__ import annotations

import pytest
from test_query_theatre import EVERYTHING, NOW_MS, Theatre, build_theatre

from openprod import Schema, parse_manifest
from openprod.query import QueryError, compile_query, matches, run_query, run_query_python
from openprod.query.bind import bind
from openprod.query.patterns import MAX_MATCH_INPUT, MAX_PATTERN_CHARS
from openprod.query.run import plan_sql


@pytest.fixture(scope="module")
def theatre() -> Theatre:
    return build_theatre(seed=11)


def names(th: Theatre, query: str, **kw: object) -> set[str]:
    got = run_query(th.ws, query, now_ms=NOW_MS, **kw)  # type: ignore[arg-type]
    assert run_query_python(th.ws, query, now_ms=NOW_MS, **kw) == got  # type: ignore[arg-type]
    return set(th.names(got))


def error(th: Theatre, query: str, **kw: object) -> QueryError:
    with pytest.raises(QueryError) as info:
        run_query(th.ws, query, now_ms=NOW_MS, **kw)  # type: ignore[arg-type]
    return info.value


# --- name resolution ------------------------------------------------------------------------------


def test_an_ambiguous_bare_name_is_an_error_listing_the_choices(theatre: Theatre) -> None:
    err = error(theatre, 'status == "active" AND department == "cast"')
    assert err.code == "AmbiguousName" and (err.line, err.column) == (1, 24)
    assert "contacts.Contacts.department" in err.detail and "sm.SMCues.department" in err.detail
    assert err.context.endswith("\n" + " " * 25 + "^")


def test_table_context_resolves_bare_names(theatre: Theatre) -> None:
    cast = {"John", "Ana", "Dana"}
    assert names(theatre, 'department == "cast"', table="contacts.Contacts") == cast
    assert names(theatre, 'department == "cast"', table="contacts") == cast  # short table names too
    assert names(theatre, 'table == "contacts" AND department == "cast"') == cast
    assert names(theatre, 'table IN ["contacts"] AND department == "cast"') == cast
    assert names(theatre, '(table == "contacts" AND department == "cast") OR table == "lighting.CueLists"') == \
        cast | {"Act 1", "Act 2"}
    # the first context table that has the field wins
    assert names(theatre, 'table == "sm.SMCues" AND table == "lighting.LightingCues" AND department exists') == \
        {"LX11", "LX20"}
    # context reaches into nested groups of the same AND
    assert names(theatre, 'table == "contacts" AND (department == "sound" OR NOT department LIKE "%a%")') == \
        {"Bob", "Chris"}


def test_shared_keys_and_same_named_fields(theatre: Theatre) -> None:
    # `label` is declared by three tables, all with shared key cue_label: one semantic name
    assert names(theatre, 'label == "Thunder"') == {"SQ5"}
    # `name` is a shared key: every field declaring it, titles of events and scenes included
    assert names(theatre, 'name LIKE "T%"') == {"Tech", "Tomb"}
    # a module-qualified name narrows to that module's tables
    assert names(theatre, 'schedule.name LIKE "%"') == {"Dana", "Eve"}
    assert names(theatre, "sound.page exists") == {"SQ1", "SQ5"}


def test_ambiguity_in_other_shapes() -> None:
    schema = Schema({m.name: m for m in (parse_manifest(MOD_A), parse_manifest(MOD_B))})
    for text, where in [("x.Thing exists", (1, 1)), ("link exists", (1, 1)), ("code == 1", (1, 1)),
                        ("a.code == 1", (1, 1)), ('<-link.source.code == 1', (1, 1)),
                        ('table == "Thing"', (1, 10))]:
        with pytest.raises(QueryError) as info:
            compile_query(text, schema)
        assert info.value.code == "AmbiguousName", text
        assert (info.value.line, info.value.column) == where, text
    assert compile_query("a.link exists", schema).warnings == ()
    assert compile_query("a.Thing.code == 1", schema).warnings == ()


MOD_A = """
[module]
name = "a"
version = "1.0.0"
[table.Thing.fields.code]
type = "number"
[table.Other.fields.code]
type = "number"
[edge.link.properties]
note = "string"
"""
MOD_B = """
[module]
name = "x"
version = "1.0.0"
[table.Thing.fields.title]
type = "string"
[table.Keeper.fields.Thing]
type = "string"
[edge.link.properties]
note = "string"
"""


def test_unknown_names_are_false_with_a_warning(theatre: Theatre) -> None:
    compiled = compile_query('nmae == "Jane Doe" OR table == "contacts"', theatre.ws.schema)
    assert [(w.line, w.column) for w in compiled.warnings] == [(1, 1)]
    assert "nmae" in compiled.warnings[0].message
    assert set(theatre.names(run_query(theatre.ws, compiled))) == {"Jane", "John", "Ana", "Bob", "Chris", "Dana"}
    assert names(theatre, "NOT nmae") == names(theatre, "created_by exists")  # NOT false is true
    for text in ("worn_by->target.name == 'x'", "<-worn_by exists", "appears_in.costume == 'x'",
                 "nope == $source.nope OR nope", 'table == "nope"', "<-appears_in.prop exists"):
        assert compile_query(text, theatre.ws.schema).warnings, text


def test_created_by_and_actor(theatre: Theatre) -> None:
    everything = names(theatre, "created_by exists")
    assert everything == EVERYTHING
    assert names(theatre, "created_by == $actor") == everything
    assert names(theatre, "created_by == $actor", actor=b"\x01" * 32) == set()
    assert names(theatre, f'created_by IN ["{"01" * 32}", "{theatre.ws.actor_id.hex()}"]') == everything
    assert names(theatre, 'created_by LIKE "zz%"') == set()


# --- $source ------------------------------------------------------------------------------------------


def test_source_references(theatre: Theatre) -> None:
    ids = theatre.ids
    same_department = 'table == "contacts" AND department == $source.department'
    assert names(theatre, same_department, source=ids["John"]) == {"John", "Ana", "Dana"}
    assert names(theatre, same_department, source=ids["Bob"]) == {"Bob"}
    # the spec's rule example: the source's lighting cue number
    assert names(theatre, "cue_number == $source.lighting.cue_number", source=ids["LX11"]) == {"LX11"}
    assert names(theatre, "cue_number == $source.cue_number", source=ids["SQ5"]) == {"SQ5"}
    # timestamps from the source compare as instants
    assert names(theatre, "starts_at > $source.starts_at", source=ids["Tech"]) == {"Fitting", "Opening"}
    # text from a CRDT field
    assert names(theatre, "notes == $source.notes", source=ids["Vial"]) == {"Vial"}


def test_a_missing_source_value_matches_nothing(theatre: Theatre) -> None:
    ids = theatre.ids
    # Chris has no email: neither == nor != can be true (null == null is not a match)
    assert names(theatre, "email == $source.email", source=ids["Chris"]) == set()
    assert names(theatre, "email != $source.email", source=ids["Chris"]) == set()
    # a deleted source has no values; a source outside the field's tables neither
    assert names(theatre, "department == $source.department", table="contacts", source=ids["Ghost"]) == set()
    assert names(theatre, "room == $source.room", source=ids["Jane"]) == set()


def test_source_is_required_when_used(theatre: Theatre) -> None:
    err = error(theatre, "table == 'contacts' AND department == $source.department")
    assert err.code == "MissingReference" and err.type == "evaluation_error"
    assert (err.line, err.column) == (1, 39)


# --- CHANGES -------------------------------------------------------------------------------------------


def test_changes_is_refused_outside_trigger_context(theatre: Theatre) -> None:
    err = error(theatre, 'table == "contacts" AND name changes')
    assert err.code == "ChangesNotAllowed" and (err.line, err.column) == (1, 30)
    with pytest.raises(QueryError, match="trigger"):
        compile_query("role changes", theatre.ws.schema)


def test_changes_in_trigger_context(theatre: Theatre) -> None:
    ws, ids = theatre.ws, theatre.ids
    role = compile_query("role changes", ws.schema, context="trigger")
    assert matches(ws, ids["Jane"], role, changes=["contacts.Contacts.role"])
    assert not matches(ws, ids["Jane"], role, changes=["contacts.Contacts.email"])
    assert not matches(ws, ids["Jane"], role)
    # a mapped field changes when any field of its group is written
    attendee_name = compile_query("schedule.Attendees.name changes", ws.schema, context="trigger")
    assert matches(ws, ids["Dana"], attendee_name, changes=["contacts.Contacts.name"])
    membership = compile_query("sm.SMCues changes AND cue_number > 10", ws.schema, context="trigger")
    assert matches(ws, ids["LX20"], membership, changes=["sm.SMCues"])
    assert not matches(ws, ids["LX2"], membership, changes=["sm.SMCues"])
    got = run_query(ws, 'table == "contacts" AND name changes', context="trigger",
                    changes=["contacts.Contacts.name"])
    assert set(theatre.names(got)) == {"Jane", "John", "Ana", "Bob", "Chris", "Dana"}
    assert run_query(ws, "role changes", context="trigger") == []
    with pytest.raises(QueryError, match="record itself"):
        compile_query("appears_in->target.title changes", ws.schema, context="trigger")
    with pytest.raises(QueryError) as info:
        compile_query("x", ws.schema, context="rules")
    assert info.value.code == "InvalidContext"


# --- type rules -------------------------------------------------------------------------------------------


def test_text_and_numbers_never_equal_each_other(theatre: Theatre) -> None:
    ws = theatre.ws
    with ws.transaction() as tx:
        five_text = tx.create_record("contacts.Contacts", {"name": "Five", "role": "5", "department": "5"})
    try:
        by_role = set(run_query(ws, 'role == "5"'))
        assert by_role == {five_text}
        assert run_query(ws, "role == 5") == []
        assert run_query(ws, "role < 6") == []
        assert run_query(ws, "role IN [5, 6]") == []
        assert set(run_query(ws, 'role IN [5, "5"]')) == {five_text}
        assert theatre.names(run_query(ws, "cue_number == 5")) == ["SQ5"]
        # cue numbers compare as cue numbers, whether the query writes them as text or a number
        assert theatre.names(run_query(ws, 'cue_number == "5"')) == ["SQ5"]
        assert run_query(ws, "lighting.is_called == 0") == []
        assert run_query(ws, 'lighting.is_called == "true"') == []
        assert run_query(ws, "name == true") == []
    finally:
        ws.delete_record(five_text)


def test_like_and_matches_need_text_patterns(theatre: Theatre) -> None:
    for text in ("name LIKE 5", "name LIKE $now", "name MATCHES [1]", "name MATCHES null"):
        err = error(theatre, text)
        assert err.code in ("InvalidValue",), text
        assert err.column == len(text.split(" ")[0]) + len(text.split(" ")[1]) + 3, text


def test_bad_and_unsafe_regexes_are_errors_at_compile_time(theatre: Theatre) -> None:
    err = error(theatre, 'table == "contacts" AND phone MATCHES "(555"')
    assert err.code == "InvalidRegex" and (err.line, err.column) == (1, 39)
    assert "missing )" in err.detail
    for pattern in ("(a+)+", "(x|xy)*z", "(\\\\d+\\\\s?)*", "(a)\\\\1", "(?P<q>a)(?P=q)"):
        err = error(theatre, f'name MATCHES "{pattern}"')
        assert err.code == "InvalidRegex", pattern
    err = error(theatre, f'name MATCHES "{"a" * (MAX_PATTERN_CHARS + 1)}"')
    assert err.code == "TooComplex"
    err = error(theatre, 'name MATCHES "(?i)a(?i)b"')  # flags not at the start (Python 3.11+)
    assert err.code == "InvalidRegex"


def test_matches_ignores_over_long_values_but_like_does_not(theatre: Theatre) -> None:
    ws = theatre.ws
    with ws.transaction() as tx:
        long = tx.create_record("props.Props", {"item": "Scroll", "owner": "a" * (MAX_MATCH_INPUT + 1)})
    try:
        assert long not in run_query(ws, 'owner MATCHES "a*"')
        assert long in run_query(ws, 'owner LIKE "a%"')
        assert long not in run_query_python(ws, 'owner MATCHES "a*"')
    finally:
        ws.delete_record(long)


# --- value and path errors ------------------------------------------------------------------------------

VALUE_ERRORS = [
    ("cue_number == [1]", "InvalidValue", 15),
    ('role IN "cast"', "InvalidValue", 9),
    ("cue_number IN [$now]", "InvalidValue", 16),
    ("cue_number IN [[1]]", "InvalidValue", 16),
    ("cue_number == $nope", "UnknownReference", 15),
    ("cue_number == $source", "InvalidValue", 15),
    ("cue_number == $now(1)", "InvalidValue", 15),
    ("cue_number == $literal", "InvalidValue", 15),
    ("cue_number == $literal([1])", "InvalidValue", 15),
    ("appears_in->title == 'x'", "InvalidPath", 13),
    ("appears_in->target.<-appears_in.target.title == 'x'", "InvalidPath", 33),
    ("<-appears_in.target.title == 'x'", "InvalidPath", 14),
    ("<-appears_in->target exists", "InvalidPath", 15),
    ("<-appears_in.character.x == 1", "InvalidPath", 24),
    ("name.<-appears_in exists", "InvalidPath", 6),
    ("a.b.c.d == 1", "InvalidPath", 1),
    ("scenes.appears_in.x->target exists", "InvalidPath", 1),
    ("appears_in->target == 5", "InvalidValue", 20),
    ("appears_in == 5", "InvalidValue", 12),
    ("<-appears_in LIKE 'x'", "InvalidValue", 14),
    ("contacts.Contacts == 1", "InvalidValue", 19),
    ('table LIKE "con%"', "InvalidValue", 7),
    ("table", "InvalidValue", 1),
    ("table == 5", "InvalidValue", 7),
    ('table IN ["a", 1]', "InvalidValue", 7),
    ("table != [\"a\"]", "InvalidValue", 10),
]


@pytest.mark.parametrize(("query", "code", "column"), VALUE_ERRORS, ids=[q for q, _, _ in VALUE_ERRORS])
def test_values_and_paths_in_the_wrong_place(theatre: Theatre, query: str, code: str, column: int) -> None:
    err = error(theatre, query)
    assert (err.code, err.line, err.column) == (code, 1, column), str(err)
    assert err.context.split("\n")[1].index("^") == column + 1


def test_table_argument_must_name_a_table(theatre: Theatre) -> None:
    err = error(theatre, "x", table="no.Table")
    assert err.code == "UnknownTable" and "contacts.Contacts" in err.detail
    with pytest.raises(QueryError, match="could be any of the tables"):
        run_query(theatre.ws, "x", table="lighting")


# --- compiled queries and matches() ------------------------------------------------------------------------


def test_a_compiled_query_is_reusable_and_reports_what_it_reads(theatre: Theatre) -> None:
    ws, ids = theatre.ws, theatre.ids
    compiled = compile_query('table == "contacts" AND appears_in->target.act > $source.act', ws.schema)
    assert compiled.uses_source
    assert {"contacts.Contacts", "scenes.appears_in", "scenes.Scenes.act"} <= compiled.watched
    assert set(theatre.names(run_query(ws, compiled, source=ids["Balcony"]))) == {"John", "Ana"}
    assert set(theatre.names(run_query(ws, compiled, source=ids["Prologue"]))) == {"John", "Ana"}
    assert run_query(ws, compiled, source=ids["Tomb"]) == []
    assert matches(ws, ids["John"], compiled, source=ids["Balcony"])
    assert not matches(ws, ids["Dana"], compiled, source=ids["Balcony"])


def test_matches_one_record(theatre: Theatre) -> None:
    ws, ids = theatre.ws, theatre.ids
    called = compile_query("lighting.is_called == true AND intensity > 0", ws.schema)
    assert [matches(ws, ids[k], called) for k in ("LX1", "LX2", "LX11", "LX11.1", "Jane")] == \
        [True, False, True, False, False]
    assert matches(ws, ids["Dana"], "appears_in exists")  # text works too
    assert not matches(ws, ids["Ghost"], 'name == "Ghost Person"')  # deleted
    assert not matches(ws, "01900000-0000-7000-8000-000000000000", "NOT nope")  # never existed
    in_table = compile_query("is_called", ws.schema, table="sound.SoundCues")
    assert matches(ws, ids["SQ1"], in_table) and not matches(ws, ids["LX1"], in_table)


def test_matches_agrees_with_run_query_on_the_corpus(theatre: Theatre) -> None:
    from test_query_theatre import CORPUS

    ws = theatre.ws
    everyone = run_query(ws, "created_by exists")
    for text, _ in CORPUS[::7]:
        compiled = compile_query(text, ws.schema)
        expected = run_query(ws, compiled, now_ms=NOW_MS)
        assert [e for e in everyone if matches(ws, e, compiled, now_ms=NOW_MS)] == expected, text


# --- what runs in SQL ---------------------------------------------------------------------------------------


def sql_of(th: Theatre, query: str) -> tuple[str, list[object], list[object]]:
    bound = bind(th.ws, compile_query(query, th.ws.schema), source=None, actor=None, now_ms=NOW_MS, changes=None)
    sql, params, residual = plan_sql(bound)
    plan = [row[3] for row in th.ws.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    return sql, plan, residual


def test_plain_fields_tables_and_edges_run_entirely_in_sql_with_indexes(theatre: Theatre) -> None:
    sql, plan, residual = sql_of(theatre, 'table == "lighting.LightingCues" AND intensity >= 50 AND '
                                          'in_cue_list->target.name == "Act 1"')
    assert residual == []
    assert "SCAN e" not in " ".join(plan)  # driven from an index, not a walk over every record
    assert any("fields_field_value" in step for step in plan)
    assert any("edges_target" in step for step in plan)
    sql, plan, residual = sql_of(theatre, 'table == "contacts" AND NOT phone MATCHES "555.*"')
    assert residual == [] and "openprod_query_matches" in sql
    assert any("facets_facet" in step for step in plan)


def test_only_crdt_content_is_left_to_python(theatre: Theatre) -> None:
    _, _, residual = sql_of(theatre, 'table == "props" AND notes LIKE "%glass"')
    assert len(residual) == 1
    _, _, residual = sql_of(theatre, "notes exists AND NOT notes == null")  # presence is known in SQL
    assert residual == []


def test_sql_values_are_parameters_never_spliced(theatre: Theatre) -> None:
    assert names(theatre, "name == \"Chris O'Neil\"") == {"Chris"}
    assert names(theatre, "name == 'x\\' OR 1=1 --'") == set()
    sql, _, _ = sql_of(theatre, "name == 'Robert\\'); DROP TABLE fields; --'")
    assert "DROP" not in sql
