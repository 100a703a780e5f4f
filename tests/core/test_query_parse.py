"""Query syntax: what parses into what, and every syntax error with its line, column and caret."""

from __future__ import annotations

import pytest

from openprod import LocalError
from openprod.query import QueryError, parse
from openprod.query.ast import And, Arr, Lit, Not, Or, Pred, Ref
from openprod.query.parser import MAX_DEPTH, MAX_QUERY_CHARS


def pred(text: str) -> Pred:
    node = parse(text)
    assert isinstance(node, Pred), node
    return node


# --- what parses -------------------------------------------------------------------------------


def test_precedence_and_binds_tighter_than_or_and_not_negates_one_comparison() -> None:
    node = parse("a == 1 OR b == 2 AND NOT c == 3")
    assert isinstance(node, Or) and len(node.items) == 2
    right = node.items[1]
    assert isinstance(right, And)
    assert isinstance(right.items[1], Not) and isinstance(right.items[1].item, Pred)
    assert right.items[1].item.op == "=="


def test_parentheses_override_precedence() -> None:
    node = parse("(a == 1 OR b == 2) AND c")
    assert isinstance(node, And) and isinstance(node.items[0], Or)
    inner = parse("((a))")
    assert isinstance(inner, Pred) and inner.op == "truthy" and inner.path.parts[0].name == "a"


def test_or_and_chains_are_flat_and_keywords_ignore_case() -> None:
    node = parse("a or b Or c OR d")
    assert isinstance(node, Or) and [i.path.parts[0].name for i in node.items] == ["a", "b", "c", "d"]
    assert parse("a and not b") == parse("a AND NOT b") == parse("a And Not b")
    assert pred("x EXISTS").op == pred("x exists").op == "exists"


def test_every_predicate_form() -> None:
    assert pred("x exists").op == "exists"
    assert pred('x IN ["a"]').op == "in"
    assert pred("x changes").op == "changes"
    assert pred('x MATCHES "a"').op == "matches"
    assert pred('x LIKE "a%"').op == "like"
    assert pred("x").op == "truthy"
    for op in ("==", "!=", "<", "<=", ">", ">="):
        assert pred(f"x {op} 1").op == op
        assert pred(f"x{op}1").op == op  # no spaces needed


def test_literals() -> None:
    assert pred('x == "double"').value == Lit("double", pred('x == "double"').value.pos)
    assert pred("x == 'single'").value.value == "single"
    assert pred(r'x == "say \"hi\""').value.value == 'say "hi"'
    assert pred(r"x == 'it\'s'").value.value == "it's"
    assert pred(r'x == "back\\slash"').value.value == "back\\slash"
    assert pred(r'x == "\d+"').value.value == r"\d+"  # other escapes pass through (regexes)
    assert pred('x == "two\nlines"').value.value == "two\nlines"
    assert pred("x == 42").value.value == 42 and isinstance(pred("x == 42").value.value, int)
    assert pred("x == -17").value.value == -17
    assert pred("x == 3.14159").value.value == 3.14159
    assert pred("x == -0.5").value.value == -0.5
    assert pred("x == 99999999999999999999").value.value == 1e20  # beyond 64-bit: a float
    assert pred("x == true").value.value is True
    assert pred("x == FALSE").value.value is False
    assert pred("x == null").value.value is None
    arr = pred('x IN ["a", 1, true, null]').value
    assert isinstance(arr, Arr) and [i.value for i in arr.items] == ["a", 1, True, None]
    assert pred("x IN []").value == Arr((), pred("x IN []").value.pos)


def test_references() -> None:
    ref = pred("x == $source.lighting.cue_number").value
    assert isinstance(ref, Ref) and ref.names == ("source", "lighting", "cue_number") and ref.arg is None
    assert pred("x < $now").value.names == ("now",)
    assert pred("x == $actor").value.names == ("actor",)
    lit = pred('x == $literal("value")').value
    assert isinstance(lit, Ref) and lit.names == ("literal",) and lit.arg.value == "value"


def test_paths() -> None:
    parts = pred('assigned_to->target.scheduled_at->target.venue == "Main Stage"').path.parts
    assert [(p.sep, p.name) for p in parts] == [("", "assigned_to"), ("->", "target"), (".", "scheduled_at"),
                                                ("->", "target"), (".", "venue")]
    parts = pred('<-assigned_to.source.department == "cast"').path.parts
    assert parts[0].incoming and parts[0].name == "assigned_to" and not parts[1].incoming
    assert pred("<-worn_by exists").path.parts[0].incoming
    # the contextual lexer: after a name, '<' is an operator and -5 a number
    node = pred("cue <-5")
    assert node.op == "<" and node.value.value == -5
    assert pred("notes").path.parts[0].name == "notes"  # NOT is a keyword, notes is a name
    assert pred("in_cue_list exists").path.parts[0].name == "in_cue_list"


def test_parsing_is_cached() -> None:
    assert parse("a == 1 AND b") is parse("a == 1 AND b")


# --- syntax errors: code, line, column, caret ------------------------------------------------------


ERRORS = [
    # (query, code, line, column, the query line shown above the caret)
    ('table = "contacts"', "UnexpectedToken", 1, 7, 'table = "contacts"'),
    ('name == "Jane', "UnterminatedString", 1, 9, 'name == "Jane'),
    ("name == 'Jane", "UnterminatedString", 1, 9, "name == 'Jane"),
    ('name ~= "Jane"', "InvalidOperator", 1, 6, 'name ~= "Jane"'),
    ("x <> 5", "InvalidOperator", 1, 3, "x <> 5"),
    ("x === 5", "InvalidOperator", 1, 3, "x === 5"),
    ("x & y", "InvalidOperator", 1, 3, "x & y"),
    ("table ==", "MissingOperand", 1, 9, "table =="),
    ("a AND", "MissingOperand", 1, 6, "a AND"),
    ("NOT", "MissingOperand", 1, 4, "NOT"),
    ("x IN", "MissingOperand", 1, 5, "x IN"),
    ("(a == 1", "MissingOperand", 1, 8, "(a == 1"),
    ("", "MissingOperand", 1, 1, ""),
    ("   ", "MissingOperand", 1, 1, "   "),
    ("a)", "UnexpectedToken", 1, 2, "a)"),
    ("x == 5 y", "UnexpectedToken", 1, 8, "x == 5 y"),
    ("x == == 5", "UnexpectedToken", 1, 6, "x == == 5"),
    ("x == [1,]", "UnexpectedToken", 1, 9, "x == [1,]"),
    ("x == 5.", "UnexpectedToken", 1, 6, "x == 5."),
    ("x == 5abc", "UnexpectedToken", 1, 6, "x == 5abc"),
    ("x == @", "UnexpectedToken", 1, 6, "x == @"),
    ("x.", "MissingOperand", 1, 3, "x."),
    ("x -> ", "MissingOperand", 1, 5, "x -> "),
    ("and", "UnexpectedToken", 1, 1, "and"),
    ("x.exists == 1", "UnexpectedToken", 1, 3, "x.exists == 1"),
    ("x exists exists", "UnexpectedToken", 1, 10, "x exists exists"),
    ('a == 1\nAND b ~= "x"', "InvalidOperator", 2, 7, 'AND b ~= "x"'),
    ('a == 1 AND\n  b == "x\n', "UnterminatedString", 2, 8, '  b == "x'),
    ("a == 1 OR\n\n  (b AND", "MissingOperand", 3, 9, "  (b AND"),
]


@pytest.mark.parametrize(("query", "code", "line", "column", "shown"), ERRORS, ids=[e[0] for e in ERRORS])
def test_syntax_errors_point_at_the_spot(query: str, code: str, line: int, column: int, shown: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    err = info.value
    assert (err.code, err.line, err.column) == (code, line, column), str(err)
    context = f"  {shown}\n  {' ' * (column - 1)}^"  # the line, then a caret under column `column`
    assert err.context == context
    assert err.type == "parse_error"
    assert str(err).endswith(context) and f"(line {line}, column {column})" in str(err)
    assert isinstance(err, LocalError)
    shape = err.as_dict()
    assert shape["position"] == {"line": line, "column": column} and shape["code"] == code


def test_error_messages_say_what_to_do() -> None:
    with pytest.raises(QueryError, match="use == to compare"):
        parse('table = "contacts"')
    with pytest.raises(QueryError, match="add the closing \""):
        parse('name == "Jane')
    with pytest.raises(QueryError, match="expected AND, OR or the end of the query"):
        parse("x == 5 y")
    with pytest.raises(QueryError, match="keyword"):
        parse("x AND or")


def test_long_lines_are_cut_around_the_caret() -> None:
    query = "a == 1 AND " * 20 + "b ~= 2" + " AND c == 3" * 10
    with pytest.raises(QueryError) as info:
        parse(query)
    source, caret = info.value.context.split("\n")
    assert len(source) < 90 and "b ~= 2" in source
    assert source[caret.index("^")] == "~"


def test_limits_are_clear_errors() -> None:
    with pytest.raises(QueryError) as info:
        parse("x == 1 OR " * (MAX_QUERY_CHARS // 10) + "x")
    assert info.value.code == "TooComplex"
    deep = "NOT " * (MAX_DEPTH + 5) + "x"
    with pytest.raises(QueryError) as info:
        parse(deep)
    assert info.value.code == "TooComplex" and "levels deep" in info.value.detail
    nested = "(" * 400 + "a" + ")" * 400  # parentheses alone add no depth, and parse fine
    assert isinstance(parse(nested), Pred)
    with pytest.raises(QueryError, match="levels deep"):
        parse("(" * 60 + "a AND (" * 60 + "b" + ")" * 120)
    with pytest.raises(TypeError):
        parse(42)  # type: ignore[arg-type]
