"""The Workspace: the public face of the core for the relay, the web worker, the CLI and scripts.

A thin facade. Its state lives in a `Context` (the connection, what `Env` hands in, and the
caches derived from the database); the work is done by the modules below, each taking that
context:

* local writes (`commit`): `begin` -> the caller's writes on the `Transaction` -> `prepare` ->
  the caller signs `signing_bytes()` -> `commit`. `transaction()` runs the four with the
  synchronous signer; an asynchronous runtime (WebCrypto in the browser) drives them itself.
* received bundles (`receive`): `check_received` -> the caller verifies each signature ->
  `apply_received`. `ingest` / `ingest_many` run the three with the synchronous verifier.
* reads (`records`, `history`, `conflict_report`, `query`, `rules`, `overlay`): see the active
  overlay's staged state.

Results follow one convention (`results`): every id handed out is a string.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from . import commit as pipeline
from . import mappings, oplog, receive, records
from . import operations as o
from .attachments import Attachment, attachments, referenced_blobs
from .awareness import Awareness
from .blobs import BlobRef
from .calling import CallingSheet, CueList, cue_lists
from .calling import sheet as calling_sheet
from .commit import Prepared
from .conflict_report import Resolution, conflict, conflict_groups, open_conflicts, resolved_conflicts
from .conflicts import Conflict, ConflictTracker
from .context import Context, Env
from .duplicates import duplicate_edges
from .errors import LocalError, NotFoundError, ValidationError, WorkspaceMismatchError
from .groups import FieldGroups
from .history import Change, PersonChanges, changes_since, field_history, mark_seen
from .hlc import Clock
from .identity_repair import MergePreview, merge_preview
from .ids import IdFactory, IdLike, as_id, to_str, workspace_id_for
from .modules import Schema
from .overlay import Drift, OverlayInfo, Overlays, StagedOp
from .overlay_journal import OverlayJournal
from .query import matches, run_query
from .rebuild import rebuild
from .receive import Received
from .results import BundleEvent, Edge, IngestResult, OplogSize, Quarantined, Receipt, Record, StoredBundle
from .reverting import begin_undo
from .rules import Dependency, Proposal, Rule, RuleEngine, load_rules, rule_dependencies
from .settings import Settings
from .statehash import state_hash, state_hash_steps
from .storage import adopt, get_meta, install, set_meta
from .transaction import Transaction
from .undo import UndoResult
from .values import Reference
from .view_definitions import ViewDef
from .views import ViewResult, find_view, list_views, run_view, table_view

__all__ = ["Env", "Workspace"]

P = ParamSpec("P")
T = TypeVar("T")


def _reads(method: Callable[Concatenate[Workspace, P], T]) -> Callable[Concatenate[Workspace, P], T]:
    """A public read: it sees the active overlay's staged state (see `Overlays.reading`)."""

    def read(self: Workspace, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.overlays.reading():
            return method(self, *args, **kwargs)

    functools.update_wrapper(read, method)  # name and docstring, in place
    return read


class Workspace:
    """Create with `Workspace.create`, `Workspace.open` or `Workspace.join`."""

    def __init__(self, conn: sqlite3.Connection, env: Env, workspace_id: bytes) -> None:
        cx = Context(conn, env, workspace_id, rules=RuleEngine, overlays=Overlays)
        self.rules: RuleEngine = cx.rules  # type: ignore[assignment]
        self.overlays: Overlays = cx.overlays  # type: ignore[assignment]
        self._cx = cx
        self.last_receipt: Receipt | None = None
        self.closed = False

    # What shells and tests read directly: handed in, or derived and kept fresh by the context.
    @property
    def conn(self) -> sqlite3.Connection:
        """The connection handed in (the shell owns it: snapshots, closing)."""
        return self._cx.conn

    @property
    def workspace_id(self) -> bytes:
        return self._cx.workspace_id

    @property
    def actor_id(self) -> bytes:
        """This signer's actor (its 32-byte public key)."""
        return self._cx.actor_id

    @property
    def device(self) -> bytes:
        """This database's device id: with the actor, the writer of the bundles made here."""
        return self._cx.device

    @property
    def writer(self) -> bytes:
        return self._cx.writer

    @property
    def ids(self) -> IdFactory:
        return self._cx.ids

    @property
    def clock(self) -> Clock:
        return self._cx.clock

    @property
    def schema(self) -> Schema:
        """The adopted modules' tables, fields and edge types."""
        return self._cx.schema

    @property
    def settings(self) -> Settings:
        return self._cx.settings

    @property
    def groups(self) -> FieldGroups:
        """Confirmed field mappings: which fields are one semantic field."""
        return self._cx.groups

    @property
    def conflicts(self) -> ConflictTracker:
        return self._cx.conflicts

    @property
    def listeners(self) -> list[Callable[[BundleEvent], None]]:
        """Called with every bundle stored (local or received), after it is durable."""
        return self._cx.listeners

    @property
    def env(self) -> Env:
        return self._cx.env

    @env.setter
    def env(self, env: Env) -> None:
        self._cx.env = env

    @property
    def display_name(self) -> str:
        """The name the next bundle is signed with (an IdentifyActor goes with it when it changes)."""
        return self._cx.display_name

    @display_name.setter
    def display_name(self, name: str) -> None:
        self._cx.display_name = name

    @property
    def crdt_available(self) -> bool:
        """Whether collaborative text and list fields can be edited here (a CRDT backend was found)."""
        return self._cx.crdt.backend is not None

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def _prepare(cls, conn: sqlite3.Connection, env: Env, workspace_id: bytes | None) -> Workspace:
        adopt(conn)
        stale = install(conn)
        stored = get_meta(conn, "workspace_id")
        existing = stored if isinstance(stored, bytes) else None
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
        """A new workspace in an empty database, owned by the signer's actor (synchronous signer)."""
        ws, tx = cls.founding(conn, env, name)
        ws.last_receipt = ws.finish(tx)
        return ws

    @classmethod
    def founding(cls, conn: sqlite3.Connection, env: Env, name: str) -> tuple[Workspace, Transaction]:
        """A new workspace and its open founding transaction, for the caller to finish (prepare,
        sign, commit) however its runtime signs; `create` does it with a synchronous signer."""
        name = _workspace_name(name)
        adopt(conn)
        install(conn)
        if get_meta(conn, "workspace_id") is not None:
            raise LocalError("this database already holds a workspace")
        nonce = env.random_bytes(16)
        workspace_id = workspace_id_for(env.signer.actor_id, env.now_ms(), nonce)
        ws = cls._prepare(conn, env, workspace_id)
        tx = ws.begin(kind="workspace")
        try:
            tx.add(o.InitWorkspace, name=name, nonce=nonce)
        except BaseException:
            ws.abort()
            raise
        return ws, tx

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
        if self._cx._tx is not None:
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

    # --- local writes: begin -> writes -> prepare -> sign -> commit (`commit`) ---------------------

    def begin(self, kind: str = "edit", meta: dict[str, Any] | None = None, staging: bool = True) -> Transaction:
        """Open a local transaction: its writes become one signed bundle, or, while an overlay is
        active (and `staging`), are staged there. Finish it with `prepare` and `commit` (or
        `finish`); `abort` drops it. One transaction at a time."""
        return pipeline.begin(self._cx, kind, meta, staging)

    def prepare(self, tx: Transaction) -> Prepared | None:
        """Run the rules and seal the writes into a bundle to sign (`signing_bytes()`); None when
        they were staged or there were none. On an error everything is rolled back and it raises."""
        prepared = pipeline.prepare(self._cx, tx)
        if prepared is None:
            self.last_receipt = None
        return prepared

    def commit(self, prepared: Prepared, signature: bytes) -> Receipt:
        """Store the signed bundle: durable once this returns (also as `last_receipt`)."""
        self.last_receipt = pipeline.commit(self._cx, prepared, signature)
        return self.last_receipt

    def abort(self) -> None:
        """Roll back the open transaction; nothing of it stays."""
        pipeline.abort(self._cx)

    def finish(self, tx: Transaction) -> Receipt | None:
        """prepare -> sign with the synchronous signer -> commit."""
        prepared = self.prepare(tx)
        if prepared is None:
            return None
        try:
            signature = self.env.signer.sign(prepared.signing_bytes())
        except BaseException:
            self.abort()
            raise
        return self.commit(prepared, signature)

    @contextmanager
    def transaction(self, kind: str = "edit", meta: dict[str, Any] | None = None,
                    staging: bool = True) -> Iterator[Transaction]:
        """All writes inside become one signed bundle, or nothing if anything raises.

        While an overlay is active, the writes are staged in it instead (unsigned, local).
        The receipt is available afterwards as `ws.last_receipt`. Needs a synchronous signer.
        """
        tx = self.begin(kind, meta, staging)
        try:
            yield tx
        except BaseException:
            self.abort()
            raise
        self.finish(tx)

    def _write(self, fn: Callable[[Transaction], T], kind: str = "edit") -> T:
        with self.transaction(kind) as tx:
            return fn(tx)

    # Convenience single-bundle writes (synchronous signer).
    def create_record(self, table: str, values: dict[str, Any] | None = None) -> str:
        return self._write(lambda tx: tx.create_record(table, values))

    def set_field(self, record: IdLike, field: str, value: Any) -> None:
        """One field in one bundle (`Transaction.set_field`); None clears."""
        self._write(lambda tx: tx.set_field(record, field, value))

    def clear_field(self, record: IdLike, field: str) -> None:
        self._write(lambda tx: tx.clear_field(record, field))

    def delete_record(self, record: IdLike) -> None:
        self._write(lambda tx: tx.delete_record(record))

    def adopt_module(self, manifest: str) -> str:
        return self._write(lambda tx: tx.adopt_module(manifest), kind="module")

    # --- undo / redo (`reverting`) ------------------------------------------------------------------

    def can_undo(self) -> bool:
        return bool(self._cx._stacks.undo)

    def can_redo(self) -> bool:
        return bool(self._cx._stacks.redo)

    def begin_undo(self, redo: bool = False) -> UndoResult | tuple[Transaction, UndoResult]:
        """The undo (or redo) as an open transaction to finish, with the result to report once
        committed; or the result at once (nothing to undo, skipped and why, a staged step)."""
        return begin_undo(self._cx, redo)

    def undo(self) -> UndoResult:
        """Reverse this actor's latest bundle, or skip it (and say why) if someone else changed it.

        While an overlay is active, undo steps back through the overlay's staged edits instead.
        """
        return self._reverse(redo=False)

    def redo(self) -> UndoResult:
        return self._reverse(redo=True)

    def _reverse(self, redo: bool) -> UndoResult:
        planned = self.begin_undo(redo)
        if isinstance(planned, UndoResult):
            return planned
        tx, result = planned
        self.finish(tx)
        return result

    # --- received bundles: check -> verify -> apply (`receive`) ------------------------------------

    def check_received(self, wires: Sequence[bytes], *, source: str | None = None) -> Received:
        """Step one for received bundles: every check that needs no signature. Verify every
        signature of each of `.to_verify` (`bundle.signatures()`: its author's, and any recovery
        proof), then hand one verdict per bundle (all held) to `apply_received`."""
        return receive.check(self._cx, wires, source)

    def apply_received(self, received: Received, verdicts: Sequence[bool]) -> list[IngestResult]:
        """Step three: apply what verified, in one SQLite transaction; one result per wire.
        Bad input never raises: it is quarantined with a reason."""
        return receive.apply(self._cx, received, verdicts)

    def ingest(self, data: bytes, *, source: str | None = None) -> IngestResult:
        """Verify and apply one received bundle (sync verifier). Never raises for bad input."""
        return self.ingest_many([data], source=source)[0]

    def ingest_many(self, wires: list[bytes], *, source: str | None = None) -> list[IngestResult]:
        """Verify and apply a batch (a catch-up delta) with one commit; one result per bundle."""
        received = self.check_received(wires, source=source)
        verify = self.env.verifier.verify
        return self.apply_received(received, [all(verify(*s) for s in b.signatures())
                                              for b in received.to_verify])

    def drain_parked(self) -> list[str]:
        """Apply parked bundles whose dependencies have arrived, at most `Env.parking.drain_step`
        of them (ingest does the same after every batch). Returns their ids: call again while it
        returns any. A server calls it between other work, so a long released chain of parked
        bundles applies in steps instead of holding everything else up."""
        if self._cx._tx is not None:
            raise LocalError("cannot apply parked bundles while a local transaction is open")
        self.overlays.close_view()
        return receive.drain_pending(self._cx, self.env.parking.drain_step)

    # --- rebuild and state hash ---------------------------------------------------------------

    def refuse_authors(self, authors: dict[bytes, str]) -> None:
        """From now on refuse bundles by these authors that are not stored yet (actor -> why), as
        `removed_member`; what is stored stays. A receiver's local policy (the relay's removed members)."""
        self._cx.refused_authors = dict(authors)

    def rebuild(self) -> None:
        """Re-derive all canonical state from the oplog, in canonical order."""
        rebuild(self._cx)

    def state_hash(self) -> str:
        """Hash of canonical state (overlays never count)."""
        self.overlays.close_view()
        return state_hash(self.conn, [("crdt", self._cx.crdt_rows())])

    def state_hash_steps(self, rows: int = 2000) -> Generator[None, None, str]:
        """`state_hash` read a page of `rows` rows per step (the browser worker edits between steps);
        valid only if `change_stamp` did not move during the steps (sync.WorkspaceReplica checks)."""
        self.overlays.close_view()
        return state_hash_steps(self.conn, [("crdt", self._cx.crdt_rows())], rows)

    def change_stamp(self) -> tuple[int, int]:
        """Differs whenever the database may have changed since it was last read: rows written on
        this connection (never goes back, rollbacks included) and SQLite's `data_version` (moves
        when another connection commits). A cache of `state_hash` keyed by it is never stale."""
        conn = self.conn
        return conn.total_changes, int(conn.execute("PRAGMA data_version").fetchone()[0])

    # --- reads (`records`) --------------------------------------------------------------------

    @property
    def vector_clock(self) -> dict[bytes, bytes]:
        """Writer (actor key || device id) -> HLC of the latest bundle applied from it: what sync
        exchanges. One person on two devices has two entries."""
        return self._cx.vector_clock

    @property
    def chain_digests(self) -> dict[bytes, bytes]:
        """Writer -> XOR of the SHA-256 of its stored bundle headers: tells two peers whose clocks
        agree whether they hold the same bundles of that writer (a forked chain may differ)."""
        return dict(self._cx._digests)

    @property
    def name(self) -> str:
        return self.settings.name

    def actor_name(self, actor: str | bytes) -> str:
        """A person's display name, by actor id (64 hex characters); a short id if never named."""
        return self._cx.actor_name(actor)

    def signed_name(self, actor: str | bytes) -> str | None:
        """The display name this actor signed with, or None if none of its changes is here yet."""
        return self._cx.signed_name(actor)

    @_reads
    def render(self, record: IdLike, field: str) -> Any:
        """Current content of a collaborative (CRDT) field: text, or a list, merged from all its edits."""
        return records.render(self._cx, record, field)

    @_reads
    def crdt_state(self, record: IdLike, field: str) -> bytes:
        """A collaborative field's whole Yjs document as one update (its state, not its history)."""
        return records.crdt_state(self._cx, record, field)

    def follow(self, reference: Reference, depth: int = 0) -> tuple[Any, str | None]:
        """(value, why it is broken or None) for a reference, through merges and chains."""
        return self._cx.follow(reference, depth)

    @_reads
    def reference_of(self, record: IdLike, field: str) -> tuple[str, str, str | None] | None:
        """If the field is in reference mode: (source record id, source field, broken reason)."""
        return records.reference_of(self._cx, record, field)

    @_reads
    def attachments(self) -> list[Attachment]:
        """Every attachment (blob field value) on a live record; the bytes may not be on this device."""
        return attachments(self._cx)

    @_reads
    def referenced_blobs(self) -> dict[str, BlobRef]:
        """Each blob a live record references, once, by hash: what a peer keeping everything fetches."""
        return referenced_blobs(self._cx)

    @_reads
    def table_member_ids(self, table: str) -> list[str]:
        """Ids of the visible records of a table, oldest first."""
        return records.member_ids(self._cx, table)

    @_reads
    def record(self, record: IdLike, table: str | None = None) -> Record | None:
        """One visible record; with `table`, only if it is in that table (values of that table).

        An id merged into another record reads as that record (the survivor)."""
        return records.record(self._cx, record, table)

    @_reads
    def records(self, table: str) -> list[Record]:
        """All visible records of a table, oldest first, with that table's fields."""
        return records.records(self._cx, table)

    @_reads
    def get(self, record: IdLike, field: str) -> Any:
        """One field's value (None if empty); `field` as in `set_field`."""
        return records.get(self._cx, record, field)

    @_reads
    def duplicate_edges(self) -> list[tuple[Edge, ...]]:
        """Links of one type between the same two records, made by people who had not seen each
        other's (for example both added Jane to Scene 3 while apart). All are kept; each group is
        listed so a person can remove the extra one (see `duplicates`)."""
        return duplicate_edges(self._cx)

    @_reads
    def edges_from(self, record: IdLike, edge_type: str | None = None) -> list[Edge]:
        """Visible edges out of a record (optionally of one type)."""
        return records.find_edges(self._cx, source=record, edge_type=edge_type)

    @_reads
    def edges_to(self, record: IdLike, edge_type: str | None = None) -> list[Edge]:
        """Visible edges into a record (optionally of one type)."""
        return records.find_edges(self._cx, target=record, edge_type=edge_type)

    @_reads
    def edge(self, edge: IdLike) -> Edge | None:
        """One visible edge (with its properties), or None if it is deleted or an end is gone."""
        return records.edge(self._cx, edge)

    def edge_type_of(self, edge: IdLike) -> str | None:
        """An edge's type, whether or not it is visible now; None if no such edge is stored."""
        return records.edge_type_of(self._cx, edge)

    @_reads
    def ordered_list(self, target: IdLike, edge_type: str) -> list[Edge]:
        """The ordered edges into `target` (e.g. cues in a cue list), in list order."""
        return records.find_edges(self._cx, target=target, edge_type=edge_type)

    @_reads
    def record_label(self, record: IdLike) -> str:
        """How a record is named in messages: its name/title/label, else its first text field."""
        return self._cx.record_label(record)

    @_reads
    def history(self, record: IdLike, field: str) -> list[Change]:
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
        return oplog.last_seq(self.conn)

    def awareness_notices(self) -> list[Awareness]:
        """Near-simultaneous edits of different fields of one record by different people (short-lived)."""
        return self._cx.awareness.current()

    # --- conflicts (`conflict_report`) ------------------------------------------------------------

    def resolved_conflicts(self, record: IdLike | None = None) -> list[Resolution]:
        """Every decision that settled a conflict, oldest first: the value chosen, what it was chosen
        over, who decided and when, and which earlier decision it replaced (if any)."""
        return resolved_conflicts(self._cx, record)

    def open_conflicts(self, record: IdLike | None = None) -> list[Conflict]:
        """Open conflicts on visible records and edges, oldest first, ready to show people."""
        return open_conflicts(self._cx, record)

    def conflict(self, record: IdLike, field: str) -> Conflict | None:
        """The open conflict on one field of a record (any mapped field of it), if there is one."""
        return conflict(self._cx, record, field)

    def conflict_groups(self, threshold: int = 100) -> list[tuple[tuple[str, ...], list[Conflict]]]:
        """Open conflicts grouped by the people involved; groups over `threshold` offer take-all
        (a script and a colleague both renumbering 500 cues: settle all at once, or one by one)."""
        return conflict_groups(self._cx, threshold)

    # --- overlays (staging; `overlay`) --------------------------------------------------------------

    def create_overlay(self, name: str, *, source: str = "user", script: str | None = None,
                       activate: bool = True) -> str:
        """A new staging overlay (activated, stashing any other), or a script's pending one. Returns
        its id: every other overlay command takes it."""
        return self.overlays.create(name, source=source, script=script, activate=activate)

    def activate_overlay(self, overlay: str) -> None:
        """Writes and reads go through this overlay from now on (the active one is stashed)."""
        self.overlays.activate(overlay)

    def stash_overlay(self, overlay: str, *, pending: bool = False) -> None:
        """Stop writing and reading through this overlay; it is kept to activate later (`pending`:
        a script's finished output, waiting in the list of things to look at)."""
        self.overlays.stash(overlay, pending=pending)

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
        return self.overlays.staged_fields(overlay)

    def staged_ops(self, overlay: str | None = None) -> list[StagedOp]:
        """Every op staged in the overlay (default: the active one; none if no overlay is active), in
        the order staged."""
        return self.overlays.staged_ops(overlay)

    def overlay_journal(self) -> OverlayJournal:
        """A journal of overlay row changes, for shells that keep staged edits durable themselves
        (the web worker's IndexedDB); see `overlay_journal`."""
        return OverlayJournal(self.conn)

    def restore_overlays(self, heads: Iterable[bytes], ops: Iterable[bytes]) -> int:
        """Replace every overlay with a journal's records (none re-activated). Returns how many."""
        if self._cx._tx is not None:
            raise LocalError("a transaction is still open on this workspace; finish it first")
        self.overlays.close_view()
        return OverlayJournal.restore(self.conn, heads, ops)

    def close_views(self) -> None:
        """End any open overlay read view (e.g. before `conn.serialize()` for a snapshot, which
        must hold canonical state only); the next read reopens it."""
        self.overlays.close_view()

    def begin_overlay_commit(self, overlay: str) -> Transaction | None:
        """The overlay's staged edits replayed into an open transaction, to finish like any other
        (the overlay is gone once it is committed); None if nothing was staged (it is gone now).
        Refused while drift is unacknowledged (see `overlay_drift`)."""
        plan = self.overlays.commit_plan(overlay)
        if plan is None:
            return None
        overlay_id, name, ops = plan
        tx = self.begin(kind="overlay", meta={"overlay": name}, staging=False)
        try:
            self.overlays.replay(tx, ops)
        except BaseException:
            self.abort()
            raise
        tx.after_commit.append(lambda: self.overlays.finish(overlay_id))
        return tx

    def commit_overlay(self, overlay: str) -> Receipt | None:
        """Everything staged becomes one signed bundle (None if nothing was staged); the overlay
        is then gone. Refused while drift is unacknowledged (see `overlay_drift`)."""
        tx = self.begin_overlay_commit(overlay)
        if tx is None:
            return None
        return self.finish(tx)

    # --- rules and queries ----------------------------------------------------------------------

    def list_rules(self) -> list[Rule]:
        return load_rules(self._cx)

    def rule_dependencies(self) -> list[Dependency]:
        """What each enabled rule watches and writes, for cycle checks that include rules (triggers)."""
        return rule_dependencies(self._cx, load_rules(self._cx))

    def proposals(self) -> list[Proposal]:
        """What rules suggest and a person decides (add to a table, remove, merge)."""
        with self.overlays.reading():
            return self.rules.proposals()

    def preview_rule(self, name: str, **definition: Any) -> tuple[Rule, list[Proposal]]:
        """A rule checked as `tx.create_rule(name, **definition)` would save it (RuleError,
        RuleCycleError), and what it would do now, as proposals; nothing is written."""
        from .rules import plan_rule

        with self.overlays.reading():
            rule = plan_rule(self._cx, name, **definition)
            return rule, self.rules.preview(rule)

    def dismiss_proposal(self, proposal: Proposal) -> None:
        self.overlays.close_view()
        self.rules.dismiss(proposal)

    def cue_lists(self) -> list[CueList]:
        """Every cue list (a record other records are put in order in), by name (calling.py)."""
        return cue_lists(self._cx)

    def calling_sheet(self, cue_list: IdLike) -> CallingSheet:
        """A cue list as a calling script, with the shared calling position (calling.py)."""
        return calling_sheet(self._cx, cue_list)

    def confirmed_mappings(self) -> list[tuple[str, str]]:
        """Confirmed field mappings as (field, field) pairs (what a fork or template carries)."""
        return self._cx.confirmed_mappings()

    # --- field mappings and table links (`mappings`) -------------------------------------------

    def mapping_suggestions(self) -> list[mappings.MappingSuggestion]:
        """Fields of two tables their modules say are the same data, not yet one field and not
        turned down on this device ("Contacts and Attendees both have Email: keep them as one field?")."""
        return mappings.suggestions(self._cx)

    @_reads
    def mapping_preview(self, field_a: str, field_b: str) -> mappings.MappingPreview:
        """What keeping two fields as one would show, record by record, before it is confirmed."""
        return mappings.preview(self._cx, field_a, field_b)

    def dismiss_mapping(self, field_a: str, field_b: str) -> None:
        """Turn a mapping suggestion down on this device; it is not suggested here again."""
        self.overlays.close_view()
        mappings.dismiss(self._cx, field_a, field_b)

    def linked_tables(self) -> set[tuple[str, str]]:
        """Pairs of linked tables (each pair in sorted order)."""
        return mappings.linked_tables(self._cx)

    @_reads
    def link_preview(self, source_table: str, target_table: str) -> mappings.LinkPreview:
        """What `tx.link_tables(source, target, add_records=True)` would do, before it does."""
        return mappings.link_preview(self._cx, source_table, target_table)

    @_reads
    def unlink_preview(self, source_table: str, target_table: str) -> mappings.UnlinkPreview:
        """What `tx.unlink_tables(source, target)` would do, before it does."""
        return mappings.unlink_preview(self._cx, source_table, target_table)

    def views(self) -> list[ViewDef]:
        """Every view: the adopted modules' own (ids 'module.Name'), then saved ones by name."""
        return list_views(self._cx)

    def run_view(self, view: str | ViewDef, *, also: str | None = None) -> ViewResult:
        """A view's rows, grouped and sorted, through the active overlay (views.py)."""
        return run_view(self._cx, view, also=also)

    def find_view(self, view: str | ViewDef) -> ViewDef:
        """A view by id (a module's 'module.Name' or a saved view's id). Raises ViewError."""
        return find_view(self._cx, view)

    def table_view(self, table: str) -> ViewDef:
        """Every field of a table, as a view (for printing or exporting a whole table)."""
        return table_view(self._cx, table)

    def query(self, text: str, **kwargs: Any) -> list[str]:
        """Record ids matching a query (spec/query-language.md, docs/query.md); through the
        active overlay. Raises QueryError with line, column and a caret for a bad query."""
        return run_query(self._cx, text, **kwargs)

    def matches(self, record: IdLike, query: str, **kwargs: Any) -> bool:
        """Does one record match a query?"""
        return matches(self._cx, record, query, **kwargs)

    @_reads
    def merge_preview(self, first: IdLike, second: IdLike) -> MergePreview:
        """"These are the same person": what the merged record would show, field by field, and
        which fields would be conflicts, before `tx.merge_records` (identity_repair.py)."""
        return merge_preview(self._cx, first, second)

    def merge_exceptions(self) -> set[tuple[str, str]]:
        """Pairs of records a person split apart: rules must never propose merging them again."""
        return {(to_str(a), to_str(b)) for a, b in self._cx._merge_exceptions()}

    # --- the oplog and what was refused (`oplog`, `receive`) ----------------------------------------

    def quarantined(self) -> list[Quarantined]:
        """Received bundles that were refused, oldest first, with why and who sent them."""
        return receive.quarantined(self.conn)

    def stale_bundles(self) -> list[str]:
        """Bundles that arrived long after they were made (flagged for review), oldest first."""
        return receive.stale_bundles(self.conn)

    def bundles(self) -> Iterator[StoredBundle]:
        """The oplog: every stored bundle with its exact signed wire bytes, in a causal order
        (each after everything it depends on), read a page at a time."""
        return oplog.stored_bundles(self.conn)

    def bundles_lacked(self, peer_clock: dict[bytes, bytes]) -> oplog.StoredWires:
        """The stored bundles a peer at `peer_clock` lacks, in a causal order, read lazily (`.total`
        says how many): a sync catch-up."""
        return oplog.StoredWires(self.conn, oplog.missing_seqs(self.conn, self._cx._vc, peer_clock))

    def bundles_of(self, writers: list[bytes]) -> oplog.StoredWires:
        """Every stored bundle of these writers (actor key || device), in a causal order: what a
        peer missing part of a forked chain gets."""
        return oplog.StoredWires(self.conn, oplog.chain_seqs(self.conn, writers))

    def genesis_bundle(self) -> bytes | None:
        """The wire bytes of the bundle that founded the workspace (its first InitWorkspace):
        publishing sends it, since it makes its author the owner. None before it is here."""
        seq = oplog.genesis_seq(self.conn)
        return None if seq is None else oplog.wires_for(self.conn, [seq])[0]

    def unshared_count(self, shared: bytes) -> int:
        """How many bundles written on this device are newer than `shared` (the HLC of ours a peer
        has confirmed): what only this device holds."""
        return oplog.count_after(self.conn, self.writer, shared)

    def oplog_size(self) -> OplogSize:
        """How many bundles and operations the oplog holds, and how many received bundles are
        parked waiting for bundles they depend on."""
        return oplog.size(self.conn)


def _workspace_name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > 200:
        raise ValidationError("a workspace name is 1 to 200 characters")
    return cleaned

