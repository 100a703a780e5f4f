"""History: "who changed this?" for a field, and "what changed since I last looked?".

Histories are read from the oplog (never from derived state), so they include every write:
table defaults, copies on unlink, resolutions (accepted or not), writes to records later merged
away, each marked when it was concurrent with another write (a conflict) or arrived stale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import hlc as hlc_mod
from . import operations as o
from . import oplog
from .bundle import stored_clock
from .conflicts import Write, saw
from .context import Part, reads
from .identity import short_actor
from .ids import IdLike, as_id, to_str
from .reads import actor_names, tables_of
from .registers import register_writes
from .storage import get_meta, set_meta
from .text_edits import changed_span

if TYPE_CHECKING:
    from .awareness import Awareness
    from .context import Context


@dataclass(frozen=True)
class Alternative:
    """Another value in a conflict: whose it was and what it was."""

    op_id: str
    actor: str
    display_name: str
    value: Any
    resolution: bool = False  # a decision settling the conflict, rather than an edit


@dataclass(frozen=True)
class Change:
    """One write in a field's history, for "who changed this?".

    `old` is what its author saw before writing (not merely the write before it in time: two
    people editing apart each changed the value *they* saw). Concurrent edits name each other;
    a resolution names what it chose over and which earlier decision it replaced."""

    actor: str
    display_name: str
    hlc: bytes
    when: str
    old: Any
    new: Any
    bundle_id: str
    op_id: str
    op_type: str
    field: str
    concurrent: bool = False  # made without seeing another write in this history (a conflict)
    concurrent_with: tuple[Alternative, ...] = ()  # those other writes
    resolution: bool = False  # a conflict resolution
    chosen_over: tuple[Alternative, ...] = ()  # for a resolution: the values it settled against
    picked: Alternative | None = None  # for a resolution that picked a competitor: that one
    supersedes: str | None = None  # for a resolution: the earlier resolution it overrides
    accepted: bool = True  # False for a resolution that lost to an earlier one
    stale: bool = False  # arrived long after it was made (flagged on arrival)
    staged: bool = False  # in the active overlay: not real until the overlay is committed
    collaborative: str | None = None  # "text" or "list": an edit merged into a collaborative field


    def text_change(self) -> tuple[str, str]:
        """For a collaborative text edit: (what it removed, what it added), "" for none."""
        return text_change(self.old, self.new) if self.collaborative == "text" else ("", "")

    def describe(self) -> str:
        """One sentence: "Alice chose '555-1111' over Bob's '555-2222'", "Bob changed it from 'todo'
        to 'done' while Alice, not having seen that, changed it to 'blocked'"."""
        who = f"{self.display_name} (waiting for review, not saved yet)" if self.staged else self.display_name
        if self.collaborative == "text":
            removed, added = self.text_change()
            if removed and added:
                return f"{who} replaced {_quoted(removed)} with {_quoted(added)} in the text"
            if added or removed:
                return f"{who} {'added' if added else 'removed'} {_quoted(added or removed)}"
            return f"{who} edited the text"
        if self.collaborative == "list":
            return f"{who} changed the list"
        if self.resolution:
            over = _names(self.chosen_over)
            whose = f"{self.picked.display_name}'s " if self.picked and self.picked.actor != self.actor else ""
            sentence = f"{who} chose {whose}{_quoted(self.new)} over {over}" if over else \
                f"{who} settled it as {_quoted(self.new)}"
            if self.supersedes is not None:
                sentence += ", replacing an earlier decision"
            if not self.accepted:
                sentence += " (not applied: someone had already settled it)"
            return sentence
        if self.new is None:
            sentence = f"{who} cleared it" + ("" if self.old is None else f" (was {_quoted(self.old)})")
        elif self.old is None:
            sentence = f"{who} set it to {_quoted(self.new)}"
        else:
            sentence = f"{who} changed it from {_quoted(self.old)} to {_quoted(self.new)}"
        if self.concurrent_with:
            alone = len(self.concurrent_with) == 1
            sentence += (f" at the same time as {_names(self.concurrent_with)}, "
                         f"{'neither having seen the other' if alone else 'none having seen the others'}")
        return sentence


def text_change(old: Any, new: Any) -> tuple[str, str]:
    """(removed, added) between two texts (`text_edits.changed_span`); nothing for non-texts."""
    if not isinstance(old or "", str) or not isinstance(new or "", str):
        return "", ""
    _where, removed, added = changed_span(old or "", new or "")
    return removed, added


def _quoted(value: Any) -> str:
    return "(empty)" if value is None else repr(value) if isinstance(value, str) else str(value)


def _names(alternatives: tuple[Alternative, ...]) -> str:
    parts = [f"{a.display_name}'s {'decision ' if a.resolution else ''}{_quoted(a.value)}" for a in alternatives]
    return parts[0] if len(parts) <= 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class PersonChanges:
    """Changes by one person that arrived since a mark (for "N changes since you last synced")."""

    actor: str
    display_name: str
    bundles: int
    operations: int
    records: int



def field_history(ws: Context, record: IdLike, field: str) -> list[Change]:
    """Every write to the field (mapped fields included), oldest first; see `Change`. Read from the
    oplog, plus the active overlay's staged edits at the end (marked `staged`)."""
    entity = ws.redirects.resolve(as_id(record, "record id"))
    field_id = ws.schema.field(field, lambda: tables_of(ws.conn, entity)).id
    members = ws.groups.members(field_id)
    names = actor_names(ws.conn)
    records = ws.redirects.members(entity)
    rows = sorted((row for member in records for row in oplog.writes_to(ws.conn, member, members)),
                  key=lambda r: r[0])
    headers = {b: stored_clock(h) for b, h in ws.conn.execute(
        f"SELECT bundle_id, header FROM bundles WHERE bundle_id IN ({','.join('?' * len(rows))})",
        [r[4] for r in rows])} if rows else {}
    stale = {r[0] for r in ws.conn.execute("SELECT bundle_id FROM stale_flags")}
    marks = ",".join("?" * len(records))
    resolutions = dict(ws.conn.execute(f"SELECT op_id, accepted FROM resolutions WHERE target IN ({marks})",
                                       records))
    decoded = [o.decode_op(payload) for _ord, _writer, _type, payload, _bundle in rows]
    # A collaborative (CRDT) field's edits write no value register: each is merged into the text or
    # list, never in conflict, so it is told as "edited" in its place in time, apart from the writes.
    edits = {i: _collaborative(rows[i], op, names, stale) for i, op in enumerate(decoded)
             if isinstance(op, o.ApplyCrdt | o.ClearAndAdd)}
    _with_texts(ws, edits, decoded)
    rows = [r for i, r in enumerate(rows) if i not in edits]
    ops = [op for i, op in enumerate(decoded) if i not in edits]
    writes = []
    for (ord_, writer, _type, _payload, bundle_id), op in zip(rows, ops, strict=True):
        target, written, value = next((t, f, v) for t, f, v in register_writes(op) if t in records and f in members)
        writes.append(Write(op.op_id, ord_, writer, headers[bundle_id], written, value, target))
    merges = ws.redirects.merge_ops(entity)
    by_id = {w.op_id: w for w in writes}
    counted = [w for w in writes if resolutions.get(w.op_id, 1)]  # a refused resolution counts as nothing

    def alternative(write: Write) -> Alternative:
        return Alternative(to_str(write.op_id), write.actor.hex(), names.get(write.actor, short_actor(write.actor)),
                           write.value, write.op_id in resolutions)

    changes: list[Change] = []
    for write, op, (ord_, _writer, op_type, _payload, bundle_id) in zip(writes, ops, rows, strict=True):
        actor = write.actor
        seen = [w for w in counted if w is not write and saw(write, w, merges)]
        old = max(seen, key=lambda w: w.ord).value if seen else None
        concurrent = tuple(alternative(w) for w in counted if w is not write
                           and not saw(write, w, merges) and not saw(w, write, merges))
        resolution = op if isinstance(op, o.ResolveConflict) else None
        is_resolution = resolution is not None
        chosen_over: tuple[Alternative, ...] = ()
        supersedes = None
        picked = None
        if resolution is not None:
            tips = [by_id.get(t) or ws.conflicts.lookup(t, resolution.target, ws.groups.key(field_id))
                    for t in resolution.tips]
            chosen_over = tuple(alternative(t) for t in tips if t is not None and t.value != resolution.chosen)
            picked = next((alternative(t) for t in tips if t is not None and t.op_id == resolution.chosen_op), None)
            earlier = [t for t in tips if t is not None and t.op_id in resolutions]
            supersedes = to_str(max(earlier, key=lambda t: t.ord).op_id) if earlier else None
        changes.append(Change(
            actor=actor.hex(), display_name=names.get(actor, short_actor(actor)), hlc=ord_[:12],
            when=hlc_mod.to_display(ord_[:12]), old=old, new=write.value, bundle_id=to_str(bundle_id),
            op_id=to_str(op.op_id), op_type=op_type, field=write.field, concurrent=bool(concurrent),
            concurrent_with=() if is_resolution else concurrent, resolution=is_resolution, chosen_over=chosen_over,
            picked=picked,
            supersedes=supersedes, accepted=bool(resolutions.get(op.op_id, 1)), stale=bundle_id in stale))
    if edits:
        changes = sorted([*changes, *edits.values()], key=lambda c: c.hlc)
    return changes + _staged(ws, entity, members, changes[-1].new if changes else None)


def _collaborative(row: tuple[bytes, bytes, str, bytes, bytes], op: o.ApplyCrdt | o.ClearAndAdd,
                   names: dict[bytes, str], stale: set[bytes]) -> Change:
    """A collaborative field's edit as a change: who edited it and when (the text it made is not
    rebuilt here: "who changed this?" names the people, the field shows the merged text)."""
    ord_, writer, op_type, _payload, bundle_id = row
    actor = writer[:32]
    kind = op.crdt_type if isinstance(op, o.ApplyCrdt) else "list"
    return Change(
        actor=actor.hex(), display_name=names.get(actor, short_actor(actor)), hlc=ord_[:12],
        when=hlc_mod.to_display(ord_[:12]), old=None, new=None, bundle_id=to_str(bundle_id),
        op_id=to_str(op.op_id), op_type=op_type, field=op.field, collaborative=kind,
        stale=bundle_id in stale)


def _with_texts(ws: Context, edits: dict[int, Change], decoded: list[o.Op]) -> None:
    """Each text edit's text before and after it (`old`, `new`), its edits replayed in time order on a
    fresh document: what the field read just after it, concurrent edits from before it included."""
    texts = [i for i, change in edits.items() if change.collaborative == "text"]
    if not texts or ws.crdt.backend is None:
        return
    backend = ws.crdt.backend
    doc = backend.new_doc("text")
    before = ""
    for i in sorted(texts, key=lambda i: edits[i].hlc):
        op = decoded[i]
        assert isinstance(op, o.ApplyCrdt)
        backend.apply(doc, op.delta)
        after = backend.render(doc, "text")
        edits[i] = replace(edits[i], old=before, new=after)
        before = after


def _staged(ws: Context, entity: bytes, members: tuple[str, ...], previous: Any) -> list[Change]:
    overlay = ws.overlays.active()
    if overlay is None:
        return []
    marks = ",".join("?" * len(members))
    out = []
    for (payload,) in ws.conn.execute(f"SELECT payload FROM overlay_ops WHERE overlay_id = ? AND target = ?"
                                      f" AND field IN ({marks}) ORDER BY seq", (overlay, entity, *members)):
        op = o.decode_op(payload)
        found = next(((f, v) for t, f, v in register_writes(op) if t == entity and f in members), None)
        if found is None:
            continue
        field, value = found
        out.append(Change(actor=ws.actor_id.hex(), display_name=ws.display_name, hlc=op.hlc, when="staged",
                          old=previous, new=value, bundle_id="", op_id=to_str(op.op_id), op_type=op.TYPE,
                          field=field, staged=True))
        previous = value
    return out


def changes_since(ws: Context, mark: int | None = None) -> list[PersonChanges]:
    """Bundles from elsewhere (other people, or this person's other devices) stored after `mark`
    (default: the last `mark_seen`), by person. GOs in a calling view (bundle kind `calling`) are
    not changes to anyone's paperwork, so they are not counted."""
    if mark is None:
        stored = get_meta(ws.conn, "seen_mark")
        mark = stored if isinstance(stored, int) else 0
    names = actor_names(ws.conn)
    out = []
    for actor, count, ops, records in ws.conn.execute(
            "SELECT b.actor, count(DISTINCT b.seq), count(l.seq), count(DISTINCT l.target) FROM bundles b"
            " JOIN oplog l ON l.seq >= b.first_op AND l.seq < b.first_op + b.op_count"
            " WHERE b.seq > ? AND b.writer != ? AND b.kind != 'calling'"
            " GROUP BY b.actor"
            " ORDER BY count(DISTINCT b.seq) DESC", (mark, ws.writer)):
        out.append(PersonChanges(actor.hex(), names.get(actor, short_actor(actor)), count, ops, records))
    return out

def mark_seen(ws: Context) -> int:
    """Remember that everything stored so far has been seen (e.g. when a sync completes)."""
    mark = oplog.last_seq(ws.conn)
    set_meta(ws.conn, "seen_mark", mark)
    return mark


class History(Part):
    """`ws.history`: who changed what, when, and what changed since a person last looked."""

    @reads
    def field(self, record: IdLike, field: str) -> list[Change]:
        """Every write to the field (mapped fields included), oldest first: who, when, what they saw
        before and what they wrote; which edits were concurrent, which resolution settled them and
        what it chose over; stale arrivals; the active overlay's staged edits last. `describe()`
        on each gives the sentence."""
        return field_history(self._cx, record, field)

    def changes_since(self, mark: int | None = None) -> list[PersonChanges]:
        """Bundles from other people stored after `mark` (default: the last `mark_seen`), by person."""
        return changes_since(self._cx, mark)

    def mark_seen(self) -> int:
        """Remember that everything stored so far has been seen (e.g. when a sync completes)."""
        return mark_seen(self._cx)

    def change_mark(self) -> int:
        """The local position of the newest stored bundle: a mark for `changes_since`, which moves
        whenever a bundle is stored (own or received)."""
        return oplog.last_seq(self._cx.conn)

    def awareness_notices(self) -> list[Awareness]:
        """Near-simultaneous edits of different fields of one record by different people (short-lived)."""
        return self._cx.awareness.current()
