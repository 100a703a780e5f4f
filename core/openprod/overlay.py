"""Staging overlays: try changes before they are real, then commit all or discard all.

An overlay is local-only: its ops are unsigned, stored in `overlay_ops`, never synced. While one
is active, every write goes into it and every read goes through it. Reading through it means:
open a SQLite transaction, apply the overlay's ops on top of canonical state with orders above
any canonical order (so they win), read with the ordinary read code, and roll back before any
canonical change. So overlay reads need no second copy of the read logic, and nothing an overlay
does can leak into canonical state; discarding deletes its rows and leaves no trace.

Canonical drift: each staged field remembers the canonical value it was staged over; if canonical
data later changes that field to a different value, the overlay reports it (new value, author,
time). Keep Mine acknowledges it; Use Canonical knocks the staged edit out. Commit replays the
ops as one signed bundle and is refused while drift is unacknowledged.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import hlc as hlc_mod
from . import operations as o
from .conflict_report import conflict as conflict_on
from .conflicts import is_field_key
from .context import Part
from .encoding import decode, encode
from .errors import LocalError, NotFoundError, ValidationError
from .ids import IdLike, to_str
from .overlay_journal import OverlayJournal
from .reads import entity_visible, group_value
from .registers import register_writes
from .values import from_sql, to_sql

if TYPE_CHECKING:
    from .context import Context

OVERLAY_WALL = (1 << 64) - 1  # overlay ops sort after every canonical op
NOT_IN_OVERLAYS = (o.InitWorkspace, o.AdoptModule, o.LinkTables, o.UnlinkTables, o.ConfirmFieldMapping,
                   o.SetWorkspaceSetting, o.RecoverOwnership, o.CreateRule, o.IdentifyActor, o.MergeEntities,
                   o.SplitEntity)


@dataclass(frozen=True)
class OverlayInfo:
    id: str
    name: str
    source: str  # user or script
    status: str  # active, stashed, pending (a script's output waiting to be looked at)
    op_count: int
    created_at: int


@dataclass(frozen=True)
class StagedOp:
    """One op staged in an overlay, as a shell lists it ("what this import changes")."""

    op_type: str
    target: str | None  # the record or link it writes (UUID form), or hex for other targets
    field: str | None  # the field or link property, when it writes exactly one
    was: Any  # the real value when this register was first staged (None if unknown or empty)
    target_is_id: bool  # target is a record or link id

    @classmethod
    def from_row(cls, op_type: str, target: bytes | None, field: str | None, base_kind: str | None,
                  base_value: Any) -> StagedOp:
        is_id = target is not None and len(target) == 16
        shown = None if target is None else to_str(target) if is_id else target.hex()
        return cls(op_type, shown, field, from_sql(base_kind, base_value), is_id)


@dataclass(frozen=True)
class Drift:
    """Canonical data changed under a staged edit."""

    target: str
    field: str
    field_name: str
    record_label: str
    mine: Any
    canonical: Any
    author: str
    when: str

    def describe(self) -> str:
        return f"{self.field_name} changed to {_quoted(self.canonical)} while you were reviewing (by {self.author})"


def _quoted(value: Any) -> str:
    return "(cleared)" if value is None else f"'{value}'"


class Overlays:
    def __init__(self, ws: Context) -> None:
        self.ws = ws
        self.conn = ws.conn
        self.view_open = False
        self._redo: dict[bytes, list[list[tuple[Any, ...]]]] = {}
        # Overlays persist across restarts but are never re-activated on start.
        self.conn.execute("UPDATE overlays SET status = 'stashed' WHERE status = 'active'")
        self._active: bytes | None = None  # cached: every read asks
        files = [row[2] for row in self.conn.execute("PRAGMA database_list") if row[1] == "main"]
        self._hold = not (files and files[0])  # in memory: no other connection to block

    # --- lifecycle ----------------------------------------------------------------------------

    def create(self, name: str, *, source: str = "user", script: str | None = None, activate: bool = True) -> str:
        """A new overlay. A script's overlay waits in the pending list instead of activating."""
        cleaned = " ".join(str(name).split())
        if not cleaned or len(cleaned) > 200:
            raise ValidationError("an overlay name is 1 to 200 characters")
        if source not in ("user", "script"):
            raise ValidationError("an overlay's source is 'user' or 'script'")
        self.close_view()
        overlay_id = self.ws.ids.new()
        status = "pending" if source == "script" else "stashed"
        self.conn.execute(
            "INSERT INTO overlays (overlay_id, name, source, script, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (overlay_id, cleaned, source, script, status, self.ws.env.now_ms()))
        if activate and source == "user":
            self.activate(overlay_id)
        return to_str(overlay_id)

    def _row(self, overlay: str | bytes) -> tuple[bytes, str, str, str]:
        from .ids import as_id

        overlay_id = as_id(overlay, "overlay id")
        row = self.conn.execute("SELECT overlay_id, name, source, status FROM overlays WHERE overlay_id = ?",
                                (overlay_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no overlay {to_str(overlay_id)}")
        return (row[0], row[1], row[2], row[3])

    def active(self) -> bytes | None:
        return self._active

    def activate(self, overlay: str | bytes) -> None:
        """Make an overlay the one writes and reads go through; the active one is stashed."""
        overlay_id = self._row(overlay)[0]
        self.close_view()
        self.conn.execute("UPDATE overlays SET status = 'stashed' WHERE status = 'active'")
        self.conn.execute("UPDATE overlays SET status = 'active' WHERE overlay_id = ?", (overlay_id,))
        self._active = overlay_id

    def stash(self, overlay: str | bytes, *, pending: bool = False) -> None:
        """Stop reading and writing through this overlay (it is kept, to activate later).
        `pending`: a script's run is over and its output waits to be looked at."""
        overlay_id = self._row(overlay)[0]
        if self._active != overlay_id:
            return
        self.close_view()
        status = "pending" if pending else "stashed"
        self.conn.execute("UPDATE overlays SET status = ? WHERE status = 'active'", (status,))
        self._active = None

    def discard(self, overlay: str | bytes) -> None:
        """Throw the overlay away: its rows are deleted; the oplog never knew it."""
        overlay_id = self._row(overlay)[0]
        self.close_view()
        self.conn.execute("DELETE FROM overlay_ops WHERE overlay_id = ?", (overlay_id,))
        self.conn.execute("DELETE FROM overlays WHERE overlay_id = ?", (overlay_id,))
        self._redo.pop(overlay_id, None)
        if self._active == overlay_id:
            self._active = None

    def staged_fields(self, overlay: str | bytes) -> list[tuple[str, str]]:
        """(record or edge id, field or property) written in the overlay: what to mark."""
        overlay_id = self._row(overlay)[0]
        return [(to_str(t), f) for t, f in self.conn.execute(
            "SELECT DISTINCT target, field FROM overlay_ops WHERE overlay_id = ? AND target IS NOT NULL"
            " AND field IS NOT NULL ORDER BY target, field", (overlay_id,))]

    def staged_ops(self, overlay: str | bytes | None = None) -> list[StagedOp]:
        """Every op staged in the overlay (default: the active one; none if none is active), in order."""
        overlay_id = self._row(overlay)[0] if overlay is not None else self.active()
        if overlay_id is None:
            return []
        return [StagedOp.from_row(*row) for row in self.conn.execute(
            "SELECT op_type, target, field, base_kind, base_value FROM overlay_ops WHERE overlay_id = ? ORDER BY seq",
            (overlay_id,))]

    def list(self) -> list[OverlayInfo]:
        return [OverlayInfo(to_str(i), n, s, st, c, t) for i, n, s, st, c, t in self.conn.execute(
            "SELECT o.overlay_id, o.name, o.source, o.status, count(p.seq), o.created_at FROM overlays o"
            " LEFT JOIN overlay_ops p ON p.overlay_id = o.overlay_id GROUP BY o.overlay_id ORDER BY o.created_at")]

    # --- the view ------------------------------------------------------------------------------

    def _ops(self, overlay_id: bytes) -> builtins.list[o.Op]:
        # Staged ops were built and checked here (they never arrive from a peer), and a commit
        # re-issues each through the transaction's checks: the trusted decoder is enough.
        return [o.decode_stored_op(p) for (p,) in self.conn.execute(
            "SELECT payload FROM overlay_ops WHERE overlay_id = ? ORDER BY seq", (overlay_id,))]

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads inside see the active overlay's staged state.

        The view is a write transaction (staged ops are applied, then rolled back). On a database
        file it lasts only for this call, so another connection to the file can still write; in
        memory, where no other connection exists, it stays open until the next write (opening
        it again costs a replay of every staged op).
        """
        opened = self.ensure_view()
        try:
            yield
        finally:
            if opened and not self._hold:
                self.close_view()

    def ensure_view(self) -> bool:
        """Apply the active overlay on top of canonical state, inside an open transaction.
        Returns True if this call opened the view."""
        if self.view_open:
            return False
        overlay_id = self.active()
        if overlay_id is None or self.conn.in_transaction:
            return False  # inside a canonical transaction, reads see that transaction
        ws = self.ws
        ws.conn.execute("BEGIN IMMEDIATE")
        self.view_open = True
        ws.crdt.reset()
        ws.conflicts.begin_bundle()
        clock = ws.vector_clock
        for op in self._ops(overlay_id):
            if isinstance(op, o.ApplyCrdt):
                ws.crdt.extra.setdefault((op.entity, op.field), []).append((op.delta, None))
            elif isinstance(op, o.ClearAndAdd):
                ws.crdt.extra.setdefault((op.entity, op.field), []).append((op.delta, op.hlc))
            prior = ws.conflicts.prior(op)
            ws.applier.apply(op, ws.actor_id)
            ws.conflicts.observe(op, ws.writer, clock, prior)
        return True

    def close_view(self) -> None:
        if self.view_open:
            self.view_open = False
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.ws.crdt.reset()
            self.ws.conflicts.reload()

    def next_hlc(self) -> bytes:
        """Overlay ops get orders above every canonical op, increasing in staging order."""
        row = self.conn.execute("SELECT max(seq) FROM overlay_ops").fetchone()
        self._counter = max(getattr(self, "_counter", 0), row[0] or 0) + 1
        return hlc_mod.pack(OVERLAY_WALL, self._counter)

    # --- staging writes -------------------------------------------------------------------------

    def check(self, cls: type[o.Op]) -> None:
        if cls in NOT_IN_OVERLAYS:
            raise ValidationError(f"{cls.TYPE} changes the workspace itself and cannot wait for review; "
                                  "set your changes to review aside first")

    def _canonical(self, target: bytes, field: str) -> tuple[Any, bytes | None]:
        if is_field_key(field):
            current = group_value(self.conn, self.ws.groups, target, field, self.ws._show)
            return (None, None) if current is None else (current.value, current.ord)
        row = self.conn.execute("SELECT kind, value, ord FROM edge_props WHERE edge_id = ? AND key = ?",
                                (target, field)).fetchone()
        return (None, None) if row is None else (from_sql(row[0], row[1]), row[2])

    def record(self, ops: builtins.list[o.Op]) -> None:
        """Store a staged transaction's ops as one batch (called with the view closed)."""
        overlay_id = self.active()
        if overlay_id is None or not ops:
            return
        batch = (self.conn.execute("SELECT max(batch) FROM overlay_ops WHERE overlay_id = ?",
                                   (overlay_id,)).fetchone()[0] or 0) + 1
        rows = []
        for op in ops:
            writes = register_writes(op)
            target, field = (writes[0][0], writes[0][1]) if len(writes) == 1 else (getattr(op, "entity", None), None)
            base_kind = base_value = base_ord = None
            if field is not None and target is not None:
                # INDEXED BY: otherwise SQLite may walk the primary key in seq order for the LIMIT,
                # scanning the whole overlay for a register staged for the first time
                first = self.conn.execute(
                    "SELECT base_kind, base_value, base_ord FROM overlay_ops INDEXED BY overlay_ops_field"
                    " WHERE overlay_id = ? AND target = ? AND field = ? ORDER BY seq LIMIT 1",
                    (overlay_id, target, field)).fetchone()
                if first is not None:
                    base_kind, base_value, base_ord = first
                else:
                    value, base_ord = self._canonical(target, field)
                    base_kind, base_value = to_sql(value)
            rows.append((overlay_id, int.from_bytes(op.hlc[8:], "big"), batch, op.TYPE, o.encode_op(op), target,
                         field, base_kind, base_value, base_ord))
        self.conn.executemany(
            "INSERT INTO overlay_ops (overlay_id, seq, batch, op_type, payload, target, field, base_kind, base_value,"
            " base_ord) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._redo.pop(overlay_id, None)

    # --- overlay undo / redo (in memory) -------------------------------------------------------

    def undo(self) -> bool:
        overlay_id = self.active()
        if overlay_id is None:
            return False
        self.close_view()
        batch = self.conn.execute("SELECT max(batch) FROM overlay_ops WHERE overlay_id = ?",
                                  (overlay_id,)).fetchone()[0]
        if batch is None:
            return False
        rows = self.conn.execute(
            "SELECT overlay_id, seq, batch, op_type, payload, target, field, base_kind, base_value, base_ord FROM"
            " overlay_ops WHERE overlay_id = ? AND batch = ? ORDER BY seq", (overlay_id, batch)).fetchall()
        self.conn.execute("DELETE FROM overlay_ops WHERE overlay_id = ? AND batch = ?", (overlay_id, batch))
        self._redo.setdefault(overlay_id, []).append(rows)
        return True

    def redo(self) -> bool:
        overlay_id = self.active()
        stack = self._redo.get(overlay_id or b"")
        if not stack:
            return False
        self.close_view()
        self.conn.executemany(
            "INSERT INTO overlay_ops (overlay_id, seq, batch, op_type, payload, target, field, base_kind, base_value,"
            " base_ord) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", stack.pop())
        return True

    # --- drift ---------------------------------------------------------------------------------

    def drift(self, overlay: str | bytes) -> builtins.list[Drift]:
        """Staged fields whose canonical value changed (to something else) since they were staged."""
        overlay_id = self._row(overlay)[0]
        self.close_view()
        staged: dict[tuple[bytes, str], tuple[Any, Any, bytes | None, bytes | None]] = {}
        for target, field, payload, base_kind, base_value, base_ord, ack in self.conn.execute(
                "SELECT target, field, payload, base_kind, base_value, base_ord, ack_ord FROM overlay_ops"
                " WHERE overlay_id = ? AND field IS NOT NULL ORDER BY seq", (overlay_id,)):
            mine = register_writes(o.decode_op(payload))[0][2]
            staged[(target, field)] = (mine, from_sql(base_kind, base_value), base_ord, ack)
        names = dict(self.conn.execute("SELECT actor, display_name FROM actors"))
        out = []
        for (target, field), (mine, base, base_ord, ack) in staged.items():
            current, current_ord = self._canonical(target, field)
            if current_ord is None or current_ord in (base_ord, ack):
                continue
            if current in (base, mine):
                continue  # someone wrote, but the value did not move away from what you saw
            author = self._author(target, field, current_ord, names)
            fdef = self.ws.schema.fields.get(field)
            out.append(Drift(to_str(target), field, fdef.display_name if fdef else field,
                             self.ws._record_label(target) if fdef else to_str(target)[:8], mine, current, author,
                             hlc_mod.to_display(current_ord[:12])))
        return out

    def _author(self, target: bytes, field: str, ord_: bytes, names: dict[bytes, str]) -> str:
        table, column = ("fields", "entity_id") if is_field_key(field) else ("edge_props", "edge_id")
        row = self.conn.execute(f"SELECT actor FROM {table} WHERE {column} = ? AND ord = ?", (target, ord_)).fetchone()
        return names.get(row[0], row[0].hex()[:8]) if row else "someone"

    def _field_key(self, overlay: str | bytes, record: str | bytes,
                   field: str) -> tuple[bytes, bytes, builtins.list[str], str]:
        from .ids import as_id
        from .reads import entity_state, tables_of

        overlay_id = self._row(overlay)[0]
        target = as_id(record, "record id")
        with self.reading():
            if entity_state(self.conn, target) is not None:  # a record's field; an edge's property is as named
                field = self.ws.schema.field(field, lambda: tables_of(self.conn, target)).id
        members = list(self.ws.groups.members(field)) if is_field_key(field) else [field]
        return overlay_id, target, members, field

    def keep_mine(self, overlay: str | bytes, record: str | bytes, field: str) -> None:
        """Acknowledge drift: committing later overwrites the new canonical value on purpose."""
        overlay_id, target, members, field = self._field_key(overlay, record, field)
        self.close_view()
        value, current_ord = self._canonical(target, field)
        kind, sql_value = to_sql(value)
        marks = ",".join("?" * len(members))
        self.conn.execute(
            f"UPDATE overlay_ops SET base_kind = ?, base_value = ?, base_ord = ?, ack_ord = ? WHERE overlay_id = ?"
            f" AND target = ? AND field IN ({marks})", (kind, sql_value, current_ord, current_ord, overlay_id, target,
                                                         *members))

    def knockout(self, overlay: str | bytes, record: str | bytes, field: str) -> int:
        """Remove the staged edits of one field (Use Canonical). Returns how many."""
        overlay_id, target, members, _field = self._field_key(overlay, record, field)
        self.close_view()
        marks = ",".join("?" * len(members))
        cur = self.conn.execute(f"DELETE FROM overlay_ops WHERE overlay_id = ? AND target = ? AND field IN ({marks})",
                                (overlay_id, target, *members))
        return cur.rowcount

    # --- commit ----------------------------------------------------------------------------------

    def commit_plan(self, overlay: str | bytes) -> tuple[bytes, str, builtins.list[o.Op]] | None:
        """(overlay id, name, staged ops) to replay into a local transaction (`replay`), then
        `finish` once it is committed; None when nothing is staged (the overlay is gone then).
        Refused while drift is unacknowledged."""
        overlay_id = self._row(overlay)[0]
        drift = self.drift(overlay_id)
        if drift:
            listed = "; ".join(d.describe() for d in drift)
            raise ValidationError(f"commit refused: {listed}. Choose Keep Mine or Use Canonical for each first")
        ops = self._ops(overlay_id)
        name = self._row(overlay_id)[1]
        if not ops:
            self.finish(overlay_id)
            return None
        return overlay_id, name, ops

    def finish(self, overlay_id: bytes) -> None:
        """The overlay's ops are committed: the overlay is gone."""
        self.conn.execute("DELETE FROM overlay_ops WHERE overlay_id = ?", (overlay_id,))
        self.conn.execute("DELETE FROM overlays WHERE overlay_id = ?", (overlay_id,))
        self._redo.pop(overlay_id, None)
        if self._active == overlay_id:
            self._active = None

    def replay(self, tx: Any, ops: builtins.list[o.Op]) -> None:
        """Re-issue staged ops against canonical state, now: ids kept, clocks fresh.

        Staging over a conflicted field settles the conflict (as a ResolveConflict op), and a
        record deleted meanwhile stops the commit with a clear message.
        """
        ws = self.ws
        for op in ops:
            entity = getattr(op, "entity", None)
            if entity is not None and not isinstance(op, (o.CreateEntity, o.RestoreEntity)) \
                    and ws.conn.execute("SELECT 1 FROM entities WHERE entity_id = ?", (entity,)).fetchone() \
                    and not entity_visible(ws.conn, entity):
                raise ValidationError(f"{ws._record_label(entity)} was deleted while you were reviewing; "
                                      "use Knockout on its fields or discard the overlay")
            if isinstance(op, (o.SetField, o.ClearField)):
                conflict = conflict_on(ws, op.entity, op.field)
                if conflict is not None:
                    value = op.value if isinstance(op, o.SetField) else None
                    tx.resolve_conflict(conflict, value=value)
                    continue
            if isinstance(op, o.DeleteEntity):
                if entity_visible(ws.conn, op.entity):  # not already gone with its last table
                    tx.delete_record(op.entity)
                continue
            if isinstance(op, o.RemoveFromTable):
                tx.remove_from_table(op.entity, op.table, discard=op.data_handling == "discard")
                continue
            tx.add(type(op), **_wire_payload(op))


def _wire_payload(op: o.Op) -> dict[str, Any]:
    payload: dict[str, Any] = decode(encode(op.payload()))
    return payload


class Staging(Part):
    """`ws.staging`: overlays, where edits wait before they are shared (staging; `Overlays`)."""

    def __init__(self, cx: Context) -> None:
        super().__init__(cx)
        self._overlays: Overlays = cx.overlays  # type: ignore[assignment]

    def create(self, name: str, *, source: str = "user", script: str | None = None, activate: bool = True) -> str:
        """A new staging overlay (activated, stashing any other), or a script's pending one. Returns
        its id: every other overlay command takes it."""
        return self._overlays.create(name, source=source, script=script, activate=activate)

    def activate(self, overlay: str) -> None:
        """Writes and reads go through this overlay from now on (the active one is stashed)."""
        self._overlays.activate(overlay)

    def stash(self, overlay: str, *, pending: bool = False) -> None:
        """Stop writing and reading through this overlay; it is kept to activate later (`pending`:
        a script's finished output, waiting in the list of things to look at)."""
        self._overlays.stash(overlay, pending=pending)

    def discard(self, overlay: str) -> None:
        """Throw the overlay and everything staged in it away."""
        self._overlays.discard(overlay)

    def list(self) -> builtins.list[OverlayInfo]:
        return self._overlays.list()

    @property
    def active(self) -> str | None:
        """The active overlay's id, or None."""
        active = self._overlays.active()
        return None if active is None else to_str(active)

    def drift(self, overlay: str) -> builtins.list[Drift]:
        """Staged fields whose real value changed (to something else) since they were staged."""
        return self._overlays.drift(overlay)

    def keep_mine(self, overlay: str, record: IdLike, field: str) -> None:
        """Acknowledge drift on one field: the commit overwrites the new real value on purpose."""
        self._overlays.keep_mine(overlay, record, field)

    def use_canonical(self, overlay: str, record: IdLike, field: str) -> int:
        """Take one field's staged edits out of the overlay (the spec's Knockout); returns how many."""
        return self._overlays.knockout(overlay, record, field)

    def staged_fields(self, overlay: str) -> builtins.list[tuple[str, str]]:
        """(record or edge id, field or property) written in the overlay: what to mark."""
        return self._overlays.staged_fields(overlay)

    def staged_ops(self, overlay: str | None = None) -> builtins.list[StagedOp]:
        """Every op staged in the overlay (default: the active one; none if no overlay is active), in
        the order staged."""
        return self._overlays.staged_ops(overlay)

    def reading(self) -> AbstractContextManager[None]:
        """One overlay view for several reads (each public read opens it otherwise)."""
        return self._overlays.reading()

    def journal(self) -> OverlayJournal:
        """A journal of overlay row changes, for shells that keep staged edits durable themselves
        (the web worker's IndexedDB); see `overlay_journal`."""
        return OverlayJournal(self._cx.conn)

    def restore(self, heads: Iterable[bytes], ops: Iterable[bytes]) -> int:
        """Replace every overlay with a journal's records (none re-activated). Returns how many."""
        if self._cx._tx is not None:
            raise LocalError("a transaction is still open on this workspace; finish it first")
        self._overlays.close_view()
        return OverlayJournal.restore(self._cx.conn, heads, ops)

    def close_views(self) -> None:
        """End any open overlay read view (e.g. before `conn.serialize()` for a snapshot, which
        must hold canonical state only); the next read reopens it."""
        self._overlays.close_view()
