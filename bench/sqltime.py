"""CPU time per SQL statement, for the breakdowns (`bench.w3_breakdown`, `bench.ingest_sql`).

A `sqlite3.Connection` factory, not a trace callback: the trace callback sees a statement before it
runs but not when it ends, so it cannot time it. Each caller gets its own class (`timed_connection`),
so two breakdowns in one process keep separate counts.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Callable
from typing import Any, ClassVar


class TimedConnection(sqlite3.Connection):
    """Counts CPU time per statement while `on`; statements are keyed by their first `words` words."""

    on: ClassVar[bool] = False
    words: ClassVar[int] = 5
    width: ClassVar[int] = 48
    many_prefix: ClassVar[str] = ""  # put before an executemany's key ("" counts it with execute's)
    spent: ClassVar[collections.defaultdict[str, float]] = collections.defaultdict(float)
    calls: ClassVar[collections.Counter[str]] = collections.Counter()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        return self._timed(super().execute, sql, sql, args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        return self._timed(super().executemany, self.many_prefix + sql, sql, args)

    def _timed(self, run: Callable[..., sqlite3.Cursor], key: str, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        if not self.on:
            return run(sql, *args)
        start = time.process_time()
        try:
            return run(sql, *args)
        finally:
            self._count(key, time.process_time() - start)

    @classmethod
    def _count(cls, sql: str, seconds: float) -> None:
        key = " ".join(sql.split()[:cls.words])[:cls.width]
        cls.spent[key] += seconds
        cls.calls[key] += 1


def timed_connection(*, words: int, width: int, many_prefix: str = "") -> type[TimedConnection]:
    """A `TimedConnection` class with counts of its own."""
    return type("TimedConnection", (TimedConnection,), {
        "words": words, "width": width, "many_prefix": many_prefix,
        "spent": collections.defaultdict(float), "calls": collections.Counter()})
