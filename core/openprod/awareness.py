"""Awareness: a short-lived notice when two people edit different fields of one record at once.

Not a conflict (different fields merge cleanly), just a courtesy: "Bob also edited this record
just now". Kept in memory only, never in canonical state, and forgotten after a while.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import hlc as hlc_mod
from . import operations as o
from .conflicts import is_field_key
from .groups import FieldGroups
from .ids import to_str
from .registers import register_writes

WINDOW_MS = 1_000  # "within about a second"
LIFETIME_MS = 60_000  # how long a notice is shown


@dataclass(frozen=True)
class Awareness:
    record: str
    field: str  # what the arriving edit changed
    other_field: str  # what the other person had just changed
    actor: str  # who made the arriving edit
    other_actor: str
    at_ms: int
    expires_ms: int


def field_writes(ops: Iterable[o.Op]) -> list[tuple[bytes, str, bytes]]:
    """(record, field, ord) of every field value the ops write."""
    out = []
    for op in ops:
        if type(op) is o.SetField or type(op) is o.ClearField:
            out.append((op.entity, op.field, op.hlc + op.op_id))  # op.ord, without the property call
        elif type(op) is not o.ApplyCrdt:  # a keystroke's op writes no value register
            out.extend((t, f, op.ord) for t, f, _ in register_writes(op) if is_field_key(f))
    return out


class AwarenessLog:
    """Remembers, in memory, who wrote which field of which record in the last minute or so.

    Kept here rather than read back from the `fields` table: the check runs for every received
    bundle, and a dictionary lookup per record costs far less than a query per record.
    """

    def __init__(self, groups: Callable[[], FieldGroups], now_ms: Callable[[], int]) -> None:
        self._groups = groups
        self._now = now_ms
        self._events: list[Awareness] = []
        self._recent: dict[bytes, dict[bytes, dict[str, int]]] = {}  # record -> actor -> field -> wall ms
        self._pruned_at = 0
        self.listeners: list[Callable[[Awareness], None]] = []

    def note(self, writes: list[tuple[bytes, str, bytes]], actor: bytes) -> None:
        """Remember (record, field, ord) writes by `actor` (local ones, and received ones once checked)."""
        oldest = self._now() - LIFETIME_MS
        recent = self._recent
        last: bytes | None = None  # a bundle's writes are mostly to one record: look it up once
        fields: dict[str, int] = {}
        for record, field, ord_ in writes:
            wall = hlc_mod.wall_ms(ord_)
            if wall >= oldest:
                if record != last:
                    fields = recent.setdefault(record, {}).setdefault(actor, {})
                    last = record
                if wall > fields.get(field, -1):
                    fields[field] = wall
        self._prune(oldest)

    def check(self, writes: list[tuple[bytes, str, bytes]], actor: bytes) -> None:
        """After a received bundle: (record, field, ord) writes by `actor` near others' edits?"""
        groups = self._groups()
        seen: set[tuple[bytes, str, bytes]] = set()
        oldest = self._now() - LIFETIME_MS
        for record, field, ord_ in writes:
            writers = self._recent.get(record)
            if not writers or (len(writers) == 1 and actor in writers):
                continue  # nobody else wrote this record lately
            wall = hlc_mod.wall_ms(ord_)
            if wall < oldest:
                continue  # an old edit arriving in a catch-up: nobody is editing "at once"
            for other_actor, fields in writers.items():
                if other_actor == actor:
                    continue
                for other_field, other_wall in fields.items():
                    if abs(other_wall - wall) > WINDOW_MS or groups.key(other_field) == groups.key(field):
                        continue  # not at once; or the same field, which is a conflict question
                    key = (record, other_field, other_actor)
                    if key in seen:
                        continue
                    seen.add(key)
                    now = self._now()
                    event = Awareness(to_str(record), field, other_field, actor.hex(), other_actor.hex(), now,
                                      now + LIFETIME_MS)
                    self._events.append(event)
                    for listener in list(self.listeners):
                        listener(event)
        self.note(writes, actor)

    def _prune(self, oldest: int) -> None:
        if oldest - self._pruned_at < LIFETIME_MS:
            return
        self._pruned_at = oldest
        for record, writers in list(self._recent.items()):
            for actor, fields in list(writers.items()):
                for field in [f for f, wall in fields.items() if wall < oldest]:
                    del fields[field]
                if not fields:
                    del writers[actor]
            if not writers:
                del self._recent[record]

    def current(self) -> list[Awareness]:
        now = self._now()
        self._events = [e for e in self._events if e.expires_ms > now]
        return list(self._events)
