"""Relationships created twice while apart: kept, and shown so a person can remove the extra one.

The spec says both "multiple edges of the same type between the same entities are allowed" (the
same cue placed twice on a page, once as standby and once as go) and "same edge created by two
peers offline: deduplicated" (data-model.md). We keep every edge: a second edge its author made
knowing the first is deliberate, and two made apart may differ in properties someone typed, so
merging them silently could drop data. Edges of one type between the same two records whose
creators had not seen each other's are listed here instead, for a person to decide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .bundle import stored_clock
from .conflicts import Write, saw
from .reads import edges, public_edge

if TYPE_CHECKING:
    from .context import Context
    from .results import Edge

_GROUPS = """
SELECT g.edge_type, g.source, g.target FROM edges g
JOIN entities s ON s.entity_id = g.source AND s.alive = 1 AND s.created_ord IS NOT NULL
JOIN entities t ON t.entity_id = g.target AND t.alive = 1 AND t.created_ord IS NOT NULL
WHERE g.alive = 1 AND g.created_ord IS NOT NULL
GROUP BY g.edge_type, g.source, g.target HAVING count(*) > 1
"""


def duplicate_edges(ws: Context) -> list[tuple[Edge, ...]]:
    """Groups of visible edges (same type, source and target) made by people who had not seen each
    other's: each group holds the edges concurrent with another of the group, oldest first."""
    out = []
    for edge_type, source, target in ws.conn.execute(_GROUPS).fetchall():
        rows = [e for e in edges(ws.conn, source=source, target=target, edge_type=edge_type)]
        made = {e.edge_id: _creation(ws, e.edge_id) for e in rows}
        apart = [e for e in rows if any(
            other is not e and not saw(made[e.edge_id], made[other.edge_id])
            and not saw(made[other.edge_id], made[e.edge_id]) for other in rows)]
        if len(apart) > 1:
            apart.sort(key=lambda e: made[e.edge_id].ord)
            out.append(tuple(public_edge(e) for e in apart))
    return out


def _creation(ws: Context, edge: bytes) -> Write:
    ord_, writer, header = ws.conn.execute(
        "SELECT l.ord, b.writer, b.header FROM edges g JOIN oplog l ON l.op_id = substr(g.created_ord, 13)"
        " JOIN bundles b ON b.seq = l.bundle_seq WHERE g.edge_id = ?", (edge,)).fetchone()
    return Write(ord_[12:], ord_, writer, stored_clock(header), "@life", None, edge)
