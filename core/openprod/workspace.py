"""The Workspace: the public face of the core for the relay, the web worker, the CLI and scripts.

It owns one SQLite connection and the handed-in signer, verifier, clock and random source, and
runs the two pipelines everything else uses:

* local writes: `transaction()` -> validated ops applied at once -> one signed bundle;
* received bundles: `ingest()` -> decode, workspace, duplicate and clock checks -> signature ->
  causal readiness (per device chain) -> schema and id checks -> one SQLite transaction (all or
  nothing); the steps live in `receive`.

Results follow one convention (`results`): every id handed out is a string.

Signing and verifying may be async (WebCrypto), so each pipeline has a sync and an async entry
point around the same synchronous steps.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from . import hlc as hlc_mod
from . import operations as o
from . import oplog, receive
from .awareness import Awareness, AwarenessLog, field_writes
from .bundle import DEVICE_LEN, Bundle, UnsignedBundle, build, stored_clock, writer_of
from .conflict_report import Resolution, conflict, conflict_groups, open_conflicts, resolved_conflicts
from .conflicts import (
    Conflict,
    ConflictTracker,
)
from .crdt import CrdtBackend, CrdtStore, PycrdtBackend
from .duplicates import duplicate_edges
from .encoding import decode
from .errors import (
    LocalError,
    NotFoundError,
    ValidationError,
    WorkspaceMismatchError,
)
from .groups import FieldGroups
from .history import Change, PersonChanges, changes_since, field_history, mark_seen
from .identity import Signer, Verifier, clean_display_name, short_actor
from .ids import IdFactory, to_str, workspace_id_for
from .merge import Redirects
from .modules import ModuleDef, Schema, parse_manifest, union
from .overlay import Drift, OverlayInfo, Overlays
from .query import matches, run_query
from .reads import (
    EdgeRow,
    actor_names,
    edge_state,
    edges,
    entity_state,
    entity_visible,
    table_members,
    tables_of,
    values_for,
)
from .references import follow, reference_of
from .results import (
    BundleEvent,
    Edge,
    IngestResult,
    OplogSize,
    Quarantined,
    Receipt,
    Record,
    StoredBundle,
    actor_str,
    id_str,
)
from .rules import Proposal, Rule, RuleEngine, load_rules
from .settings import MAX_FUTURE_DRIFT_CAP_MS, Settings, from_rows
from .state import Applier, Effects
from .statehash import state_hash
from .storage import DERIVED_TABLES, adopt, get_meta, install, set_meta
from .transaction import IdLike, Transaction, as_id
from .undo import Entry, Stacks, UndoResult, restorable_cascade
from .validation import check_op
from .values import Reference
from .views import ViewDef, ViewResult, list_views, run_view

P = ParamSpec("P")
T = TypeVar("T")

@dataclass(frozen=True)
class Env:
    """Everything the core does not do itself, handed in."""

    signer: Signer
    verifier: Verifier
    display_name: str
    now_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    random_bytes: Callable[[int], bytes] = os.urandom
    crdt: CrdtBackend | None = None  # None: pycrdt when importable (CPython), else no CRDT fields
    max_future_drift_cap_ms: int = MAX_FUTURE_DRIFT_CAP_MS
    """This receiver's own ceiling on the workspace's `max_future_drift_ms`: however far the owner
    widens it, a bundle further ahead than this is refused here."""


def _reads(method: Callable[Concatenate[Workspace, P], T]) -> Callable[Concatenate[Workspace, P], T]:
    """A public read: it sees the active overlay's staged state (see `Overlays.reading`)."""

    @functools.wraps(method)
    def read(self: Workspace, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.overlays.reading():
            return method(self, *args, **kwargs)

    return read


def _default_crdt(random_bytes: Callable[[int], bytes]) -> CrdtBackend | None:
    try:
        return PycrdtBackend(random_bytes)
    except ImportError:
        return None


class Workspace:
    """Create with `Workspace.create`, `Workspace.open` or `Workspace.join`."""

    def __init__(self, conn: sqlite3.Connection, env: Env, workspace_id: bytes) -> None:
        self.conn = conn
        self.env = env
        self.workspace_id = workspace_id
        self.actor_id = env.signer.actor_id
        self.display_name = clean_display_name(env.display_name)
        self.ids = IdFactory(env.now_ms, env.random_bytes)
        # This database's device: bundles written here form one chain (docs/design.md, "One person,
        # several devices"). Kept with the data, so the chain continues across restarts.
        device = get_meta(conn, "device")
        if not isinstance(device, bytes) or len(device) != DEVICE_LEN:
            device = env.random_bytes(DEVICE_LEN)
            set_meta(conn, "device", device)
        self.device: bytes = device
        self.writer = writer_of(self.actor_id, device)
        backend = env.crdt if env.crdt is not None else _default_crdt(env.random_bytes)
        self.redirects = Redirects(conn, self.writer)
        self.crdt = CrdtStore(conn, backend, lambda field_id: self.groups.members(field_id),
                              lambda entity: self.redirects.members(entity))
        self.applier = Applier(conn, self.crdt, self.redirects)
        self._devices: dict[bytes, list[bytes]] = {}  # actor -> its devices seen writing (kept in place)
        self.conflicts = ConflictTracker(conn, lambda: self.groups, self._is_crdt, self.redirects, self.writer,
                                         self._devices)
        self.awareness = AwarenessLog(lambda: self.groups, env.now_ms)
        self.rules = RuleEngine(self)
        self.listeners: list[Callable[[BundleEvent], None]] = []
        self._stacks = Stacks()
        self._tx: Transaction | None = None
        self._lock = asyncio.Lock()
        self.closed = False
        # The clock resumes after everything stored (own and received), so no meta write per bundle.
        last = conn.execute("SELECT max(hlc) FROM bundles").fetchone()[0]
        self.clock = hlc_mod.Clock(env.now_ms, last or hlc_mod.ZERO)
        self._reload()
        self.overlays = Overlays(self)

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def _prepare(cls, conn: sqlite3.Connection, env: Env, workspace_id: bytes | None) -> Workspace:
        adopt(conn)
        stale = install(conn)
        existing = get_meta(conn, "workspace_id")
        if existing is not None and workspace_id is not None and existing != workspace_id:
            raise WorkspaceMismatchError(
                f"this file holds workspace {to_str(existing)}, not {to_str(workspace_id)}")
        if existing is None:
            if workspace_id is None:
                raise NotFoundError("this file holds no workspace; create or join one")
            set_meta(conn, "workspace_id", workspace_id)
            existing = workspace_id
        ws = cls(conn, env, existing)
        if stale:
            ws.rebuild()
        return ws

    @classmethod
    def create(cls, conn: sqlite3.Connection, env: Env, name: str) -> Workspace:
        """A new workspace in an empty database, owned by the signer's actor."""
        ws, nonce = cls._new(conn, env)
        with ws.transaction(kind="workspace") as tx:
            tx.add(o.InitWorkspace, name=_workspace_name(name), nonce=nonce)
        return ws

    @classmethod
    async def create_async(cls, conn: sqlite3.Connection, env: Env, name: str) -> Workspace:
        ws, nonce = cls._new(conn, env)
        async with ws.transaction_async(kind="workspace") as tx:
            tx.add(o.InitWorkspace, name=_workspace_name(name), nonce=nonce)
        return ws

    @classmethod
    def _new(cls, conn: sqlite3.Connection, env: Env) -> tuple[Workspace, bytes]:
        adopt(conn)
        install(conn)
        if get_meta(conn, "workspace_id") is not None:
            raise LocalError("this database already holds a workspace")
        nonce = env.random_bytes(16)
        workspace_id = workspace_id_for(env.signer.actor_id, env.now_ms(), nonce)
        return cls._prepare(conn, env, workspace_id), nonce

    @classmethod
    def open(cls, conn: sqlite3.Connection, env: Env, workspace_id: IdLike | None = None) -> Workspace:
        """Open the workspace stored in `conn` (optionally checking which one it is)."""
        return cls._prepare(conn, env, None if workspace_id is None else as_id(workspace_id, "workspace id"))

    @classmethod
    def join(cls, conn: sqlite3.Connection, env: Env, workspace_id: IdLike) -> Workspace:
        """An empty replica of an existing workspace, to be filled by sync."""
        return cls._prepare(conn, env, as_id(workspace_id, "workspace id"))

    def close(self) -> None:
        """Release the database (any overlay view is rolled back first). Closing twice is harmless;
        using the workspace afterwards raises. Also a context manager: `with Workspace.open(...) as ws:`."""
        if self._tx is not None:
            raise LocalError("a transaction is still open on this workspace; finish it before closing")
        if self.closed:
            return
        self.overlays.close_view()
        self.conn.close()
        self.closed = True

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reload(self) -> None:
        """Refresh the caches derived from the database (schema, mappings, settings, clock)."""
        self.crdt.reset()
        self.redirects.reload()
        if hasattr(self, "conflicts"):
            self.conflicts.reload()
        modules: dict[str, ModuleDef] = {}
        for name, manifest in self.conn.execute("SELECT module, manifest FROM modules ORDER BY module, ord"):
            parsed = parse_manifest(manifest)
            modules[name] = union(modules[name], parsed) if name in modules else parsed
        self.schema = Schema(modules)
        self._reload_groups()
        self._reload_settings()
        self._vc: dict[bytes, bytes] = {}
        self._digests: dict[bytes, bytes] = {}
        self._devices.clear()
        self._devices[self.actor_id] = [self.device]
        for writer, hlc, digest in self.conn.execute("SELECT writer, hlc, digest FROM vector_clock"):
            self._chain_stored(writer, hlc, digest)

    def _reload_groups(self) -> None:
        self.groups = FieldGroups(self.confirmed_mappings())
        self.crdt.reset()

    def _reload_settings(self) -> None:
        rows = {k: decode(v) for k, v in self.conn.execute("SELECT key, value FROM settings")}
        self.settings: Settings = from_rows(rows)

    def _is_crdt(self, field_id: str) -> bool:
        fdef = self.schema.fields.get(field_id)
        return fdef is not None and fdef.crdt is not None

    def _after_effects(self, effects: Effects, schema: Schema | None = None, op: o.Op | None = None) -> None:
        if effects.schema:
            if schema is not None:
                self.schema = schema
            else:
                self._reload()
                return
        if effects.mappings:
            self._reload_groups()
            if isinstance(op, o.ConfirmFieldMapping):
                self.conflicts.regroup([op.source_field, op.target_field])
            elif isinstance(op, o.UnlinkTables):
                self.conflicts.regroup([f for pair in op.mappings for f in pair])
        if effects.settings:
            self._reload_settings()

    def confirmed_mappings(self) -> list[tuple[str, str]]:
        return list(self.conn.execute(
            "SELECT field_a, field_b FROM field_mappings WHERE status = 'confirmed' ORDER BY field_a, field_b"))

    # --- local writes ---------------------------------------------------------------------------

    def _begin(self, kind: str, meta: dict[str, Any] | None, staging: bool) -> Transaction:
        if self._tx is not None:
            raise LocalError("a transaction is already open on this workspace")
        if staging and self.overlays.active() is not None and kind not in ("overlay", "undo", "redo"):
            if kind in ("module", "workspace"):
                raise ValidationError("changes to the workspace itself cannot be staged; stash the overlay first")
            self.overlays.ensure_view()  # writes are validated against what the overlay shows
            self._tx = Transaction(self, kind, meta, staging=True)
            return self._tx
        self.overlays.close_view()
        self.conn.execute("BEGIN IMMEDIATE")
        self._tx = Transaction(self, kind, meta)
        return self._tx

    def _rollback(self) -> None:
        self._tx = None
        self.conflicts.pending.clear()
        if self.overlays.view_open:
            self.overlays.close_view()
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self._reload()

    def _stage(self, tx: Transaction) -> None:
        """End a staging transaction: its ops join the active overlay; nothing is signed."""
        self._tx = None
        self.conflicts.pending.clear()
        self.overlays.close_view()
        self.overlays.record(tx.ops)
        self.last_receipt = None

    def _seal(self, tx: Transaction) -> UnsignedBundle | None:
        if not tx.ops:
            return None
        if self.conn.execute("SELECT display_name FROM actors WHERE actor = ?",
                             (self.actor_id,)).fetchone() != (self.display_name,):
            tx.add(o.IdentifyActor, display_name=self.display_name)
        return build(workspace=self.workspace_id, bundle_id=self.ids.new(), actor=self.actor_id, device=self.device,
                     kind=tx.kind, clock=self._vc, ops=tx.ops, meta=tx.meta)

    def _store_local(self, tx: Transaction, unsigned: UnsignedBundle, signature: bytes) -> Receipt:
        bundle = unsigned.seal(signature)
        digest = oplog.xor(self._digests.get(self.writer, oplog.NO_DIGEST), oplog.header_digest(bundle.header_bytes))
        oplog.append(self.conn, bundle, self.env.now_ms(), digest)
        self.conn.execute("COMMIT")
        self._tx = None
        self.conflicts.pending.clear()
        self._chain_stored(self.writer, bundle.hlc, digest)
        if tx.steps:
            entry = Entry(bundle.bundle_id, tx.ops[0].ord, list(tx.steps), tx.kind)
            if tx.kind == "undo":
                self._stacks.redo.append(entry)
            else:
                if tx.kind != "redo":
                    self._stacks.redo.clear()
                self._stacks.undo.append(entry)
        self.awareness.note(field_writes(bundle.ops), self.actor_id)
        wire = bundle.wire()
        bundle_id = to_str(bundle.bundle_id)
        if self.listeners:
            self._notify(BundleEvent(bundle_id, actor_str(self.actor_id), self.writer, bundle.hlc, wire, "local"))
        return Receipt(bundle_id, bundle.hlc, wire, list(tx.created))

    @contextmanager
    def transaction(self, kind: str = "edit", meta: dict[str, Any] | None = None,
                    staging: bool = True) -> Iterator[Transaction]:
        """All writes inside become one signed bundle, or nothing if anything raises.

        While an overlay is active, the writes are staged in it instead (unsigned, local).
        The receipt is available afterwards as `ws.last_receipt`. Needs a synchronous signer.
        """
        tx = self._begin(kind, meta, staging)
        try:
            yield tx
            self.rules.fire(tx)
            if tx.staging:
                self._stage(tx)
                return
            unsigned = self._seal(tx)
            if unsigned is None:
                self._rollback()
                self.last_receipt: Receipt | None = None
                return
            signature = self.env.signer.sign(unsigned.signing_bytes())
        except BaseException:
            self._rollback()
            raise
        self.last_receipt = self._store_local(tx, unsigned, signature)

    @asynccontextmanager
    async def transaction_async(self, kind: str = "edit", meta: dict[str, Any] | None = None,
                                staging: bool = True) -> AsyncIterator[Transaction]:
        async with self._lock:
            tx = self._begin(kind, meta, staging)
            try:
                yield tx
                self.rules.fire(tx)
                if tx.staging:
                    self._stage(tx)
                    return
                unsigned = self._seal(tx)
                if unsigned is None:
                    self._rollback()
                    self.last_receipt = None
                    return
                signature = await self.env.signer.sign_async(unsigned.signing_bytes())
            except BaseException:
                self._rollback()
                raise
            self.last_receipt = self._store_local(tx, unsigned, signature)

    def commit(self, fn: Callable[[Transaction], Any], kind: str = "edit") -> tuple[Any, Receipt | None]:
        """Run `fn(tx)` in one transaction; returns (fn's result, receipt)."""
        with self.transaction(kind) as tx:
            result = fn(tx)
        return result, self.last_receipt

    # Convenience single-bundle writes (sync). The async worker uses transaction_async.
    def create_record(self, table: str, values: dict[str, Any] | None = None) -> str:
        return self.commit(lambda tx: tx.create_record(table, values))[0]

    def set_field(self, record: IdLike, field: str, value: Any) -> None:
        """One field in one bundle (`Transaction.set_field`); None clears."""
        self.commit(lambda tx: tx.set_field(record, field, value))

    def clear_field(self, record: IdLike, field: str) -> None:
        self.commit(lambda tx: tx.clear_field(record, field))

    def delete_record(self, record: IdLike) -> None:
        self.commit(lambda tx: tx.delete_record(record))

    def adopt_module(self, manifest: str) -> str:
        return self.commit(lambda tx: tx.adopt_module(manifest), kind="module")[0]

    # --- undo / redo ----------------------------------------------------------------------------

    def can_undo(self) -> bool:
        return bool(self._stacks.undo)

    def can_redo(self) -> bool:
        return bool(self._stacks.redo)

    def _check_entry(self, entry: Entry) -> str | None:
        """Why `entry` cannot be reversed (another actor wrote a register since), or None."""
        names = actor_names(self.conn)
        for step in entry.steps:
            if step.guard_target is None:
                continue
            other = oplog.other_writer_since(self.conn, step.guard_target, step.guard_fields, entry.ord,
                                             self.writer)
            if other is not None:
                if other[:32] == self.actor_id:
                    return f"Cannot undo: {step.label()} was changed on your other device since"
                who = names.get(other[:32], short_actor(other[:32]))
                return f"Cannot undo: {step.label()} was changed by {who} since"
        return None

    def _reverse_steps(self, tx: Transaction, entry: Entry) -> None:
        for step in reversed(entry.steps):
            if step.op_cls is o.RestoreEdge and not restorable_cascade(self.conn, step):
                continue
            tx.apply_step(step)

    def _next(self, redo: bool) -> Entry | UndoResult:
        """The entry to reverse, or the result of a skip / a staged undo."""
        if self.overlays.active() is not None:
            moved = self.overlays.redo() if redo else self.overlays.undo()
            if not moved:
                return UndoResult(False, f"Nothing staged to {'redo' if redo else 'undo'}")
            return UndoResult(True, f"{'Redid' if redo else 'Undid'} staged change")
        stack = self._stacks.redo if redo else self._stacks.undo
        if not stack:
            return UndoResult(False, f"Nothing to {'redo' if redo else 'undo'}")
        entry = stack.pop()
        blocked = self._check_entry(entry)
        if blocked is not None:
            message = blocked.replace("Cannot undo", "Cannot redo") if redo else blocked
            return UndoResult(False, message, to_str(entry.bundle_id))
        return entry

    def undo(self) -> UndoResult:
        """Reverse this actor's latest bundle, or skip it (and say why) if someone else changed it.

        While an overlay is active, undo steps back through the overlay's staged edits instead.
        """
        entry = self._next(redo=False)
        if isinstance(entry, UndoResult):
            return entry
        with self.transaction(kind="undo", meta={"reverts": entry.bundle_id}) as tx:
            self._reverse_steps(tx, entry)
        return UndoResult(True, f"Undid {entry.description or 'change'}", to_str(entry.bundle_id))

    def redo(self) -> UndoResult:
        entry = self._next(redo=True)
        if isinstance(entry, UndoResult):
            return entry
        with self.transaction(kind="redo", meta={"reverts": entry.bundle_id}) as tx:
            self._reverse_steps(tx, entry)
        return UndoResult(True, "Redid change", to_str(entry.bundle_id))

    async def undo_async(self) -> UndoResult:
        entry = self._next(redo=False)
        if isinstance(entry, UndoResult):
            return entry
        async with self.transaction_async(kind="undo", meta={"reverts": entry.bundle_id}) as tx:
            self._reverse_steps(tx, entry)
        return UndoResult(True, f"Undid {entry.description or 'change'}", to_str(entry.bundle_id))

    async def redo_async(self) -> UndoResult:
        entry = self._next(redo=True)
        if isinstance(entry, UndoResult):
            return entry
        async with self.transaction_async(kind="redo", meta={"reverts": entry.bundle_id}) as tx:
            self._reverse_steps(tx, entry)
        return UndoResult(True, "Redid change", to_str(entry.bundle_id))

    # --- received bundles (the pipeline lives in `receive`) ------------------------------------

    def ingest(self, data: bytes, *, source: str | None = None) -> IngestResult:
        """Verify and apply one received bundle (sync verifier). Never raises for bad input."""
        self.overlays.close_view()
        checked = receive.precheck(self, data, source)
        if isinstance(checked, IngestResult):
            return checked
        valid = self.env.verifier.verify(checked.actor, checked.signing_bytes(), checked.signature)
        return receive.apply_verified(self, [(checked, valid, data)], source)[0]

    def ingest_many(self, wires: list[bytes], *, source: str | None = None) -> list[IngestResult]:
        """Verify and apply a batch (a catch-up delta) with one commit; one result per bundle."""
        self.overlays.close_view()
        return self._batch([(data, receive.precheck(self, data, source)) for data in wires], source,
                           lambda b: self.env.verifier.verify(b.actor, b.signing_bytes(), b.signature))

    async def ingest_many_async(self, wires: list[bytes], *, source: str | None = None) -> list[IngestResult]:
        async with self._lock:
            self.overlays.close_view()
            checked = [(data, receive.precheck(self, data, source)) for data in wires]
            verdicts = {}
            for _data, item in checked:
                if isinstance(item, Bundle):
                    verdicts[item.bundle_id] = await self.env.verifier.verify_async(
                        item.actor, item.signing_bytes(), item.signature)
            return self._batch(checked, source, lambda b: verdicts[b.bundle_id])

    def _batch(self, checked: list[tuple[bytes, Bundle | IngestResult]], source: str | None,
               verdict: Callable[[Bundle], bool]) -> list[IngestResult]:
        ready = [(item, verdict(item), data) for data, item in checked if isinstance(item, Bundle)]
        applied = iter(receive.apply_verified(self, ready, source) if ready else [])
        return [item if isinstance(item, IngestResult) else next(applied) for _data, item in checked]

    async def ingest_async(self, data: bytes, *, source: str | None = None) -> IngestResult:
        async with self._lock:
            self.overlays.close_view()
            checked = receive.precheck(self, data, source)
            if isinstance(checked, IngestResult):
                return checked
            valid = await self.env.verifier.verify_async(checked.actor, checked.signing_bytes(),
                                                         checked.signature)
            return receive.apply_verified(self, [(checked, valid, data)], source)[0]

    def _notify(self, event: BundleEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    def _chain_stored(self, writer: bytes, hlc: bytes, digest: bytes) -> None:
        """A bundle of `writer` was stored: move the vector clock and the writer's digest."""
        if hlc > self._vc.get(writer, hlc_mod.ZERO):
            self._vc[writer] = hlc
        self._digests[writer] = digest
        devices = self._devices.setdefault(writer[:32], [])
        if writer[32:] not in devices:
            devices.append(writer[32:])

    # --- rebuild and state hash ---------------------------------------------------------------

    def rebuild(self) -> None:
        """Re-derive all canonical state from the oplog, in canonical order."""
        if self._tx is not None:
            raise LocalError("cannot rebuild while a transaction is open")
        self.overlays.close_view()
        self.conn.execute("BEGIN IMMEDIATE")
        self.crdt.reset()
        try:
            for table in DERIVED_TABLES:
                self.conn.execute(f"DELETE FROM {table}")
            self.conflicts.reload()
            self.conflicts.begin_bundle()  # in canonical order every record is new until created
            self.redirects.reload()
            rows = self.conn.execute(
                "SELECT l.payload, l.actor, l.bundle_seq FROM oplog l ORDER BY l.ord").fetchall()
            self.schema = Schema()
            self.groups = FieldGroups()
            apply = self.applier.apply
            clocks: dict[int, tuple[dict[bytes, bytes], bytes]] = {}
            digests: dict[bytes, int] = {}  # writer -> XOR of its bundles' header hashes
            for payload, actor, bundle_seq in rows:
                op = o.decode_stored_op(payload)
                before = self.conflicts.prior(op)
                effects = apply(op, actor)
                if effects.schema:
                    self.schema = check_op(op, self.schema)
                if effects.mappings:
                    self._after_effects(Effects(mappings=True), op=op)
                known = clocks.get(bundle_seq)
                if known is None:
                    header, writer = self.conn.execute("SELECT header, writer FROM bundles WHERE seq = ?",
                                                       (bundle_seq,)).fetchone()
                    known = clocks[bundle_seq] = (stored_clock(header), writer)
                    digests[writer] = digests.get(writer, 0) ^ int.from_bytes(oplog.header_digest(header), "big")
                self.conflicts.observe(op, known[1], known[0], before)
            self.conn.executemany(
                "INSERT INTO vector_clock (writer, hlc, digest) SELECT writer, max(hlc), ? FROM bundles"
                " WHERE writer = ?",
                [(digest.to_bytes(32, "big"), writer) for writer, digest in digests.items()])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._reload()

    def state_hash(self) -> str:
        """Hash of canonical state (overlays never count)."""
        self.overlays.close_view()
        return state_hash(self.conn, [("crdt", self._crdt_rows())])

    def _crdt_rows(self) -> Iterator[list[Any]]:
        for entity, field_id in self.conn.execute(
                "SELECT entity_id, field FROM fields WHERE kind = 'c' ORDER BY entity_id, field").fetchall():
            yield [entity, field_id, self._render(entity, field_id)]

    @_reads
    def render(self, record: IdLike, field: str) -> Any:
        """Current content of a collaborative (CRDT) field: text, or a list, merged from all its edits."""
        entity = self.redirects.resolve(as_id(record, "record id"))
        field_id = self.schema.field(field, lambda: tables_of(self.conn, entity)).id
        return self._render(entity, field_id)

    def _render(self, entity: bytes, field_id: str) -> Any:
        fdef = self.schema.fields.get(field_id)
        if fdef is None or fdef.crdt is None:
            return None
        return self.crdt.render(entity, field_id, fdef.crdt)

    def _show(self, entity: bytes, field_id: str, stored: Any) -> Any:
        """What a CRDT field or a field in reference mode shows (reads' render callback)."""
        if isinstance(stored, Reference):
            value, _broken = self.follow(stored)
            return value
        return self._render(entity, field_id)

    def follow(self, reference: Reference, depth: int = 0) -> tuple[Any, str | None]:
        """(value, why it is broken or None) for a reference, through merges and chains."""
        return follow(self, reference, depth)

    @_reads
    def reference_of(self, record: IdLike, field: str) -> tuple[str, str, str | None] | None:
        """If the field is in reference mode: (source record id, source field, broken reason)."""
        entity = self.redirects.resolve(as_id(record, "record id"))
        return reference_of(self, record, self.schema.field(field, lambda: tables_of(self.conn, entity)).id)

    # --- reads ----------------------------------------------------------------------------------

    @property
    def vector_clock(self) -> dict[bytes, bytes]:
        """Writer (actor key || device id) -> HLC of the latest bundle applied from it: what sync
        exchanges. One person on two devices has two entries."""
        return dict(self._vc)

    @property
    def chain_digests(self) -> dict[bytes, bytes]:
        """Writer -> XOR of the SHA-256 of its stored bundle headers: tells two peers whose clocks
        agree whether they hold the same bundles of that writer (a forked chain may differ)."""
        return dict(self._digests)

    @property
    def name(self) -> str:
        return self.settings.name

    def actor_name(self, actor: str | bytes) -> str:
        """A person's display name, by actor id (64 hex characters); a short id if never named."""
        if isinstance(actor, str):
            actor = bytes.fromhex(actor)
        row = self.conn.execute("SELECT display_name FROM actors WHERE actor = ?", (actor,)).fetchone()
        return row[0] if row else short_actor(actor)

    @_reads
    def table_member_ids(self, table: str) -> list[str]:
        """Ids of the visible records of a table, oldest first."""
        return [to_str(e) for e in table_members(self.conn, self.schema.table(table).id)]

    @_reads
    def record(self, record: IdLike, table: str | None = None) -> Record | None:
        """One visible record; with `table`, only if it is in that table (values of that table).

        An id merged into another record reads as that record (the survivor)."""
        entity = self.redirects.resolve(as_id(record, "record id"))
        state = entity_state(self.conn, entity)
        if state is None or not state[0] or not state[1]:
            return None
        tables = tables_of(self.conn, entity)
        if table is not None:
            table = self.schema.table(table).id
            if table not in tables:
                return None
        shown = [table] if table is not None else tables
        field_ids = [f.id for t in shown if t in self.schema.tables for f in self.schema.tables[t].fields.values()]
        writes = values_for(self.conn, self.groups, [entity], field_ids, self._show)[entity]
        return Record(to_str(entity), tables, {k: v.value for k, v in writes.items() if v.value is not None})

    @_reads
    def records(self, table: str) -> list[Record]:
        """All visible records of a table, oldest first, with that table's fields."""
        tdef = self.schema.table(table)
        members = table_members(self.conn, tdef.id)
        field_ids = [f.id for f in tdef.fields.values()]
        all_values = values_for(self.conn, self.groups, members, field_ids, self._show)
        memberships: dict[bytes, list[str]] = {e: [] for e in members}
        for start in range(0, len(members), 500):
            chunk = members[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for entity, facet in self.conn.execute(
                f"SELECT entity_id, facet FROM facets WHERE attached = 1 AND entity_id IN ({marks})"
                " ORDER BY facet", chunk):
                memberships[entity].append(facet)
        return [Record(to_str(entity), memberships[entity],
                       {k: v.value for k, v in all_values[entity].items() if v.value is not None})
                for entity in members]

    @_reads
    def get(self, record: IdLike, field: str) -> Any:
        """One field's value (None if empty); `field` as in `set_field`."""
        entity = self.redirects.resolve(as_id(record, "record id"))
        if not entity_visible(self.conn, entity):
            raise NotFoundError(f"record {to_str(entity)} does not exist")
        field_id = self.schema.field(field, lambda: tables_of(self.conn, entity)).id
        found = values_for(self.conn, self.groups, [entity], [field_id], self._show)[entity].get(field_id)
        return None if found is None else found.value

    def _edges(self, **where: Any) -> list[Edge]:
        if "edge_type" in where and where["edge_type"] is not None:
            where["edge_type"] = self.schema.edge_type(where["edge_type"]).id
        for end in ("source", "target"):
            if end in where:
                where[end] = self.redirects.resolve(as_id(where[end], "record id"))
        return [self._public_edge(e) for e in edges(self.conn, **where)]

    @staticmethod
    def _public_edge(e: EdgeRow) -> Edge:
        return Edge(to_str(e.edge_id), e.edge_type, to_str(e.source), to_str(e.target), actor_str(e.created_by),
                    e.properties, e.position)

    @_reads
    def duplicate_edges(self) -> list[tuple[Edge, ...]]:
        """Links of one type between the same two records, made by people who had not seen each
        other's (for example both added Jane to Scene 3 while apart). All are kept; each group is
        listed so a person can remove the extra one (see `duplicates`)."""
        return duplicate_edges(self)

    @_reads
    def edges_from(self, record: IdLike, edge_type: str | None = None) -> list[Edge]:
        """Visible edges out of a record (optionally of one type)."""
        return self._edges(source=record, edge_type=edge_type)

    @_reads
    def edges_to(self, record: IdLike, edge_type: str | None = None) -> list[Edge]:
        """Visible edges into a record (optionally of one type)."""
        return self._edges(target=record, edge_type=edge_type)

    @_reads
    def edge(self, edge: IdLike) -> Edge | None:
        """One visible edge (with its properties), or None if it is deleted or an end is gone."""
        edge_id = as_id(edge, "edge id")
        state = edge_state(self.conn, edge_id)
        if state is None or state[1] is None:
            return None
        wanted = to_str(edge_id)
        return next((e for e in self._edges(source=state[1], edge_type=state[0]) if e.id == wanted), None)

    @_reads
    def ordered_list(self, target: IdLike, edge_type: str) -> list[Edge]:
        """The ordered edges into `target` (e.g. cues in a cue list), in list order."""
        return self._edges(target=target, edge_type=edge_type)

    @_reads
    def record_label(self, record: IdLike) -> str:
        """How a record is named in messages: its name/title/label, else its first text field."""
        return self._record_label(self.redirects.resolve(as_id(record, "record id")))

    def _record_label(self, entity: bytes) -> str:
        for table in tables_of(self.conn, entity):
            tdef = self.schema.tables.get(table)
            if tdef is None:
                continue
            text_fields = [f for f in tdef.fields.values() if f.type == "string" and f.crdt is None]
            text_fields.sort(key=lambda f: (f.name not in ("name", "title", "label"), 0))
            values = values_for(self.conn, self.groups, [entity], [f.id for f in text_fields])[entity]
            for fdef in text_fields:
                found = values.get(fdef.id)
                if found is not None and found.value:
                    return str(found.value)
        return to_str(entity)[:8]

    @_reads
    def history(self, record: IdLike, field: str) -> list[Change]:
        """Every write to the field (mapped fields included), oldest first: who, when, what they saw
        before and what they wrote; which edits were concurrent, which resolution settled them and
        what it chose over; stale arrivals; the active overlay's staged edits last. `describe()`
        on each gives the sentence."""
        return field_history(self, record, field)

    def changes_since(self, mark: int | None = None) -> list[PersonChanges]:
        """Bundles from other people stored after `mark` (default: the last `mark_seen`), by person."""
        return changes_since(self, mark)

    def mark_seen(self) -> int:
        """Remember that everything stored so far has been seen (e.g. when a sync completes)."""
        return mark_seen(self)

    def awareness_notices(self) -> list[Awareness]:
        """Near-simultaneous edits of different fields of one record by different people (short-lived)."""
        return self.awareness.current()

    # --- conflicts --------------------------------------------------------------------------------

    def _semantic_key(self, target: IdLike, field: str) -> str:
        """The semantic field a (possibly short) field name means on a record; an edge's property as is."""
        entity = self.redirects.resolve(as_id(target, "record id"))
        if entity_state(self.conn, entity) is None:
            return field
        return self.groups.key(self.schema.field(field, lambda: tables_of(self.conn, entity)).id)

    def resolved_conflicts(self, record: IdLike | None = None) -> list[Resolution]:
        """Every decision that settled a conflict, oldest first: the value chosen, what it was chosen
        over, who decided and when, and which earlier decision it replaced (if any)."""
        return resolved_conflicts(self, record)

    def open_conflicts(self, record: IdLike | None = None) -> list[Conflict]:
        """Open conflicts on visible records and edges, oldest first, ready to show people."""
        return open_conflicts(self, record)

    def conflict(self, record: IdLike, field: str) -> Conflict | None:
        """The open conflict on one field of a record (any mapped field of it), if there is one."""
        return conflict(self, record, field)

    def conflict_groups(self, threshold: int = 100) -> list[tuple[tuple[str, ...], list[Conflict]]]:
        """Open conflicts grouped by the people involved; groups over `threshold` offer take-all
        (a script and a colleague both renumbering 500 cues: settle all at once, or one by one)."""
        return conflict_groups(self, threshold)

    # --- overlays (staging) ----------------------------------------------------------------------

    def create_overlay(self, name: str, *, source: str = "user", script: str | None = None,
                       activate: bool = True) -> str:
        """A new staging overlay (activated, stashing any other), or a script's pending one. Returns
        its id: every other overlay command takes it."""
        return self.overlays.create(name, source=source, script=script, activate=activate)

    def activate_overlay(self, overlay: str) -> None:
        """Writes and reads go through this overlay from now on (the active one is stashed)."""
        self.overlays.activate(overlay)

    def stash_overlay(self, overlay: str) -> None:
        """Stop writing and reading through this overlay; it is kept to activate later."""
        self.overlays.stash(overlay)

    def discard_overlay(self, overlay: str) -> None:
        """Throw the overlay and everything staged in it away."""
        self.overlays.discard(overlay)

    def list_overlays(self) -> list[OverlayInfo]:
        return self.overlays.list()

    @property
    def active_overlay(self) -> str | None:
        active = self.overlays.active()
        return None if active is None else to_str(active)

    def overlay_drift(self, overlay: str) -> list[Drift]:
        """Staged fields whose real value changed (to something else) since they were staged."""
        return self.overlays.drift(overlay)

    def keep_mine(self, overlay: str, record: IdLike, field: str) -> None:
        """Acknowledge drift on one field: the commit overwrites the new real value on purpose."""
        self.overlays.keep_mine(overlay, record, field)

    def use_canonical(self, overlay: str, record: IdLike, field: str) -> int:
        """Take one field's staged edits out of the overlay (the spec's Knockout); returns how many."""
        return self.overlays.knockout(overlay, record, field)

    def staged_fields(self, overlay: str) -> list[tuple[str, str]]:
        """(record or edge id, field or property) written in the overlay: what to mark."""
        overlay_id = self.overlays._row(overlay)[0]
        return [(to_str(t), f) for t, f in self.conn.execute(
            "SELECT DISTINCT target, field FROM overlay_ops WHERE overlay_id = ? AND target IS NOT NULL"
            " AND field IS NOT NULL ORDER BY target, field", (overlay_id,))]

    def close_views(self) -> None:
        """End any open overlay read view (e.g. before `conn.serialize()` for a snapshot, which
        must hold canonical state only); the next read reopens it."""
        self.overlays.close_view()

    def commit_overlay(self, overlay: str) -> Receipt | None:
        """Everything staged becomes one signed bundle (None if nothing was staged); the overlay
        is then gone. Refused while drift is unacknowledged (see `overlay_drift`)."""
        return self.overlays.commit(overlay)

    async def commit_overlay_async(self, overlay: str) -> Receipt | None:
        return await self.overlays.commit_async(overlay)

    def list_rules(self) -> list[Rule]:
        return load_rules(self)

    def proposals(self) -> list[Proposal]:
        """What rules suggest and a person decides (add to a table, remove, merge)."""
        with self.overlays.reading():
            return self.rules.proposals()

    def dismiss_proposal(self, proposal: Proposal) -> None:
        self.overlays.close_view()
        self.rules.dismiss(proposal)

    def views(self) -> list[ViewDef]:
        """Every view: the adopted modules' own (ids 'module.Name'), then saved ones by name."""
        return list_views(self)

    def run_view(self, view: str | ViewDef, *, also: str | None = None) -> ViewResult:
        """A view's rows, grouped and sorted, through the active overlay (views.py)."""
        return run_view(self, view, also=also)

    def query(self, text: str, **kwargs: Any) -> list[str]:
        """Record ids matching a query (spec/query-language.md, docs/query.md); through the
        active overlay. Raises QueryError with line, column and a caret for a bad query."""
        return run_query(self, text, **kwargs)

    def matches(self, record: IdLike, query: str, **kwargs: Any) -> bool:
        """Does one record match a query?"""
        return matches(self, record, query, **kwargs)

    def merge_exceptions(self) -> set[tuple[str, str]]:
        """Pairs of records a person split apart: rules must never propose merging them again."""
        return {(to_str(a), to_str(b)) for a, b in self._merge_exceptions()}

    def _merge_exceptions(self) -> set[tuple[bytes, bytes]]:
        return {(a, b) for a, b in self.conn.execute("SELECT a, b FROM merge_exceptions")}

    def quarantined(self) -> list[Quarantined]:
        """Received bundles that were refused, oldest first, with why and who sent them."""
        return [Quarantined(i, reason, detail, id_str(bundle_id), source) for i, reason, detail, bundle_id, source
                in self.conn.execute("SELECT id, reason, detail, bundle_id, source FROM quarantine ORDER BY id")]

    def stale_bundles(self) -> list[str]:
        """Bundles that arrived long after they were made (flagged for review), oldest first."""
        return [to_str(r[0]) for r in self.conn.execute("SELECT bundle_id FROM stale_flags ORDER BY hlc")]

    def bundles(self) -> Iterator[StoredBundle]:
        """The oplog: every stored bundle with its exact signed wire bytes, in a causal order
        (each after everything it depends on), read a page at a time."""
        from .sync.replica import wires_for

        rows = self.conn.execute("SELECT seq, bundle_id, actor, hlc, kind, op_count FROM bundles"
                                 " ORDER BY hlc, bundle_id").fetchall()
        for start in range(0, len(rows), 256):
            page = rows[start:start + 256]
            for (_seq, bundle_id, actor, hlc, kind, count), wire in zip(
                    page, wires_for(self.conn, [r[0] for r in page]), strict=True):
                yield StoredBundle(to_str(bundle_id), actor_str(actor), hlc, kind, count, wire)

    def oplog_size(self) -> OplogSize:
        """How many bundles and operations the oplog holds, and how many received bundles are
        parked waiting for bundles they depend on."""
        bundles, ops = self.conn.execute("SELECT count(*), coalesce(sum(op_count), 0) FROM bundles").fetchone()
        pending = self.conn.execute("SELECT count(*) FROM pending").fetchone()[0]
        return OplogSize(int(bundles), int(ops), int(pending))


def _workspace_name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > 200:
        raise ValidationError("a workspace name is 1 to 200 characters")
    return cleaned


