"""Triggers: run a script when a field changes (spec/scripts.md, "Triggers").

A trigger is a record of the `scripts.Triggers` table (so it syncs like the scripts it runs):
the field it watches, an optional condition on the old and new value (a Lua expression over
`old_value`, `new_value` and `source`, evaluated in the sandbox), an optional scope (an edge
type followed from the changed record; no such link, no run), the script, its parameters
(`$source`, `$source.<field>`, `$scope_entity_id`, `$old_value`, `$new_value`), its mode, and
the fields the script writes.

Cycles: a trigger whose script writes what another trigger or a rule watches (and round again)
is refused when it is saved, naming the cycle; the check is the rules' own (`dependency_cycle`
in rules.py), over rules and triggers together. Scripts are not analysed: the fields a script
writes are declared on the trigger (`writes`). At run time the chain of triggered bundles is
capped at 1000 and 30 s (the spec's safety net), as for rules.

Triggers fire on the peer that made the change, after its bundle is committed, like rules:
receivers never re-run them. The caller drives it (`TriggerRunner.after_commit(receipt)`), so
the core keeps no hidden work in its commit path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import operations as o
from ..bundle import decode_bundle
from ..errors import LocalError, ValidationError
from ..ids import to_str
from ..rules import MAX_CHAIN_DEPTH, MAX_CHAIN_MS, Dependency, dependency_cycle
from .host import ScriptEvent, Trigger
from .library import find_script, store_record
from .runtime import Limits, LuaEngine, ScriptError
from .session import MODES, RunResult, Script, prepare_script, run_script

if TYPE_CHECKING:
    from ..commit import Prepared
    from ..results import Receipt
    from ..workspace import Workspace

TRIGGERS_TABLE = "scripts.Triggers"


class TriggerCycleError(ValidationError):
    """Saving this trigger would let triggers (and rules) set each other off forever."""

    def __init__(self, message: str, path: list[str]) -> None:
        super().__init__(message)
        self.path = path


class TriggerLimitError(LocalError):
    """A chain of triggered runs went past the depth or time limit; it was stopped there."""


@dataclass(frozen=True)
class TriggerDef:
    id: str
    name: str
    field: str
    script: str
    when: str | None
    scope: str | None
    params: dict[str, Any]
    mode: str
    writes: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class TriggerRun:
    """One triggered run: `result` when it ran (it may have changed nothing), `error` when it failed
    (then nothing of it was kept)."""

    trigger: str
    record: str
    result: RunResult | None
    error: ScriptError | None
    depth: int


def list_triggers(ws: Workspace) -> list[TriggerDef]:
    if TRIGGERS_TABLE not in ws.schema.tables:
        return []
    out = []
    for record in ws.records.all(TRIGGERS_TABLE):
        try:
            params = json.loads(record.get("params") or "{}")
        except ValueError:
            params = {}
        out.append(TriggerDef(record.id, str(record.get("name")), str(record.get("field")),
                              str(record.get("script")), record.get("when") or None, record.get("scope") or None,
                              params if isinstance(params, dict) else {}, str(record.get("mode") or "session"),
                              tuple(w for w in str(record.get("writes") or "").split(",") if w),
                              record.get("enabled") is not False))
    return sorted(out, key=lambda t: t.name.lower())


def _dependency(ws: Workspace, trigger: TriggerDef) -> Dependency:
    return Dependency(f"trigger {trigger.name!r}", frozenset(ws.groups.key(w) for w in trigger.writes),
                      frozenset({ws.groups.key(trigger.field)}))


def save_trigger(ws: Workspace, *, name: str, field: str, script: str, when: str | None = None,
                 scope: str | None = None, params: dict[str, Any] | None = None, mode: str = "session",
                 writes: list[str] | None = None, enabled: bool = True, trigger_id: str | None = None) -> str:
    """Store a trigger (adopting the Scripts tables the first time); returns its id. Raises
    ValidationError for a field, script, scope or mode that does not exist, and TriggerCycleError
    for one that would set itself off through other triggers or rules. Nothing is saved then."""
    values = trigger_values(ws, name=name, field=field, script=script, when=when, scope=scope, params=params,
                            mode=mode, writes=writes, enabled=enabled, trigger_id=trigger_id)
    return store_record(ws, TRIGGERS_TABLE, values, trigger_id)


def trigger_values(ws: Workspace, *, name: str, field: str, script: str, when: str | None = None,
                   scope: str | None = None, params: dict[str, Any] | None = None, mode: str = "session",
                   writes: list[str] | None = None, enabled: bool = True,
                   trigger_id: str | None = None) -> dict[str, Any]:
    """The checks of `save_trigger` (raising as it does), and the record's values to store: for a
    caller that signs asynchronously and stores the record itself."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("a trigger needs a name")
    field_id = ws.schema.field(field).id
    written = [ws.schema.field(w).id for w in (writes or [])]
    find_script(ws, script)
    if mode not in MODES:
        raise ValidationError(f"a trigger's mode is one of {', '.join(MODES)} (got {mode!r})")
    if scope is not None:
        scope = ws.schema.edge_type(scope).id
    if when is not None and ("\n" in when or len(when) > 500):
        raise ValidationError("a trigger's condition is one line of at most 500 characters, "
                              "e.g. new_value == 'running'")
    text_params = json.dumps(params or {}, sort_keys=True)
    definition = TriggerDef(trigger_id or "", name.strip(), field_id, script, when, scope, params or {}, mode,
                            tuple(written), enabled)
    others = [t for t in list_triggers(ws) if t.enabled and t.id != trigger_id]
    nodes = ws.rules.dependencies() + [_dependency(ws, t) for t in others]
    if enabled:
        nodes.append(_dependency(ws, definition))
    cycle = dependency_cycle(nodes)
    if cycle is not None and enabled:
        path, shared = cycle
        steps = "; ".join(f"{by} writes {f.rsplit('.', 1)[-1]}, which {to} watches" for f, by, to in shared)
        raise TriggerCycleError(f"this trigger would set itself off: {' -> '.join(path)} ({steps}); "
                                "it was not saved", path)
    values = {"name": definition.name, "field": field_id, "script": script, "when": when or "", "scope": scope or "",
              "params": text_params, "mode": mode, "writes": ",".join(written), "enabled": enabled}
    return values


def _condition(when: str | None) -> str:
    """Line 1 of a triggered run: the condition, ending the run quietly when it is false (on the same
    line as the script's first line, so the script's line numbers stay its own)."""
    if not when:
        return ""
    return ("local old_value, new_value = context.old_value(), context.new_value() "
            "local source = core.get_record(context.trigger_entity()) "
            f"if not ({when}) then return end ")


class TriggerRunner:
    """Runs the triggers a committed bundle sets off, then those their bundles set off, and so on."""

    def __init__(self, ws: Workspace, engine: LuaEngine, *, limits: Limits | None = None,
                 on_event: Callable[[ScriptEvent], None] | None = None) -> None:
        self.ws = ws
        self.engine = engine
        self.limits = limits
        self.on_event = on_event

    def after_commit(self, receipt: Receipt) -> list[TriggerRun]:
        """Fire for one committed local bundle. Raises TriggerLimitError when the chain runs away
        (bundles committed before that stay: each triggered autoCommit run is its own bundle)."""
        return self.after_bundle(receipt.wire)

    def after_bundle(self, wire: bytes) -> list[TriggerRun]:
        """`after_commit` for a local bundle's wire bytes (a script run's `RunResult.wire`), signing
        with the workspace's synchronous signer."""
        return drive_chain(self.chain(wire), self.ws.env.signer.sign)

    def chain(self, wire: bytes) -> Chain:
        """The triggered runs as steps: it yields each autoCommit run's sealed bundle to be signed
        and is sent the signature (the browser signs asynchronously between steps); it returns the
        runs. Drive it with `drive_chain`, or as web/py/openprod_web/writes.py does."""
        defs = [t for t in list_triggers(self.ws) if t.enabled]
        if not defs:
            return []
        started = self.ws.env.now_ms()
        queue: list[tuple[bytes, int]] = [(wire, 1)]
        runs: list[TriggerRun] = []
        while queue:
            wire, depth = queue.pop(0)
            if depth > MAX_CHAIN_DEPTH:
                raise TriggerLimitError(f"triggers set each other off more than {MAX_CHAIN_DEPTH} times in a chain; "
                                        "the chain was stopped")
            if self.ws.env.now_ms() - started > MAX_CHAIN_MS:
                raise TriggerLimitError(f"triggered scripts ran longer than {MAX_CHAIN_MS // 1000} s in a chain; "
                                        "the chain was stopped")
            for trigger, context in self._fired(defs, wire):
                run = yield from self._run(trigger, context, depth)
                runs.append(run)
                if run.result is not None and run.result.wire is not None:
                    queue.append((run.result.wire, depth + 1))
        return runs

    def _fired(self, defs: list[TriggerDef], wire: bytes) -> list[tuple[TriggerDef, Trigger]]:
        ws = self.ws
        fired = []
        for op in decode_bundle(wire).ops:
            if not isinstance(op, (o.SetField, o.ClearField)):
                continue
            key = ws.groups.key(op.field)
            for trigger in defs:
                if ws.groups.key(trigger.field) != key:
                    continue
                record = to_str(op.entity)
                old, new = self._values(record, op)
                scope_record = None
                if trigger.scope is not None:
                    links = ws.records.edges_from(record, trigger.scope)
                    if not links:
                        continue  # the spec: no scope link, no run
                    scope_record = links[0].target
                fired.append((trigger, Trigger(record, op.field, old, new, scope_record)))
        return fired

    def _values(self, record: str, op: o.SetField | o.ClearField) -> tuple[Any, Any]:
        op_id = to_str(op.op_id)
        for change in self.ws.history.field(record, op.field):
            if change.op_id == op_id:
                return change.old, change.new
        return None, op.value if isinstance(op, o.SetField) else None

    def _params(self, trigger: TriggerDef, context: Trigger) -> dict[str, Any]:
        out = {}
        for key, value in trigger.params.items():
            if isinstance(value, str) and value.startswith("$"):
                if value == "$source":
                    value = context.record
                elif value == "$scope_entity_id":
                    value = context.scope_record
                elif value == "$old_value":
                    value = context.old_value
                elif value == "$new_value":
                    value = context.new_value
                elif value.startswith("$source."):
                    value = self.ws.records.value(context.record, value[len("$source."):])
            out[key] = value
        return out

    def _run(self, trigger: TriggerDef, context: Trigger, depth: int) -> Generator[Prepared, bytes, TriggerRun]:
        item = find_script(self.ws, trigger.script)
        script = Script(name=f"{item.name} (trigger {trigger.name})", source=_condition(trigger.when) + item.source,
                        mode=trigger.mode, on_error=item.on_error)
        try:
            args = item.check_args(self._params(trigger, context))
            if script.mode != "autoCommit":
                result = run_script(self.ws, self.engine, script, args=args, limits=self.limits,
                                    on_event=self.on_event, trigger=context)
            else:
                run = prepare_script(self.ws, self.engine, script, args=args, limits=self.limits,
                                     on_event=self.on_event, trigger=context)
                receipt = None
                if run.prepared is not None:
                    try:
                        signature = yield run.prepared
                    except BaseException:
                        self.ws.abort()
                        raise
                    receipt = self.ws.commit(run.prepared, signature)
                result = run.done(receipt)
        except ScriptError as exc:
            return TriggerRun(trigger.name, context.record, None, exc, depth)
        except ValidationError as exc:
            return TriggerRun(trigger.name, context.record, None, ScriptError("error", str(exc)), depth)
        return TriggerRun(trigger.name, context.record, result, None, depth)


Chain = Generator["Prepared", bytes, list[TriggerRun]]


def drive_chain(chain: Chain, sign: Callable[[bytes], bytes]) -> list[TriggerRun]:
    """Run a trigger chain to its end, signing each bundle it seals with `sign`."""
    try:
        prepared = next(chain)
        while True:
            try:
                signature = sign(prepared.signing_bytes())
            except BaseException as exc:
                prepared = chain.throw(exc)
                continue
            prepared = chain.send(signature)
    except StopIteration as stop:
        return list(stop.value)
