"""The receive pipeline: decode, check, verify, order and apply bundles from other peers.

One pipeline in three steps, the middle one driven by the caller: `check` (decode: shape and op
hashes; workspace, duplicate, backdated (stamped no later than what its clock names), future
clock), then the caller verifies each author's signature however its runtime verifies (PyNaCl at
once, WebCrypto awaited), then `apply` (causal readiness, the schema and id checks, one SQLite
transaction with a savepoint per bundle). `Workspace.ingest` and `ingest_many` run the three with
the synchronous verifier. Bad input never raises: it is quarantined with a stable reason.

Causal readiness works per *writer* (the author's key on one device): a bundle waits until the
bundle before it in its own device's chain, and everything its vector clock names from other
writers, is here. So one person editing on a laptop and a tablet while apart produces two chains
that both apply everywhere, whatever order they arrive in. A device chain that forks (two
different bundles after the same predecessor: a copied database file, or an author
equivocating) is not an error either: each branch applies once its predecessor is here, and the
sync protocol's per-writer digests make every peer fetch both (docs/design.md). A bundle that
is not ready waits in the parking lot (`parked.py`), indexed by the one dependency it waits for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from math import isfinite
from typing import TYPE_CHECKING, Any

from . import hlc as hlc_mod
from . import operations as o
from . import oplog, ownership, run_creations
from .awareness import field_writes
from .bundle import Bundle, decode_bundle, failure
from .conflicts import Write
from .context import Part
from .errors import (
    REASON_BACKDATED,
    REASON_BAD_SIGNATURE,
    REASON_CONFLICTING_DUPLICATE,
    REASON_FUTURE_HLC,
    REASON_ID_IN_USE,
    REASON_MALFORMED,
    REASON_REMOVED_MEMBER,
    REASON_SCHEMA,
    REASON_TOO_MANY_PARKED,
    REASON_WRONG_WORKSPACE,
    BundleRejected,
    LocalError,
    ValidationError,
)
from .identity import short_actor
from .ids import commits_to, to_str
from .modules import MAX_STRING, Schema
from .parked import Wait
from .results import BundleEvent, IngestResult, OplogSize, Quarantined, StoredBundle, actor_str, id_str
from .settings import check_setter
from .state import Effects
from .validation import check_op, check_set_field
from .values import KIND_BOOL, KIND_NUMBER, KIND_STRING, to_sql

if TYPE_CHECKING:
    from .context import Context
    from .identity import Verifier


def _local_failure(exc: Exception) -> bool:
    """An error of this device's storage (disk, locks, a damaged file), not of the bundle being applied."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError))


def quarantine(ws: Context, data: bytes, reason: str, detail: str, bundle: Bundle | None,
               source: str | None) -> IngestResult:
    ws.conn.execute(
        "INSERT INTO quarantine (received_at, reason, detail, bundle_id, actor, source, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ws.env.now_ms(), reason, detail, bundle.bundle_id if bundle else None, bundle.actor if bundle else None,
         source, data),
    )
    return IngestResult("rejected", id_str(bundle.bundle_id if bundle else None), reason, detail)


def _decoded(data: bytes) -> Bundle | BundleRejected:
    """The bundle, or why it cannot be decoded."""
    try:
        return decode_bundle(data)
    except BundleRejected as exc:
        return exc
    except Exception as exc:  # decode_bundle refuses every bad shape itself; this is the last guard
        return BundleRejected(REASON_MALFORMED, f"bundle could not be decoded ({failure(exc)})")


def precheck(ws: Context, data: bytes, source: str | None, decoded: Bundle | BundleRejected | None = None,
             stored: dict[bytes, tuple[bytes, bytes]] | None = None) -> Bundle | IngestResult:
    """Everything that needs no signature: shape, workspace, duplicates, future clocks. `decoded`
    and `stored` (the header and signature of the batch's bundles stored already, read together)
    when the caller has them."""
    bundle = _decoded(data) if decoded is None else decoded
    if isinstance(bundle, BundleRejected):
        return quarantine(ws, data, bundle.reason, bundle.detail, None, source)
    header = bundle.header
    if header.workspace != ws.workspace_id:
        return quarantine(ws, data, REASON_WRONG_WORKSPACE, f"bundle is for workspace {to_str(header.workspace)}, "
                          f"this is {to_str(ws.workspace_id)}", bundle, source)
    row = ws.conn.execute("SELECT header, signature FROM bundles WHERE bundle_id = ?",
                          (header.bundle_id,)).fetchone() if stored is None else stored.get(header.bundle_id)
    if row is not None:
        if row[0] == bundle.header_bytes and row[1] == bundle.signature:
            return IngestResult("duplicate", to_str(header.bundle_id), writer=header.writer, hlc=header.hlc)
        return quarantine(ws, data, REASON_CONFLICTING_DUPLICATE, "a different bundle with this id is already stored",
                          bundle, source)
    if ws.parked.count() and ws.parked.holds(header.bundle_id):
        return IngestResult("pending", to_str(header.bundle_id), detail="already waiting for earlier bundles")
    refused = ws.refused_authors.get(header.actor)
    if refused is not None:
        return quarantine(ws, data, REASON_REMOVED_MEMBER, refused, bundle, source)
    backdated = _backdated(bundle)
    if backdated is not None:
        return quarantine(ws, data, REASON_BACKDATED, backdated, bundle, source)
    # The settings in force before this bundle (it cannot widen the check for itself), capped by
    # this receiver's own ceiling.
    drift = min(ws.settings.max_future_drift_ms, ws.env.max_future_drift_cap_ms)
    future = ws.clock.check_future(header.hlc, drift)
    if future is not None:
        return quarantine(ws, data, REASON_FUTURE_HLC, future.describe(), bundle, source)
    return bundle


def _backdated(bundle: Bundle) -> str | None:
    """Why the bundle's clock is not later than everything its vector clock says its author had
    seen (its own predecessor first), or None. An author's clock merges every bundle it sees and
    ticks after it, so an honest bundle is always later; a backdated one would sort before what it
    follows and, stamped before its own predecessor, would never move anyone's vector clock: peers
    that already hold the predecessor would never be sent it while newcomers would (docs/sync.md)."""
    first = bundle.ops[0].hlc if bundle.ops else bundle.hlc
    header = bundle.header
    named = header.clock.get(header.writer)
    if named is not None and first <= named:
        return (f"stamped {hlc_mod.to_display(first)}, not later than the bundle before it on the same device "
                f"({hlc_mod.to_display(named)}); a device's clock never runs backwards")
    for writer, seen in header.clock.items():
        if first <= seen:
            return (f"stamped {hlc_mod.to_display(first)}, not later than a bundle its author had already seen "
                    f"({short_actor(writer[:32])}, {hlc_mod.to_display(seen)})")
    return None


def blocker(ws: Context, bundle: Bundle) -> Wait | None:
    """What this bundle still waits for, or None when everything it depends on is here: its
    predecessor in its device's chain (the bundle whose HLC its clock names for its own writer),
    and every other writer's bundles up to its clock."""
    header = bundle.header
    writer = header.writer
    vc = ws._vc
    previous = header.clock.get(writer)
    # The usual case is equality (no query); an older predecessor means a forked chain.
    if previous is not None and previous != vc.get(writer) and (
            previous > vc.get(writer, hlc_mod.ZERO) or not ws.conn.execute(
                "SELECT 1 FROM bundles WHERE writer = ? AND hlc = ?", (writer, previous)).fetchone()):
        return Wait(writer, previous, True)  # not here yet (or, in a forked chain, a branch we have not got)
    zero = hlc_mod.ZERO
    for other, h in header.clock.items():
        if other != writer and vc.get(other, zero) < h:
            return Wait(other, h, False)
    return None


DRAIN_BATCH = 256  # awake parked bundles read and applied per transaction


def apply_verified(ws: Context, items: Iterable[tuple[Bundle, bool, bytes]], source: str | None,
                   bundles: list[Bundle] | None = None, ready: Callable[[], bool] | None = None) -> list[IngestResult]:
    """Apply verified bundles in ONE SQLite transaction, each all-or-nothing (a savepoint).

    One commit for a whole catch-up batch instead of one per bundle; a bundle that waits for
    earlier ones is parked (or refused when the waiting room is full), one that fails a check is
    quarantined, and the others still apply. Parked bundles the batch unblocks apply after it.
    `items` may be read lazily (each verdict arriving as its bundle's turn comes); `bundles`
    then lists them up front, for the reads done once per batch, and `ready` (if given) says
    whether the next item would come without waiting.
    """
    results = _apply_batch(ws, items, source, bundles, ready)
    more = drain_pending(ws, ws.parked.limits.drain_step)
    if more:
        drained = set(more)
        results = [replace(r, status="applied", detail="", applied=(r.bundle_id,))
                   if r.status == "pending" and r.bundle_id in drained else r for r in results]
        last = results[-1]
        results[-1] = replace(last, applied=(*last.applied, *(b for b in more if b not in last.applied)))
    return results


class _Batch:
    """What one receiving transaction keeps in memory instead of asking SQLite per bundle: which
    of its bundles are stored already (one query for a whole list), the next free op seq, and the
    vector clock rows, written once before the commit (the in-memory clock moves per bundle).

    `alone`: the transaction holds one received bundle (`Workspace.ingest`, a live edit), so the
    transaction itself is that bundle's all-or-nothing unit and it is applied without a savepoint,
    whose sub-journal copies every page the bundle changes (~20 µs of a W1 bundle's ~450:
    docs/benchmarks.md, Session 14); a failure rolls the whole transaction back instead."""

    def __init__(self, ws: Context, bundles: list[Bundle] | None, alone: bool = False) -> None:
        self.alone = alone
        self.stored: set[bytes] | None = None  # None: bundles not known up front, ask per bundle
        if bundles is not None:
            self.stored = oplog.stored_ids(ws.conn, [bundle.bundle_id for bundle in bundles])
        self.next_seq: int | None = None
        self.clocks: dict[bytes, tuple[bytes, bytes, bytes]] = {}  # writer -> (writer, hlc, digest)

    def is_stored(self, ws: Context, bundle_id: bytes) -> bool:
        if self.stored is None:
            return ws.conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (bundle_id,)).fetchone() is not None
        return bundle_id in self.stored

    def op_seq(self, ws: Context, count: int) -> int:
        """The first op seq for `count` new ops."""
        if self.next_seq is None:
            self.next_seq = oplog.next_op_seq(ws.conn)
        first = self.next_seq
        self.next_seq += count
        return first

    def stored_bundle(self, bundle_id: bytes, writer: bytes, hlc: bytes, digest: bytes) -> None:
        """A bundle of this batch was stored (its header's id, writer and HLC: read once by the caller)."""
        if self.stored is not None:
            self.stored.add(bundle_id)
        known = self.clocks.get(writer)
        self.clocks[writer] = (writer, hlc if known is None or hlc > known[1] else known[1], digest)

    def flush_clocks(self, ws: Context) -> None:
        """Write the vector clock rows (before the commit, and before caches are re-read from SQLite)."""
        if self.clocks:
            # each row from the whole chain kept in memory: for a writer of this device whose own
            # bundles came back (from a copy of this file), that includes its local commits not in
            # its row yet (`Context.clock_row_due`), which may be newer than what was received
            oplog.store_clocks(ws.conn, [(writer, ws._vc[writer], ws._digests[writer]) for writer in self.clocks])
            if ws.writer in self.clocks:
                ws._clock_pending = 0
            self.clocks.clear()


def _apply_batch(ws: Context, items: Iterable[tuple[Bundle, bool, bytes]], source: str | None,
                 bundles: list[Bundle] | None = None, ready: Callable[[], bool] | None = None) -> list[IngestResult]:
    """One transaction: `items` are applied or parked, and the parked bundles that waited for one
    of those applied are marked awake (`items` may be read lazily, inside the transaction;
    `bundles`, when known up front, are what they hold). When `ready()` says the next item is not
    in yet (its signature still being checked on another thread), the plain run held so far is
    written first instead of waiting: the same writes a run ended there makes, and SQLite's work
    lets the checking thread run (taking bundles into a run is pure Python, which starves it)."""
    if bundles is None and isinstance(items, list):
        bundles = [bundle for bundle, valid, _data in items if valid]
    if ws._tx is not None:
        raise LocalError("cannot apply received bundles while a local transaction is open")
    ws.overlays.close_view()
    results: list[IngestResult] = []
    applied: list[tuple[Bundle, bytes]] = []
    ws.conn.execute("BEGIN IMMEDIATE")
    try:
        batch = _Batch(ws, bundles, alone=isinstance(items, list) and len(items) == 1)
        # a catch-up of plain field edits (almost all of one) is written a run at a time
        run = _PlainRun(ws, batch, bundles) if bundles is not None and len(bundles) > 1 else None
        for bundle, valid, data in items:
            if run is not None:
                if valid and run.take(bundle, data):
                    if ready is not None and not ready():
                        run.flush(source, results, applied)
                    continue
                run.flush(source, results, applied)  # what it holds goes first, in order
            _one(ws, bundle, valid, data, source, batch, results, applied)
            if run is not None:
                run.forget(bundle)  # registers it may have written are read again
        if run is not None:
            run.flush(source, results, applied)
        batch.flush_clocks(ws)
        ws.conn.execute("COMMIT")
    except BaseException:
        if ws.conn.in_transaction:  # a bundle applied alone may have failed to begin its next one
            ws.conn.execute("ROLLBACK")
        ws._reload()
        raise
    for bundle, data in applied if ws.listeners else ():
        ws._notify(BundleEvent(to_str(bundle.bundle_id), actor_str(bundle.actor), bundle.writer, bundle.hlc, data,
                               "remote"))
    return results


def _one(ws: Context, bundle: Bundle, valid: bool, data: bytes, source: str | None, batch: _Batch,
         results: list[IngestResult], applied: list[tuple[Bundle, bytes]]) -> None:
    """One verified (or not) bundle of a batch, the per-bundle way: refused, a duplicate, parked,
    or checked and applied in its own savepoint."""
    if not valid:
        proof = (" or its recovery proof does not check (wrong recovery words, or a proof made for "
                 "someone else)") if bundle.has_recovery() else ""
        results.append(quarantine(
            ws, data, REASON_BAD_SIGNATURE,
            f"signature does not verify for actor {short_actor(bundle.actor)}{proof}", bundle, source))
    elif batch.is_stored(ws, bundle.bundle_id):
        results.append(IngestResult("duplicate", to_str(bundle.bundle_id), writer=bundle.writer, hlc=bundle.hlc))
    elif (wait := blocker(ws, bundle)) is not None:
        results.append(_park(ws, bundle, data, wait))
    else:
        results.append(_apply_one(ws, bundle, data, source, batch))
        if results[-1].status == "applied":
            applied.append((bundle, data))
            if ws.parked.count():  # nothing parked (the usual case): nothing to wake
                ws.parked.wake(bundle.writer, bundle.hlc)


# A register's winner as the run knows it: (ord, actor, writer); the writer of a stored winner is
# found when it is first needed (None until then).
_Tip = tuple[bytes, bytes, bytes | None]
_PLAIN_OPS = frozenset((o.SetField, o.ClearField))
_READ_FIELDS = 64  # a batch writing at most this many fields reads only their registers
_NO_REGISTER_OPS = frozenset((o.CreateEntity, o.IdentifyActor))  # applied, they write no `fields` row
_EXACT_INT = 2**53  # an int value inside (-2**53, 2**53) is canonical (`modules.normalize_value`)


class _PlainRun:
    """Consecutive ready bundles of plain field writes, written together: one `executemany` per
    table for the whole run instead of statements and a savepoint per bundle.

    A bundle joins the run when everything the per-bundle path would do with it is known before
    any write: it is ready (its chain and clock covered by what is stored or earlier in the run),
    not stored nor already in the run, passes the value checks, and each of its writes is to an
    unmapped, non-CRDT field of an unmerged record whose register has a single tip that the write
    follows (no conflict to track) or, while the workspace holds no resolution, is concurrent
    with (a conflict opens: its tip rows are written with the run, `conflicts.opened_rows`, and
    the run writes that register no more). It may also create records (a new record and its
    values, the catch-up's other shape), each one no `entities` row holds, as `_checked` would
    let it (`run_creations`). Anything else ends the run: the run is written, then
    that bundle goes the per-bundle way. The registers' winners are read once for the whole batch
    (one query per 500 records, of the fields the batch writes when few) and kept current with
    the run's own writes; after a bundle applied the per-bundle way, those it may have written
    are read again as needed (`forget`). Taking a bundle changes nothing outside the run,
    so a run that fails to write (an op id already stored: a crafted bundle) is rolled back and
    its bundles go the per-bundle way one by one, which refuses exactly the bad one."""

    def __init__(self, ws: Context, batch: _Batch, bundles: list[Bundle]) -> None:
        self.ws = ws
        self.batch = batch
        self.tips: dict[bytes, dict[str, _Tip]] = {}  # record -> field -> its winner (records read)
        self._values: tuple[Schema | None, dict[str, str]] = (None, {})  # see `_value_kinds`
        writes = [op for bundle in bundles for op in bundle.ops if type(op) in _PLAIN_OPS]
        # the fields the batch writes, when few: only their registers are read (a record has many
        # more); a bundle writing any other field is not taken
        fields = sorted({op.field for op in writes})  # type: ignore[attr-defined]
        self.fields: frozenset[str] | None = frozenset(fields) if len(fields) <= _READ_FIELDS else None
        self._field_list = fields
        self._read([op.entity for op in writes])  # type: ignore[attr-defined]
        # the records the batch creates that have no `entities` row: a creation of one of them
        # may join the run; one that any bundle taken or applied since names is out
        self.absent = run_creations.absent_records(ws.conn, (op for bundle in bundles for op in bundle.ops))
        self._clear()

    def _clear(self) -> None:
        # bundle, data, its writer's digest with it, received at, (age, flagged at) when stale, and
        # its (record, field, ord) writes for awareness (`field_writes`, built while taking it)
        self.held: list[tuple[Bundle, bytes, bytes, int, tuple[int, int] | None, list[tuple[bytes, str, bytes]]]] = []
        self.created: list[tuple[o.CreateEntity, bytes]] = []  # the run's record creations and their authors
        self.ids: set[bytes] = set()
        self.vc: dict[bytes, bytes] = {}  # writer -> latest hlc in the run
        self.digests: dict[bytes, bytes] = {}
        # register -> the run's last write to it (a `fields` row), and that write's writer
        self.writes: dict[tuple[bytes, str], tuple[bytes, str, str | None, Any, bytes, bytes]] = {}
        self.writers: dict[tuple[bytes, str], bytes] = {}
        # writes that open a conflict with their register's stored single tip: (record, field,
        # the write, the tip's op id), their tip rows written with the run (`conflicts.opened_rows`)
        self.opened: list[tuple[bytes, str, Write, bytes]] = []
        self.opened_registers: set[tuple[bytes, str]] = set()
        self.ops = 0

    def forget(self, bundle: Bundle | None = None) -> None:
        """Stored registers may have changed (`bundle` went the per-bundle way; None: anything
        may have): read them again. A bundle of field writes, record creations and actor names
        only (most that conflict, or that create a record) writes no value register but those of
        the records its field writes name: only those are read again (W2's merge, whose first
        bundle names its author, re-read one record per bundle after it). A write through a
        merge's redirect changes its survivor's register, but a merged record never joins a run
        (`take`). Any other op may change any register: everything is read again. A record any op
        of it names may have an `entities` row now: no creation of it joins the run."""
        if bundle is None:
            self.tips.clear()
            return
        tips = self.tips
        absent = self.absent
        cleared = False
        for op in bundle.ops:
            kind = type(op)
            if kind in _PLAIN_OPS:
                tips.pop(op.entity, None)  # type: ignore[attr-defined]
                continue
            if absent:
                run_creations.forget_named(absent, op)
            if kind not in _NO_REGISTER_OPS and not cleared:
                tips.clear()
                cleared = True

    def _read(self, records: Iterable[bytes]) -> None:
        """Read the winners of every value register of `records` not read yet."""
        wanted = [r for r in dict.fromkeys(records) if r not in self.tips]
        conn = self.ws.conn
        # a winner by an actor seen on one device only was written there: its writer is known now
        # (the tip rows read are stored ones, all older than any device that actor adds later), so
        # `take` need not ask `tip_writer` per register; other actors' are still found when needed
        single = {actor: actor + devices[0] for actor, devices in self.ws._devices.items() if len(devices) == 1}
        tips = self.tips
        # `+field`: filtered while each record's rows are scanned, not one key lookup per field
        only = "" if self.fields is None else f" AND +field IN ({','.join('?' * len(self._field_list))})"
        named = [] if self.fields is None else self._field_list
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            for record in part:
                tips[record] = {}
            for record, field, ord_, actor in conn.execute(
                    f"SELECT entity_id, field, ord, actor FROM fields WHERE entity_id IN ({','.join('?' * len(part))})"
                    f"{only} AND kind IS NOT 'c'", [*part, *named]):
                tips[record][field] = (ord_, actor, single.get(actor))

    def _value_kinds(self, schema: Schema) -> dict[str, str]:
        """Per field, its type when it is "string", "number" or "boolean" and no CRDT, else "";
        answered once per `Schema` object (replaced, never changed, when modules change). A value
        of such a field that is canonical at first sight (text within the length limit, an exact
        int, a finite float with a fraction, a bool: what `normalize_value` returns unchanged)
        needs no other check, and its `to_sql` is inline; any other goes through `check_set_field`."""
        known_schema, kinds = self._values
        if known_schema is not schema:
            kinds = {}
            self._values = (schema, kinds)
        return kinds

    @staticmethod
    def _value_kind(schema: Schema, field: str) -> str:
        fdef = schema.fields.get(field)
        if fdef is None or fdef.crdt is not None:
            return ""
        return fdef.type if fdef.type in ("string", "number", "boolean") else ""

    def take(self, bundle: Bundle, data: bytes) -> bool:
        """Add a verified bundle to the run if it is plain (see the class); False leaves it alone."""
        ws = self.ws
        header = bundle.header
        writer = header.writer
        bundle_id = header.bundle_id
        ops: Sequence[o.Op] = bundle.ops
        if not ops or bundle_id in self.ids or self.batch.is_stored(ws, bundle_id):
            return False
        created: set[bytes] | None = None  # the records its `CreateEntity` ops create
        creations: list[o.CreateEntity] = []
        if not _PLAIN_OPS.issuperset(map(type, ops)):
            shape = run_creations.creations(ops, self.absent, ws.conflicts.redirects, ws.schema)
            if shape is None:
                return False
            creations, ops = shape
            created = {op.entity for op in creations}
        vc = ws._vc
        run_vc = self.vc
        zero = hlc_mod.ZERO
        previous = header.clock.get(writer)
        if previous is not None and previous != run_vc.get(writer, vc.get(writer)):
            return False  # waits for its predecessor, or a forked chain: the per-bundle way decides
        for other, h in header.clock.items():
            if other != writer and run_vc.get(other, vc.get(other, zero)) < h:
                return False
        tracker = ws.conflicts
        plain_fields = tracker.plain_fields()
        diverged = tracker.diverged()
        redirects = tracker.redirects
        root = redirects.root_lookup()
        merges = redirects.merge_ops if redirects.any_merges() else None
        schema = ws.schema
        tips = self.tips
        # every op is a plain write now (checked above)
        missing = [op.entity for op in ops if op.entity not in tips]  # type: ignore[attr-defined]
        if missing:
            self._read(missing)
        clock = header.clock
        actor = header.actor
        writes = self.writes
        kinds = self._value_kinds(schema)
        opens = tracker.opens_in_batch()
        only = self.fields
        opened = self.opened_registers
        opening: dict[tuple[bytes, str], tuple[bytes, str, Write, bytes]] = {}  # this bundle's, by register
        seen: list[tuple[bytes, str, bytes]] = []  # what `field_writes(ops)` gives, for awareness
        mine: dict[tuple[bytes, str], tuple[bytes, str, str | None, Any, bytes, bytes]] = {}
        for op in ops:
            kind = type(op)
            if kind not in _PLAIN_OPS:
                return False
            w: o.SetField | o.ClearField = op  # type: ignore[assignment]
            entity = w.entity
            field = w.field
            register = (entity, field)
            if only is not None and field not in only:
                return False  # not a field the batch's registers were read for
            plain = plain_fields.get(field)
            if not (plain or (plain is None and tracker.plain_field(field))) or root(entity, entity) != entity \
                    or (merges is not None and merges(entity)) or register in diverged or register in opened \
                    or register in opening:  # a register whose conflict it opens: its tips change again
                return False
            sql: tuple[str | None, Any] | None = None  # (kind, value) once known
            if kind is o.SetField:
                value = w.value  # type: ignore[union-attr]
                value_kind = kinds.get(field)
                if value_kind is None:
                    value_kind = kinds[field] = self._value_kind(schema, field)
                value_type = type(value)
                if value_kind == "string":
                    if value_type is str and len(value) <= MAX_STRING:
                        sql = (KIND_STRING, value)
                elif value_kind == "number":
                    if (value_type is int and -_EXACT_INT < value < _EXACT_INT) or (
                            value_type is float and isfinite(value) and not value.is_integer()):
                        sql = (KIND_NUMBER, value)
                elif value_kind == "boolean" and value_type is bool:
                    sql = (KIND_BOOL, 1 if value else 0)
            if sql is None:
                try:
                    if kind is o.SetField:
                        check_set_field(w, schema)  # type: ignore[arg-type]
                    elif check_op(op, schema) is not schema:
                        return False
                except Exception:
                    return False  # refused the per-bundle way, with its reason
            ord_ = op.hlc + op.op_id
            seen.append((entity, field, ord_))
            latest = mine.get(register)
            if latest is not None:
                tip_ord, tip_writer = latest[4], writer
            elif created is not None and entity in created:
                # a record this bundle creates: its first write to a register follows nothing
                # (`ConflictTracker.prior`), which is what the run knows only when nothing was written
                if register in writes or tips[entity].get(field) is not None:
                    return False  # to it yet, neither stored nor in the run
                tip_ord, tip_writer = b"", None
            elif (latest := writes.get(register)) is not None:
                tip_ord, tip_writer = latest[4], self.writers[register]
            else:
                stored = tips[entity].get(field)
                if stored is None:
                    tip_ord, tip_writer = b"", None  # the register's first write
                else:
                    tip_ord = stored[0]
                    tip_writer = stored[2]
                    if tip_writer is None:
                        tip_writer = tracker.tip_writer(tip_ord[12:], stored[1])
                        tips[entity][field] = (tip_ord, stored[1], tip_writer)
            if tip_writer is not None and not (
                    tip_ord < ord_ if tip_writer == writer else clock.get(tip_writer, zero) >= tip_ord[:12]):
                # concurrent with the register's tip: a conflict, opened with the run's others
                # when that tip is stored (not the run's own write)
                if not opens or latest is not None:
                    return False
                value = w.value if kind is o.SetField else None  # type: ignore[union-attr]
                opening[register] = (entity, field, Write(op.op_id, ord_, writer, clock, field, value, entity),
                                     tip_ord[12:])
            if ord_ > tip_ord:
                if sql is None:
                    sql = to_sql(w.value if kind is o.SetField else None)  # type: ignore[union-attr]
                mine[register] = (entity, field, sql[0], sql[1], ord_, actor)
        # taken: what the per-bundle way would store, in its order
        now = ws.env.now_ms  # called as often as the per-bundle way calls it
        received = now()
        age = now() - hlc_mod.wall_ms(header.hlc)
        stale = (age, now()) if age > ws.settings.stale_threshold_ms else None
        digest = oplog.xor(self.digests.get(writer) or ws._digests.get(writer, oplog.NO_DIGEST),
                           oplog.header_digest(bundle.header_bytes))
        self.held.append((bundle, data, digest, received, stale, seen))
        self.digests[writer] = digest
        if header.hlc > run_vc.get(writer, vc.get(writer, zero)):
            run_vc[writer] = header.hlc
        for register, row in mine.items():
            writes[register] = row
            self.writers[register] = writer
        self.opened.extend(opening.values())
        opened.update(opening)
        self.ids.add(bundle_id)
        self.ops += len(bundle.ops)
        if created is not None:
            self.absent.difference_update(created)  # created again in this batch: the per-bundle way
            self.created.extend((op, actor) for op in creations)
        return True

    def flush(self, source: str | None, results: list[IngestResult], applied: list[tuple[Bundle, bytes]]) -> None:
        """Write the run's bundles (one statement per table), then do per bundle, in order, what
        the per-bundle way does after its writes; the run is empty again after."""
        held = self.held
        if not held:
            return
        ws = self.ws
        conn = ws.conn
        batch = self.batch
        conn.execute("SAVEPOINT run")
        try:
            row = conn.execute("SELECT max(seq) FROM bundles").fetchone()
            bundle_seq = (row[0] or 0) + 1
            op_seq = batch.op_seq(ws, self.ops)
            bundle_rows: list[tuple[object, ...]] = []
            op_rows: list[oplog.OpRow] = []
            target_rows: list[tuple[bytes, int]] = []
            stale_rows: list[tuple[bytes, bytes, int, int, int]] = []
            threshold = ws.settings.stale_threshold_ms
            touch_rows: list[tuple[bytes, str, bytes, int]] = []
            for bundle, _data, _digest, received, stale, seen in held:
                bundle_rows.append(oplog.bundle_row(bundle, bundle_seq, op_seq, received))
                if len(seen) == len(bundle.ops):  # field writes only: their rows from `take`'s ords
                    rows, targets = oplog.field_write_rows(bundle, bundle_seq, op_seq, seen)
                else:  # record creations first
                    rows, targets, touches = oplog.op_rows(bundle, bundle_seq, op_seq)
                    touch_rows.extend(touches)
                op_rows.extend(rows)
                target_rows.extend((target, bundle_seq) for target in targets)
                if stale is not None:
                    stale_rows.append((bundle.bundle_id, bundle.hlc, stale[0], threshold, stale[1]))
                bundle_seq += 1
                op_seq += len(bundle.ops)
            conn.executemany(oplog.BUNDLE_INSERT, bundle_rows)
            conn.executemany(oplog.OPLOG_INSERT, op_rows)
            conn.executemany(oplog.TARGET_INSERT, target_rows)
            if touch_rows:
                conn.executemany(oplog.TOUCH_INSERT, touch_rows)
            if self.created:
                ws.applier.create_entities(self.created)
            ws.applier.set_fields(list(self.writes.values()))
            diverged = ws.conflicts.opened_rows(self.opened) if self.opened else []
            if stale_rows:
                conn.executemany(
                    "INSERT OR IGNORE INTO stale_flags (bundle_id, hlc, age_ms, threshold_ms, flagged_at)"
                    " VALUES (?, ?, ?, ?, ?)", stale_rows)
            conn.execute("RELEASE run")
        except Exception as exc:
            conn.execute("ROLLBACK TO run")
            conn.execute("RELEASE run")
            batch.next_seq = None  # its op seqs are free again
            if _local_failure(exc):
                raise
            # a bundle in it cannot be stored (an op id stored already: a crafted bundle): each
            # the per-bundle way, which refuses that one with its reason and applies the others
            self._clear()
            self.forget()
            for bundle, data, _digest, _received, _stale, _seen in held:
                _one(ws, bundle, True, data, source, batch, results, applied)
            return
        except BaseException:
            conn.execute("ROLLBACK TO run")
            conn.execute("RELEASE run")
            raise
        if self.opened:
            ws.conflicts.keep_opened([write for _entity, _field, write, _tip in self.opened], diverged)
        tips = self.tips
        for (entity, field), write in self.writes.items():
            tips[entity][field] = (write[4], write[5], self.writers[(entity, field)])
        parked = ws.parked.count()
        receive, chain_stored, stored_bundle = ws.clock.receive, ws._chain_stored, batch.stored_bundle
        check = ws.awareness.check
        for bundle, data, digest, _received, stale, seen in held:
            header = bundle.header  # its fields read once (Bundle's properties each go through it)
            actor, hlc, bundle_id = header.actor, header.hlc, header.bundle_id
            writer = actor + header.device
            receive(hlc)
            chain_stored(writer, hlc, digest)
            stored_bundle(bundle_id, writer, hlc, digest)
            check(seen, actor)
            done = to_str(bundle_id)
            results.append(IngestResult("applied", done, stale=stale is not None, applied=(done,), writer=writer,
                                        hlc=hlc))
            applied.append((bundle, data))
            if parked:
                ws.parked.wake(writer, hlc)
        self._clear()


def _park(ws: Context, bundle: Bundle, data: bytes, wait: Wait) -> IngestResult:
    """Put a verified bundle in the waiting room, or refuse it when its author's share or the
    workspace's is full (not quarantined: nothing is wrong with it, and keeping it would defeat
    the limit; its sender still holds it and offers it again in a later catch-up)."""
    now = ws.env.now_ms()
    refusal = ws.parked.refusal(bundle.actor, len(data), now)
    if refusal is not None:
        return IngestResult("rejected", to_str(bundle.bundle_id), REASON_TOO_MANY_PARKED, refusal)
    ws.parked.park(bundle.bundle_id, bundle.actor, bundle.hlc, data, wait, now)
    return IngestResult("pending", to_str(bundle.bundle_id), detail="waiting for earlier bundles it depends on",
                        writer=bundle.writer, hlc=bundle.hlc)


def _taken(ws: Context, entity: bytes, bundle: Bundle) -> str | None:
    """Who created `entity` already, if the bundle's author knew it (data-model.md: "two entities
    with the same ID from different actors is a hard error, not a merge"). Creations the author
    had not seen cannot be refused alike on every peer (each would refuse the one it got second):
    they only come from forged bundles, and are kept as one record, the first creation its creator."""
    row = ws.conn.execute(
        "SELECT e.created_ord, e.created_by, b.writer FROM entities e"
        " JOIN oplog l ON l.op_id = substr(e.created_ord, 13) JOIN bundles b ON b.seq = l.bundle_seq"
        " WHERE e.entity_id = ?", (entity,)).fetchone()
    if row is None:
        return None
    created_ord, creator, writer = row
    knew = writer == bundle.writer or bundle.header.clock.get(writer, hlc_mod.ZERO) >= created_ord[:12]
    return f"by {ws.actor_name(creator)}" if knew else None


def _knew(ws: Context, bundle: Bundle, ord_: bytes) -> bool:
    """Whether the bundle's author had seen the op at `ord_` (its writer's clock covers it)."""
    row = ws.conn.execute("SELECT b.writer FROM oplog l JOIN bundles b ON b.seq = l.bundle_seq"
                          " WHERE l.op_id = ?", (ord_[12:],)).fetchone()
    if row is None:
        return False
    return bool(row[0] == bundle.writer or bundle.header.clock.get(row[0], hlc_mod.ZERO) >= ord_[:12])


def _checked(ws: Context, bundle: Bundle, data: bytes, source: str | None) -> IngestResult | Schema:
    """The schema and id checks of a ready bundle: a refusal, or the schema once it is applied."""
    schema = ws.schema
    owner = ws.settings.owner
    created: set[bytes] = set()
    for index, op in enumerate(bundle.ops):
        try:
            if type(op) is o.SetField:  # most received ops: check_op's own check, and none of the others apply
                check_set_field(op, schema)
                continue
            schema = check_op(op, schema)
            if isinstance(op, o.InitWorkspace):
                if not commits_to(ws.workspace_id, bundle.actor, op.nonce):
                    raise ValidationError("only the actor this workspace's id was made for can found it")
                owner = owner or bundle.actor  # a founding bundle may set the settings it starts with
            if isinstance(op, o.SetWorkspaceSetting):
                if owner != bundle.actor and ownership.recovered(ws.conn):
                    owner = ownership.owner_as_seen(ws.conn, lambda ord_: _knew(ws, bundle, ord_))
                check_setter(owner, bundle.actor)
            if isinstance(op, o.RecoverOwnership):
                # its proof was verified with the bundle's signature (Bundle.signatures)
                ownership.check_recovery(ws.conn, op, lambda ord_: _knew(ws, bundle, ord_))
                owner = bundle.actor  # the bundle's own later settings are the new owner's
        except (ValidationError, LocalError) as exc:
            return quarantine(ws, data, REASON_SCHEMA, f"operation {index} ({op.TYPE}): {exc}", bundle, source)
        except Exception as exc:  # a shape the checks did not foresee: refuse this bundle, nothing else
            return quarantine(ws, data, REASON_SCHEMA, f"operation {index} ({op.TYPE}): could not be checked "
                              f"({failure(exc)})", bundle, source)
        new = op.entity if isinstance(op, o.CreateEntity) else op.new_entity if isinstance(op, o.SplitEntity) else None
        if new is not None:
            taken = _taken(ws, new, bundle) if new not in created else "by an earlier operation of this bundle"
            if taken is not None:
                return quarantine(ws, data, REASON_ID_IN_USE, f"operation {index} ({op.TYPE}) creates record "
                                  f"{to_str(new)}, created already {taken}; a new record needs a new id", bundle,
                                  source)
            created.add(new)
    return schema


def _apply_one(ws: Context, bundle: Bundle, data: bytes, source: str | None, batch: _Batch) -> IngestResult:
    """Check and apply one ready bundle inside the open transaction."""
    schema = _checked(ws, bundle, data, source)
    if isinstance(schema, IngestResult):
        return schema
    effects = Effects()
    ws.conflicts.begin_bundle()
    writer = bundle.writer
    digest = oplog.xor(ws._digests.get(writer, oplog.NO_DIGEST), oplog.header_digest(bundle.header_bytes))
    savepoint = not batch.alone  # alone, nothing was written before it in this transaction
    if savepoint:
        ws.conn.execute("SAVEPOINT bundle")
    try:
        oplog.append(ws.conn, bundle, ws.env.now_ms(), None, batch.op_seq(ws, len(bundle.ops)))
        actor = bundle.actor
        clock = bundle.header.clock
        ops = bundle.ops
        # Field writes only, after any record creations (most received bundles): in one pass.
        plain = ws.conflicts.prefetch(ops)
        if plain is not None:
            _apply_ops(ws, ops[:plain], writer, actor, clock, effects)
            ops = ops[plain:]
            ops = ops[ws.conflicts.plain_writes(ops, actor, writer, clock, ws.applier.set_fields):]
        _apply_ops(ws, ops, writer, actor, clock, effects)
        age = ws.env.now_ms() - hlc_mod.wall_ms(bundle.hlc)
        stale = age > ws.settings.stale_threshold_ms
        if stale:
            ws.conn.execute(
                "INSERT OR IGNORE INTO stale_flags (bundle_id, hlc, age_ms, threshold_ms, flagged_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (bundle.bundle_id, bundle.hlc, age, ws.settings.stale_threshold_ms, ws.env.now_ms()))
        if savepoint:
            ws.conn.execute("RELEASE bundle")
    except Exception as exc:
        batch.next_seq = None  # its op seqs are free again
        if savepoint:
            ws.conn.execute("ROLLBACK TO bundle")
            ws.conn.execute("RELEASE bundle")
        elif not _local_failure(exc):  # (a local failure: `_apply_batch` rolls back and raises)
            ws.conn.execute("ROLLBACK")  # the bundle was the transaction's only write
            ws.conn.execute("BEGIN IMMEDIATE")  # for its refusal
        if _local_failure(exc):
            raise
        # One crafted bundle fails to apply: it is refused with its reason, the caches it may have
        # touched are re-read from the rolled-back state (the clock rows of the bundles applied
        # before it written first), and the rest of the batch goes on.
        batch.flush_clocks(ws)
        ws._reload()
        if isinstance(exc, sqlite3.IntegrityError) and "oplog.op_id" in str(exc):
            return quarantine(ws, data, REASON_ID_IN_USE, "an operation in it has the id of an operation already"
                              " stored (the same change sent again in another bundle)", bundle, source)
        return quarantine(ws, data, REASON_SCHEMA, f"could not be applied ({failure(exc)})", bundle, source)
    except BaseException:
        if savepoint:
            ws.conn.execute("ROLLBACK TO bundle")
            ws.conn.execute("RELEASE bundle")
        raise
    ws.clock.receive(bundle.hlc)
    ws._chain_stored(writer, bundle.hlc, digest)
    batch.stored_bundle(bundle.bundle_id, writer, bundle.hlc, digest)
    ws.awareness.check(field_writes(bundle.ops), actor)
    if effects.schema:
        ws.schema = schema
    if effects.settings:  # the only effect left to act on here (most bundles: none)
        ws._after_effects(Effects(False, False, True))
    done = to_str(bundle.bundle_id)
    return IngestResult("applied", done, stale=stale, applied=(done,), writer=writer, hlc=bundle.hlc)


def _apply_ops(ws: Context, ops: Sequence[o.Op], writer: bytes, actor: bytes, clock: dict[bytes, bytes],
               effects: Effects) -> None:
    """Apply ops one by one, each with its conflict bookkeeping."""
    apply = ws.applier.apply
    observe = ws.conflicts.observe
    prior = ws.conflicts.prior
    for op in ops:
        before = prior(op)
        op_effects = apply(op, actor)
        if op_effects.schema:
            ws.schema = check_op(op, ws.schema)
        if op_effects.mappings:
            ws._after_effects(Effects(mappings=True), op=op)
        effects.merge(op_effects)
        observe(op, writer, clock, before)


def drain_parked(cx: Context) -> list[str]:
    """Apply parked bundles whose dependencies have arrived, at most `Env.parking.drain_step` of
    them, between other work (`Workspace.drain_parked`); never inside a local transaction."""
    if cx._tx is not None:
        raise LocalError("cannot apply parked bundles while a local transaction is open")
    cx.overlays.close_view()
    return drain_pending(cx, cx.env.parking.drain_step)


def drain_pending(ws: Context, budget: int | None) -> list[str]:
    """Apply awake parked bundles (verified before parking), at most `budget` (None: all).

    Only bundles woken by what was stored are read (marked through an index as each bundle is
    stored), so the cost follows what is unblocked, never how many bundles are parked. A chain
    applies in one transaction per DRAIN_BATCH bundles. Returns the ids applied."""
    applied: list[str] = []
    while (budget is None or len(applied) < budget) and ws.parked.count():
        step = DRAIN_BATCH if budget is None else min(DRAIN_BATCH, budget - len(applied))
        results = _apply_batch(ws, _awake(ws, step), "pending")
        if not results:
            break
        applied.extend(r.bundle_id for r in results if r.status == "applied" and r.bundle_id is not None)
    return applied


def _awake(ws: Context, limit: int) -> Iterator[tuple[Bundle, bool, bytes]]:
    """Awake parked bundles that are ready, oldest clock first, read inside the transaction that
    applies them (so each one applied wakes the next); one still waiting is put back to wait."""
    taken = 0
    while taken < limit:
        rows = ws.parked.awake(min(64, limit - taken))
        if not rows:
            return
        for row in rows:
            bundle = decode_bundle(row.data)
            wait = blocker(ws, bundle)
            if wait is not None:
                ws.parked.wait_again(row.bundle_id, wait)
                continue
            ws.parked.remove([row])
            taken += 1
            yield bundle, True, row.data


@dataclass(frozen=True)
class Received:
    """A batch after the checks that need no signature: `to_verify` lists the bundles whose
    signatures the caller checks, in order, before handing the verdicts to `apply`."""

    source: str | None
    items: tuple[tuple[bytes, Bundle | IngestResult], ...]

    @property
    def to_verify(self) -> list[Bundle]:
        return [item for _data, item in self.items if isinstance(item, Bundle)]


def check(ws: Context, wires: Sequence[bytes], source: str | None,
          decoded: Sequence[Bundle | BundleRejected | None] | None = None) -> Received:
    """Step one: everything that needs no signature, for each wire (any overlay view is closed).
    `decoded`: what `decode_bundle` gave for each wire, where the caller has it already (None: not)."""
    ws.overlays.close_view()
    given = list(decoded) if decoded is not None else [None] * len(wires)
    if len(given) != len(wires):
        raise LocalError(f"expected {len(wires)} decoded bundles, got {len(given)}")
    if len(wires) < 2:
        return Received(source, tuple((data, precheck(ws, data, source, b))
                                      for data, b in zip(wires, given, strict=True)))
    decoded = [_decoded(data) if b is None else b for data, b in zip(wires, given, strict=True)]
    stored = oplog.stored_rows(ws.conn, [b.bundle_id for b in decoded if isinstance(b, Bundle)])
    return Received(source, tuple((data, precheck(ws, data, source, bundle, stored))
                                  for data, bundle in zip(wires, decoded, strict=True)))


def apply(ws: Context, received: Received, verdicts: Sequence[bool]) -> list[IngestResult]:
    """Step three: with one signature verdict per `received.to_verify`, apply what verified, in
    one transaction; one result per wire, in order."""
    bundles = received.to_verify
    if len(verdicts) != len(bundles):
        raise LocalError(f"expected {len(bundles)} signature verdicts, got {len(verdicts)}")
    ready = [(bundle, bool(valid), data) for (data, bundle), valid in zip(
        ((d, b) for d, b in received.items if isinstance(b, Bundle)), verdicts, strict=True)]
    applied = iter(apply_verified(ws, ready, received.source) if ready else [])
    return [item if isinstance(item, IngestResult) else next(applied) for _data, item in received.items]


def verify_and_apply(ws: Context, received: Received, verifier: Verifier) -> list[IngestResult]:
    """Steps two and three with a synchronous verifier (`Workspace.ingest_many`). A verifier that
    offers `verify_each` (PyNaCl: a worker thread, libsodium releasing the GIL) checks the next
    bundles' signatures while earlier ones apply; each bundle is still applied only once its own
    verdict is in hand, and one that does not verify is quarantined as before."""
    bundles = received.to_verify
    verify_each = getattr(verifier, "verify_each", None)
    if verify_each is None or len(bundles) < 2:
        verify = verifier.verify
        return apply(ws, received, [all(verify(*s) for s in bundle.signatures()) for bundle in bundles])
    verdicts: Iterator[bool] = verify_each([bundle.signatures() for bundle in bundles])
    try:
        items = ((bundle, bool(next(verdicts)), data) for data, bundle in received.items if isinstance(bundle, Bundle))
        applied = iter(apply_verified(ws, items, received.source, bundles, getattr(verdicts, "ready", None)))
    finally:
        close = getattr(verdicts, "close", None)
        if close is not None:
            close()
    return [item if isinstance(item, IngestResult) else next(applied) for _data, item in received.items]


def quarantined(conn: sqlite3.Connection) -> list[Quarantined]:
    """Received bundles that were refused, oldest first, with why and who sent them."""
    return [Quarantined(i, reason, detail, id_str(bundle_id), source) for i, reason, detail, bundle_id, source
            in conn.execute("SELECT id, reason, detail, bundle_id, source FROM quarantine ORDER BY id")]


def stale_bundles(conn: sqlite3.Connection) -> list[str]:
    """Bundles that arrived long after they were made (flagged for review), oldest first."""
    return [to_str(r[0]) for r in conn.execute("SELECT bundle_id FROM stale_flags ORDER BY hlc")]


class Oplog(Part):
    """`ws.oplog`: the stored bundles (what sync sends) and the received ones refused."""

    def bundles(self) -> Iterator[StoredBundle]:
        """Every stored bundle with its exact signed wire bytes, in a causal order (each after
        everything it depends on), read a page at a time."""
        return oplog.stored_bundles(self._cx.conn)

    def bundles_lacked(self, peer_clock: dict[bytes, bytes]) -> oplog.StoredWires:
        """The stored bundles a peer at `peer_clock` lacks, in a causal order, read lazily (`.total`
        says how many): a sync catch-up."""
        conn = self._cx.conn
        return oplog.StoredWires(conn, oplog.missing_seqs(conn, self._cx._vc, peer_clock))

    def bundles_of(self, writers: list[bytes]) -> oplog.StoredWires:
        """Every stored bundle of these writers (actor key || device), in a causal order: what a
        peer missing part of a forked chain gets."""
        return oplog.StoredWires(self._cx.conn, oplog.chain_seqs(self._cx.conn, writers))

    def genesis_bundle(self) -> bytes | None:
        """The wire bytes of the bundle that founded the workspace (its first InitWorkspace):
        publishing sends it, since it makes its author the owner. None before it is here."""
        seq = oplog.genesis_seq(self._cx.conn)
        return None if seq is None else oplog.wires_for(self._cx.conn, [seq])[0]

    def unshared_count(self, shared: bytes) -> int:
        """How many bundles written on this device are newer than `shared` (the HLC of ours a peer
        has confirmed): what only this device holds."""
        return oplog.count_after(self._cx.conn, self._cx.writer, shared)

    def size(self) -> OplogSize:
        """How many bundles and operations the oplog holds, and how many received bundles are
        parked waiting for bundles they depend on."""
        return oplog.size(self._cx.conn)

    def quarantined(self) -> list[Quarantined]:
        """Received bundles that were refused, oldest first, with why and who sent them."""
        return quarantined(self._cx.conn)

    def stale_bundles(self) -> list[str]:
        """Bundles that arrived long after they were made (flagged for review), oldest first."""
        return stale_bundles(self._cx.conn)
