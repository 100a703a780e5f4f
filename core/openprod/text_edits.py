"""Where one person's text edit goes in a text that others changed meanwhile.

A collaborative text field merges everyone's typing, so "make it this" from a person who started
from an older text must not be applied as a rewrite of the current one: that would delete what the
others typed. Used by the app's form (the text a person started from -> what they typed) and by
undo (what an edit made -> what the field held before it).
"""

from __future__ import annotations

CONTEXT = 32  # characters of context used to find where an edit goes in text others changed meanwhile


def changed_span(old: str, new: str) -> tuple[int, str, str]:
    """(where, removed, inserted): the span of `old` that `new` replaced, between their common start
    and end. One burst of typing is one span; edits far apart show as one wider span."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return prefix, old[prefix:len(old) - suffix], new[prefix:len(new) - suffix]


def text_edits(base: str, mine: str, current: str) -> list[tuple[int, int, str]]:
    """The edits that turn `base` (what the person started from) into `mine`, placed on `current`.

    `current` differs from `base` when someone else's typing arrived while this person edited.
    Replacing the whole text would delete their part, so only the changed region travels: found by
    its surrounding text in `current`, inserted there, and deleting only what is still there.
    Returns [(index, delete count, insert)] for `Transaction.edit_text` (empty if nothing changed).
    """
    if base == mine:
        return []
    prefix, removed, inserted = changed_span(base, mine)
    before = base[:prefix]
    if current.startswith(before):
        start = prefix
    else:
        context = before[-CONTEXT:]
        found = current.rfind(context) if context else 0
        start = found + len(context) if found >= 0 else min(prefix, len(current))
    delete = len(removed) if removed and current[start:start + len(removed)] == removed else 0
    return [(start, delete, inserted)]
