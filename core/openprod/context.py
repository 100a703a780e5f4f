"""The live state of one open workspace: what the pipelines and the readers share.

One `Context` per open database. It holds what the caller handed in (the connection and the
`Env`: signer, verifier, clock, random source, CRDT backend) and keeps the caches derived from
the database fresh: schema, field groups (mappings), settings, the vector clock and per-writer
chain digests, merge redirects, the conflict tracker, the overlay view. The receive pipeline
(`receive`), the local write pipeline (`commit`, with `transaction` planning the ops) and the
readers (history, conflict reports, references, query, rules, overlays) take it; the `Workspace`
facade is built on it, and nothing at this level or below imports the facade.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from . import hlc as hlc_mod
from . import operations as o
from . import oplog
from .awareness import AwarenessLog
from .bundle import DEVICE_LEN, writer_of
from .conflicts import ConflictTracker
from .crdt import CrdtBackend, CrdtStore, PycrdtBackend
from .encoding import decode
from .groups import FieldGroups
from .identity import Signer, Verifier, as_actor_id, clean_display_name, short_actor
from .ids import IdFactory, IdLike, as_id, to_str
from .merge import Redirects
from .modules import ModuleDef, Schema, parse_manifest, union
from .parked import ParkingLimits, ParkingLot
from .reads import entity_state, group_value, tables_of, values_for
from .results import BundleEvent
from .settings import MAX_FUTURE_DRIFT_CAP_MS, Settings, from_rows
from .state import Applier, Effects
from .storage import get_meta, set_meta
from .undo import Stacks
from .values import Reference


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
    parking: ParkingLimits = field(default_factory=ParkingLimits)
    """How many received bundles may wait here for earlier ones, per author and in all, and how long."""


class OverlayView(Protocol):
    """What the pipelines need of the overlay view (`overlay.Overlays`, handed in by the facade)."""

    view_open: bool

    def active(self) -> bytes | None: ...

    def ensure_view(self) -> bool: ...

    def close_view(self) -> None: ...

    def reading(self) -> AbstractContextManager[None]: ...

    def check(self, cls: type[o.Op]) -> None: ...

    def next_hlc(self) -> bytes: ...

    def record(self, ops: list[o.Op]) -> None: ...

    def undo(self) -> bool: ...

    def redo(self) -> bool: ...


class RuleHook(Protocol):
    """What the local write pipeline needs of the rules (`rules.RuleEngine`, handed in by the facade)."""

    def fire(self, tx: Any) -> None: ...

    def accept(self, tx: Any, proposal: Any) -> None: ...


@dataclass
class Checked:
    """What local writes checked, as this context's last local commit left the database
    (`Context.checked`): records that exist, are not deleted and were not merged away, and
    (record, table) memberships."""

    live: set[bytes] = field(default_factory=set)
    members: set[tuple[bytes, str]] = field(default_factory=set)


MAX_REFERENCE_DEPTH = 8

# Ops that write a field's content and nothing else: no record comes or goes, merges, or joins or
# leaves a table (so a record checked live and in a table stays so; `Context._committed`).
# This device's vector clock row is written by one local commit in this many (`clock_row_due`).
CLOCK_ROW_EVERY = 32
CONTENT_OPS = frozenset({o.SetField, o.ClearField, o.SetReference, o.ApplyCrdt, o.ClearAndAdd, o.IdentifyActor})


def follow(ws: Context, reference: Reference, depth: int = 0) -> tuple[Any, str | None]:
    """(value, why it is broken or None) for a reference, through merges and chains."""
    if depth > MAX_REFERENCE_DEPTH:
        return None, "these references point at each other in a loop"
    target = ws.redirects.resolve(reference.source)
    state = entity_state(ws.conn, target)
    if state is None or not state[0]:
        return None, "the record it points to is not on this device yet: it arrives when you sync with whoever made it"
    if not state[1]:
        return None, f"the record it points to ({ws.record_label(target)}) was deleted"
    if reference.field not in ws.schema.fields:
        return None, f"the field it points to ({reference.field}) is not in any adopted module"
    found = group_value(ws.conn, ws.groups, target, reference.field)
    if found is None:
        return None, None
    if isinstance(found.value, Reference):
        return follow(ws, found.value, depth + 1)
    if found.value is None and ws._is_crdt(reference.field):
        return ws._render(target, reference.field), None
    return found.value, None


def _default_crdt(random_bytes: Callable[[int], bytes]) -> CrdtBackend | None:
    try:
        return PycrdtBackend(random_bytes)
    except ImportError:
        return None


class Context:
    """One open workspace's state and derived caches (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, env: Env, workspace_id: bytes, *,
                 rules: Callable[[Context], RuleHook], overlays: Callable[[Context], OverlayView]) -> None:
        """`rules` and `overlays` make the two parts that read through this context (the facade
        hands in `rules.RuleEngine` and `overlay.Overlays`: this module cannot import them)."""
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
        self.parked = ParkingLot(conn, env.parking)
        self._devices: dict[bytes, list[bytes]] = {}  # actor -> its devices seen writing (kept in place)
        self.conflicts = ConflictTracker(conn, lambda: self.groups, self._is_crdt, self.redirects, self.writer,
                                         self._devices, lambda: self.schema)
        self.awareness = AwarenessLog(lambda: self.groups, env.now_ms)
        self.rules = rules(self)
        self.listeners: list[Callable[[BundleEvent], None]] = []
        # Authors whose bundles not stored yet are refused (actor -> why): a local policy, the
        # relay's removed members, not replicated state. Bundles already stored stay valid.
        self.refused_authors: dict[bytes, str] = {}
        self._stacks = Stacks()
        self.reloads = 0  # counts `_reload`s: caches of database reads key on it (and on Applier versions)
        self._self_name: tuple[tuple[int, int], str | None] | None = None  # (key, this actor's signed name)
        self._tx: object | None = None  # the open local transaction (commit.py), if any
        # What the local commit keeps while nothing else writes on this connection (`since_commit`):
        # conn.total_changes right after this context's last local commit, the next op seq then, and
        # what local writes checked since (`checked`)
        self._commit_mark: int | None = None
        self._next_seq = 0
        self._checked = Checked()
        # this device's bundles stored since its vector clock row was last written (`clock_row_due`)
        self._clock_pending = CLOCK_ROW_EVERY
        # The clock resumes after everything stored (own and received), so no meta write per bundle.
        last = conn.execute("SELECT max(hlc) FROM bundles").fetchone()[0]
        self.clock = hlc_mod.Clock(env.now_ms, last or hlc_mod.ZERO)
        self._reload()
        self.overlays = overlays(self)

    # --- caches derived from the database -------------------------------------------------------

    def _reload(self) -> None:
        """Refresh the caches derived from the database (schema, mappings, settings, clock)."""
        self.reloads += 1
        self.crdt.reset()
        self.redirects.reload()
        self.parked.reset()
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
        # A writer of this file's device (whoever signed in here) has its row written at its first
        # commit here and then every CLOCK_ROW_EVERY local commits (`clock_row_due`): the commits
        # after it are its bundles with a later HLC (the clock resumes after every stored HLC, so
        # each local commit's is above the row's, and received bundles write rows from the whole
        # chain kept here, `_Batch.flush_clocks`). Same vector clock and digest as a row per commit.
        local = [writer for writer in self._vc if writer[32:] == self.device]
        has_row = self.writer in self._vc
        for writer in local if has_row else [*local, self.writer]:
            pending = oplog.stored_after(self.conn, writer, self._vc.get(writer, hlc_mod.ZERO))
            for hlc, share in pending:
                self._chain_stored(writer, hlc, oplog.xor(self._digests.get(writer, oplog.NO_DIGEST), share))
            if writer == self.writer:
                self._clock_pending = len(pending) if has_row else CLOCK_ROW_EVERY

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

    # --- chains and notifications ---------------------------------------------------------------

    def _chain_stored(self, writer: bytes, hlc: bytes, digest: bytes) -> None:
        """A bundle of `writer` was stored: move the vector clock and the writer's digest."""
        if hlc > self._vc.get(writer, hlc_mod.ZERO):
            self._vc[writer] = hlc
        self._digests[writer] = digest
        devices = self._devices.setdefault(writer[:32], [])
        if writer[32:] not in devices:
            devices.append(writer[32:])

    def clock_row_due(self) -> bool:
        """Whether this local commit writes this device's vector clock row.

        Why not every commit: the row is one more statement and B-tree page in every keystroke's
        transaction, and what it says is derivable: `_reload` adds this device's bundles stored
        after it. Every CLOCK_ROW_EVERY commits bounds that work at open (and after a rollback)."""
        return self._clock_pending + 1 >= CLOCK_ROW_EVERY

    def since_commit(self) -> bool:
        """True while nothing was written on this connection since this context's last local commit.

        Why: what a keystroke's commit would otherwise ask SQLite each time (the next op seq, that
        that a record is live and in a table) is then as that commit left it. `total_changes`
        counts every row written on this connection, rolled back or not, so any other write
        (received bundles, imports, a rebuild, an overlay's view, a transaction rolled back after
        its writes, this transaction's own writes) ends it. Like the chain digests kept here, this
        assumes one connection writes the file; a seq made stale by another writer fails safe:
        the insert hits `oplog.seq`'s primary key and the commit rolls back."""
        return self._commit_mark is not None and self._commit_mark == self.conn.total_changes

    def checked(self) -> Checked | None:
        """What local writes checked since the last local commit, while `since_commit`; else None
        (read it again)."""
        return self._checked if self.since_commit() else None

    def _committed(self, began_since_commit: bool, next_seq: int, ops: list[o.Op], clock_row: bool) -> None:
        """A local commit is durable: keep the next op seq, and keep what was checked if the
        database was as the last commit left it when this one began and nothing in it could make
        a record gone, merged or out of a table (only content writes: `CONTENT_OPS`)."""
        self._clock_pending = 0 if clock_row else self._clock_pending + 1
        if not (began_since_commit and all(type(op) in CONTENT_OPS for op in ops)):
            self._checked = Checked()
        self._commit_mark = self.conn.total_changes
        self._next_seq = next_seq

    def _notify(self, event: BundleEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    @property
    def vector_clock(self) -> dict[bytes, bytes]:
        """Writer (actor key || device id) -> HLC of the latest bundle applied from it."""
        return dict(self._vc)

    # --- what a field shows ----------------------------------------------------------------------

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

    def crdt_rows(self) -> Iterator[list[Any]]:
        """Every CRDT field's rendered content, in a stable order (the state hash covers them)."""
        for entity, field_id in self.conn.execute(
                "SELECT entity_id, field FROM fields WHERE kind = 'c' ORDER BY entity_id, field").fetchall():
            yield [entity, field_id, self._render(entity, field_id)]

    # --- names --------------------------------------------------------------------------------

    def record_label(self, record: IdLike) -> str:
        """How a record is named in messages (TableDef.name_from), else the start of its id."""
        return self._record_label(self.redirects.resolve(as_id(record, "record id")))

    def _record_label(self, entity: bytes, besides: str | None = None) -> str:
        """`besides`: a field not to name the record by when another naming field has a value (a
        conflict on a cue's label names the row "Cue 18", not by one of the values in dispute)."""
        for table in tables_of(self.conn, entity):
            tdef = self.schema.tables.get(table)
            if tdef is None:
                continue
            found = values_for(self.conn, self.groups, [entity], [f.id for f in tdef.naming_fields()])[entity]
            values = {fid: v.value for fid, v in found.items() if v is not None}
            name = tdef.name_from({fid: v for fid, v in values.items() if fid != besides}) if besides else None
            name = name if name is not None else tdef.name_from(values)
            if name is not None:
                return name
        return to_str(entity)[:8]

    def signed_name(self, actor: str | bytes) -> str | None:
        """The display name this actor signed with, or None if none of its changes is here yet."""
        actor = as_actor_id(actor)
        row = self.conn.execute("SELECT display_name FROM actors WHERE actor = ?", (actor,)).fetchone()
        return str(row[0]) if row else None

    def self_signed_name(self) -> str | None:
        """`signed_name` of this actor, checked by every local commit: kept until the actors table
        is written again (`Applier.actors_version`) or the caches reload (a rollback). Never kept
        from inside an overlay's view, whose writes are rolled back without a reload."""
        key = (self.reloads, self.applier.actors_version)
        if self._self_name is not None and self._self_name[0] == key:
            return self._self_name[1]
        name = self.signed_name(self.actor_id)
        if not self.overlays.view_open:
            self._self_name = (key, name)
        return name

    def actor_name(self, actor: str | bytes) -> str:
        """A person's display name, by actor id (64 hex characters); a short id if never named."""
        actor = as_actor_id(actor)
        name = self.signed_name(actor)
        return name if name is not None else short_actor(actor)

    def _semantic_key(self, target: IdLike, field: str) -> str:
        """The semantic field a (possibly short) field name means on a record; an edge's property as is."""
        entity = self.redirects.resolve(as_id(target, "record id"))
        if entity_state(self.conn, entity) is None:
            return field
        return self.groups.key(self.schema.field(field, lambda: tables_of(self.conn, entity)).id)

    def _merge_exceptions(self) -> set[tuple[bytes, bytes]]:
        return {(a, b) for a, b in self.conn.execute("SELECT a, b FROM merge_exceptions")}


class HasContext(Protocol):
    """A Workspace, as far as the readers below it know it: something that has a `Context`."""

    @property
    def _cx(self) -> Context: ...


def context_of(owner: Context | HasContext) -> Context:
    """The context behind a Workspace, or the context itself. Readers that the public API also
    offers as functions (`openprod.query.run_query(ws, ...)`) take either, without importing
    the facade."""
    return owner if isinstance(owner, Context) else owner._cx


class Part:
    """One subsystem as the `Workspace` shows it (`ws.staging`, `ws.rules`, `ws.oplog`...): a small
    object over this context whose methods hand each call to the subsystem's own functions. Each
    lives in its subsystem's module, so the facade lists parts instead of a hundred methods."""

    def __init__(self, cx: Context) -> None:
        self._cx = cx


_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S", bound=Part)


def reads(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """A public read: it sees the active overlay's staged state (see `Overlays.reading`)."""

    def read(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._cx.overlays.reading():
            return method(self, *args, **kwargs)

    functools.update_wrapper(read, method)  # name and docstring, in place
    return read
