"""Awareness: a short-lived notice when two people edit different fields of one record at once.

Not a conflict (different fields merge cleanly), just a courtesy: "Bob also edited this record
just now". Kept in memory only, never in canonical state, and forgotten after a while.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from . import hlc as hlc_mod
from .groups import FieldGroups

WINDOW_MS = 1_000  # "within about a second"
LIFETIME_MS = 60_000  # how long a notice is shown


@dataclass(frozen=True)
class Awareness:
    record: bytes
    field: str  # what the arriving edit changed
    other_field: str  # what the other person had just changed
    actor: bytes  # who made the arriving edit
    other_actor: bytes
    at_ms: int
    expires_ms: int


class AwarenessLog:
    def __init__(self, conn: sqlite3.Connection, groups: Callable[[], FieldGroups], now_ms: Callable[[], int]) -> None:
        self.conn = conn
        self._groups = groups
        self._now = now_ms
        self._events: list[Awareness] = []
        self.listeners: list[Callable[[Awareness], None]] = []

    def check(self, writes: list[tuple[bytes, str, bytes]], actor: bytes) -> None:
        """After a received bundle: (record, field, ord) writes by `actor` near others' edits?"""
        groups = self._groups()
        seen: set[tuple[bytes, str, bytes]] = set()
        others: dict[bytes, list[tuple[str, bytes, bytes]]] = {}
        oldest = self._now() - LIFETIME_MS
        for record, field, ord_ in writes:
            wall = hlc_mod.wall_ms(ord_[:12])
            if wall < oldest:
                continue  # an old edit arriving in a catch-up: nobody is editing "at once"
            if record not in others:
                others[record] = self.conn.execute(
                    "SELECT field, actor, ord FROM fields WHERE entity_id = ? AND actor != ?",
                    (record, actor)).fetchall()
            for other_field, other_actor, other_ord in others[record]:
                if groups.key(other_field) == groups.key(field):
                    continue  # the same field is a conflict question, not awareness
                if abs(hlc_mod.wall_ms(other_ord[:12]) - wall) > WINDOW_MS:
                    continue
                key = (record, other_field, other_actor)
                if key in seen:
                    continue
                seen.add(key)
                now = self._now()
                event = Awareness(record, field, other_field, actor, other_actor, now, now + LIFETIME_MS)
                self._events.append(event)
                for listener in list(self.listeners):
                    listener(event)

    def current(self) -> list[Awareness]:
        now = self._now()
        self._events = [e for e in self._events if e.expires_ms > now]
        return list(self._events)
