"""The append-only oplog: storing bundles and ops, and finding every write to a register.

A register is named by (target, key): an entity or edge id, and a field id, an edge property,
`@life` (create/delete/restore) or `@facet:<table>` (membership). `touches` lists the registers
an op writes, so history ("who changed this?") and undo guards see defaults, discards,
copies and cascades, not only the op's main subject.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator

from . import operations as o
from .bundle import Bundle
from .state import POSITION_KEY

LIFE = "@life"
FACET_PREFIX = "@facet:"

Touch = tuple[bytes, str]


def facet_key(table: str) -> str:
    return FACET_PREFIX + table


def touches(op: o.Op) -> tuple[Touch | None, list[Touch]]:
    """(main register, other registers) written by `op`."""
    if type(op) is o.SetField:  # most ops by far
        return (op.entity, op.field), []
    if isinstance(op, (o.CreateEntity, o.RestoreEntity)):
        table = op.initial_table if isinstance(op, o.CreateEntity) else None
        return (op.entity, LIFE), [(op.entity, facet_key(table))] if table else []
    if isinstance(op, o.DeleteEntity):
        return (op.entity, LIFE), [(edge, LIFE) for edge in op.cascade_edges]
    if isinstance(op, (o.SetField, o.ClearField, o.SetReference, o.ApplyCrdt, o.ClearAndAdd)):
        return (op.entity, op.field), []
    if isinstance(op, (o.AttachFacet, o.DetachFacet, o.RestoreFacet)):
        extra = [(op.entity, f) for f in op.preserved] if isinstance(op, o.DetachFacet) and not op.preserve else []
        return (op.entity, facet_key(op.facet)), extra
    if isinstance(op, o.AddToTable):
        return (op.entity, facet_key(op.table)), [(op.entity, f) for f in op.defaults]
    if isinstance(op, o.RemoveFromTable):
        extra = [(op.entity, f) for f in op.preserved] if op.data_handling == "discard" else []
        return (op.entity, facet_key(op.table)), extra
    if isinstance(op, (o.CreateEdge, o.CreateOrderedEdge)):
        extra = [(op.edge, k) for k in op.properties]
        if isinstance(op, o.CreateOrderedEdge):
            extra.append((op.edge, POSITION_KEY))
        return (op.edge, LIFE), extra
    if isinstance(op, (o.DeleteEdge, o.RestoreEdge)):
        return (op.edge, LIFE), []
    if isinstance(op, (o.SetEdgeProperty, o.ClearEdgeProperty)):
        return (op.edge, op.key), []
    if isinstance(op, o.MoveOrderedEdge):
        return (op.edge, POSITION_KEY), []
    if isinstance(op, o.UnlinkTables):
        return None, [(entity, field) for entity, field, _ in op.copies]
    if isinstance(op, o.MergeEntities):
        return (op.absorbed, LIFE), [(op.survivor, LIFE)]
    if isinstance(op, o.SplitEntity):
        return (op.new_entity, LIFE), [(op.source, LIFE), *((op.new_entity, f) for f in op.values),
                                       *((op.source, f) for f in op.moved_fields),
                                       *((op.source, facet_key(t)) for t in op.facets)]
    if isinstance(op, o.ResolveConflict):
        return (op.target, op.field), []
    return None, []


NO_DIGEST = bytes(32)


def header_digest(header_bytes: bytes) -> bytes:
    """A bundle's share of its writer's digest (the XOR of these over its bundles)."""
    return hashlib.sha256(header_bytes).digest()


def xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(32, "big")


def append(conn: sqlite3.Connection, bundle: Bundle, received_at: int, digest: bytes) -> int:
    """Insert the bundle and its ops (inside the caller's transaction). Returns the bundle seq.

    `digest` is the writer's digest with this bundle included (the caller keeps them in memory)."""
    header = bundle.header
    cur = conn.execute(
        "INSERT INTO bundles (bundle_id, actor, writer, hlc, kind, header, signature, op_count, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (header.bundle_id, header.actor, header.writer, header.hlc, header.kind, bundle.header_bytes,
         bundle.signature, len(bundle.ops), received_at),
    )
    bundle_seq = cur.lastrowid
    assert bundle_seq is not None
    rows = []
    extras: list[tuple[bytes, str, bytes, int]] = []
    first_seq = _next_op_seq(conn)
    for index, (op, raw) in enumerate(zip(bundle.ops, bundle.op_bytes, strict=True)):
        main, more = touches(op)
        target, field = main if main else (None, None)
        rows.append((first_seq + index, op.op_id, op.ord, bundle_seq, index, header.actor, op.TYPE, target,
                     field, raw))
        extras.extend((t, f, op.ord, first_seq + index) for t, f in more)
    conn.executemany(
        "INSERT INTO oplog (seq, op_id, ord, bundle_seq, idx, actor, op_type, target, field, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if extras:
        conn.executemany("INSERT INTO op_touches (target, field, ord, op_seq) VALUES (?, ?, ?, ?)", extras)
    conn.execute(
        "INSERT INTO vector_clock (writer, hlc, digest) VALUES (?, ?, ?) ON CONFLICT (writer) DO UPDATE SET"
        " hlc = max(vector_clock.hlc, excluded.hlc), digest = excluded.digest",
        (header.writer, header.hlc, digest),
    )
    return bundle_seq


def _next_op_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(seq) FROM oplog").fetchone()
    return (row[0] or 0) + 1


def writes_to(conn: sqlite3.Connection, target: bytes, fields: tuple[str, ...] | list[str],
              after_ord: bytes = b"") -> Iterator[tuple[bytes, bytes, str, bytes, bytes]]:
    """Every op writing (target, any of `fields`) after `after_ord`, in canonical order.

    Yields (ord, writer, op_type, payload, bundle_id); the writer is the author's key || device.
    """
    marks = ",".join("?" * len(fields))
    sql = f"""
        SELECT l.ord, b.writer, l.op_type, l.payload, b.bundle_id FROM oplog l
        JOIN bundles b ON b.seq = l.bundle_seq
        WHERE l.target = ? AND l.field IN ({marks}) AND l.ord > ?
        UNION
        SELECT l.ord, b.writer, l.op_type, l.payload, b.bundle_id FROM op_touches t
        JOIN oplog l ON l.seq = t.op_seq JOIN bundles b ON b.seq = l.bundle_seq
        WHERE t.target = ? AND t.field IN ({marks}) AND t.ord > ?
        ORDER BY 1
    """
    params = [target, *fields, after_ord, target, *fields, after_ord]
    yield from conn.execute(sql, params)


def other_writer_since(conn: sqlite3.Connection, target: bytes, fields: tuple[str, ...] | list[str],
                       since_ord: bytes, me: bytes) -> bytes | None:
    """The writer of the first write to the register after `since_ord` by another writer than `me`
    (another person, or the same person on another device)."""
    for _ord, writer, _type, _payload, _bundle in writes_to(conn, target, fields, since_ord):
        if writer != me:
            return writer
    return None


def bundle_wires(conn: sqlite3.Connection, where: str = "", params: tuple[object, ...] = ()) -> Iterator[bytes]:
    """Reassemble stored bundles into their exact wire bytes (for sync and export)."""
    from .bundle import encode_wire

    sql = f"SELECT seq, header, signature FROM bundles {where} ORDER BY hlc, bundle_id"
    for seq, header, signature in conn.execute(sql, params).fetchall():
        ops = [r[0] for r in conn.execute("SELECT payload FROM oplog WHERE bundle_seq = ? ORDER BY idx", (seq,))]
        yield encode_wire(header, signature, ops)
