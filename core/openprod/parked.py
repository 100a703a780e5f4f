"""Parked bundles: received and verified, waiting for bundles they depend on.

A bundle whose predecessor on its device, or something its vector clock names, is not here yet
waits in the `pending` table. Each row records the one dependency it waits for (a writer and an
HLC: either that exact bundle, or that writer's chain reaching the HLC), so storing a bundle wakes
only the bundles waiting for it, and the cost of a write never grows with how many bundles are
parked (50,000 parked ones once made every write on a relay take 0.6 s, in every workspace).

The waiting room is bounded per author and per workspace (rows and bytes), and a row expires
after `max_age_ms`. Nothing is lost by refusing or dropping one: a parked bundle is not in the
vector clock, so any peer that holds it sends it again in its next catch-up. The limits are
handed in (`Env.parking`), like the other receiver-side limits; this module does no I/O beyond
the connection it is given, and reads no clock of its own.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

DDL = """
CREATE TABLE IF NOT EXISTS pending (
    bundle_id BLOB NOT NULL UNIQUE,
    actor BLOB NOT NULL,
    hlc BLOB NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    wait_writer BLOB NOT NULL,            -- what it waits for: this writer's bundle ...
    wait_hlc BLOB NOT NULL,               -- ... at this HLC (exact), or its chain reaching it
    wait_exact INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_wait ON pending (wait_writer, wait_exact, wait_hlc);
CREATE INDEX IF NOT EXISTS pending_actor ON pending (actor);
CREATE INDEX IF NOT EXISTS pending_age ON pending (received_at);
"""


def renew_table(conn: sqlite3.Connection) -> None:
    """A file from before the index holds parked rows without what they wait for: they are dropped
    (their senders offer them again), and the table is made anew."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(pending)")}
    if columns and "wait_writer" not in columns:
        conn.execute("DROP TABLE pending")


@dataclass(frozen=True, kw_only=True)
class ParkingLimits:
    """How much a receiver keeps waiting for earlier bundles. Defaults suit a venue's relay."""

    per_author: int = 1_000
    """Parked bundles by one author (all of their devices). Honest ones wait seconds, in tens."""
    per_workspace: int = 10_000
    """Parked bundles in the workspace, whoever wrote them."""
    max_bytes: int = 64 * 1024 * 1024
    """Their total size in the workspace."""
    max_age_ms: int = 24 * 60 * 60 * 1000
    """After this long a parked bundle is dropped; a peer that holds it sends it again."""
    drain_step: int | None = None
    """Parked bundles applied at most per ingest once what they wait for arrives (the rest wait
    for `Workspace.drain_parked`, which a server calls between other work); None: all at once,
    right for one device. A relay sets it, so one released chain cannot hold up its other
    workspaces for seconds."""

    def __post_init__(self) -> None:
        for name in ("per_author", "per_workspace", "max_bytes", "max_age_ms", "drain_step"):
            value = getattr(self, name)
            if value is None and name == "drain_step":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ParkingLimits.{name} must be a positive whole number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Wait:
    """What a parked bundle waits for: `writer`'s bundle at `hlc` (exact), or its chain reaching `hlc`."""

    writer: bytes
    hlc: bytes
    exact: bool


_AWAKE = "wait_writer = x'', wait_hlc = x'', wait_exact = 0"  # waits for nothing more: to be checked


@dataclass(frozen=True, slots=True)
class Woken:
    bundle_id: bytes
    actor: bytes
    size: int
    data: bytes


class ParkingLot:
    """The `pending` table of one workspace, with running counts so a refusal costs no scan."""

    def __init__(self, conn: sqlite3.Connection, limits: ParkingLimits) -> None:
        self.conn = conn
        self.limits = limits
        self._totals: list[int] | None = None  # [rows, bytes], read once, then kept up to date
        self._authors: dict[bytes, int] = {}

    def reset(self) -> None:
        """Forget the running counts (after a rollback); they are read again when next needed."""
        self._totals = None
        self._authors.clear()

    def holds(self, bundle_id: bytes) -> bool:
        return self.conn.execute("SELECT 1 FROM pending WHERE bundle_id = ?", (bundle_id,)).fetchone() is not None

    def count(self) -> int:
        return self._read_totals()[0]

    def _read_totals(self) -> list[int]:
        if self._totals is None:
            rows, size = self.conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM pending").fetchone()
            self._totals = [int(rows), int(size)]
        return self._totals

    def _by(self, actor: bytes) -> int:
        if actor not in self._authors:
            self._authors[actor] = self.conn.execute("SELECT count(*) FROM pending WHERE actor = ?",
                                                     (actor,)).fetchone()[0]
        return self._authors[actor]

    def _forget(self, actor: bytes, size: int) -> None:
        if self._totals is not None:
            self._totals[0] -= 1
            self._totals[1] -= size
        if actor in self._authors:
            self._authors[actor] -= 1

    def expire(self, now_ms: int) -> int:
        """Drop rows older than the age limit (an indexed range: nothing to scan when none are)."""
        cutoff = now_ms - self.limits.max_age_ms
        old = self.conn.execute("SELECT actor, size FROM pending WHERE received_at < ?", (cutoff,)).fetchall()
        if old:
            self.conn.execute("DELETE FROM pending WHERE received_at < ?", (cutoff,))
            for actor, size in old:
                self._forget(actor, size)
        return len(old)

    def refusal(self, actor: bytes, size: int, now_ms: int) -> str | None:
        """Why a bundle of `actor` (of `size` bytes) may not wait here now, or None."""
        self.expire(now_ms)
        limits = self.limits
        rows, total = self._read_totals()
        later = "; it is refused for now, and can be sent again once what it waits for has arrived"
        if self._by(actor) >= limits.per_author:
            return f"{limits.per_author} bundles by this author already wait for earlier ones{later}"
        if rows >= limits.per_workspace:
            return f"{limits.per_workspace} bundles already wait for earlier ones in this workspace{later}"
        if total + size > limits.max_bytes:
            return f"bundles waiting for earlier ones already take {total} bytes here (limit {limits.max_bytes}){later}"
        return None

    def park(self, bundle_id: bytes, actor: bytes, hlc: bytes, data: bytes, wait: Wait, now_ms: int) -> None:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO pending (bundle_id, actor, hlc, data, size, received_at, wait_writer, wait_hlc,"
            " wait_exact) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (bundle_id, actor, hlc, data, len(data), now_ms, wait.writer, wait.hlc, int(wait.exact)))
        if cur.rowcount:
            if self._totals is not None:
                self._totals[0] += 1
                self._totals[1] += len(data)
            if actor in self._authors:
                self._authors[actor] += 1

    def wake(self, writer: bytes, hlc: bytes) -> None:
        """`writer`'s bundle at `hlc` is stored (inside the caller's transaction): the bundles that
        waited for it are marked awake, to be checked and applied by `awake`'s caller."""
        where = "WHERE wait_writer = ? AND wait_exact"
        self.conn.execute(f"UPDATE pending SET {_AWAKE} {where} = 1 AND wait_hlc = ?", (writer, hlc))
        self.conn.execute(f"UPDATE pending SET {_AWAKE} {where} = 0 AND wait_hlc <= ?", (writer, hlc))

    def awake(self, limit: int) -> list[Woken]:
        """Up to `limit` awake bundles, oldest clock first."""
        rows = self.conn.execute("SELECT bundle_id, actor, size, data FROM pending WHERE wait_writer = x''"
                                 " ORDER BY hlc LIMIT ?", (limit,)).fetchall()
        return [Woken(*row) for row in rows]

    def wait_again(self, bundle_id: bytes, wait: Wait) -> None:
        """A woken bundle still waits, now for something else."""
        self.conn.execute("UPDATE pending SET wait_writer = ?, wait_hlc = ?, wait_exact = ? WHERE bundle_id = ?",
                          (wait.writer, wait.hlc, int(wait.exact), bundle_id))

    def remove(self, woken: list[Woken]) -> None:
        """Take these rows out (inside the caller's transaction: they are about to be applied)."""
        for start in range(0, len(woken), 500):
            part = woken[start:start + 500]
            self.conn.execute(f"DELETE FROM pending WHERE bundle_id IN ({','.join('?' * len(part))})",
                              [w.bundle_id for w in part])
        for w in woken:
            self._forget(w.actor, w.size)
