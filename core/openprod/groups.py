"""Semantic fields: confirmed field mappings join fields into one group.

Each field keeps its own register (writes go to the field the user edited); a group's value is
its members' latest register by canonical order. Grouping at read time keeps derivation
independent of when a mapping was confirmed, and lets an unlink separate the fields again.
"""

from __future__ import annotations

from collections.abc import Iterable

from .union_find import classes, roots


class FieldGroups:
    def __init__(self, confirmed_pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._group: dict[str, tuple[str, ...]] = {}
        for group in classes(roots(confirmed_pairs)).values():
            frozen = tuple(group)
            for x in group:
                self._group[x] = frozen

    def members(self, field_id: str) -> tuple[str, ...]:
        """All field ids that are the same semantic field as `field_id` (itself included)."""
        return self._group.get(field_id, (field_id,))

    def key(self, field_id: str) -> str:
        """A stable name for the semantic field: its smallest member."""
        return self.members(field_id)[0]

    def expand(self, field_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for f in field_ids:
            out.update(self.members(f))
        return out
