"""Conflicts: concurrent writes to one semantic field, found with the writers' vector clocks.

A write w2 has *seen* w1 when w2's author had integrated w1 before writing: same writer (the
author's key on one device) and later, or w2's bundle clock covers w1's HLC for w1's writer. One
person on two devices is two writers: edits made apart on a laptop and a tablet can conflict.
The *tips* of a field are the writes no other write has seen: one per causal branch, each that
branch's latest value. Two or more tips with different values are an open conflict; the field
still shows the last-writer-wins value. A resolution is a write that has seen every tip, so it
becomes the only tip; a late edit made without seeing it is concurrent with it and reopens the
conflict; an edit made after seeing it does not. Tips are maximal elements of a partial order,
so they do not depend on arrival order, and a rebuild from the oplog reproduces them exactly.

Of several resolutions of the same conflict state (same tips), the first in canonical order is
accepted and the others are kept for audit but do not count as writes.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import operations as o
from .bundle import stored_clock
from .encoding import decode, encode
from .groups import FieldGroups
from .hlc import ZERO
from .merge import Redirects
from .oplog import MAIN_WRITES
from .registers import SET_FIELD, SET_PROP, register_writes
from .values import Reference, from_sql, to_sql

VectorClock = dict[bytes, bytes]


def is_field_key(key: str) -> bool:
    """Field ids have two dots ('module.Table.field'); edge property names have none."""
    return key.count(".") == 2


def state_id(target: bytes, key: str, tips: Iterable[bytes]) -> bytes:
    """Names one conflict *state*: the field and the exact set of competing writes. Of several
    resolutions of one state, only the first in canonical order is accepted."""
    digest = hashlib.sha256(target + key.encode() + b"\x00" + b"".join(sorted(tips)))
    return digest.digest()[:16]


def conflict_id(target: bytes, key: str, divergence: bytes | None) -> bytes:
    """Names one conflict for its whole life: the field and the point where its branches diverged
    (the latest write every branch had seen). It stays the same while more branches join, through
    its resolution and when a late edit reopens it, on every peer."""
    digest = hashlib.sha256(b"openprod/conflict\x00" + target + key.encode() + b"\x00" + (divergence or b""))
    return digest.digest()[:16]


@dataclass(frozen=True)
class Write:
    op_id: bytes
    ord: bytes
    writer: bytes  # the author's key || device
    clock: VectorClock  # the author's vector clock when the write's bundle was made
    field: str
    value: Any
    origin: bytes = b""  # the record the write named; differs from the target after a merge

    @property
    def actor(self) -> bytes:
        return self.writer[:32]


def _covers(later: Write, ord_: bytes, writer: bytes) -> bool:
    if later.writer == writer:
        return ord_ < later.ord
    return later.clock.get(writer, ZERO) >= ord_[:12]


def saw(later: Write, earlier: Write, merges: Iterable[tuple[bytes, bytes]] = ()) -> bool:
    """Had `later`'s author integrated `earlier` when writing?

    Writes that named two different records (later merged into one) never saw each other unless
    the later one was made after its author saw the merges: merging "John Smith" and "J. Smith"
    must surface both names as a conflict, whatever order they were typed in.
    """
    if not _covers(later, earlier.ord, earlier.writer):
        return False
    if later.origin != earlier.origin:
        return all(_covers(later, ord_, writer) for ord_, writer in merges)
    return True


_REGISTERS = {True: ("fields", "entity_id", "field"), False: ("edge_props", "edge_id", "key")}

_PLAIN_WRITES = (o.SetField, o.ClearField, o.SetReference, o.SetEdgeProperty, o.ClearEdgeProperty)
_FIELD_WRITES = frozenset((o.SetField, o.ClearField, o.SetReference))


class ConflictTracker:
    """Maintains `field_tips` and `resolutions` as ops are applied (inside the caller's transaction)."""

    def __init__(self, conn: sqlite3.Connection, groups: Callable[[], FieldGroups],
                 is_crdt: Callable[[str], bool], redirects: Redirects, local_writer: bytes,
                 devices: dict[bytes, list[bytes]], schema: Callable[[], object]) -> None:
        self.conn = conn
        self._groups = groups
        self._is_crdt = is_crdt
        self._schema = schema  # only compared by identity: a schema change is a new object
        # field -> whether its writes are plain (an unmapped, non-CRDT field), for the groups and
        # schema objects it was answered for: a catch-up asks it of every received write
        self._plain: tuple[object, object, dict[str, bool]] = (None, None, {})
        self.redirects = redirects
        self.local_writer = local_writer  # whose ops are not in the oplog yet (an open transaction)
        self._devices = devices  # actor -> its known devices (the workspace keeps it current, in place)
        self.pending: list[tuple[o.Op, bytes, VectorClock]] = []  # ops of the open local transaction
        self._memo: OrderedDict[bytes, Write] = OrderedDict()  # recent writes, for single-tip lookups
        self.begin_bundle()
        self.reload()

    def reload(self) -> None:
        """Which fields have diverged (rows in field_tips): few, so kept in memory."""
        self._diverged = set(self.conn.execute("SELECT DISTINCT target, key FROM field_tips"))
        self._prefetched.clear()
        # Whether any resolution or held register exists at all: until one does (most workspaces,
        # and every conflict a catch-up opens), storing tips asks SQLite for neither.
        self._resolved_any = self.conn.execute("SELECT 1 FROM resolutions LIMIT 1").fetchone() is not None
        self._held_any = self.conn.execute("SELECT 1 FROM held_registers LIMIT 1").fetchone() is not None

    def key_for(self, field: str) -> str:
        return self._groups().key(field) if is_field_key(field) else field

    # --- applying ops ---------------------------------------------------------------------------

    def _target(self, target: bytes, field: str) -> bytes:
        return self.redirects.resolve(target) if is_field_key(field) else target

    # A field with a single branch tip stores no rows: its tip is the register's winner (the
    # last writer, who saw every other write). Rows appear only when branches diverge, so the
    # common case costs one register read per write.

    def begin_bundle(self) -> None:
        """A new bundle (or local transaction) starts: forget which records it created."""
        self._fresh: set[bytes] = set()
        self._fresh_written: set[tuple[bytes, str]] = set()
        self._winners: dict[bytes, tuple[bytes, bytes]] = {}  # op id -> (ord, actor) of winners read by prior()
        self._planned: tuple[o.Op | None, list[tuple[bytes, str, Any, bytes, str, bool]]] = (None, [])
        self._prefetched: dict[tuple[bytes, str], tuple[bytes, bytes] | None] = {}

    def prefetch(self, ops: Sequence[o.Op]) -> int | None:
        """Before a received bundle's ops are applied: read the current winner of every register
        its field writes name in one query per record, instead of one per write.

        Only for a bundle of plain field writes to unmapped, non-CRDT fields (a catch-up is almost
        all of these): nothing such a bundle applies writes another register's row, so each
        prefetched row stays exact until the bundle's own first write to that register, and it is
        used once, for that write (a second write to it in the bundle reads SQLite as before).
        The bundle may start with record creations (a new record and its values): their writes
        need no read at all. Returns where the field writes start when every op after the
        creations is such a write (`plain_writes` may then apply them), else None."""
        self._prefetched = {}
        wanted: dict[bytes, set[str]] = {}
        groups, schema = self._groups(), self._schema()
        known_groups, known_schema, known = self._plain
        if known_groups is not groups or known_schema is not schema:
            known = {}
            self._plain = (groups, schema, known)
        root = self.redirects.root_lookup()
        start = 0
        while start < len(ops) and type(ops[start]) is o.CreateEntity:
            start += 1
        created = {op.entity for op in ops[:start]}  # type: ignore[attr-defined]
        plain: int | None = start
        for op in ops[start:]:
            if type(op) not in _FIELD_WRITES:
                return None
            field = op.field  # type: ignore[attr-defined]
            plain_field = known.get(field)
            if plain_field is None:
                plain_field = known[field] = (is_field_key(field) and not self._is_crdt(field)
                                              and len(groups.members(field)) == 1)
            if plain_field:
                if op.entity not in created:  # type: ignore[attr-defined]
                    entity: bytes = op.entity  # type: ignore[attr-defined]
                    wanted.setdefault(root(entity, entity), set()).add(field)
            else:
                plain = None
        for target, fields in wanted.items():
            names = sorted(fields)
            rows = {r[0]: (r[1], r[2]) for r in self.conn.execute(
                f"SELECT field, ord, actor FROM fields WHERE entity_id = ? AND field IN ({','.join('?' * len(names))})"
                " AND kind IS NOT 'c'", (target, *names))}
            for name in names:
                self._prefetched[(target, name)] = rows.get(name)
        return plain

    def plain_fields(self) -> dict[str, bool]:
        """field -> whether its writes are plain (an unmapped, non-CRDT field: a write to it
        touches its own register only), for the current groups and schema; a field not in it yet
        is answered by `plain_field`."""
        groups, schema = self._groups(), self._schema()
        known_groups, known_schema, known = self._plain
        if known_groups is not groups or known_schema is not schema:
            known = {}
            self._plain = (groups, schema, known)
        return known

    def plain_field(self, field: str) -> bool:
        """Whether writes to `field` are plain, answered once per field (`plain_fields`)."""
        known = self.plain_fields()
        plain = known.get(field)
        if plain is None:
            plain = known[field] = (is_field_key(field) and not self._is_crdt(field)
                                    and len(self._groups().members(field)) == 1)
        return plain

    def diverged(self) -> set[tuple[bytes, str]]:
        """The registers with open branches (tip rows): their next write is no plain one. Read-only."""
        return self._diverged

    def tip_writer(self, op_id: bytes, actor: bytes) -> bytes:
        """The writer (key || device) of a stored register's winning op `op_id` by `actor`."""
        devices = self._devices.get(actor)
        return actor + devices[0] if devices is not None and len(devices) == 1 else self._writer(op_id, actor)

    def plain_writes(self, ops: Sequence[o.Op], actor: bytes, writer: bytes, clock: VectorClock,
                     write: Callable[[list[tuple[bytes, str, str | None, Any, bytes, bytes]]], None]) -> int:
        """Apply a plain bundle's field writes (from where `prefetch` said) in one pass: each register's
        winner from the prefetch (or from this bundle's earlier writes to it), the rows handed to
        `write` at once (the `fields` upsert, one executemany). Stops before the first write
        that does not simply follow its register's single tip (a conflict, a diverged field, a
        merged record), after writing the rows before it; returns how many ops it applied, and
        the caller applies the rest op by op, as any bundle."""
        rows: list[tuple[bytes, str, str | None, Any, bytes, bytes]] = []
        latest: dict[tuple[bytes, str], tuple[bytes, bytes] | None] = {}
        root = self.redirects.root_lookup()
        for index, op in enumerate(ops):
            w: Any = op  # SetField, ClearField or SetReference (prefetch checked)
            target = root(w.entity, w.entity)
            field: str = w.field
            register = (target, field)
            if register in latest:
                row = latest[register]
            elif target in self._fresh and register not in self._fresh_written:  # created by this bundle
                self._fresh_written.add(register)
                row = None
            elif register in self._prefetched:
                row = self._prefetched.pop(register)
            else:  # not prefetched: not a plain bundle after all
                write(rows)
                return index
            ord_ = op.hlc + op.op_id  # op.ord, once
            if register in self._diverged or (row is not None and not self._follows(row, target, writer, ord_,
                                                                                    clock)):
                write(rows)  # the op-by-op path reads this register again, from SQLite
                return index
            kind = type(op)
            value = w.value if kind is o.SetField else None if kind is o.ClearField else \
                Reference(w.source, w.source_field)
            sql_kind, sql_value = to_sql(value)
            rows.append((target, field, sql_kind, sql_value, ord_, actor))
            latest[register] = (ord_, actor) if row is None or ord_ > row[0] else row
        write(rows)
        return len(ops)

    def _follows(self, row: tuple[bytes, bytes], target: bytes, writer: bytes, ord_: bytes,
                 clock: VectorClock) -> bool:
        """Whether a write saw the register's single tip `row` (its winner's ord and actor)."""
        winner = row[0][12:]
        self._winners[winner] = row
        return self._saw_single_tip(winner, target, True, writer, ord_, clock)

    def prior(self, op: o.Op) -> dict[tuple[bytes, str], bytes | None]:
        """Before an op is applied: the op id of each semantic register's current winner.

        A record created in this very bundle has no earlier writes anywhere (anyone else's
        write to it depends on this bundle), so its first write per field needs no lookup; unless
        one of its registers holds a write already (`_unwritten`).
        """
        if isinstance(op, o.CreateEntity):
            if self._unwritten(op.entity):
                self._fresh.add(op.entity)
            return {}
        if isinstance(op, o.MergeEntities):  # the survivor now holds the absorbed record's writes
            self._fresh.difference_update({op.survivor, op.absorbed, self.redirects.resolve(op.survivor)})
            return {}
        if isinstance(op, o.ResolveConflict):
            planned = self._plan([(op.target, op.field, op.chosen)])
        else:
            planned = self._plan(register_writes(op))
            if isinstance(op, _PLAIN_WRITES):  # applying them changes no groups or redirects: reuse in observe()
                self._planned = (op, planned)
        out: dict[tuple[bytes, str], bytes | None] = {}
        for _target, field, _value, resolved, key, _field_key in planned:
            if (resolved, key) in out:
                continue
            if resolved in self._fresh and (resolved, key) not in self._fresh_written:
                self._fresh_written.add((resolved, key))
                out[(resolved, key)] = None
                continue
            out[(resolved, key)] = self._winner(resolved, field)
        return out

    def _unwritten(self, entity: bytes) -> bool:
        """Whether no register of `entity` holds a write yet (no `fields` row: every lookup `prior`
        would make finds none) and no merge joins it to another record. Not so for a record
        created again by an author who had not seen its first creation (kept as one record: receive
        `_taken`) or written before its creation arrived: its writes then look their registers up
        like any, so that a write neither author had seen of the other conflicts in every order of
        arrival and in a rebuild."""
        if self.redirects.any_merges() and len(self.redirects.members(entity)) > 1:
            return False
        return self.conn.execute("SELECT 1 FROM fields WHERE entity_id = ? LIMIT 1", (entity,)).fetchone() is None

    def _plan(self, writes: list[tuple[bytes, str, Any]]) -> list[tuple[bytes, str, Any, bytes, str, bool]]:
        """Each register write with its semantic register (resolved target, key); CRDT fields left out."""
        groups = self._groups()
        resolve = self.redirects.resolve
        planned = []
        for target, field, value in writes:
            if is_field_key(field):
                if self._is_crdt(field):
                    continue
                planned.append((target, field, value, resolve(target), groups.key(field), True))
            else:
                planned.append((target, field, value, target, field, False))
        return planned

    def _winner(self, target: bytes, field: str) -> bytes | None:
        row: tuple[bytes, bytes] | None
        if is_field_key(field):
            members = self._groups().members(field)
            if (target, field) in self._prefetched:  # read with the bundle's others, and used once
                row = self._prefetched.pop((target, field))
            elif len(members) == 1:  # an unmapped field (almost all): a primary-key lookup
                row = self.conn.execute("SELECT ord, actor FROM fields WHERE entity_id = ? AND field = ?"
                                        " AND kind IS NOT 'c'", (target, field)).fetchone()
            else:
                marks = ",".join("?" * len(members))
                row = self.conn.execute(
                    f"SELECT ord, actor FROM fields WHERE entity_id = ? AND field IN ({marks})"
                    " AND kind IS NOT 'c' ORDER BY ord DESC LIMIT 1", (target, *members)).fetchone()
        else:
            row = self.conn.execute("SELECT ord, actor FROM edge_props WHERE edge_id = ? AND key = ?",
                                    (target, field)).fetchone()
        if row is None:
            return None
        op_id: bytes = row[0][12:]
        self._winners[op_id] = (row[0], row[1])
        return op_id

    def _writer(self, op_id: bytes, actor: bytes) -> bytes:
        """The writer of a register's winning op: known from its actor alone unless that person
        wrote on several devices; not in the oplog yet means this transaction (or overlay) wrote it."""
        devices = self._devices.get(actor)
        if devices is not None and len(devices) == 1:
            return actor + devices[0]
        row = self.conn.execute("SELECT b.writer FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq"
                                " WHERE l.op_id = ?", (op_id,)).fetchone()
        return row[0] if row else self.local_writer

    def _saw_single_tip(self, winner: bytes, target: bytes, field_key: bool, writer: bytes, ord_: bytes,
                        clock: VectorClock) -> bool:
        """Did a write see the register's single tip? Decided from the register row alone when no
        merge is involved (the common case: one more edit on an undisputed field), so it needs no
        oplog lookup and no tip rows."""
        known = self._winners.get(winner)
        if known is None or (field_key and self.redirects.merge_ops(target)):
            return False
        tip_ord, tip_actor = known
        devices = self._devices.get(tip_actor)  # one device (the common case): no lookup
        tip_writer = tip_actor + devices[0] if devices is not None and len(devices) == 1 else \
            self._writer(winner, tip_actor)
        if tip_writer == writer:
            return tip_ord < ord_
        return clock.get(tip_writer, ZERO) >= tip_ord[:12]

    def _remember(self, write: Write) -> None:
        self._memo[write.op_id] = write
        if len(self._memo) > 20_000:
            self._memo.popitem(last=False)

    def _lookup(self, op_id: bytes, target: bytes, key: str) -> Write | None:
        """The write an op made to (target, key): from memory, else from the oplog."""
        found = self._memo.get(op_id)
        if found is not None:
            return found
        row = self.conn.execute("SELECT l.payload, b.writer, b.header FROM oplog l JOIN bundles b"
                                " ON b.seq = l.bundle_seq WHERE l.op_id = ?", (op_id,)).fetchone()
        if row is None:
            return None
        return self._write_of(o.decode_stored_op(row[0]), row[1], stored_clock(row[2]), target, key)

    def _write_of(self, op: o.Op, writer: bytes, clock: VectorClock, target: bytes, key: str) -> Write | None:
        """The write stored op `op` made to (target, key), if any."""
        writes = [(op.target, op.field, op.chosen)] if isinstance(op, o.ResolveConflict) else register_writes(op)
        for tgt, field, value in writes:
            if self._target(tgt, field) == target and self.key_for(field) == key:
                return Write(op.op_id, op.ord, writer, clock, field, value, tgt)
        return None

    # --- conflicts opened by a batch of received plain writes (receive `_PlainRun`) ---------------

    def opens_in_batch(self) -> bool:
        """Whether a received write concurrent with its register's single tip may open its conflict
        with a batch's others (`opened_rows`): so long as no resolution and no held register
        exists (most workspaces), `_store` of two tips writes their rows and nothing else."""
        return not self._resolved_any and not self._held_any

    def opened_rows(self, opened: Sequence[tuple[bytes, str, Write, bytes]]) -> list[tuple[bytes, str, list[Write]]]:
        """What `observe` would do, write by write, for writes to plain registers (unmapped, non-CRDT
        fields of unmerged records, none diverged) that each did not see the register's single
        tip: (record, field, the write, the tip's op id), the tips all stored. The tips are read
        in one query per 500 (`_lookup` one each) and each register's rows inserted in one
        `executemany`; returns the registers that diverged, with their tips, for `keep_opened`
        once the caller's transaction keeps them (until then nothing in memory changes)."""
        tips: dict[bytes, Write | None] = {}
        wanted: dict[bytes, tuple[bytes, str]] = {}
        for target, field, _write, tip_id in opened:
            found = self._memo.get(tip_id)
            if found is not None:
                tips[tip_id] = found
            else:
                wanted[tip_id] = (target, field)
        ids = list(wanted)
        clocks: dict[bytes, VectorClock] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for op_id, payload, writer, header in self.conn.execute(
                    "SELECT l.op_id, l.payload, b.writer, b.header FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq"
                    f" WHERE l.op_id IN ({','.join('?' * len(part))})", part):
                clock = clocks.get(header)
                if clock is None:
                    clock = clocks[header] = stored_clock(header)
                tips[op_id] = self._write_of(o.decode_stored_op(payload), writer, clock, *wanted[op_id])
        diverged: list[tuple[bytes, str, list[Write]]] = []
        rows = []
        for target, field, write, tip_id in opened:
            tip = tips.get(tip_id)
            if tip is None or tip.op_id == write.op_id or saw(tip, write):
                continue  # as `_add`: no tip to compare with, or one that has seen this write
            branches = [write] if saw(write, tip) else [tip, write]
            if len(branches) < 2:
                continue
            diverged.append((target, field, branches))
            for branch in branches:
                kind, value = to_sql(branch.value)
                rows.append((target, field, branch.op_id, branch.ord, branch.writer, encode(branch.clock),
                             branch.field, kind, value, branch.origin or target))
        self.conn.executemany(
            "INSERT INTO field_tips (target, key, op_id, ord, writer, clock, field, kind, value, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return diverged

    def keep_opened(self, writes: Iterable[Write], diverged: Iterable[tuple[bytes, str, list[Write]]]) -> None:
        """After `opened_rows`' rows are kept: remember the writes (as `observe` does) and which
        registers now hold tip rows."""
        for write in writes:
            self._remember(write)
        self._diverged.update((target, field) for target, field, _tips in diverged)

    def observe(self, op: o.Op, writer: bytes, clock: VectorClock,
                prior: dict[tuple[bytes, str], bytes | None] | None = None) -> None:
        """Track the writes of an op that the Applier has just applied (`prior` taken before);
        `writer` is its author's key || device."""
        if isinstance(op, o.ResolveConflict):
            self._resolution(op, writer, clock, prior or {})
            return
        if isinstance(op, o.MergeEntities):
            self.recompute_records(self.redirects.members(op.survivor))
            return
        before = prior or {}
        planned = self._planned[1] if self._planned[0] is op else self._plan(register_writes(op))
        for target, field, value, resolved, key, field_key in planned:
            winner = before.get((resolved, key))
            if (resolved, key) not in self._diverged and (
                    winner is None or self._saw_single_tip(winner, resolved, field_key, writer, op.ord, clock)):
                continue  # the first write, or one that saw the single tip: it is the new single tip
            write = Write(op.op_id, op.ord, writer, clock, field, value, target)
            self._remember(write)
            self._add(resolved, key, write, winner, field_key)

    def _tips(self, target: bytes, key: str) -> list[Write]:
        if (target, key) not in self._diverged:
            return []
        return [Write(op_id, ord_, writer, decode(clock), field, from_sql(kind, value), origin)
                for op_id, ord_, writer, clock, field, kind, value, origin in self.conn.execute(
                    "SELECT op_id, ord, writer, clock, field, kind, value, origin FROM field_tips"
                    " WHERE target = ? AND key = ?", (target, key))]

    def _add(self, target: bytes, key: str, write: Write, prior_winner: bytes | None,
             field_key: bool | None = None) -> None:
        if prior_winner is None and (target, key) not in self._diverged:
            return  # the first write: the single tip is the register
        tips = self._tips(target, key)
        if not tips:
            if prior_winner is None or prior_winner == write.op_id:
                return  # the same write again: the single tip is the register
            single = self._lookup(prior_winner, target, key)
            if single is None:
                return
            tips = [single]
        if field_key is None:
            field_key = is_field_key(key)
        merges = self.redirects.merge_ops(target) if field_key else []
        for tip in tips:
            if tip.op_id == write.op_id or saw(tip, write, merges):
                if tip.op_id == write.op_id and len(tips) > 1:
                    # Known before its register was written (a mapping recomputed the tips from
                    # the oplog, which holds it already): the register that wins may have moved.
                    self._release("target = ? AND key = ?", (target, key))
                    self._hold(target, key, tips)
                return  # already known, or an older write that a branch tip has seen
        remaining = [tip for tip in tips if not saw(write, tip, merges)] + [write]
        self._store(target, key, remaining)

    def _store(self, target: bytes, key: str, tips: list[Write]) -> None:
        """Keep rows only for diverged fields (two or more tips)."""
        self.conn.execute("DELETE FROM field_tips WHERE target = ? AND key = ?", (target, key))
        self._release("target = ? AND key = ?", (target, key))
        if len(tips) < 2:
            self._diverged.discard((target, key))
            return
        self._hold(target, key, tips)
        self._diverged.add((target, key))
        rows = []
        for tip in tips:
            kind, value = to_sql(tip.value)
            rows.append((target, key, tip.op_id, tip.ord, tip.writer, encode(tip.clock), tip.field, kind, value,
                         tip.origin or target))
        self.conn.executemany(
            "INSERT INTO field_tips (target, key, op_id, ord, writer, clock, field, kind, value, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _resolution(self, op: o.ResolveConflict, writer: bytes, clock: VectorClock,
                    prior: dict[tuple[bytes, str], bytes | None]) -> None:
        key = self.key_for(op.field)
        target = self._target(op.target, op.field)
        if self.conn.execute("SELECT 1 FROM resolutions WHERE op_id = ?", (op.op_id,)).fetchone():
            return
        state = state_id(op.target, key, op.tips)
        rivals = self.conn.execute(
            "SELECT op_id, ord FROM resolutions WHERE state = ? AND accepted = 1", (state,)).fetchall()
        earlier = [r for r in rivals if r[1] < op.ord]
        accepted = not earlier
        self._resolved_any = True
        self.conn.execute(
            "INSERT INTO resolutions (op_id, conflict_id, state, target, key, field, ord, actor, accepted)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.op_id, op.conflict, state, op.target, key, op.field, op.ord, writer[:32], 1 if accepted else 0))
        if not accepted:
            return
        later = [r[0] for r in rivals if r[1] > op.ord]
        if later:
            self.conn.executemany("UPDATE resolutions SET accepted = 0 WHERE op_id = ?", [(r,) for r in later])
            self.recompute(target, [op.field], registers=True)
            return
        winner = prior.get((target, key), self._winner(target, op.field))
        self._write_register(target, op.field, op.chosen, op.ord, writer[:32])
        write = Write(op.op_id, op.ord, writer, clock, op.field, op.chosen, op.target)
        self._remember(write)
        self._add(target, key, write, winner)

    # A settled conflict reopened by a late edit keeps showing its last resolution ("last resolved
    # state is favored over LWW", conflicts.md): the register that wins last-writer-wins holds the
    # resolution's value and author instead of its own, which `held_registers` keeps to put back
    # when the conflict closes. Released and re-held on every change of tips, so it depends only
    # on the ops, never on the order they arrived in.

    def standing(self, tips: list[Write]) -> Write | None:
        """The latest accepted resolution among a field's tips: it reopened if there is one."""
        if not self._resolved_any:
            return None
        marks = ",".join("?" * len(tips))
        accepted = {r[0] for r in self.conn.execute(
            f"SELECT op_id FROM resolutions WHERE accepted = 1 AND op_id IN ({marks})", [t.op_id for t in tips])}
        found = [t for t in tips if t.op_id in accepted]
        return max(found, key=lambda t: t.ord) if found else None

    def _hold(self, target: bytes, key: str, tips: list[Write]) -> None:
        resolution = self.standing(tips)
        if resolution is None:
            return
        table, column, name = _REGISTERS[is_field_key(key)]
        members = self._members(resolution.field)
        marks = ",".join("?" * len(members))
        row = self.conn.execute(
            f"SELECT {name}, ord, kind, value, actor FROM {table} WHERE {column} = ? AND {name} IN ({marks})"
            " AND kind IS NOT 'c' ORDER BY ord DESC LIMIT 1", (target, *members)).fetchone()
        if row is None:
            return
        self._held_any = True
        self.conn.execute("INSERT INTO held_registers (target, key, field, ord, kind, value, actor)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?)", (target, key, *row))
        kind, value = to_sql(resolution.value)
        self.conn.execute(f"UPDATE {table} SET kind = ?, value = ?, actor = ? WHERE {column} = ? AND {name} = ?"
                          " AND ord = ?", (kind, value, resolution.actor, target, row[0], row[1]))

    def _release(self, where: str, params: tuple[Any, ...], targets: list[bytes] | None = None) -> None:
        """Put back the own values of held registers (matched by their write's `ord`: a register
        overwritten since holds a later write and is left alone)."""
        if not self._held_any:
            return
        held = self.conn.execute(f"SELECT target, key, field, ord, kind, value, actor FROM held_registers"
                                 f" WHERE {where}", params).fetchall()
        for target, key, field, ord_, kind, value, actor in held:
            table, column, name = _REGISTERS[is_field_key(key)]
            owners = targets or [target]
            marks = ",".join("?" * len(owners))
            self.conn.execute(f"UPDATE {table} SET kind = ?, value = ?, actor = ? WHERE {column} IN ({marks})"
                              f" AND {name} = ? AND ord = ?", (kind, value, actor, *owners, field, ord_))
            self.conn.execute("DELETE FROM held_registers WHERE target = ? AND key = ?", (target, key))

    # --- naming conflicts -------------------------------------------------------------------------

    def identify(self, target: bytes, key: str, tips: list[Write]) -> tuple[bytes, Write | None]:
        """(conflict id, the standing resolution if the conflict was settled and a late edit reopened it).

        A reopened conflict is the one its standing resolution settled (late edits extend it); a
        fresh one is named by its divergence point, the latest write every branch had seen."""
        resolution = self.standing(tips)
        if resolution is not None:
            row = self.conn.execute("SELECT conflict_id FROM resolutions WHERE op_id = ?",
                                    (resolution.op_id,)).fetchone()
            return row[0], resolution
        return conflict_id(target, key, self.divergence(target, key, tips)), None

    def divergence(self, target: bytes, key: str, tips: list[Write]) -> bytes | None:
        """Op id of the latest write to the field that every tip had seen (None: they share none)."""
        field_key = is_field_key(key)
        members = set(self._members(tips[0].field))
        originals = self.redirects.members(target) if field_key else [target]
        merges = self.redirects.merge_ops(target) if field_key else []
        accepted = self._accepted(originals)
        point = None
        for op, writer, clock in self._writes(originals, members):
            if isinstance(op, o.ResolveConflict) and op.op_id not in accepted:
                continue
            writes = [(op.target, op.field, op.chosen)] if isinstance(op, o.ResolveConflict) else register_writes(op)
            for tgt, field, value in writes:
                if tgt in originals and field in members:
                    write = Write(op.op_id, op.ord, writer, clock, field, value, tgt)
                    if all(t.op_id != write.op_id and saw(t, write, merges) for t in tips):
                        point = write.op_id  # canonical order: the last one found is the latest
        return point

    def _accepted(self, originals: list[bytes]) -> set[bytes]:
        return {r[0] for r in self.conn.execute(
            f"SELECT op_id FROM resolutions WHERE accepted = 1 AND target IN ({','.join('?' * len(originals))})",
            originals)}

    def lookup(self, op_id: bytes, target: bytes, key: str) -> Write | None:
        """The write an op made to a semantic field (for naming what a resolution chose between)."""
        return self._lookup(op_id, self._target(target, key) if is_field_key(key) else target, key)

    def _write_register(self, target: bytes, field: str, value: Any, ord_: bytes, actor: bytes) -> None:
        kind, sql_value = to_sql(value)
        sql = SET_FIELD if is_field_key(field) else SET_PROP
        self.conn.execute(sql, (target, field, kind, sql_value, ord_, actor))

    # --- recomputation (mapping changes, a resolution that arrived late) ------------------------

    def _members(self, field: str) -> tuple[str, ...]:
        return self._groups().members(field) if is_field_key(field) else (field,)

    def recompute(self, target: bytes, fields: Iterable[str], *, registers: bool) -> None:
        """Rebuild the tips (and optionally the registers) of the groups of `fields` on `target`."""
        members: set[str] = set()
        for field in fields:
            members.update(self._members(field))
        marks = ",".join("?" * len(members))
        self._release(f"target = ? AND field IN ({marks})", (target, *members))
        for row in self.conn.execute(f"SELECT DISTINCT target, key FROM field_tips WHERE target = ? AND field IN"
                                     f" ({marks})", (target, *members)).fetchall():
            self._diverged.discard(tuple(row))
        self.conn.execute(f"DELETE FROM field_tips WHERE target = ? AND field IN ({marks})", (target, *members))
        if registers:
            table, column = ("fields", "entity_id") if any(map(is_field_key, members)) else ("edge_props", "edge_id")
            name = "field" if table == "fields" else "key"
            self.conn.execute(f"DELETE FROM {table} WHERE {column} = ? AND {name} IN ({marks}) AND kind IS NOT 'c'",
                              (target, *members))
        originals = self.redirects.members(target) if any(map(is_field_key, members)) else [target]
        # Only resolutions already judged accepted count: the oplog may hold later ones (in a
        # rebuild, or further on in the bundle being applied) whose fate is not decided yet.
        accepted = self._accepted(originals)
        merges = self.redirects.merge_ops(target) if any(map(is_field_key, members)) else []
        tipsets: dict[str, list[Write]] = {}
        for op, writer, clock in self._writes(originals, members):
            if isinstance(op, o.ResolveConflict) and op.op_id not in accepted:
                continue
            writes = [(op.target, op.field, op.chosen)] if isinstance(op, o.ResolveConflict) else register_writes(op)
            for tgt, field, value in writes:
                if tgt not in originals or field not in members:
                    continue
                if registers:
                    self._write_register(target, field, value, op.ord, writer[:32])
                if is_field_key(field) and self._is_crdt(field):
                    continue
                write = Write(op.op_id, op.ord, writer, clock, field, value, tgt)
                self._remember(write)
                tips = tipsets.setdefault(self.key_for(field), [])
                if any(t.op_id == write.op_id or saw(t, write, merges) for t in tips):
                    continue
                tips[:] = [t for t in tips if not saw(write, t, merges)] + [write]
        for key, tips in tipsets.items():
            self._store(target, key, tips)

    def recompute_records(self, records: list[bytes]) -> None:
        """After a merge: rebuild the tips of every field of the merged class on its survivor."""
        marks = ",".join("?" * len(records))
        fields = {r[0] for r in self.conn.execute(
            f"SELECT l.field FROM {MAIN_WRITES} WHERE t.target IN ({marks}) AND l.field NOT LIKE '@%'"
            f" UNION SELECT field FROM op_touches WHERE target IN ({marks}) AND field NOT LIKE '@%'",
            (*records, *records))}
        self.conn.execute(f"DELETE FROM field_tips WHERE target IN ({marks})", records)
        self._release(f"target IN ({marks})", tuple(records), targets=list(records))
        self._diverged = {d for d in self._diverged if d[0] not in records}
        survivor = self.redirects.resolve(records[0])
        keys: dict[str, set[str]] = {}
        for field in fields:
            if is_field_key(field):
                keys.setdefault(self.key_for(field), set()).add(field)
        for members in keys.values():
            self.recompute(survivor, members, registers=False)

    def _writes(self, targets: list[bytes], members: set[str]) -> list[tuple[o.Op, bytes, VectorClock]]:
        """Every stored (and pending local) op writing `members` of `targets`, in canonical order."""
        fmarks = ",".join("?" * len(members))
        tmarks = ",".join("?" * len(targets))
        rows = self.conn.execute(
            f"""SELECT l.ord, l.payload, b.writer, b.header FROM {MAIN_WRITES}
                WHERE t.target IN ({tmarks}) AND l.field IN ({fmarks})
                UNION
                SELECT l.ord, l.payload, b.writer, b.header FROM op_touches t JOIN oplog l ON l.seq = t.op_seq
                JOIN bundles b ON b.seq = l.bundle_seq WHERE t.target IN ({tmarks}) AND t.field IN ({fmarks})
                ORDER BY 1""",
            (*targets, *members, *targets, *members)).fetchall()
        clocks: dict[bytes, VectorClock] = {}
        out = []
        for _ord, payload, writer, header in rows:
            if header not in clocks:
                clocks[header] = stored_clock(header)
            out.append((o.decode_stored_op(payload), writer, clocks[header]))
        for op, writer, clock in self.pending:
            if any(t in targets and f in members for t, f, _ in register_writes(op)):
                out.append((op, writer, clock))
        out.sort(key=lambda item: item[0].ord)
        return out

    def regroup(self, fields: Iterable[str]) -> None:
        """Field mappings changed: recompute the tips of every record that wrote these fields."""
        fields = set(fields)
        if not fields:
            return
        marks = ",".join("?" * len(fields))
        targets = [r[0] for r in self.conn.execute(
            f"SELECT target FROM oplog WHERE field IN ({marks}) AND target IS NOT NULL"
            f" UNION SELECT target FROM op_touches WHERE field IN ({marks})", (*fields, *fields))]
        for target in {self.redirects.resolve(t) for t in targets}:
            self.recompute(target, fields, registers=False)


# --- what people see ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Competitor:
    """One branch tip: a value, who wrote it and when."""

    op_id: str
    value: Any
    actor: str
    display_name: str
    hlc: bytes
    when: str
    field: str
    resolution: bool = False  # a decision that settled this conflict before a late edit reopened it


@dataclass(frozen=True)
class Conflict:
    id: str  # the same on every peer, from the first divergence through resolutions and reopenings
    target: str  # the record (or edge) in conflict
    key: str  # the semantic field (or edge property)
    is_edge: bool
    table: str  # display name of the table ('' for an edge property)
    record_label: str
    field_name: str  # display name of the field or property
    current: Any  # what the field shows now: last writer wins, or the last resolution if reopened
    competitors: tuple[Competitor, ...]
    resolution_id: str | None = None  # op id of the resolution a late edit reopened (its value is shown)

    def describe(self) -> str:
        """A sentence for people: "Jane Doe's Call time was edited by Alex (18:00) and Jordan (18:30)"."""
        settled = next((c for c in self.competitors if c.op_id == self.resolution_id), None)
        if settled is not None:
            late = _listed([f"{c.display_name} ({_shown(c.value)})" for c in self.competitors if c is not settled])
            return (f"{self.record_label}'s {self.field_name} was settled as {_shown(settled.value)} by "
                    f"{settled.display_name}, but {late} changed it without having seen that")
        parts = [f"{c.display_name} ({_shown(c.value)})" for c in self.competitors]
        return f"{self.record_label}'s {self.field_name} was edited by {_listed(parts)}"

    @property
    def actors(self) -> tuple[str, ...]:
        return tuple(sorted({c.actor for c in self.competitors}))


def _listed(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _shown(value: Any) -> str:
    if value is None:
        return "cleared"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def open_conflict_rows(conn: sqlite3.Connection, target: bytes | None = None) -> dict[tuple[bytes, str], list[Write]]:
    """(target, key) -> tips, for every field whose tips disagree."""
    sql = ("SELECT target, key, op_id, ord, writer, clock, field, kind, value, origin FROM field_tips"
           " WHERE (target, key) IN (SELECT target, key FROM field_tips GROUP BY target, key HAVING count(*) > 1)")
    params: tuple[Any, ...] = ()
    if target is not None:
        sql += " AND target = ?"
        params = (target,)
    out: dict[tuple[bytes, str], list[Write]] = {}
    for tgt, key, op_id, ord_, writer, clock, field, kind, value, origin in conn.execute(sql + " ORDER BY ord",
                                                                                       params):
        out.setdefault((tgt, key), []).append(Write(op_id, ord_, writer, decode(clock), field, from_sql(kind, value),
                                                    origin))
    return {k: tips for k, tips in out.items() if len({_freeze(t.value) for t in tips}) > 1}


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else (type(value).__name__, value)
