"""The overlay journal: staged (overlay) edits as rows a shell can make durable one by one.

The web worker keeps them in IndexedDB. Staged ops are local-only rows in SQLite (`overlays`,
`overlay_ops`), never bundles, so the IndexedDB log never sees them, and SQLite itself lives in
memory there. After every call that may have
changed an overlay, `take()` says what changed since the last call, as small records:

    ("head", overlay id, None, record)    an overlay's own row (name, source, status...), put
    ("op", overlay id, seq, record)       one staged op row, put
    ("drop_op", overlay id, seq, None)    one staged op row, gone (knocked out, undone)
    ("drop", overlay id, None, None)      the whole overlay, gone (committed or discarded)

The worker writes them into the `overlay_heads` / `overlay_ops` stores in the SAME IndexedDB
transaction as the log records of that call, and only then answers. So a staged edit the page
shows is durable exactly like a saved one (it survives the tab being killed the next instant), an
overlay commit (bundle appended, overlay removed) is all or nothing, and a one-cell fix inside a
5,000-row CSV import writes one row, not the whole overlay. At start-up the journal is the
authority: whatever overlays the snapshot held are replaced by the journal's rows.

What changed is found by diffing, per overlay, each row's (seq -> base_ord, ack_ord) against what
was last written: rows are inserted (staging, redo), deleted (knockout, undo) or get their base
and acknowledgement updated (Keep Mine); nothing else in an overlay row changes. Shells reach it
through `Workspace.staging.journal()` and `Workspace.staging.restore()`; the record format
(CBOR maps of the tables' columns) is the core's to change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .encoding import decode, encode
from .ids import from_str, to_str

Change = tuple[str, str, int | None, bytes | None]
_CHUNK = 500


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]


class OverlayJournal:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.touched: set[bytes] = set()
        self.heads: dict[bytes, bytes] = {}
        self.rows: dict[bytes, dict[int, tuple[Any, Any]]] = {}
        for (overlay_id,) in conn.execute("SELECT overlay_id FROM overlays").fetchall():
            self.heads[overlay_id] = self._head(overlay_id) or b""
            self.rows[overlay_id] = self._marks(overlay_id)

    def touch(self, *overlays: str | bytes | None) -> None:
        """These overlays (ids) may have changed (the active one before and after a write call...)."""
        self.touched.update(from_str(o) if isinstance(o, str) else o for o in overlays if o is not None)

    def _head(self, overlay_id: bytes) -> bytes | None:
        cur = self.conn.execute("SELECT * FROM overlays WHERE overlay_id = ?", (overlay_id,))
        row = cur.fetchone()
        return None if row is None else encode(dict(zip([d[0] for d in cur.description], row, strict=True)))

    def _marks(self, overlay_id: bytes) -> dict[int, tuple[Any, Any]]:
        return {seq: (base, ack) for seq, base, ack in self.conn.execute(
            "SELECT seq, base_ord, ack_ord FROM overlay_ops WHERE overlay_id = ?", (overlay_id,))}

    def _op_records(self, overlay_id: bytes, seqs: list[int]) -> Iterable[tuple[int, bytes]]:
        cols = _columns(self.conn, "overlay_ops")
        index = cols.index("seq")
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(f"SELECT * FROM overlay_ops WHERE overlay_id = ? AND seq IN ({marks})",
                                         (overlay_id, *chunk)):
                yield row[index], encode(dict(zip(cols, row, strict=True)))

    def take(self) -> list[Change]:
        """What changed in the overlays since the last call (see the module docstring)."""
        out: list[Change] = []
        now = {row[0] for row in self.conn.execute("SELECT overlay_id FROM overlays")}
        for gone in sorted(set(self.heads) - now):
            out.append(("drop", to_str(gone), None, None))
            self.heads.pop(gone, None)
            self.rows.pop(gone, None)
        for overlay_id in sorted(self.touched & now):
            name = to_str(overlay_id)
            head = self._head(overlay_id)
            if head is not None and head != self.heads.get(overlay_id):
                out.append(("head", name, None, head))
                self.heads[overlay_id] = head
            known = self.rows.get(overlay_id, {})
            current = self._marks(overlay_id)
            out.extend(("drop_op", name, seq, None) for seq in sorted(set(known) - set(current)))
            changed = sorted(seq for seq, marks in current.items() if known.get(seq) != marks)
            out.extend(("op", name, seq, data) for seq, data in self._op_records(overlay_id, changed))
            self.rows[overlay_id] = current
        self.touched.clear()
        return out

    @staticmethod
    def restore(conn: sqlite3.Connection, heads: Iterable[bytes], ops: Iterable[bytes]) -> int:
        """Replace every overlay in the database with the journal's rows. Returns how many overlays."""
        head_cols = set(_columns(conn, "overlays"))
        op_cols = set(_columns(conn, "overlay_ops"))
        count = 0
        known: set[bytes] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM overlay_ops")
            conn.execute("DELETE FROM overlays")
            for data in heads:
                head = {k: v for k, v in decode(data, what="overlay journal head").items() if k in head_cols}
                if head.get("status") == "active":
                    head["status"] = "stashed"  # never re-activated on start (spec: overlays.md)
                conn.execute(f"INSERT OR REPLACE INTO overlays ({', '.join(head)}) VALUES"
                             f" ({', '.join('?' * len(head))})", list(head.values()))
                known.add(head["overlay_id"])
                count += 1
            for data in ops:
                row = {k: v for k, v in decode(data, what="overlay journal op").items() if k in op_cols}
                if row.get("overlay_id") not in known:
                    continue  # an op whose overlay is gone (its drop and this put were in one write)
                conn.execute(f"INSERT OR REPLACE INTO overlay_ops ({', '.join(row)}) VALUES"
                             f" ({', '.join('?' * len(row))})", list(row.values()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return count
