"""Cue numbers: kept exactly as typed, ordered the way theatres read them.

A cue number is text ("17A", "10.10", "0.5"), never a float: a float turns "10.10" into 10.1
and refuses "17A". What is accepted (surrounding spaces are dropped, nothing else changes):

    [prefix] number [suffix]    prefix: 1-3 letters ("Q17", "LX 5"), optional
                                number: 1-9 digits, optionally a point and 1-6 digits ("0.5")
                                suffix: 1-3 letters ("17A", "17AA"), optional
    letters                     1-3 letters alone ("A", "B": sound cues often go by letter)

with at most one space between the parts, at most 20 characters in all.

Order (`cue_sort_key`): cues without a prefix first, then by prefix; within a prefix, numbered
cues by their number's value, then by suffix (none first, then shorter before longer, then
alphabetically, case ignored: 17 < 17A < 17B < 17Z < 17AA < 18); letter-only cues after the
numbered ones. Cues that are numerically equal (10.1 and 10.10, 17a and 17A) are ordered by
their text: shorter first, then by character code, so the order is total and every peer and
the browser sort alike.

`cue_key` is the same key without that last tie-break: comparisons in queries use it, so
`cue_number == 10.1` matches "10.1" and "10.10", and `cue_number < 18` includes "17B".
Values written while the field was a number (before the migration to this type; see
docs/design.md) are read through their shortest text form: 10.1 -> "10.1".
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ValidationError

MAX_CUE = 20
_CUE_RE = re.compile(
    r"^(?:(?P<prefix>[A-Za-z]{1,3}) ?)??"
    r"(?P<int>[0-9]{1,9})(?:\.(?P<frac>[0-9]{1,6}))?"
    r"(?: ?(?P<suffix>[A-Za-z]{1,3}))?\Z")
_LETTERS_RE = re.compile(r"^[A-Za-z]{1,3}\Z")
_ALLOWED_RE = re.compile(r"^[A-Za-z0-9. ]*\Z")
EXAMPLES = "like 17, 17.5, 17A or 0.5"


def cue_text(value: Any) -> str | None:
    """The text a stored value stands for: a string as is, a legacy number in its shortest form."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def check_cue(text: str) -> str | None:
    """None if `text` is a cue number, else the reason it is not (in words for the person typing)."""
    if not text:
        return "a cue number cannot be empty"
    if len(text) > MAX_CUE:
        return f"{text[:MAX_CUE]!r}… is too long for a cue number (at most {MAX_CUE} characters)"
    if _CUE_RE.match(text) or _LETTERS_RE.match(text):
        return None
    if "," in text and _CUE_RE.match(text.replace(",", ".", 1)):
        return f"{text!r} is not a cue number: use a point, not a comma ({text.replace(',', '.', 1)})"
    if not _ALLOWED_RE.match(text):
        return f"{text!r} is not a cue number: use digits, one point and letters, {EXAMPLES}"
    if text.count(".") > 1:
        return f"{text!r} is not a cue number: it has more than one point"
    return f"{text!r} is not a cue number ({EXAMPLES})"


def normalize_cue(value: Any, where: str) -> str:
    """A value for a cue field -> its canonical text (what was typed, without surrounding spaces)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValidationError(f"{where}: expected a cue number ({EXAMPLES}), got {type(value).__name__} {value!r}")
    text = cue_text(value)
    if text is None:
        raise ValidationError(f"{where}: {value!r} is not a cue number ({EXAMPLES})")
    text = text.strip()
    reason = check_cue(text)
    if reason is not None:
        raise ValidationError(f"{where}: {reason}")
    return text


def cue_key(value: Any) -> str | None:
    """Order key without the tie-break (equal for 10.1 and 10.10), or None if not a cue number.

    A string, so SQLite compares it as Python does (the query layer registers it as a function).
    """
    text = cue_text(value)
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_CUE:
        return None
    match = _CUE_RE.match(text)
    if match is None:
        if not _LETTERS_RE.match(text):
            return None
        return f"{'':3}|1{'':9}{'':6}|{len(text)}{text.upper():3}"
    prefix = (match["prefix"] or "").upper()
    whole = int(match["int"])
    frac = (match["frac"] or "").rstrip("0")
    suffix = (match["suffix"] or "").upper()
    return f"{prefix:3}|0{whole:09d}{frac:6}|{len(suffix)}{suffix:3}"


def cue_sort_key(value: Any) -> str:
    """Total order for sorting a column: `cue_key`, then shorter text first, then the text itself.

    Values that are not cue numbers (only legacy numbers such as -1 can be) sort after all cues.
    """
    key = cue_key(value)
    text = (cue_text(value) or "").strip()
    return f"{key if key is not None else '~'}|{len(text):02d}{text}"
