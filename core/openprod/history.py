"""History: "who changed this?" for a field, and "what changed since I last looked?".

Histories are read from the oplog (never from derived state), so they include every write:
table defaults, copies on unlink, resolutions (accepted or not), writes to records later merged
away, each marked when it was concurrent with another write (a conflict) or arrived stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import hlc as hlc_mod
from . import operations as o
from . import oplog
from .conflicts import Write, saw
from .encoding import decode
from .identity import short_actor
from .ids import to_str
from .reads import actor_names
from .state import register_writes
from .storage import get_meta, set_meta
from .transaction import IdLike, as_id

if TYPE_CHECKING:
    from .workspace import Workspace


@dataclass(frozen=True)
class Change:
    """One write in a field's history, for "who changed this?"."""

    actor: str
    display_name: str
    hlc: bytes
    when: str
    old: Any
    new: Any
    bundle_id: str
    op_type: str
    field: str
    concurrent: bool = False  # made without seeing another write in this history (a conflict)
    resolution: bool = False  # a conflict resolution
    accepted: bool = True  # False for a resolution that lost to an earlier one
    stale: bool = False  # arrived long after it was made (flagged on arrival)


@dataclass(frozen=True)
class PersonChanges:
    """Changes by one person that arrived since a mark (for "N changes since you last synced")."""

    actor: str
    display_name: str
    bundles: int
    operations: int
    records: int



def field_history(ws: Workspace, record: IdLike, field_id: str) -> list[Change]:
    """Every write to the field (mapped fields included), oldest first: who, when, old -> new,
    which bundle, whether it was concurrent with another write (a conflict), whether it was a
    resolution (and accepted), and whether it arrived stale."""
    entity = ws.redirects.resolve(as_id(record, "record id"))
    ws.schema.field(field_id)
    members = ws.groups.members(field_id)
    names = actor_names(ws.conn)
    rows = sorted((row for member in ws.redirects.members(entity)
                   for row in oplog.writes_to(ws.conn, member, members)), key=lambda r: r[0])
    headers = {b: decode(h)["clock"] for b, h in ws.conn.execute(
        f"SELECT bundle_id, header FROM bundles WHERE bundle_id IN ({','.join('?' * len(rows))})",
        [r[4] for r in rows])} if rows else {}
    stale = {r[0] for r in ws.conn.execute("SELECT bundle_id FROM stale_flags")}
    rejected = {r[0] for r in ws.conn.execute(
        "SELECT op_id FROM resolutions WHERE target = ? AND accepted = 0", (entity,))}
    writes = [Write(ord_[12:], ord_, actor, headers[bundle_id], field_id, None, _origin(payload))
              for ord_, actor, _t, payload, bundle_id in rows]
    merges = ws.redirects.merge_ops(entity)
    changes: list[Change] = []
    previous: Any = None
    records = set(ws.redirects.members(entity))
    for index, (ord_, actor, op_type, payload, bundle_id) in enumerate(rows):
        op = o.decode_op(payload)
        new = next((v for t, f, v in register_writes(op) if t in records and f in members), None)
        concurrent = any(not saw(writes[index], other, merges) and not saw(other, writes[index], merges)
                         for other in writes if other is not writes[index])
        accepted = op.op_id not in rejected
        changes.append(Change(
            actor=actor.hex(), display_name=names.get(actor, short_actor(actor)), hlc=ord_[:12],
            when=hlc_mod.to_display(ord_[:12]), old=previous, new=new, bundle_id=to_str(bundle_id),
            op_type=op_type, field=getattr(op, "field", field_id), concurrent=concurrent,
            resolution=isinstance(op, o.ResolveConflict), accepted=accepted, stale=bundle_id in stale))
        if accepted:
            previous = new
    return changes

def changes_since(ws: Workspace, mark: int | None = None) -> list[PersonChanges]:
    """Bundles from other people stored after `mark` (default: the last `mark_seen`), by person."""
    if mark is None:
        mark = int(get_meta(ws.conn, "seen_mark") or 0)
    names = actor_names(ws.conn)
    out = []
    for actor, count, ops, records in ws.conn.execute(
            "SELECT b.actor, count(DISTINCT b.seq), count(l.seq), count(DISTINCT l.target) FROM bundles b"
            " JOIN oplog l ON l.bundle_seq = b.seq WHERE b.seq > ? AND b.actor != ? GROUP BY b.actor"
            " ORDER BY count(DISTINCT b.seq) DESC", (mark, ws.actor_id)):
        out.append(PersonChanges(actor.hex(), names.get(actor, short_actor(actor)), count, ops, records))
    return out

def mark_seen(ws: Workspace) -> int:
    """Remember that everything stored so far has been seen (e.g. when a sync completes)."""
    mark = ws.conn.execute("SELECT coalesce(max(seq), 0) FROM bundles").fetchone()[0]
    set_meta(ws.conn, "seen_mark", mark)
    return int(mark)


def _origin(payload: bytes) -> bytes:
    op = o.decode_op(payload)
    writes = register_writes(op)
    return writes[0][0] if writes else b""
