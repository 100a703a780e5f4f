"""Where one person's text edit goes in a text that others changed meanwhile.

A collaborative text field merges everyone's typing, so "make it this" from a person who started
from an older text must not be applied as a rewrite of the current one: that would delete what the
others typed. Used by the app's form (the text a person started from -> what they typed) and by
undo (what an edit made -> what the field held before it).
"""

from __future__ import annotations

CONTEXT = 32  # characters of context used to find where an edit goes in text others changed meanwhile


def text_edits(base: str, mine: str, current: str) -> list[tuple[int, int, str]]:
    """The edits that turn `base` (what the person started from) into `mine`, placed on `current`.

    `current` differs from `base` when someone else's typing arrived while this person edited.
    Replacing the whole text would delete their part, so only the changed region travels: found by
    its surrounding text in `current`, inserted there, and deleting only what is still there.
    Returns [(index, delete count, insert)] for `Transaction.edit_text` (empty if nothing changed).
    """
    if base == mine:
        return []
    prefix = 0
    limit = min(len(base), len(mine))
    while prefix < limit and base[prefix] == mine[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and base[len(base) - 1 - suffix] == mine[len(mine) - 1 - suffix]:
        suffix += 1
    removed = base[prefix:len(base) - suffix]
    inserted = mine[prefix:len(mine) - suffix]
    before = base[:prefix]
    if current.startswith(before):
        start = prefix
    else:
        context = before[-CONTEXT:]
        found = current.rfind(context) if context else 0
        start = found + len(context) if found >= 0 else min(prefix, len(current))
    delete = len(removed) if removed and current[start:start + len(removed)] == removed else 0
    return [(start, delete, inserted)]
