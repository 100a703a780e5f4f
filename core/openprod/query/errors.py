"""QueryError: what is wrong with a query, where (line, column) and a caret under the spot.

Why one class with a `code`: the spec's error response carries `type` (parse_error or
evaluation_error) and `code` (UnexpectedToken, InvalidRegex, ...); callers such as the filter bar
show `str(error)` and may switch on `code`, while `LocalError` keeps it in the "caller asked for
something invalid, nothing happened" family.
"""

from __future__ import annotations

from ..errors import LocalError

PARSE_ERROR = "parse_error"
EVALUATION_ERROR = "evaluation_error"

# Stable codes (the spec's, plus the ones name resolution and limits need).
UNEXPECTED_TOKEN = "UnexpectedToken"
UNTERMINATED_STRING = "UnterminatedString"
INVALID_OPERATOR = "InvalidOperator"
MISSING_OPERAND = "MissingOperand"
INVALID_REGEX = "InvalidRegex"
INVALID_VALUE = "InvalidValue"  # a value that cannot go where it was written (array after ==, ...)
AMBIGUOUS_NAME = "AmbiguousName"
INVALID_PATH = "InvalidPath"  # a path whose shape is wrong (`x->y` without target, ...)
UNKNOWN_REFERENCE = "UnknownReference"
MISSING_REFERENCE = "MissingReference"  # $source used but no source record given
CHANGES_NOT_ALLOWED = "ChangesNotAllowed"
UNKNOWN_TABLE = "UnknownTable"  # the table= argument names no table
INVALID_CONTEXT = "InvalidContext"
TOO_COMPLEX = "TooComplex"

EXCERPT_WIDTH = 72


def excerpt(text: str, line: int, column: int) -> str:
    """Two indented lines: the query line that holds the spot, and a caret under it.

    Long lines are cut to a window around the caret so the message stays readable.
    """
    lines = text.split("\n") or [""]
    source = lines[min(max(line, 1), len(lines)) - 1].replace("\t", " ").replace("\r", " ")
    col = max(column, 1) - 1
    start = 0
    if len(source) > EXCERPT_WIDTH:
        start = max(0, min(col - EXCERPT_WIDTH // 2, len(source) - EXCERPT_WIDTH))
        shown = source[start:start + EXCERPT_WIDTH]
        prefix = "…" if start > 0 else ""
        suffix = "…" if start + EXCERPT_WIDTH < len(source) else ""
        source = prefix + shown + suffix
        col = col - start + len(prefix)
    return f"  {source}\n  {' ' * col}^"


class QueryError(LocalError):
    """A query that cannot run: bad syntax, a bad regex, an ambiguous name, a misplaced keyword.

    Attributes: `code`, `type` (parse_error | evaluation_error), `line` and `column` (1-based),
    `detail` (the sentence alone) and `context` (the line with its caret). `str()` gives all of it.
    """

    def __init__(self, detail: str, *, code: str, text: str, line: int = 1, column: int = 1,
                 type: str = PARSE_ERROR) -> None:
        self.detail = detail
        self.code = code
        self.type = type
        self.line = line
        self.column = column
        self.context = excerpt(text, line, column)
        super().__init__(f"{detail} (line {line}, column {column})\n{self.context}")

    def as_dict(self) -> dict[str, object]:
        """The spec's error response shape, for the UI and the wire."""
        return {"type": self.type, "code": self.code, "message": self.detail,
                "position": {"line": self.line, "column": self.column}, "context": self.context}
