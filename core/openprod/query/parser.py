"""Query text -> syntax tree, or a QueryError with line, column and caret.

Why a hand-written walk over lark's tree: it is where positions are kept, string escapes and
numbers are read, keywords used as names are refused, and depth and size limits are enforced
(deeply nested input must not exhaust the stack, which is small under Pyodide).
"""

from __future__ import annotations

import re
from functools import lru_cache

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import errors as e
from .ast import And, Arr, Lit, Node, Not, Or, Part, Path, Pos, Pred, Ref, SyntaxValue
from .grammar import TERMINAL_NAMES, parser

MAX_QUERY_CHARS = 10_000
MAX_DEPTH = 48  # nested parentheses / NOTs / arrays
MAX_PREDICATES = 1_000
KEYWORDS = frozenset({"and", "or", "not", "exists", "in", "changes", "matches", "like", "true", "false", "null"})
_OPERATOR_CHARS = "=!<>~^&|:+*/%"
_OPERATOR_RUN = re.compile(r"[=!<>~^&|:+*/%-]+")
_WORD = re.compile(r"[^\s()\[\],]+")


def parse(text: str) -> Node:
    """Parse a query into its syntax tree (cached: the same text is parsed once)."""
    if not isinstance(text, str):
        raise TypeError(f"a query is text, got {type(text).__name__}")
    return _parse_cached(text)


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> Node:
    if len(text) > MAX_QUERY_CHARS:
        raise e.QueryError(f"query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}",
                           code=e.TOO_COMPLEX, text=text, line=1, column=1)
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    builder = _Builder(text)
    return builder.expr(tree, 0)


# --- errors ------------------------------------------------------------------------------------


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank character (where a missing operand goes)."""
    stripped = text.rstrip()
    if not stripped:
        return 1, 1
    line = stripped.count("\n") + 1
    return line, len(stripped) - (stripped.rfind("\n") + 1) + 1


def _expected(names: set[str]) -> str:
    shown = sorted({TERMINAL_NAMES.get(n, n) for n in names if not n.startswith("__")})
    if not shown:
        return "something else"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _syntax_error(text: str, exc: UnexpectedInput) -> e.QueryError:
    if isinstance(exc, UnexpectedCharacters):
        line, column = exc.line, exc.column
        pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)  # lark always sets it here
        char = text[pos] if pos < len(text) else ""
        if char in "\"'":
            return e.QueryError(f"string starting here is never closed: add the closing {char}",
                                code=e.UNTERMINATED_STRING, text=text, line=line, column=column)
        start = pos
        while start > 0 and text[start - 1] in _OPERATOR_CHARS:
            start -= 1  # `x <> 5` fails at '>': report the whole '<>' from where it starts
        run = _OPERATOR_RUN.match(text, start)
        if run and char != "-":
            op = run.group(0)
            column -= pos - start
            if op == "=":
                detail = "'=' is not an operator here: use == to compare"
                code = e.UNEXPECTED_TOKEN
            else:
                detail = f"unknown operator {op!r}: use ==, !=, <, <=, >, >=, exists, IN, LIKE or MATCHES"
                code = e.INVALID_OPERATOR
            return e.QueryError(detail, code=code, text=text, line=line, column=column)
        word = _WORD.match(text, pos)
        shown = word.group(0) if word else char
        expected = _expected(set(exc.allowed or ()))
        return e.QueryError(f"cannot read {shown!r} here; expected {expected}", code=e.UNEXPECTED_TOKEN,
                            text=text, line=line, column=column)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        token = getattr(exc, "token", None)
        names = set(getattr(exc, "accepts", None) or exc.expected or ())
        if token is None or token.type == "$END":
            line, column = _end_position(text)
            if not text.strip():
                return e.QueryError("the query is empty; write a condition such as table == \"contacts.Contacts\"",
                                    code=e.MISSING_OPERAND, text=text, line=line, column=column)
            return e.QueryError(f"the query ends too early; expected {_expected(names)}",
                                code=e.MISSING_OPERAND, text=text, line=line, column=column)
        line, column = token.line or 1, token.column or 1
        if token.type == "RELOP" and token.start_pos is not None:
            start = token.start_pos
            while start > 0 and text[start - 1] in _OPERATOR_CHARS:
                start -= 1
            if start < token.start_pos:  # `x <> 5`: '<' read as an operator, then '>' cannot follow
                run = _OPERATOR_RUN.match(text, start)
                assert run is not None
                return e.QueryError(f"unknown operator {run.group(0)!r}: use ==, !=, <, <=, >, >=, exists, IN, "
                                    "LIKE or MATCHES", code=e.INVALID_OPERATOR, text=text, line=line,
                                    column=column - (token.start_pos - start))
        return e.QueryError(f"unexpected {token.value!r}; expected {_expected(names)}", code=e.UNEXPECTED_TOKEN,
                            text=text, line=line, column=column)
    return e.QueryError(f"cannot parse the query: {exc}", code=e.UNEXPECTED_TOKEN, text=text,
                        line=getattr(exc, "line", 1) or 1, column=getattr(exc, "column", 1) or 1)


# --- tree walk -----------------------------------------------------------------------------------


def _pos(item: Tree[Token] | Token) -> Pos:
    if isinstance(item, Token):
        return Pos(item.line or 1, item.column or 1)
    meta = item.meta
    return Pos(getattr(meta, "line", 1), getattr(meta, "column", 1))


def unescape(body: str) -> str:
    """Read a string literal's body: \\\\, \\" and \\' become the character; other backslash
    sequences are kept as written, so regexes (\\d) and LIKE escapes (\\%) pass through."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in "\\\"'":
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def read_number(raw: str) -> int | float:
    """Integers stay exact; a literal beyond SQLite's 64-bit integers becomes a float."""
    if "." in raw:
        return float(raw)
    value = int(raw)
    return value if -(2**63) <= value < 2**63 else float(value)


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.predicates = 0

    def fail(self, detail: str, pos: Pos, code: str = e.UNEXPECTED_TOKEN) -> e.QueryError:
        return e.QueryError(detail, code=code, text=self.text, line=pos.line, column=pos.column)

    def depth_check(self, depth: int, pos: Pos) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(f"the query nests more than {MAX_DEPTH} levels deep", pos, e.TOO_COMPLEX)

    def expr(self, tree: Tree[Token] | Token, depth: int) -> Node:
        assert isinstance(tree, Tree), tree
        self.depth_check(depth, _pos(tree))
        kind = tree.data
        if kind == "or_expr":
            return Or(tuple(self.expr(c, depth + 1) for c in tree.children))
        if kind == "and_expr":
            return And(tuple(self.expr(c, depth + 1) for c in tree.children))
        if kind == "negation":
            return Not(self.expr(tree.children[1], depth + 1))
        return self.predicate(tree, depth)

    def predicate(self, tree: Tree[Token], depth: int) -> Pred:
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise self.fail(f"the query has more than {MAX_PREDICATES} conditions", _pos(tree), e.TOO_COMPLEX)
        children = tree.children
        path = self.path(children[0])
        if tree.data == "truthy":
            return Pred("truthy", path, None, path.pos)
        op_token = children[1]
        assert isinstance(op_token, Token)
        op = op_token.value if tree.data == "compare" else tree.data
        op = {"within": "in"}.get(op, op)
        value = self.value(children[2], depth + 1) if len(children) > 2 else None
        return Pred(op, path, value, _pos(op_token))

    def path(self, tree: Tree[Token] | Token) -> Path:
        assert isinstance(tree, Tree)
        parts: list[Part] = []
        sep = ""
        for child in tree.children:
            if isinstance(child, Token):  # PATHSEP
                sep = child.value
                continue
            tokens = [t for t in child.children if isinstance(t, Token)]
            name_token = tokens[-1]
            incoming = len(tokens) == 2
            if name_token.value.lower() in KEYWORDS:
                raise self.fail(f"{name_token.value!r} is a keyword and cannot be used as a name here",
                                _pos(name_token))
            parts.append(Part(name_token.value, incoming, sep, _pos(tokens[0])))
        return Path(tuple(parts), parts[0].pos)

    def value(self, tree: Tree[Token] | Token, depth: int) -> SyntaxValue:
        assert isinstance(tree, Tree)
        self.depth_check(depth, _pos(tree))
        kind = tree.data
        pos = _pos(tree)
        if kind == "string":
            raw = tree.children[0]
            assert isinstance(raw, Token)
            return Lit(unescape(raw.value[1:-1]), pos)
        if kind == "number":
            return Lit(read_number(str(tree.children[0])), pos)
        if kind == "true":
            return Lit(True, pos)
        if kind == "false":
            return Lit(False, pos)
        if kind == "null":
            return Lit(None, pos)
        if kind == "array":
            return Arr(tuple(self.value(c, depth + 1) for c in tree.children), pos)
        if kind == "reference":
            ref = tree.children[0]
            assert isinstance(ref, Token)
            arg = self.value(tree.children[1], depth + 1) if len(tree.children) > 1 else None
            return Ref(tuple(ref.value[1:].split(".")), arg, pos)
        raise self.fail(f"unexpected value {kind}", pos)
