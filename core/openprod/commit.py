"""The local write pipeline: begin -> (the caller's writes) -> prepare -> sign -> commit.

`begin` opens one SQLite transaction and a `Transaction` that validates, plans and applies each
write at once (`transaction.py`). `prepare` runs the auto-accepted rules and seals the ops into an
unsigned bundle, or, while an overlay is active, stages them there instead (nothing to sign).
Signing is the caller's step, however its runtime signs: `Workspace.transaction()` signs with a
synchronous signer (PyNaCl), the browser worker awaits WebCrypto between `prepare` and `commit`.
`commit` seals the signature in, appends the bundle to the oplog and commits. Any failure before
`commit` goes through `abort`, which rolls everything back. One pipeline, whatever the signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from . import operations as o
from . import oplog
from .awareness import field_writes
from .bundle import BUNDLE_KINDS, UnsignedBundle, build
from .context import Context
from .errors import LocalError, SignerError, ValidationError
from .identity import SIGNATURE_LEN
from .ids import to_str
from .overlay import Overlays
from .results import BundleEvent, Receipt, actor_str
from .transaction import Transaction
from .undo import Entry


@dataclass(frozen=True)
class Prepared:
    """A local transaction sealed into an unsigned bundle: sign `signing_bytes()`, then commit."""

    tx: Transaction
    unsigned: UnsignedBundle

    def signing_bytes(self) -> bytes:
        return self.unsigned.signing_bytes()


class _Writer(Protocol):
    def begin(self, kind: str, meta: dict[str, Any] | None, staging: bool) -> Transaction: ...
    def finish(self, tx: Transaction) -> Receipt | None: ...
    def abort(self) -> None: ...


class Writing:
    """`Workspace.transaction()`: `begin` on entry; on leaving, `finish` (prepare, sign, commit),
    or `abort` if anything raised (and it propagates). A class rather than a generator under
    `contextlib.contextmanager`, whose setup and teardown cost about 2 us of every transaction,
    a keystroke's too."""

    __slots__ = ("_args", "_tx", "_writer")

    def __init__(self, writer: _Writer, kind: str, meta: dict[str, Any] | None, staging: bool) -> None:
        self._writer = writer
        self._args = (kind, meta, staging)
        self._tx: Transaction | None = None

    def __enter__(self) -> Transaction:
        self._tx = self._writer.begin(*self._args)
        return self._tx

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        tx, self._tx = self._tx, None
        if kind is not None:
            self._writer.abort()
        elif tx is not None:
            self._writer.finish(tx)


def begin(cx: Context, kind: str, meta: dict[str, Any] | None, staging: bool) -> Transaction:
    """Open a local transaction. While an overlay is active (and `staging`), writes are staged."""
    if cx._tx is not None:
        raise LocalError("a transaction is already open on this workspace")
    if kind not in BUNDLE_KINDS:
        raise ValidationError(f"unknown kind of change {kind!r}; known: {', '.join(sorted(BUNDLE_KINDS))}")
    if staging and cx.overlays.active() is not None and kind not in ("overlay", "undo", "redo"):
        if kind in ("module", "workspace"):
            raise ValidationError("changes to the workspace itself cannot wait for review; "
                                  "set your changes to review aside first")
        cx.overlays.ensure_view()  # writes are validated against what the overlay shows
        cx._tx = Transaction(cx, kind, meta, staging=True)
        return cx._tx
    cx.overlays.close_view()
    cx.conn.execute("BEGIN IMMEDIATE")
    cx._tx = Transaction(cx, kind, meta)
    return cx._tx


def begin_overlay(cx: Context, overlay: str) -> Transaction | None:
    """The overlay's staged edits replayed into an open transaction, to finish like any other
    (the overlay is gone once it is committed); None if nothing was staged (it is gone now).
    Refused while drift is unacknowledged."""
    overlays: Overlays = cx.overlays  # type: ignore[assignment]
    plan = overlays.commit_plan(overlay)
    if plan is None:
        return None
    overlay_id, name, ops = plan
    tx = begin(cx, "overlay", {"overlay": name}, False)
    try:
        overlays.replay(tx, ops)
    except BaseException:
        abort(cx)
        raise
    tx.after_commit.append(lambda: overlays.finish(overlay_id))
    return tx


def abort(cx: Context) -> None:
    """Roll the open local transaction back (nothing of it stays) and re-read the caches."""
    cx._tx = None
    cx.conflicts.pending.clear()
    if cx.overlays.view_open:
        cx.overlays.close_view()
    elif cx.conn.in_transaction:
        cx.conn.execute("ROLLBACK")
    cx._reload()


def prepare(cx: Context, tx: Transaction) -> Prepared | None:
    """Fire the rules, then stage (None), drop an empty transaction (None) or seal a bundle.

    Raises what the rules or the checks raise, after rolling everything back."""
    if cx._tx is not tx:
        raise LocalError("this transaction is not the one open on this workspace")
    try:
        cx.rules.fire(tx)
        if tx.staging:
            _stage(cx, tx)
            return None
        if not tx.ops:
            abort(cx)
            return None
        if cx.self_signed_name() != cx.display_name:
            tx.add(o.IdentifyActor, display_name=cx.display_name)
        unsigned = build(workspace=cx.workspace_id, bundle_id=cx.ids.new(), actor=cx.actor_id, device=cx.device,
                         kind=tx.kind, clock=cx._vc, ops=tx.ops, meta=tx.meta, op_bytes=tx.op_bytes)
    except BaseException:
        abort(cx)
        raise
    return Prepared(tx, unsigned)


def commit(cx: Context, prepared: Prepared, signature: bytes) -> Receipt:
    """Store the signed bundle and commit: the write is durable once this returns."""
    tx = prepared.tx
    if cx._tx is not tx:
        raise LocalError("this transaction is no longer open on this workspace")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LEN:
        abort(cx)
        got = f"{len(signature)} bytes" if isinstance(signature, bytes) else type(signature).__name__
        raise SignerError(f"the signer returned {got} instead of a {SIGNATURE_LEN}-byte Ed25519 signature; "
                          "nothing was saved")
    try:
        bundle = prepared.unsigned.seal(signature)
        digest = oplog.xor(cx._digests.get(cx.writer, oplog.NO_DIGEST), oplog.header_digest(bundle.header_bytes))
        first_seq = cx._next_seq if tx.began_since_commit else oplog.next_op_seq(cx.conn)
        clock_row = cx.clock_row_due()  # else the row is derived at open (`Context._reload`)
        oplog.append(cx.conn, bundle, cx.env.now_ms(), digest if clock_row else None, first_seq)
        cx.conn.execute("COMMIT")
    except BaseException:
        abort(cx)
        raise
    cx._committed(tx.began_since_commit, first_seq + len(bundle.ops), tx.ops, clock_row)
    cx._tx = None
    cx.conflicts.pending.clear()
    cx._chain_stored(cx.writer, bundle.hlc, digest)
    if tx.steps:
        entry = Entry(bundle.bundle_id, tx.ops[0].ord, list(tx.steps), tx.description)
        if tx.kind == "undo":
            cx._stacks.redo.append(entry)
        else:
            if tx.kind != "redo":
                cx._stacks.redo.clear()
            cx._stacks.undo.append(entry)
    elif tx.steps is None and tx.kind not in ("undo", "redo", "calling"):  # a GO is no edit: undo sees through it
        cx._stacks.stop_at(tx.kind)
    cx.awareness.note(field_writes(bundle.ops), cx.actor_id)
    wire = bundle.wire()
    bundle_id = to_str(bundle.bundle_id)
    if cx.listeners:
        cx._notify(BundleEvent(bundle_id, actor_str(cx.actor_id), cx.writer, bundle.hlc, wire, "local"))
    for hook in tx.after_commit:
        hook()
    return Receipt(bundle_id, bundle.hlc, wire, list(tx.created))


def _stage(cx: Context, tx: Transaction) -> None:
    """End a staging transaction: its ops join the active overlay; nothing is signed."""
    cx._tx = None
    cx.conflicts.pending.clear()
    cx.overlays.close_view()
    cx.overlays.record(tx.ops)
