"""Rebuild: re-derive all canonical state from the oplog, in canonical order.

The oracle of the incremental pipelines: after `rebuild`, state (and so the state hash) must equal
what applying bundles one by one as they arrived produced, conflicts and resolutions included.
"""

from __future__ import annotations

from . import operations as o
from . import oplog
from .bundle import stored_clock
from .context import Context
from .errors import LocalError
from .groups import FieldGroups
from .modules import Schema
from .state import Effects
from .storage import DERIVED_TABLES
from .validation import check_op


def rebuild(cx: Context) -> None:
    """Re-derive all canonical state from the oplog (no local transaction may be open)."""
    if cx._tx is not None:
        raise LocalError("cannot rebuild while a transaction is open")
    cx.overlays.close_view()
    cx.conn.execute("BEGIN IMMEDIATE")
    cx.crdt.reset()
    try:
        for table in DERIVED_TABLES:
            cx.conn.execute(f"DELETE FROM {table}")
        cx.conflicts.reload()
        cx.conflicts.begin_bundle()  # in canonical order every record is new until created
        cx.redirects.reload()
        rows = cx.conn.execute(
            "SELECT l.payload, l.actor, l.bundle_seq FROM oplog l ORDER BY l.ord").fetchall()
        cx.schema = Schema()
        cx.groups = FieldGroups()
        apply = cx.applier.apply
        clocks: dict[int, tuple[dict[bytes, bytes], bytes]] = {}
        digests: dict[bytes, int] = {}  # writer -> XOR of its bundles' header hashes
        for payload, actor, bundle_seq in rows:
            op = o.decode_stored_op(payload)
            before = cx.conflicts.prior(op)
            effects = apply(op, actor)
            if effects.schema:
                cx.schema = check_op(op, cx.schema)
            if effects.mappings:
                cx._after_effects(Effects(mappings=True), op=op)
            known = clocks.get(bundle_seq)
            if known is None:
                header, writer = cx.conn.execute("SELECT header, writer FROM bundles WHERE seq = ?",
                                                 (bundle_seq,)).fetchone()
                known = clocks[bundle_seq] = (stored_clock(header), writer)
                digests[writer] = digests.get(writer, 0) ^ int.from_bytes(oplog.header_digest(header), "big")
            cx.conflicts.observe(op, known[1], known[0], before)
        cx.conn.executemany(
            "INSERT INTO vector_clock (writer, hlc, digest) SELECT writer, max(hlc), ? FROM bundles"
            " WHERE writer = ?",
            [(digest.to_bytes(32, "big"), writer) for writer, digest in digests.items()])
        cx.conn.execute("COMMIT")
    except BaseException:
        cx.conn.execute("ROLLBACK")
        raise
    finally:
        cx._reload()
