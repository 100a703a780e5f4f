"""A script run's session: where its writes go and what is left when it ends.

* mode "session" (the default): the run gets its own overlay (source 'script'); its writes are
  staged there as it goes (before each event it reports and every few hundred writes, so whoever
  watches the overlay sees the work grow, and what it has reported is there); the overlay then
  waits in the pending list for a person to review (drift included) and commit as one bundle,
  or discard. The person's own active overlay,
  if any, is set aside for the run and active again afterwards.
* mode "autoCommit": the writes go into one local transaction that becomes exactly one signed
  bundle of kind 'script' (meta: the script's name and the SHA-256 of its source).

Either way, a run that ends in an error (syntax, an uncaught Lua error, a limit, a sandbox
refusal, a write that failed half-way) leaves nothing behind: the transaction is rolled back and
the run's overlay deleted. on_error = "skip" skips a write that fails cleanly (logged) instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from .host import Host, ScriptEvent, Trigger
from .prelude import PRELUDE
from .runtime import Limits, LuaEngine, ScriptError, ScriptFiles

if TYPE_CHECKING:
    from ..commit import Prepared
    from ..results import Receipt
    from ..transaction import Transaction
    from ..workspace import Workspace

MODES = ("session", "autoCommit")
ON_ERROR = ("abort", "skip")
MAX_SOURCE = 1 * 2**20


@dataclass(frozen=True, kw_only=True)
class Script:
    """A script and how it runs (the spec's [script.NAME] configuration)."""

    name: str
    source: str
    mode: str = "session"
    on_error: str = "abort"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise ValidationError("a script's name is 1 to 200 characters")
        if not isinstance(self.source, str) or len(self.source.encode()) > MAX_SOURCE:
            raise ValidationError(f"a script is text of at most {MAX_SOURCE // 2**20} MiB")
        if self.mode not in MODES:
            raise ValidationError(f"a script's mode is one of {', '.join(MODES)} (got {self.mode!r})")
        if self.on_error not in ON_ERROR:
            raise ValidationError(f"a script's on_error is one of {', '.join(ON_ERROR)} (got {self.on_error!r})")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()


@dataclass(frozen=True)
class RunResult:
    """What a finished run left: 'staged' (in `overlay`, `op_count` ops), 'committed' (`bundle`),
    or 'unchanged' (it wrote nothing; no overlay is kept)."""

    status: str
    overlay: str | None
    bundle: str | None
    op_count: int
    events: list[ScriptEvent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wire: bytes | None = None  # the committed bundle (autoCommit), for triggers it may set off


def run_script(ws: Workspace, engine: LuaEngine, script: Script, *, args: dict[str, Any] | None = None,
               limits: Limits | None = None, on_event: Callable[[ScriptEvent], None] | None = None,
               trigger: Trigger | None = None, files: ScriptFiles | None = None) -> RunResult:
    """Run one script to the end. Raises ScriptError (nothing kept) when it fails; events seen up
    to then were delivered to `on_event`. Needs the workspace's synchronous signer in autoCommit
    mode (session mode signs nothing: the person's commit later does). In session mode the run's
    overlay is the workspace's active overlay while it runs, its writes staged there as it goes.

    `files`: what `fs.read` / `fs.write` may reach (capabilities granted by whoever runs it; without
    it a script has no `fs`). Files are written only after the run has succeeded."""
    limits = limits or Limits()
    args = dict(args or {})
    events: list[ScriptEvent] = []

    def emit(event: ScriptEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    meta = {"script": script.name, "script_sha256": script.digest}
    if script.mode == "autoCommit":
        run = _prepare(ws, engine, script, args, limits, emit, trigger, files, meta, events)
        receipt = None
        if run.prepared is not None:
            try:
                signature = ws.env.signer.sign(run.prepared.signing_bytes())
            except BaseException:
                ws.abort()
                raise
            receipt = ws.commit(run.prepared, signature)
        return run.done(receipt)

    previous = ws.staging.active
    overlay = ws.staging.create(script.name, source="script", script=script.name, activate=False)
    try:
        ws.staging.activate(overlay)
        tx = ws.begin(kind="script", meta=meta)

        def stage_so_far(done: Transaction) -> Transaction:
            ws.finish(done)
            return ws.begin(kind="script", meta=meta)

        skipped, pending, tx = _execute(ws, engine, script, tx, args, limits, emit, trigger, files, stage_so_far)
        ws.finish(tx)
        count = len(ws.staging.staged_ops(overlay))
        ws.staging.stash(overlay, pending=True)
    except BaseException:
        ws.staging.discard(overlay)
        if previous is not None:
            ws.staging.activate(previous)
        raise
    if previous is not None:
        ws.staging.activate(previous)
    _write_files(files, pending)
    if count == 0:
        ws.staging.discard(overlay)
        return RunResult("unchanged", None, None, 0, events, skipped)
    return RunResult("staged", overlay, None, count, events, skipped)


@dataclass
class PreparedRun:
    """An autoCommit run that succeeded, its one bundle sealed and waiting to be signed (the
    browser signs asynchronously): sign `prepared.signing_bytes()`, `ws.commit(prepared, sig)`
    (or `ws.abort()`), then `done(receipt)`. `prepared` is None when the run wrote nothing."""

    prepared: Prepared | None
    events: list[ScriptEvent]
    skipped: list[str]
    files: ScriptFiles | None
    file_writes: list[tuple[str, str]]

    def done(self, receipt: Receipt | None) -> RunResult:
        """The result once committed; writes the run's files now that it is kept."""
        _write_files(self.files, self.file_writes)
        if receipt is None or self.prepared is None:
            return RunResult("unchanged", None, None, 0, self.events, self.skipped)
        return RunResult("committed", None, receipt.bundle_id, len(self.prepared.tx.ops), self.events,
                         self.skipped, receipt.wire)


def prepare_script(ws: Workspace, engine: LuaEngine, script: Script, *, args: dict[str, Any] | None = None,
                   limits: Limits | None = None, on_event: Callable[[ScriptEvent], None] | None = None,
                   trigger: Trigger | None = None, files: ScriptFiles | None = None) -> PreparedRun:
    """`run_script` for an autoCommit run, stopping before the signature (the commit pipeline's
    begin -> writes -> prepare; the caller signs and commits). Raises ScriptError (nothing kept)."""
    if script.mode != "autoCommit":
        raise ValidationError("only an autoCommit run is prepared for signing; a session run stages instead")
    events: list[ScriptEvent] = []

    def emit(event: ScriptEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    meta = {"script": script.name, "script_sha256": script.digest}
    return _prepare(ws, engine, script, dict(args or {}), limits or Limits(), emit, trigger, files, meta, events)


def _prepare(ws: Workspace, engine: LuaEngine, script: Script, args: dict[str, Any], limits: Limits,
             emit: Callable[[ScriptEvent], None], trigger: Trigger | None, files: ScriptFiles | None,
             meta: dict[str, Any], events: list[ScriptEvent]) -> PreparedRun:
    tx = ws.begin(kind="script", meta=meta, staging=False)
    skipped, pending, tx = _execute(ws, engine, script, tx, args, limits, emit, trigger, files)
    prepared = ws.prepare(tx)  # rolls back and raises on a rule's error
    return PreparedRun(prepared, events, skipped, files, pending)


def _execute(ws: Workspace, engine: LuaEngine, script: Script, tx: Transaction, args: dict[str, Any], limits: Limits,
             emit: Callable[[ScriptEvent], None], trigger: Trigger | None,
             files: ScriptFiles | None, flush: Callable[[Transaction], Transaction] | None = None,
             ) -> tuple[list[str], list[tuple[str, str]], Transaction]:
    """Run the script inside the open transaction; on any failure roll it back and raise.
    Returns the writes skipped (on_error = "skip"), the files to write once it is kept, and the
    transaction still open (with `flush`, the run stages its writes as it goes in fresh ones)."""
    host = Host(ws, tx, script.name, args, script.on_error, emit, trigger, files=files, flush=flush)
    try:
        status, message = engine.run(PRELUDE, script.source, script.name, host.functions(), limits)
        if host.crashed is not None:
            raise host.crashed
        if status != "ok":
            raise ScriptError(status, message)
    except BaseException:
        ws.abort()
        raise
    return list(host.skipped), list(host.file_writes), host.tx


def _write_files(files: ScriptFiles | None, pending: list[tuple[str, str]]) -> None:
    if files is not None:
        for path, text in pending:
            files.write(path, text)
