"""Join requests, removed members and the members audit log: the relay's records of who is in a workspace.

Why here and not in the core: joining is the relay's door (spec/workspace.md, "Join Modes"): it decides
whom it serves. In request mode a person asks with their name and the owner approves or rejects; a
removed member is refused at the door and their bundles not stored yet are refused from anyone
(`Workspace.refuse_authors`), while what they wrote before stays valid and is still served. Every
step (request, approve, reject, remove, a key made or revoked, the join mode changed) is one row of
an append-only audit log the owner can read, with who did it and when. The tables live in the
relay's own database (relay.db) beside the members and access keys of registry.py.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

DDL = """
CREATE TABLE IF NOT EXISTS join_requests (
    ws BLOB NOT NULL,
    actor BLOB NOT NULL,
    name TEXT NOT NULL,             -- the name the requester gave, shown to the owner
    client TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    status TEXT NOT NULL,           -- pending, approved, rejected
    decided_at INTEGER,
    PRIMARY KEY (ws, actor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS removed_members (
    ws BLOB NOT NULL,
    actor BLOB NOT NULL,
    removed_at INTEGER NOT NULL,
    removed_by BLOB NOT NULL,
    PRIMARY KEY (ws, actor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recovery_keys (
    ws BLOB PRIMARY KEY,            -- set once a recovery was used: it replaces the founding bundle's key
    key BLOB NOT NULL,
    set_at INTEGER NOT NULL,
    set_by BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_audit (
    id INTEGER PRIMARY KEY,
    ws BLOB NOT NULL,
    at INTEGER NOT NULL,
    by BLOB NOT NULL,               -- who did it (the owner, or the requester for a request)
    action TEXT NOT NULL,           -- requested, approved, rejected, removed, key_created, key_revoked, join_mode,
                                    -- recovered, readmitted
    subject TEXT NOT NULL           -- the actor (hex), the access key, or the new join mode
);
"""

MAX_NAME = 80

_WORKSPACES_V2 = """
CREATE TABLE workspaces_v2 (
    ws BLOB PRIMARY KEY,
    owner BLOB NOT NULL,
    join_mode TEXT NOT NULL CHECK (join_mode IN ('open', 'access_key', 'request')),
    created_at INTEGER NOT NULL
) WITHOUT ROWID
"""


def allow_request_mode(conn: sqlite3.Connection) -> None:
    """A relay.db made before request mode checks join_mode against two modes; SQLite cannot change a
    CHECK in place, so the table is copied into one that allows three (once, in one transaction)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'workspaces'").fetchone()
    if row is None or "'request'" in row[0]:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_WORKSPACES_V2)
        conn.execute("INSERT INTO workspaces_v2 SELECT ws, owner, join_mode, created_at FROM workspaces")
        conn.execute("DROP TABLE workspaces")
        conn.execute("ALTER TABLE workspaces_v2 RENAME TO workspaces")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def clean_name(value: object) -> str | None:
    """A requester's name as shown to the owner: 1 to 80 printable characters, or None."""
    if not isinstance(value, str):
        return None
    name = " ".join("".join(ch for ch in value if ch.isprintable()).split())
    return name if 0 < len(name) <= MAX_NAME else None


@dataclass(frozen=True)
class JoinRequest:
    actor: bytes
    name: str
    requested_at: int
    status: str
    decided_at: int | None

    def to_json(self) -> dict[str, object]:
        return {"actor": self.actor.hex(), "name": self.name, "requested_at": self.requested_at,
                "status": self.status, "decided_at": self.decided_at}


class MemberRecords:
    """The three tables above, over the registry's connection (one writer: the relay's event loop)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(DDL)
        allow_request_mode(conn)

    def audit(self, ws: bytes, at: int, by: bytes, action: str, subject: str) -> None:
        self.conn.execute("INSERT INTO member_audit (ws, at, by, action, subject) VALUES (?, ?, ?, ?, ?)",
                          (ws, at, by, action, subject))

    def audit_log(self, ws: bytes) -> list[dict[str, object]]:
        return [{"at": at, "by": by.hex(), "action": action, "subject": subject} for at, by, action, subject in
                self.conn.execute("SELECT at, by, action, subject FROM member_audit WHERE ws = ? ORDER BY id", (ws,))]

    # requests

    def request(self, ws: bytes, actor: bytes) -> JoinRequest | None:
        row = self.conn.execute("SELECT actor, name, requested_at, status, decided_at FROM join_requests"
                                " WHERE ws = ? AND actor = ?", (ws, actor)).fetchone()
        return JoinRequest(*row) if row else None

    def requests(self, ws: bytes, status: str | None = None) -> list[JoinRequest]:
        rows = self.conn.execute("SELECT actor, name, requested_at, status, decided_at FROM join_requests"
                                 " WHERE ws = ? ORDER BY requested_at, actor", (ws,))
        return [JoinRequest(*row) for row in rows if status is None or row[3] == status]

    def add_request(self, ws: bytes, actor: bytes, name: str, client: str, now_ms: int) -> None:
        """A new pending request, or the name of a pending one updated (asking twice is one request)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                "INSERT INTO join_requests (ws, actor, name, client, requested_at, status) VALUES (?, ?, ?, ?, ?,"
                " 'pending') ON CONFLICT (ws, actor) DO UPDATE SET name = excluded.name WHERE status = 'pending'",
                (ws, actor, name, client, now_ms))
            self.audit(ws, now_ms, actor, "requested", name)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def decide(self, ws: bytes, actor: bytes, owner: bytes, approve: bool, now_ms: int) -> bool:
        """Approve (and make a member) or reject a pending request, atomically; False if none is pending."""
        status = "approved" if approve else "rejected"
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute("UPDATE join_requests SET status = ?, decided_at = ? WHERE ws = ? AND actor = ?"
                                    " AND status = 'pending'", (status, now_ms, ws, actor))
            if cur.rowcount != 1:
                self.conn.execute("ROLLBACK")
                return False
            if approve:
                self.conn.execute("INSERT OR IGNORE INTO members (ws, actor, via, joined_at)"
                                  " VALUES (?, ?, 'request', ?)", (ws, actor, now_ms))
                self.conn.execute("DELETE FROM removed_members WHERE ws = ? AND actor = ?", (ws, actor))
            self.audit(ws, now_ms, owner, status, actor.hex())
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return True

    # removal

    def removed(self, ws: bytes) -> dict[bytes, tuple[int, bytes]]:
        """actor -> (removed_at, removed_by)."""
        return {a: (at, by) for a, at, by in self.conn.execute(
            "SELECT actor, removed_at, removed_by FROM removed_members WHERE ws = ?", (ws,))}

    def is_removed(self, ws: bytes, actor: bytes) -> bool:
        return self.conn.execute("SELECT 1 FROM removed_members WHERE ws = ? AND actor = ?",
                                 (ws, actor)).fetchone() is not None

    def remove(self, ws: bytes, actor: bytes, owner: bytes, now_ms: int) -> bool:
        """Take `actor` off the members, atomically, with an audit row; False if they were not a member."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute("DELETE FROM members WHERE ws = ? AND actor = ?", (ws, actor))
            if cur.rowcount != 1:
                self.conn.execute("ROLLBACK")
                return False
            self.conn.execute("INSERT OR REPLACE INTO removed_members (ws, actor, removed_at, removed_by)"
                              " VALUES (?, ?, ?, ?)", (ws, actor, now_ms, owner))
            self.audit(ws, now_ms, owner, "removed", actor.hex())  # their request stays: it holds their name
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return True

    def readmit(self, ws: bytes, actor: bytes, owner: bytes, now_ms: int) -> bool:
        """Let a removed member back in, atomically, with an audit row; False if they were not removed."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute("DELETE FROM removed_members WHERE ws = ? AND actor = ?", (ws, actor))
            if cur.rowcount != 1:
                self.conn.execute("ROLLBACK")
                return False
            self.conn.execute("INSERT OR IGNORE INTO members (ws, actor, via, joined_at)"
                              " VALUES (?, ?, 'readmitted', ?)", (ws, actor, now_ms))
            self.audit(ws, now_ms, owner, "readmitted", actor.hex())
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return True

    # recovery

    def recovery_key(self, ws: bytes) -> bytes | None:
        """The key set by the last recovery, or None (then the founding bundle's `recovery_key` holds)."""
        row = self.conn.execute("SELECT key FROM recovery_keys WHERE ws = ?", (ws,)).fetchone()
        return bytes(row[0]) if row else None

    def last_recovery(self, ws: bytes) -> tuple[bytes, bytes] | None:
        """(the key the last recovery set, who made it), or None if nobody recovered this workspace here."""
        row = self.conn.execute("SELECT key, set_by FROM recovery_keys WHERE ws = ?", (ws,)).fetchone()
        return (bytes(row[0]), bytes(row[1])) if row else None

    def recover(self, ws: bytes, new_owner: bytes, next_key: bytes, now_ms: int) -> None:
        """Make `new_owner` the owner and a member, retire the used key for `next_key`, and audit it: atomically."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("UPDATE workspaces SET owner = ? WHERE ws = ?", (new_owner, ws))
            self.conn.execute("INSERT OR IGNORE INTO members (ws, actor, via, joined_at) VALUES (?, ?, 'recovery', ?)",
                              (ws, new_owner, now_ms))
            self.conn.execute("DELETE FROM removed_members WHERE ws = ? AND actor = ?", (ws, new_owner))
            self.conn.execute("INSERT OR REPLACE INTO recovery_keys (ws, key, set_at, set_by) VALUES (?, ?, ?, ?)",
                              (ws, next_key, now_ms, new_owner))
            self.audit(ws, now_ms, new_owner, "recovered", new_owner.hex())
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
