"""Running a Lua script in the browser: the worker's wasmoon runner, the core's host API.

A run always stages into its own overlay here (session mode): it waits in the staging screen's
"Waiting for review" list, and committing it there signs one bundle with WebCrypto. (autoCommit
would need the synchronous signer the browser does not have.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openprod import LocalError, Workspace
from openprod.scripts import LibraryScript, Limits, Script, ScriptEvent, find_script, list_scripts, run_script

from . import writes

_lua_loader: Any = None  # an async JS function returning the wasmoon runner (see use_lua)
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

    async def m_script_library(self) -> list[dict[str, Any]]:
        """The scripts a person can run: those that come with the app, then the workspace's own."""
        return [script_json(item) for item in list_scripts(self.ws)]

    async def m_script_save(self, name: str, source: str, description: str = "",
                            script_id: str | None = None) -> dict[str, Any]:
        """Keep a script in the workspace (shared with everyone who syncs it)."""
        return {"id": await writes.save_script(self.ws, name, source, description, script_id)}

    async def m_script_run_library(self, script_id: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a script from the library with the arguments from its form (checked first)."""
        item = find_script(self.ws, script_id)
        return await self.m_script_run(item.title, item.source, item.check_args(args or {}), item.on_error)

    async def m_script_run(self, name: str, source: str, args: dict[str, Any] | None = None,
                           on_error: str = "abort", instructions: int | None = None,
                           memory_mib: int | None = None) -> dict[str, Any]:
        """Run a script into its own overlay for review. A failed run changes nothing and reports
        {"status": "failed", "kind", "message"}: what went wrong, in one line."""
        if _lua_loader is None:
            raise LocalError("scripts are not available in this app build (no Lua engine was loaded)")
        from openprod.lua_wasmoon import WasmoonEngine
        from openprod.scripts import ScriptError

        engine = WasmoonEngine(await _lua_loader())
        limits = Limits(**{k: v for k, v in (("instructions", instructions),
                                              ("memory_bytes", None if memory_mib is None else memory_mib * 2**20))
                           if v is not None})
        sink = self.progress

        def on_event(event: ScriptEvent) -> None:
            if sink is not None and event.kind == "progress" and event.total:
                sink("script", event.current or 0, event.total)

        script = Script(name=name, source=source, mode="session", on_error=on_error)
        try:
            async with writes.held(self.ws):
                result = run_script(self.ws, engine, script, args=args or {}, limits=limits, on_event=on_event)
        except ScriptError as exc:
            return {"status": "failed", "kind": exc.kind, "message": exc.message}
        if result.overlay is not None:
            self.journal.touch(result.overlay)
        return {"status": result.status, "overlay": result.overlay, "ops": result.op_count,
                "skipped": result.skipped, "events": [event_json(e) for e in result.events[:MAX_EVENTS]]}


SCRIPT_METHODS: dict[str, bool] = {"script_run": True, "script_run_library": True, "script_library": False,
                                   "script_save": True}
