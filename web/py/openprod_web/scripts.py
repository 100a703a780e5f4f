"""Running a Lua script in the browser: the worker's wasmoon runner, the core's host API.

A run stages into its own overlay by default (session mode): it waits in the staging screen's
"Waiting for review" list, and committing it there signs one bundle with WebCrypto. A run asked
to commit (autoCommit) stops at the pipeline's prepare step (`prepare_script`), is signed with
WebCrypto, then committed: one bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openprod import LocalError, OpenprodError, Workspace
from openprod.scripts import (
    TRIGGERS_TABLE,
    LibraryScript,
    Limits,
    Script,
    ScriptEvent,
    TriggerDef,
    TriggerRun,
    TriggerRunner,
    find_script,
    list_scripts,
    list_triggers,
    prepare_script,
    run_script,
)

from . import writes

_lua_loader: Any = None  # an async JS function returning the wasmoon runner (see use_lua)
MAX_TRIGGER_LOG = 100
MAX_EVENTS = 500  # events handed back with the result (progress is also reported as it happens)


def use_lua(loader: Any) -> None:
    """The worker hands in `loadLua` (web/js/worker/lua.js): wasmoon is loaded on the first run."""
    global _lua_loader
    _lua_loader = loader


def event_json(event: ScriptEvent) -> dict[str, Any]:
    return {"kind": event.kind, "level": event.level, "message": event.message, "current": event.current,
            "total": event.total}


def script_json(item: LibraryScript) -> dict[str, Any]:
    return {"id": item.id, "name": item.title, "description": item.description, "read_only": item.read_only,
            "args": [{"name": a.name, "kind": a.kind, "label": a.label, "default": a.default, "required": a.required}
                     for a in item.args]}


class ScriptsApi:
    """Mixed into Session: `ws`, `journal` and `progress` are the session's."""

    ws: Workspace
    journal: Any
    progress: Callable[[str, int, int], Any] | None
    _fresh: list[bytes]  # local bundles whose triggers have not fired yet
    _firing: bool
    _trigger_log: list[dict[str, Any]]

    async def m_script_library(self) -> list[dict[str, Any]]:
        """The scripts a person can run: those that come with the app, then the workspace's own."""
        return [script_json(item) for item in list_scripts(self.ws)]

    async def m_script_save(self, name: str, source: str, description: str = "",
                            script_id: str | None = None) -> dict[str, Any]:
        """Keep a script in the workspace (shared with everyone who syncs it)."""
        return {"id": await writes.save_script(self.ws, name, source, description, script_id)}

    async def m_script_run_library(self, script_id: str, args: dict[str, Any] | None = None,
                                   mode: str = "session") -> dict[str, Any]:
        """Run a script from the library with the arguments from its form (checked first)."""
        item = find_script(self.ws, script_id)
        return await self.m_script_run(item.title, item.source, item.check_args(args or {}), item.on_error,
                                       mode=mode)

    async def m_script_run(self, name: str, source: str, args: dict[str, Any] | None = None,
                           on_error: str = "abort", instructions: int | None = None,
                           memory_mib: int | None = None, mode: str = "session") -> dict[str, Any]:
        """Run a script into its own overlay for review, or (mode "autoCommit") as one bundle signed
        with WebCrypto. A failed run changes nothing and reports {"status": "failed", "kind",
        "message"}: what went wrong, in one line."""
        from openprod.scripts import ScriptError

        engine = await _engine()
        limits = Limits(**{k: v for k, v in (("instructions", instructions),
                                              ("memory_bytes", None if memory_mib is None else memory_mib * 2**20))
                           if v is not None})
        script = Script(name=name, source=source, mode=mode, on_error=on_error)
        on_event = self._progress_sink()
        try:
            async with writes.held(self.ws):
                if mode == "autoCommit":
                    run = prepare_script(self.ws, engine, script, args=args or {}, limits=limits, on_event=on_event)
                    receipt = None if run.prepared is None else await writes.sign_and_commit(self.ws, run.prepared)
                    result = run.done(receipt)
                else:
                    result = run_script(self.ws, engine, script, args=args or {}, limits=limits, on_event=on_event)
        except ScriptError as exc:
            return {"status": "failed", "kind": exc.kind, "message": exc.message}
        if result.overlay is not None:
            self.journal.touch(result.overlay)
        return {"status": result.status, "overlay": result.overlay, "bundle": result.bundle, "ops": result.op_count,
                "skipped": result.skipped, "events": [event_json(e) for e in result.events[:MAX_EVENTS]]}

    def _progress_sink(self) -> Callable[[ScriptEvent], None]:
        sink = self.progress

        def on_event(event: ScriptEvent) -> None:
            if sink is not None and event.kind == "progress" and event.total:
                sink("script", event.current or 0, event.total)
        return on_event

    # --- triggers ---------------------------------------------------------------------------

    def note_local_bundle(self, wire: bytes) -> None:
        """A bundle this device committed: its triggers fire once the call that made it ends
        (`fire_triggers`). Bundles of the triggered runs themselves are the chain's own business."""
        if not self._firing and self.ws.schema.tables.get(TRIGGERS_TABLE) is not None:
            self._fresh.append(wire)

    async def fire_triggers(self) -> None:
        """Run the triggers the bundles committed during the last call set off, as the CLI's
        `script run --commit` does: each chain of triggered runs signs its bundles with WebCrypto
        between steps. What happened is kept for the Scripts screen (`trigger_runs`)."""
        if not self._fresh or self._firing:
            return
        wires, self._fresh = self._fresh, []
        if not any(t.enabled for t in list_triggers(self.ws)):
            return  # nothing to fire: the Lua engine is not even loaded
        self._firing = True
        try:
            try:
                engine = await _engine()
            except OpenprodError as exc:
                self._trigger_log.append({"trigger": "", "record": "", "status": "stopped",
                                          "message": str(exc), "overlay": None})
                return
            runner = TriggerRunner(self.ws, engine)
            for wire in wires:
                try:
                    async with writes.held(self.ws):
                        runs = await writes.drive_chain(self.ws, runner.chain(wire))
                except OpenprodError as exc:  # a runaway chain (TriggerLimitError), or no Lua engine
                    self._trigger_log.append({"trigger": "", "record": "", "status": "stopped", "message": str(exc),
                                              "overlay": None})
                    continue
                for run in runs:
                    self._trigger_log.append(run_json(run))
                    if run.result is not None and run.result.overlay is not None:
                        self.journal.touch(run.result.overlay)
        finally:
            self._firing = False
            del self._trigger_log[:-MAX_TRIGGER_LOG]

    async def m_trigger_runs(self) -> list[dict[str, Any]]:
        """What triggers did on this device lately, newest last."""
        return list(self._trigger_log)

    async def m_triggers(self) -> dict[str, Any]:
        """The workspace's triggers, and what a trigger can watch and run."""
        ws = self.ws
        fields = [{"id": f.id, "label": f"{t.display_name}: {f.display_name}"}
                  for t in sorted(ws.schema.tables.values(), key=lambda t: t.display_name.lower())
                  for f in t.fields.values() if not t.id.startswith("scripts.")]
        return {"triggers": [trigger_json(ws, t) for t in list_triggers(ws)], "fields": fields,
                "scripts": [{"id": s.id, "name": s.title} for s in list_scripts(ws)],
                "scopes": [{"id": e.id, "label": e.display_name} for e in ws.schema.edge_types.values()]}

    async def m_trigger_save(self, name: str, field: str, script: str, when: str | None = None,
                             scope: str | None = None, params: dict[str, Any] | None = None, mode: str = "session",
                             writes_fields: list[str] | None = None, enabled: bool = True,
                             trigger_id: str | None = None) -> dict[str, Any]:
        """Keep a trigger (refused, with the reason, when it would set itself off)."""
        return {"id": await writes.save_trigger(self.ws, name=name, field=field, script=script, when=when or None,
                                                scope=scope or None, params=params, mode=mode,
                                                writes=writes_fields, enabled=enabled, trigger_id=trigger_id)}


def run_json(run: TriggerRun) -> dict[str, Any]:
    if run.error is not None:
        return {"trigger": run.trigger, "record": run.record, "status": "failed", "message": run.error.line(),
                "overlay": None}
    assert run.result is not None
    return {"trigger": run.trigger, "record": run.record, "status": run.result.status, "message": "",
            "overlay": run.result.overlay, "ops": run.result.op_count}


def trigger_json(ws: Workspace, t: TriggerDef) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "field": t.field, "script": t.script, "when": t.when or "",
            "scope": t.scope or "", "params": t.params, "mode": t.mode, "writes": list(t.writes),
            "enabled": t.enabled}


async def _engine() -> Any:
    if _lua_loader is None:
        raise LocalError("scripts are not available in this app build (no Lua engine was loaded)")
    from openprod.lua_wasmoon import WasmoonEngine

    return WasmoonEngine(await _lua_loader())


SCRIPT_METHODS: dict[str, bool] = {"script_run": True, "script_run_library": True, "script_library": False,
                                   "script_save": True, "triggers": False, "trigger_save": True,
                                   "trigger_runs": False}
