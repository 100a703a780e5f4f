"""`?` parameters and a trailing ORDER BY for script queries.

Scripts write `core.query("table == 'cues' AND number == ?", n)` as the spec shows. The query
language itself has neither placeholders nor ordering (it is a pure predicate), so this module
binds each `?` outside string literals to a literal written in the language's own syntax (a
string is quoted and escaped, so a value can never change the query's shape), and splits off an
`ORDER BY field [ASC|DESC]` clause that the host applies to the matching records.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import LocalError

_ORDER = re.compile(r"\s+ORDER\s+BY\s+([A-Za-z_][\w.]*)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)


class QueryParamError(LocalError):
    """The values given for a query's `?` placeholders do not fit it."""


def _masked(text: str) -> str:
    """The text with every string literal's inside blanked (same length), for finding ? and ORDER BY."""
    out = list(text)
    quote: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is None:
            if c in "'\"":
                quote = c
        elif c == "\\" and i + 1 < len(text):
            out[i] = out[i + 1] = " "
            i += 1
        elif c == quote:
            quote = None
        else:
            out[i] = " "
        i += 1
    return "".join(out)


def literal(value: Any) -> str:
    """A value as a query literal. Raises QueryParamError for what a query cannot compare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QueryParamError(f"a query value must be a finite number, not {value}")
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise QueryParamError("a query value is nil, a boolean, a number, a string or a list of those "
                          f"(got a {type(value).__name__ if not isinstance(value, dict) else 'table with keys'})")


def bind(text: str, values: list[Any]) -> tuple[str, tuple[str, bool] | None]:
    """(the query with every ? replaced, (order field, descending) or None)."""
    if not isinstance(text, str):
        raise QueryParamError("a query is a string")
    masked = _masked(text)
    order = None
    found = _ORDER.search(masked)
    if found is not None:
        order = (found.group(1), (found.group(2) or "ASC").upper() == "DESC")
        text, masked = text[:found.start()], masked[:found.start()]
    holes = [i for i, c in enumerate(masked) if c == "?"]
    if len(holes) != len(values):
        raise QueryParamError(f"the query has {len(holes)} ? placeholder(s) but {len(values)} value(s) were given")
    parts, last = [], 0
    for hole, value in zip(holes, values, strict=True):
        parts.append(text[last:hole])
        parts.append(literal(value))
        last = hole + 1
    parts.append(text[last:])
    return "".join(parts), order
