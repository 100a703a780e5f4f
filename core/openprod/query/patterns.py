"""Text matching shared by both evaluators: LIKE, MATCHES, timestamp keys and truthiness.

Why here: the SQL path and the Python path must agree to the character, so each rule is written
once: LIKE compiles to a token list that drives both a Python matcher and an SQLite GLOB pattern
(GLOB, because SQLite's LIKE ignores ASCII case and the spec's LIKE is case-sensitive); MATCHES is
Python's `re` in both paths (SQLite calls it through a registered function); timestamps compare
by a normalised UTC key that SQLite's strftime and Python's datetime produce identically.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from typing import Any

MAX_PATTERN_CHARS = 500
MAX_MATCH_INPUT = 10_000  # MATCHES never matches longer text (a guard against slow regexes)
SQL_TIMESTAMP_KEY = "strftime('%Y-%m-%dT%H:%M:%f', {value})"
CUE_KIND = "q"  # a comparison in cue order: both sides are `cues.cue_key` strings
CUE_FUNCTION = "openprod_cue_key"  # `cues.cue_key`, registered with SQLite by run.py

ANY_ONE = "_"
ANY_RUN = "%"


# --- LIKE --------------------------------------------------------------------------------------


def like_tokens(pattern: str) -> tuple[tuple[str, str], ...]:
    """('lit', char) | ('one', '') | ('run', '') tokens. A backslash makes a following %, _ or
    backslash literal; before anything else it is an ordinary character."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_\\":
            out.append(("lit", pattern[i + 1]))
            i += 2
            continue
        if ch == ANY_RUN:
            if not out or out[-1][0] != "run":  # %% is %
                out.append(("run", ""))
        elif ch == ANY_ONE:
            out.append(("one", ""))
        else:
            out.append(("lit", ch))
        i += 1
    return tuple(out)


def like_to_glob(pattern: str) -> str:
    parts = []
    for kind, ch in like_tokens(pattern):
        if kind == "run":
            parts.append("*")
        elif kind == "one":
            parts.append("?")
        elif ch in "*?[":
            parts.append(f"[{ch}]")
        else:
            parts.append(ch)
    return "".join(parts)


@lru_cache(maxsize=256)
def _like_cached(pattern: str) -> tuple[tuple[str, str], ...]:
    return like_tokens(pattern)


def like_match(pattern: str, text: str) -> bool:
    """Whole-string wildcard match in O(len(text) * len(pattern)), never exponential."""
    tokens = _like_cached(pattern)
    t = p = 0
    star_p = -1
    star_t = 0
    while t < len(text):
        if p < len(tokens) and tokens[p][0] == "run":
            star_p, star_t = p, t
            p += 1
        elif p < len(tokens) and (tokens[p][0] == "one" or tokens[p][1] == text[t]):
            t += 1
            p += 1
        elif star_p >= 0:
            star_t += 1
            t = star_t
            p = star_p + 1
        else:
            return False
    while p < len(tokens) and tokens[p][0] == "run":
        p += 1
    return p == len(tokens)


# --- MATCHES -----------------------------------------------------------------------------------


class UnsafeRegex(ValueError):
    """A regex refused before use; the message says why and what to write instead."""


class PatternTooLong(UnsafeRegex):
    """A regex over MAX_PATTERN_CHARS."""


def check_regex(pattern: str) -> re.Pattern[str]:
    """Compile a MATCHES pattern (anchored: it must match the whole value) or raise.

    Refused: patterns over MAX_PATTERN_CHARS, backreferences, and a repeated group that itself
    repeats or alternates, such as (a+)+ or (a|aa)*: the shapes that make backtracking regex
    engines take exponential time. Raises re.error for invalid syntax, UnsafeRegex for the rest.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternTooLong(f"the pattern is {len(pattern)} characters long; the limit is {MAX_PATTERN_CHARS}")
    compiled = re.compile(pattern)
    _check_shape(pattern)
    return compiled


def _quantifier_at(pattern: str, i: int) -> tuple[int, bool, bool] | None:
    """If a quantifier starts at i: (its length, variable length?, repeats more than once?)."""
    if i >= len(pattern):
        return None
    ch = pattern[i]
    lazy = 1 if i + 1 < len(pattern) and pattern[i + 1] in "?+" else 0
    if ch in "*+":
        return 1 + lazy, True, True
    if ch == "?":
        return 1 + lazy, True, False
    if ch == "{":
        m = re.match(r"\{(\d*)(,?)(\d*)\}[?+]?", pattern[i:])
        if m and (m.group(1) or m.group(3)):
            low = int(m.group(1) or 0)
            high = low if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
            return len(m.group(0)), high != low, high is None or high > 1
    return None


def _check_shape(pattern: str) -> None:
    # Per open group: [something inside has variable length, something inside alternates]
    stack: list[list[bool]] = [[False, False]]

    def after_atom(i: int) -> int:
        quant = _quantifier_at(pattern, i)
        if quant is None:
            return i
        stack[-1][0] = stack[-1][0] or quant[1]
        return i + quant[0]

    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt.isdigit() and nxt != "0":
                raise UnsafeRegex("backreferences (\\1 ...) are not allowed in MATCHES")
            i = after_atom(i + 2)
        elif ch == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = after_atom(j + 1)
        elif ch == "(":
            if pattern.startswith("(?P=", i):
                raise UnsafeRegex("backreferences ((?P=name)) are not allowed in MATCHES")
            stack.append([False, False])
            i += 1
        elif ch == ")" and len(stack) > 1:
            inner_variable, inner_alt = stack.pop()
            quant = _quantifier_at(pattern, i + 1)
            if quant and quant[2] and (inner_variable or inner_alt):
                raise UnsafeRegex("a repeated group may not contain a variable repetition or an alternation, as "
                                  "in (a+)+ or (a|b)*; rewrite it without the nesting, e.g. [ab]* or a+")
            stack[-1][0] = stack[-1][0] or inner_variable or bool(quant and quant[1])
            stack[-1][1] = stack[-1][1] or inner_alt
            i += 1 + (quant[0] if quant else 0)
        elif ch == "|":
            stack[-1][1] = True
            i += 1
        else:
            i = after_atom(i + 1)


@lru_cache(maxsize=256)
def compiled_regex(pattern: str) -> re.Pattern[str]:
    return check_regex(pattern)


def regex_match(pattern: str, value: Any) -> bool:
    """MATCHES: the whole value must match. Non-text and over-long values never match."""
    if not isinstance(value, str) or len(value) > MAX_MATCH_INPUT:
        return False
    return compiled_regex(pattern).fullmatch(value) is not None


# --- timestamps ---------------------------------------------------------------------------------


def _key(moment: _dt.datetime) -> str:
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}")


def timestamp_key(text: Any) -> str | None:
    """'YYYY-MM-DDTHH:MM:SS.mmm' in UTC (what SQL_TIMESTAMP_KEY gives), or None if not a timestamp.

    Stored timestamps are ISO 8601 in UTC ('Z') or without an offset (read as UTC, as SQLite does).
    """
    if not isinstance(text, str):
        return None
    try:
        moment = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC).replace(tzinfo=None)
    return _key(moment)


def timestamp_key_from_ms(ms: int) -> str:
    return _key(_dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=ms))


# --- truthiness ---------------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """A bare field: true, a non-zero number, non-empty text or a non-empty list."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return False
