"""The relay's own records, kept outside every synced oplog: which workspaces it hosts, who
joined each, how (open or access key), the access keys, each use of a key and each failed join.

This is relay policy, not workspace data: another relay (or two browsers syncing directly)
need not agree with it, so it never enters a signed bundle. One SQLite file, `relay.db`, in
the data directory, checked for damage when the relay starts (`RegistryDamaged`).

Failed join attempts are kept for the owner's audit, but not forever: rows older than
`FAILURE_RETENTION_MS` go, and each workspace keeps at most `MAX_FAILURES` of them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

FAILURE_RETENTION_MS = 30 * 86_400_000
MAX_FAILURES = 10_000


class RegistryDamaged(Exception):
    """relay.db cannot be read: the relay cannot tell who may do what, so it does not serve."""


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """SQLite's quick check of a whole file: None if sound, else its first complaint."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    first = rows[0][0] if rows else "no answer"
    return None if first == "ok" else str(first)

DDL = """
CREATE TABLE IF NOT EXISTS workspaces (
    ws BLOB PRIMARY KEY,
    owner BLOB NOT NULL,
    join_mode TEXT NOT NULL CHECK (join_mode IN ('open', 'access_key', 'request')),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    ws BLOB NOT NULL,
    actor BLOB NOT NULL,
    via TEXT NOT NULL,              -- owner, open, access_key
    code TEXT,                      -- the access key used, if any
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (ws, actor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_keys (
    ws BLOB NOT NULL,
    code TEXT NOT NULL,             -- normalised (upper case)
    created_by BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses INTEGER,               -- NULL = unlimited
    uses INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER,
    PRIMARY KEY (ws, code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_uses (
    id INTEGER PRIMARY KEY,
    ws BLOB NOT NULL,
    code TEXT NOT NULL,
    actor BLOB NOT NULL,
    client TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS join_failures (
    id INTEGER PRIMARY KEY,
    ws BLOB NOT NULL,
    actor BLOB NOT NULL,
    client TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_nonces (
    nonce BLOB PRIMARY KEY,
    at INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class AccessKey:
    code: str
    created_by: bytes
    created_at: int
    expires_at: int
    max_uses: int | None
    uses: int
    revoked_at: int | None

    def problem(self, now_ms: int) -> str | None:
        """Why this key cannot be used now (revoked, expired, used_up), or None."""
        if self.revoked_at is not None:
            return "revoked"
        if now_ms >= self.expires_at:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used_up"
        return None

    def to_json(self, now_ms: int) -> dict[str, object]:
        return {"code": self.code, "created_by": self.created_by.hex(), "created_at": self.created_at,
                "expires_at": self.expires_at, "max_uses": self.max_uses, "uses": self.uses,
                "revoked_at": self.revoked_at, "usable": self.problem(now_ms) is None,
                "status": self.problem(now_ms) or "active"}


class Registry:
    def __init__(self, path: str, *, max_failures: int = MAX_FAILURES) -> None:
        self.path = path
        self.max_failures = max_failures
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            problem = integrity_problem(self.conn)
            if problem is not None:
                self.conn.close()
                raise RegistryDamaged(problem)
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.executescript(DDL)
        except sqlite3.DatabaseError as exc:
            raise RegistryDamaged(str(exc)) from None
        self._failures_written = 0

    def close(self) -> None:
        self.conn.close()

    # workspaces and members

    def workspace(self, ws: bytes) -> tuple[bytes, str] | None:
        """(owner, join mode) of a hosted workspace, or None."""
        row = self.conn.execute("SELECT owner, join_mode FROM workspaces WHERE ws = ?", (ws,)).fetchone()
        return (row[0], row[1]) if row else None

    def workspaces(self) -> list[bytes]:
        return [r[0] for r in self.conn.execute("SELECT ws FROM workspaces ORDER BY created_at")]

    def add_workspace(self, ws: bytes, owner: bytes, join_mode: str, now_ms: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO workspaces (ws, owner, join_mode, created_at) VALUES (?, ?, ?, ?)",
                          (ws, owner, join_mode, now_ms))
        self.conn.execute("INSERT OR IGNORE INTO members (ws, actor, via, joined_at) VALUES (?, ?, 'owner', ?)",
                          (ws, owner, now_ms))
        self.conn.execute("COMMIT")

    def set_join_mode(self, ws: bytes, mode: str) -> None:
        self.conn.execute("UPDATE workspaces SET join_mode = ? WHERE ws = ?", (mode, ws))

    def is_member(self, ws: bytes, actor: bytes) -> bool:
        return self.conn.execute("SELECT 1 FROM members WHERE ws = ? AND actor = ?", (ws, actor)).fetchone() is not None

    def add_member(self, ws: bytes, actor: bytes, via: str, now_ms: int, code: str | None = None) -> None:
        self.conn.execute("INSERT OR IGNORE INTO members (ws, actor, via, code, joined_at) VALUES (?, ?, ?, ?, ?)",
                          (ws, actor, via, code, now_ms))

    def members(self, ws: bytes) -> list[dict[str, object]]:
        return [{"actor": a.hex(), "via": via, "code": code, "joined_at": at} for a, via, code, at in self.conn.execute(
            "SELECT actor, via, code, joined_at FROM members WHERE ws = ? ORDER BY joined_at, actor", (ws,))]

    # access keys

    def add_key(self, ws: bytes, code: str, created_by: bytes, now_ms: int, expires_at: int,
                max_uses: int | None) -> bool:
        """False if the code is already taken in this workspace (the caller draws another)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO access_keys (ws, code, created_by, created_at, expires_at, max_uses)"
            " VALUES (?, ?, ?, ?, ?, ?)", (ws, code, created_by, now_ms, expires_at, max_uses))
        return cur.rowcount == 1

    def key(self, ws: bytes, code: str) -> AccessKey | None:
        row = self.conn.execute(
            "SELECT code, created_by, created_at, expires_at, max_uses, uses, revoked_at FROM access_keys"
            " WHERE ws = ? AND code = ?", (ws, code)).fetchone()
        return AccessKey(*row) if row else None

    def keys(self, ws: bytes) -> list[AccessKey]:
        return [AccessKey(*row) for row in self.conn.execute(
            "SELECT code, created_by, created_at, expires_at, max_uses, uses, revoked_at FROM access_keys"
            " WHERE ws = ? ORDER BY created_at, code", (ws,))]

    def revoke_key(self, ws: bytes, code: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            "UPDATE access_keys SET revoked_at = ? WHERE ws = ? AND code = ? AND revoked_at IS NULL",
            (now_ms, ws, code))
        return cur.rowcount == 1

    def use_key(self, ws: bytes, code: str, actor: bytes, client: str, now_ms: int) -> bool:
        """Count one use and register the member, atomically; False if the key became unusable."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            key = self.key(ws, code)
            if key is None or key.problem(now_ms) is not None:
                self.conn.execute("ROLLBACK")
                return False
            self.conn.execute("UPDATE access_keys SET uses = uses + 1 WHERE ws = ? AND code = ?", (ws, code))
            self.conn.execute("INSERT INTO key_uses (ws, code, actor, client, at) VALUES (?, ?, ?, ?, ?)",
                              (ws, code, actor, client, now_ms))
            self.conn.execute("INSERT OR IGNORE INTO members (ws, actor, via, code, joined_at)"
                              " VALUES (?, ?, 'access_key', ?, ?)", (ws, actor, code, now_ms))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return True

    def key_uses(self, ws: bytes) -> list[dict[str, object]]:
        return [{"code": c, "actor": a.hex(), "client": cl, "at": at} for c, a, cl, at in self.conn.execute(
            "SELECT code, actor, client, at FROM key_uses WHERE ws = ? ORDER BY id", (ws,))]

    def record_failure(self, ws: bytes, actor: bytes, client: str, reason: str, now_ms: int) -> None:
        self.conn.execute("INSERT INTO join_failures (ws, actor, client, reason, at) VALUES (?, ?, ?, ?, ?)",
                          (ws, actor, client, reason, now_ms))
        self._failures_written += 1
        if self._failures_written % max(1, min(100, self.max_failures // 10)) == 0:
            self.prune_failures(ws, now_ms)

    def prune_failures(self, ws: bytes, now_ms: int) -> None:
        """Drop failed-join rows past their retention, and all but the newest `max_failures` of a workspace."""
        self.conn.execute("DELETE FROM join_failures WHERE at < ?", (now_ms - FAILURE_RETENTION_MS,))
        self.conn.execute("DELETE FROM join_failures WHERE ws = ? AND id <= (SELECT id FROM join_failures"
                          " WHERE ws = ? ORDER BY id DESC LIMIT 1 OFFSET ?)", (ws, ws, self.max_failures))

    def failures(self, ws: bytes) -> int:
        return int(self.conn.execute("SELECT count(*) FROM join_failures WHERE ws = ?", (ws,)).fetchone()[0])

    # replay protection for signed requests

    def first_use_of_nonce(self, nonce: bytes, now_ms: int, window_ms: int) -> bool:
        self.conn.execute("DELETE FROM seen_nonces WHERE at < ?", (now_ms - 2 * window_ms,))
        cur = self.conn.execute("INSERT OR IGNORE INTO seen_nonces (nonce, at) VALUES (?, ?)", (nonce, now_ms))
        return cur.rowcount == 1
