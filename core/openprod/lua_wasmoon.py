"""The Lua engine in the browser: wasmoon (Lua 5.4 in WebAssembly), handed to `openprod.scripts`.

Only importable under Pyodide. The worker loads wasmoon from the app's own files and hands in a
synchronous JavaScript runner (web/js/worker/lua.js `makeLuaRunner`): a fresh Lua state per
run, capped with wasmoon's allocation tracking, running the same prelude as lupa does. This
class passes the host functions across and converts values (JsProxy -> plain Python).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .scripts.runtime import HostFunction, Limits


def _plain(value: Any) -> Any:
    """A value from JavaScript as plain Python (Pyodide hands objects and arrays over as JsProxy)."""
    if value is None or type(value).__name__ in ("JsNull", "JsUndefined"):
        return None
    to_py = getattr(value, "to_py", None)
    if to_py is not None:
        return _plain_tree(to_py())
    return value


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_tree(v) for v in value]
    if value is not None and type(value).__name__ in ("JsNull", "JsUndefined"):
        return None
    return value


class WasmoonEngine:
    """`LuaEngine` over the worker's wasmoon runner."""

    def __init__(self, runner: Any) -> None:
        self._runner = runner

    def run(self, prelude: str, source: str, chunk_name: str, host: Mapping[str, HostFunction],
            limits: Limits) -> tuple[str, str]:
        from js import Object, Reflect  # type: ignore[import-not-found]
        from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

        proxies: list[Any] = []

        def wrap(fn: HostFunction) -> Any:
            def call(*args: Any) -> Any:
                status, value = fn(*[_plain(a) for a in args])
                return to_js([status, value], dict_converter=Object.fromEntries, create_pyproxies=False)
            proxy = create_proxy(call)
            proxies.append(proxy)
            return proxy

        table = Object.new()
        for name, fn in host.items():
            Reflect.set(table, name, wrap(fn))
        js_limits = to_js({"instructions": limits.instructions, "hook_every": limits.hook_every,
                           "pattern_work": limits.pattern_work, "memory_bytes": limits.memory_bytes},
                          dict_converter=Object.fromEntries)
        try:
            out = self._runner(prelude, source, chunk_name, table, js_limits)
            status, message = out.to_py() if hasattr(out, "to_py") else out
        finally:
            for proxy in proxies:
                proxy.destroy()
        return str(status), str(message)
