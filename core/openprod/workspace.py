"""The Workspace: the public face of the core for the relay, the web worker, the CLI and scripts.

A thin facade. Its state lives in a `Context` (the connection, what `Env` hands in, and the
caches derived from the database); the work is done by the modules below, each taking that
context:

* local writes (`commit`): `begin` -> the caller's writes on the `Transaction` -> `prepare` ->
  the caller signs `signing_bytes()` -> `commit`. `transaction()` runs the four with the
  synchronous signer; an asynchronous runtime (WebCrypto in the browser) drives them itself.
* received bundles (`receive`): `check_received` -> the caller verifies each signature ->
  `apply_received`. `ingest` / `ingest_many` run the three with the synchronous verifier.
* everything else is one part per subsystem, each in that subsystem's module and holding only
  the context: `records`, `history`, `conflicts`, `staging`, `rules`, `mappings`, `merges`,
  `views`, `calling`, `attachments`, `oplog`. Their reads see the active overlay's staged state.

Results follow one convention (`results`): every id handed out is a string.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from . import commit as pipeline
from . import operations as o
from . import receive
from .attachments import Attachments
from .bundle import Bundle
from .calling import Calling
from .commit import Prepared
from .conflict_report import Conflicts
from .context import Context, Env
from .errors import BundleRejected, LocalError
from .groups import FieldGroups
from .history import History
from .identity_repair import Merges
from .ids import IdLike, as_id, workspace_id_for
from .mappings import Mappings
from .modules import Schema
from .overlay import Overlays, Staging
from .rebuild import rebuild
from .receive import Oplog, Received
from .records import Records
from .results import IngestResult, Receipt
from .reverting import begin_undo
from .rules import RuleEngine, Rules
from .settings import Settings, workspace_name
from .statehash import change_stamp, state_hash, state_hash_steps
from .storage import claim_empty, held_workspace
from .transaction import Transaction
from .undo import UndoResult
from .views import Views

__all__ = ["Env", "Workspace"]

T = TypeVar("T")


class Workspace:
    """Create with `Workspace.create`, `Workspace.open` or `Workspace.join`."""

    def __init__(self, conn: sqlite3.Connection, env: Env, workspace_id: bytes) -> None:
        cx = self._cx = Context(conn, env, workspace_id, rules=RuleEngine, overlays=Overlays)
        self.records = Records(cx)
        self.history = History(cx)
        self.conflicts = Conflicts(cx)
        self.staging = Staging(cx)
        self.rules = Rules(cx)
        self.mappings = Mappings(cx)
        self.merges = Merges(cx)
        self.views = Views(cx)
        self.calling = Calling(cx)
        self.attachments = Attachments(cx)
        self.oplog = Oplog(cx)
        self.last_receipt: Receipt | None = None
        self.closed = False
        # Fixed while it is open: the connection handed in (the shell owns it: snapshots, closing),
        # which workspace, this signer's actor (its public key), this database's device and so the
        # writer of the bundles made here (actor || device), ids and clock, and the listeners called
        # with every bundle stored (local or received) once it is durable.
        self.conn, self.workspace_id, self.actor_id = cx.conn, cx.workspace_id, cx.actor_id
        self.device, self.writer, self.ids, self.clock = cx.device, cx.writer, cx.ids, cx.clock
        self.listeners = cx.listeners

    # What shells and tests read directly: handed in, or derived and kept fresh by the context.
    @property
    def schema(self) -> Schema:
        """The adopted modules' tables, fields and edge types."""
        return self._cx.schema

    @property
    def settings(self) -> Settings:
        return self._cx.settings

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def groups(self) -> FieldGroups:
        """Confirmed field mappings: which fields are one semantic field."""
        return self._cx.groups

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

    def actor_name(self, actor: str | bytes) -> str:
        """A person's display name, by actor id (64 hex characters); a short id if never named."""
        return self._cx.actor_name(actor)

    def signed_name(self, actor: str | bytes) -> str | None:
        """The display name this actor signed with, or None if none of its changes is here yet."""
        return self._cx.signed_name(actor)

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def _prepare(cls, conn: sqlite3.Connection, env: Env, workspace_id: bytes | None) -> Workspace:
        held, stale = held_workspace(conn, workspace_id)
        ws = cls(conn, env, held)
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
        name = workspace_name(name)
        claim_empty(conn)
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
        self._cx.overlays.close_view()
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

    def transaction(self, kind: str = "edit", meta: dict[str, Any] | None = None,
                    staging: bool = True) -> pipeline.Writing:
        """All writes inside become one signed bundle, or nothing if anything raises.

        While an overlay is active, the writes are staged in it instead (unsigned, local).
        The receipt is available afterwards as `ws.last_receipt`. Needs a synchronous signer.
        """
        return pipeline.Writing(self, kind, meta, staging)

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

    def begin_overlay_commit(self, overlay: str) -> Transaction | None:
        """The overlay's staged edits as an open transaction to finish (`commit.begin_overlay`)."""
        return pipeline.begin_overlay(self._cx, overlay)

    def commit_overlay(self, overlay: str) -> Receipt | None:
        """Everything staged becomes one signed bundle (None if nothing was staged); the overlay
        is then gone. Refused while drift is unacknowledged (see `staging.drift`)."""
        tx = self.begin_overlay_commit(overlay)
        if tx is None:
            return None
        return self.finish(tx)

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

    def check_received(self, wires: Sequence[bytes], *, source: str | None = None,
                       decoded: Sequence[Bundle | BundleRejected | None] | None = None) -> Received:
        """Step one: every check needing no signature (`decoded`: each wire's `decode_bundle`, where
        the caller decoded it ahead). Then verify each of `.to_verify`'s `bundle.signatures()` and
        hand one verdict per bundle to `apply_received` (or hand none)."""
        return receive.check(self._cx, wires, source, decoded)

    def apply_received(self, received: Received, verdicts: Sequence[bool] | None = None) -> list[IngestResult]:
        """Step three: apply what verified, in one SQLite transaction; one result per wire. With no
        `verdicts`, the handed-in synchronous verifier checks them as it goes (receive.verify_and_apply).
        Bad input never raises: it is quarantined with a reason."""
        if verdicts is None:
            return receive.verify_and_apply(self._cx, received, self.env.verifier)
        return receive.apply(self._cx, received, verdicts)

    def ingest(self, data: bytes, *, source: str | None = None) -> IngestResult:
        """Verify and apply one received bundle (sync verifier). Never raises for bad input."""
        return self.ingest_many([data], source=source)[0]

    def ingest_many(self, wires: list[bytes], *, source: str | None = None) -> list[IngestResult]:
        """Verify and apply a batch (a catch-up delta) with one commit; one result per bundle."""
        return self.apply_received(self.check_received(wires, source=source))

    def drain_parked(self) -> list[str]:
        """Apply up to `Env.parking.drain_step` parked bundles whose dependencies arrived; their ids.
        A server calls it between other work, so a long released chain applies in steps."""
        return receive.drain_parked(self._cx)

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
        self._cx.overlays.close_view()
        return state_hash(self.conn, [("crdt", self._cx.crdt_rows())])

    def state_hash_steps(self, rows: int = 2000) -> Generator[None, None, str]:
        """`state_hash` a page at a time; valid if `change_stamp` did not move meanwhile."""
        self._cx.overlays.close_view()
        return state_hash_steps(self.conn, [("crdt", self._cx.crdt_rows())], rows)

    def change_stamp(self) -> tuple[int, int]:
        """Differs whenever the database may have changed since it was last read: rows written on
        this connection (never goes back, rollbacks included) and SQLite's `data_version` (moves
        when another connection commits). A cache of `state_hash` keyed by it is never stale."""
        return change_stamp(self.conn)

