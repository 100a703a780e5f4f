"""Identity repair: merging records that are the same thing, and splitting them apart again.

Merges form an equivalence relation (union-find): every record in a class redirects to the
smallest id, the survivor. That choice needs no coordination, so two partitions merging the
same pair agree, and chains (A+B here, B+C there) resolve to one class after sync. Applying a
merge moves the absorbed records' registers onto the survivor last-writer-wins, and later ops
naming an absorbed id are applied to the survivor, so the result is the same in any order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .ids import to_str
from .registers import MOVE_FACETS, MOVE_FIELDS
from .union_find import classes, roots


class Redirects:
    """Merge classes, cached in memory (reloaded when a merge is applied or rolled back)."""

    def __init__(self, conn: sqlite3.Connection, local_writer: bytes = b"") -> None:
        self.conn = conn
        self.local_writer = local_writer  # the writer of a merge not in the oplog yet (this transaction's)
        self.reload()

    def reload(self) -> None:
        self._merges: dict[bytes, list[tuple[bytes, bytes]]] = {}
        rows = self.conn.execute(
            "SELECT m.a, m.b, m.ord, coalesce(b.writer, ?) FROM merges m LEFT JOIN oplog l ON l.op_id = m.op_id"
            " LEFT JOIN bundles b ON b.seq = l.bundle_seq", (self.local_writer,)).fetchall()
        self._root: dict[bytes, bytes] = roots((a, b) for a, b, _ord, _writer in rows)
        self._members = classes(self._root)
        for a, _b, ord_, writer in rows:
            self._merges.setdefault(self._root[a], []).append((ord_, writer))

    def resolve(self, entity: bytes) -> bytes:
        """The surviving record an id stands for (itself unless it was merged away)."""
        return self._root.get(entity, entity)

    def root_lookup(self) -> Callable[[bytes, bytes], bytes]:
        """`resolve` as a bound dict lookup, called `root_lookup()(entity, entity)`: for loops over every
        op of a received bundle (no method call per op). Valid until the next `reload`."""
        return self._root.get

    def members(self, entity: bytes) -> list[bytes]:
        """Every id in the entity's merge class (survivor first: it is the smallest)."""
        root = self.resolve(entity)
        return self._members.get(root, [root])

    def any_merges(self) -> bool:
        """Whether any records were merged in this workspace (most: none)."""
        return bool(self._merges)

    def merge_ops(self, entity: bytes) -> list[tuple[bytes, bytes]]:
        """(ord, writer) of the merges that formed the entity's class."""
        if not self._merges:  # no merge in the workspace (most): no lookup
            return []
        return self._merges.get(self.resolve(entity), [])

    def describe(self, entity: bytes) -> str:
        return to_str(self.resolve(entity))


def move_state(conn: sqlite3.Connection, survivor: bytes, absorbed: bytes) -> None:
    conn.execute(MOVE_FIELDS, (survivor, absorbed))
    conn.execute("DELETE FROM fields WHERE entity_id = ?", (absorbed,))
    conn.execute(MOVE_FACETS, (survivor, absorbed))
    conn.execute("DELETE FROM facets WHERE entity_id = ?", (absorbed,))
    conn.execute("UPDATE edges SET source = ? WHERE source = ?", (survivor, absorbed))
    conn.execute("UPDATE edges SET target = ? WHERE target = ?", (survivor, absorbed))
