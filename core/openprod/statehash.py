"""The state hash: one digest of the canonical state, equal on peers that hold the same ops.

It covers the set of bundles and every derived register (entities, fields, memberships, edges,
properties, schema, links, mappings, settings, actors, rules, views, calling positions), each in a fixed order and in
canonical CBOR, so a rebuild from the oplog can be compared with incremental state, and two
peers can check convergence with 32 bytes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Generator, Iterable
from typing import Any

from .encoding import encode

SECTIONS: tuple[tuple[str, str], ...] = (
    ("bundles", "SELECT bundle_id FROM bundles ORDER BY bundle_id"),
    ("entities", "SELECT entity_id, created_ord, created_by, initial_table, life_ord, alive FROM entities"
                 " ORDER BY entity_id"),
    ("fields", "SELECT entity_id, field, kind, value, ord, actor FROM fields ORDER BY entity_id, field"),
    ("facets", "SELECT entity_id, facet, attached, ord, actor, source FROM facets ORDER BY entity_id, facet"),
    ("edges", "SELECT edge_id, edge_type, source, target, created_ord, created_by, life_ord, alive FROM edges"
              " ORDER BY edge_id"),
    ("edge_props", "SELECT edge_id, key, kind, value, ord, actor FROM edge_props ORDER BY edge_id, key"),
    ("modules", "SELECT module, ord, version, manifest, actor FROM modules ORDER BY module, ord"),
    ("table_links", "SELECT table_a, table_b, linked, ord, actor FROM table_links ORDER BY table_a, table_b"),
    ("field_mappings", "SELECT field_a, field_b, shared_key, status, ord, actor FROM field_mappings"
                       " ORDER BY field_a, field_b"),
    ("settings", "SELECT key, value, ord, actor FROM settings ORDER BY key"),
    ("actors", "SELECT actor, display_name, ord FROM actors ORDER BY actor"),
    ("rules", "SELECT rule_id, name, definition, ord, actor FROM rules ORDER BY rule_id"),
    ("views", "SELECT view_id, name, definition, ord, actor FROM views ORDER BY view_id"),
    ("calling_positions", "SELECT cue_list, cue, ord, actor FROM calling_positions ORDER BY cue_list"),
    ("field_tips", "SELECT target, key, op_id, field FROM field_tips ORDER BY target, key, op_id"),
    ("resolutions", "SELECT op_id, conflict_id, accepted FROM resolutions ORDER BY op_id"),
    ("merges", "SELECT a, b, op_id FROM merges ORDER BY a, b"),
    ("merge_exceptions", "SELECT a, b, op_id FROM merge_exceptions ORDER BY a, b"),
)

# Later subsystems append SQL sections here.
EXTRA_SECTIONS: list[tuple[str, str]] = []


def state_hash(conn: sqlite3.Connection, computed: Iterable[tuple[str, Iterable[list[Any]]]] = ()) -> str:
    """`computed` adds sections whose rows are not plain SQL (e.g. rendered CRDT content)."""
    digest = hashlib.sha256()
    for name, sql in (*SECTIONS, *EXTRA_SECTIONS):
        digest.update(name.encode() + b"\x00")
        for row in conn.execute(sql):
            digest.update(encode(list(row)))
    for name, rows in computed:
        digest.update(name.encode() + b"\x00")
        for row in rows:
            digest.update(encode(row))
    return digest.hexdigest()


def change_stamp(conn: sqlite3.Connection) -> tuple[int, int]:
    """Differs whenever the database may have changed since it was last read: rows written on
    this connection (never goes back, rollbacks included) and SQLite's `data_version` (moves
    when another connection commits). A cache of `state_hash` keyed by it is never stale."""
    return conn.total_changes, int(conn.execute("PRAGMA data_version").fetchone()[0])


def _pages(sql: str) -> tuple[str, str | None, int]:
    """(first page's SQL, next pages' SQL or None, key width) for one section. A section whose ORDER
    BY columns lead its SELECT list is read by key ("after the last row's key"), a cost per page that
    does not grow with the table; any other section by OFFSET."""
    head, _, order = sql.partition(" ORDER BY ")
    keys = [k.strip() for k in order.split(",")]
    select = head.removeprefix("SELECT ").partition(" FROM ")[0]
    columns = [c.strip() for c in select.split(",")]
    if not order or " WHERE " in head or columns[:len(keys)] != keys:
        return f"{sql} LIMIT ? OFFSET ?", None, 0
    marks = ", ".join("?" * len(keys))
    return (f"{sql} LIMIT ?",
            f"{head} WHERE ({', '.join(keys)}) > ({marks}) ORDER BY {order} LIMIT ?", len(keys))


def state_hash_steps(conn: sqlite3.Connection, computed: Iterable[tuple[str, Iterable[list[Any]]]] = (),
                     rows: int = 2000) -> Generator[None, None, str]:
    """The same digest as `state_hash`, read `rows` rows at a time: it yields between pages and no
    statement stays open across a yield, so the caller may run other work (even writes) in between.
    The digest returned is the state's only if the database did not change meanwhile: the caller
    checks (Workspace.change_stamp) and starts again if it did. Every section is ordered by a unique
    key, so the pages put together are the rows of one full scan, in its order."""
    digest = hashlib.sha256()
    for name, sql in (*SECTIONS, *EXTRA_SECTIONS):
        digest.update(name.encode() + b"\x00")
        first, after, width = _pages(sql)
        done = 0
        page = conn.execute(first, (rows,) if after else (rows, 0)).fetchall()
        while True:
            for row in page:
                digest.update(encode(list(row)))
            done += len(page)
            if len(page) < rows:
                break
            yield
            key = page[-1][:width]
            if after is not None and None not in key:
                page = conn.execute(after, (*key, rows)).fetchall()
            else:  # NULL in a key compares as unknown: read by position instead
                page = conn.execute(f"{sql} LIMIT ? OFFSET ?", (rows, done)).fetchall()
    for name, section in computed:
        digest.update(name.encode() + b"\x00")
        for i, row in enumerate(section, 1):
            digest.update(encode(row))
            if i % rows == 0:
                yield
    return digest.hexdigest()
