"""Hybrid logical clock: 12 bytes, 8-byte wall milliseconds then a 4-byte counter, big-endian.

Byte order equals logical order, so HLCs are compared, indexed and sorted as plain bytes.
The physical clock is handed in; a remote clock ahead of ours by more than the allowed drift
is refused before it can touch local state (clock poisoning).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

HLC_LEN = 12
MAX_COUNTER = 0xFFFF_FFFF
ZERO = bytes(HLC_LEN)

DEFAULT_MAX_FUTURE_DRIFT_MS = 5 * 60 * 1000
DEFAULT_STALE_THRESHOLD_MS = 7 * 24 * 60 * 60 * 1000


def pack(wall_ms: int, counter: int) -> bytes:
    if not (0 <= wall_ms < 1 << 64) or not (0 <= counter <= MAX_COUNTER):
        raise ValueError(f"HLC out of range: wall={wall_ms} counter={counter}")
    return wall_ms.to_bytes(8, "big") + counter.to_bytes(4, "big")


def unpack(hlc: bytes) -> tuple[int, int]:
    if len(hlc) != HLC_LEN:
        raise ValueError(f"an HLC is 12 bytes, got {len(hlc)}")
    return int.from_bytes(hlc[:8], "big"), int.from_bytes(hlc[8:], "big")


def wall_ms(hlc: bytes) -> int:
    return int.from_bytes(hlc[:8], "big")


def to_display(hlc: bytes) -> str:
    """ISO 8601 with a counter suffix, e.g. `2024-01-15T10:30:00.123Z/42`."""
    wall, counter = unpack(hlc)
    try:
        when = _dt.datetime.fromtimestamp(wall / 1000, tz=_dt.UTC)
    except (ValueError, OverflowError, OSError):  # a crafted clock beyond the calendar
        return f"{wall} ms/{counter}"
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{wall % 1000:03d}Z/{counter}"


@dataclass(frozen=True)
class FutureHLC:
    """Why a remote clock was refused: it is `ahead_ms` ahead of local physical time."""

    ahead_ms: int
    max_drift_ms: int

    def describe(self) -> str:
        return f"HLC is {self.ahead_ms} ms ahead of local time (max: {self.max_drift_ms} ms)"


class Clock:
    """The local HLC state. Never moves backwards, even when the physical clock does."""

    def __init__(self, now_ms: Callable[[], int], last: bytes = ZERO) -> None:
        self._now_ms = now_ms
        self._wall, self._counter = unpack(last)

    @property
    def last(self) -> bytes:
        return pack(self._wall, self._counter)

    def physical_ms(self) -> int:
        return self._now_ms()

    def tick(self) -> bytes:
        """A new timestamp for a local event, greater than every timestamp seen so far."""
        now = self._now_ms()
        if now > self._wall:
            self._wall, self._counter = now, 0
        else:
            self._bump(self._counter + 1)
        return pack(self._wall, self._counter)

    def check_future(self, remote: bytes, max_drift_ms: int) -> FutureHLC | None:
        """Return why `remote` is too far ahead, or None. Does not change the clock."""
        ahead = wall_ms(remote) - self._now_ms()
        if ahead > max_drift_ms:
            return FutureHLC(ahead, max_drift_ms)
        return None

    def receive(self, remote: bytes) -> None:
        """Merge a remote timestamp (already checked with `check_future`) into the clock."""
        r_wall, r_counter = unpack(remote)
        now = self._now_ms()
        wall = max(self._wall, r_wall, now)
        if wall == self._wall and wall == r_wall:
            counter = max(self._counter, r_counter) + 1
        elif wall == self._wall:
            counter = self._counter + 1
        elif wall == r_wall:
            counter = r_counter + 1
        else:
            counter = 0
        self._wall = wall
        self._bump(counter)

    def _bump(self, counter: int) -> None:
        if counter > MAX_COUNTER:  # would need 4 billion events in one millisecond
            self._wall += 1
            counter = 0
        self._counter = counter
