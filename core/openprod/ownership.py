"""Who owns the workspace, derived by every peer alike (spec/workspace.md, "Recovery Keys").

The founder owns a workspace until a `RecoverOwnership` op, signed by the recovery key in force,
makes its author the owner and names the next recovery key. Settings are owner-only, so who may
set them depends on when ownership moved: a setting counts only if its author owned the workspace
at that point in canonical order (HLC, then op id), and a recovery counts only if it used the key
in force at its point. Walking the founding op, the settings and the recoveries in that order
gives the same owner, recovery key and settings on every peer, whatever order they arrived in.
A workspace nobody recovered keeps the founder's fast path (state.py); the walk runs once a
recovery is held.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import operations as o
from .encoding import decode, encode
from .errors import ValidationError
from .registers import SETTING
from .settings import CURRENT_OWNER, RECOVERY_KEY

_RECORD = "INSERT OR IGNORE INTO ownership_events (ord, kind, actor, key, value) VALUES (?, ?, ?, ?, ?)"
_KEPT = ("owner", "name")  # written by InitWorkspace, never by a setting


def _row(op: o.Op, actor: bytes) -> tuple[bytes, str, bytes, Any, Any] | None:
    if isinstance(op, o.InitWorkspace):
        return (op.ord, "init", actor, None, None)
    if isinstance(op, o.SetWorkspaceSetting):
        return (op.ord, "setting", actor, op.key.encode(), encode(op.value))
    if isinstance(op, o.RecoverOwnership):
        return (op.ord, "recover", actor, op.recovery_key, op.next_key)
    return None


def record(conn: sqlite3.Connection, op: o.Op, actor: bytes) -> None:
    row = _row(op, actor)
    if row is not None:
        conn.execute(_RECORD, row)


def recovered(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM ownership_events WHERE kind = 'recover' LIMIT 1").fetchone() is not None


def _backfill(conn: sqlite3.Connection) -> None:
    """A workspace file made before ownership_events existed: fill it from the oplog once."""
    if conn.execute("SELECT 1 FROM ownership_events WHERE kind = 'init'").fetchone() is not None:
        return
    for payload, actor in conn.execute("SELECT payload, actor FROM oplog WHERE op_type IN"
                                       " ('InitWorkspace', 'SetWorkspaceSetting', 'RecoverOwnership')").fetchall():
        record(conn, o.decode_stored_op(payload), actor)


def _walk(conn: sqlite3.Connection, knew: Any = None
          ) -> tuple[dict[str, tuple[bytes, bytes, bytes]], set[bytes], bytes | None, bytes | None]:
    """(settings in force as key -> (value, ord, actor), every key that was ever the recovery key,
    the key in force now, the owner now); with `knew`, only over the ops it says yes to."""
    _backfill(conn)
    owner: bytes | None = None
    key: bytes | None = None
    known: set[bytes] = set()
    rows: dict[str, tuple[bytes, bytes, bytes]] = {}
    for ord_, kind, actor, name, value in conn.execute(
            "SELECT ord, kind, actor, key, value FROM ownership_events ORDER BY ord"):
        if knew is not None and kind != "init" and not knew(ord_):
            continue
        if kind == "init":
            owner = owner or actor
        elif kind == "setting" and actor == owner:
            setting = name.decode()
            rows[setting] = (value, ord_, actor)
            if setting == RECOVERY_KEY:
                key = bytes.fromhex(decode(value))
                known.add(key)
        elif kind == "recover" and owner is not None and name == key:
            owner, key = actor, value
            known.add(value)
            rows[CURRENT_OWNER] = (encode(actor), ord_, actor)
            rows[RECOVERY_KEY] = (encode(value.hex()), ord_, actor)
    return rows, known, key, owner


def derive(conn: sqlite3.Connection) -> None:
    """Rewrite the settings (and the current owner) from the walk."""
    rows, _known, _key, _owner = _walk(conn)
    conn.execute(f"DELETE FROM settings WHERE key NOT IN ({','.join('?' * len(_KEPT))})", _KEPT)
    conn.executemany(SETTING, [(name, value, ord_, actor) for name, (value, ord_, actor) in rows.items()])


def check_recovery(conn: sqlite3.Connection, op: o.RecoverOwnership, knew: Any) -> None:
    """Raise ValidationError unless `op` (its proof already verified: Bundle.signatures) is a
    recovery every peer can accept.

    `knew(ord)`: whether the author had seen the op at that canonical position (a second use of
    the same words the author knew about is refused; one made concurrently is kept, and the walk
    lets only the first in canonical order count, on every peer alike)."""
    _rows, known, _key, _owner = _walk(conn)
    if op.recovery_key not in known:
        raise ValidationError("these recovery words do not open this workspace")
    used = conn.execute("SELECT ord FROM ownership_events WHERE kind = 'recover' AND key = ? AND ord != ?",
                        (op.recovery_key, op.ord)).fetchall()
    if any(knew(ord_) for (ord_,) in used):
        raise ValidationError("these recovery words were used already; they open nothing now")


def current_key(conn: sqlite3.Connection) -> bytes | None:
    """The recovery key in force (None: this workspace has none)."""
    return _walk(conn)[2]


def owner_as_seen(conn: sqlite3.Connection, knew: Any) -> bytes | None:
    """The owner as a bundle's author saw it (only the ops in its past): a receiver refuses a
    setting from someone who knew they were not the owner, and leaves one made before they could
    know to the walk, so every peer keeps the same bundles."""
    return _walk(conn, knew)[3]
