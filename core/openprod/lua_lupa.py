"""The Lua engine on CPython: lupa's Lua 5.4 runtime (`lupa.lua54`), handed to `openprod.scripts`.

What lupa adds that the prelude cannot do itself: the memory cap (`max_memory`: its allocator
refuses beyond it, so Lua raises "not enough memory"), an attribute filter that refuses every
Python attribute from Lua (no Python object is ever handed to a script, but if one were, it could
not be walked into), and value conversion at the boundary, bounded in size and depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .scripts.runtime import OK, STOPPED, HostFunction, Limits

MAX_ITEMS = 1_000_000  # values in one argument handed to the host (all nesting levels)
MAX_DEPTH = 64


class _TooBig(Exception):
    pass


def _refuse(_obj: Any, name: Any, _setting: bool) -> Any:
    raise AttributeError(f"scripts cannot reach Python attributes ({name!r})")


class LupaEngine:
    """`LuaEngine` on lupa 2.x. A fresh Lua state per run: nothing leaks from one run to the next."""

    def run(self, prelude: str, source: str, chunk_name: str, host: Mapping[str, HostFunction],
            limits: Limits) -> tuple[str, str]:
        from lupa import lua54

        lua = lua54.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True,
                               attribute_filter=_refuse, max_memory=limits.memory_bytes)
        lua_type = lua54.lua_type
        memory = f"memory limit reached ({limits.memory_bytes // 2**20} MiB): the script built more data than a " \
                 "script may hold"

        def to_py(value: Any, depth: int, budget: list[int]) -> Any:
            budget[0] -= 1
            if budget[0] < 0:
                raise _TooBig(f"a value handed to the host has more than {MAX_ITEMS:,} items")
            kind = lua_type(value)
            if kind is None:
                return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if kind != "table":
                raise _TooBig(f"a Lua {kind} cannot be handed to the host (only nil, booleans, numbers, "
                              "strings and tables)")
            if depth >= MAX_DEPTH:
                raise _TooBig(f"a table handed to the host is nested more than {MAX_DEPTH} levels deep")
            items = [(to_py(k, depth + 1, budget), to_py(v, depth + 1, budget)) for k, v in value.items()]
            if items and all(isinstance(k, int) and not isinstance(k, bool) for k, _ in items) \
                    and sorted(k for k, _ in items) == list(range(1, len(items) + 1)):
                return [v for _, v in sorted(items, key=lambda kv: kv[0])]
            return {k if isinstance(k, str) else str(k): v for k, v in items}

        def to_lua(value: Any) -> Any:
            if isinstance(value, (dict, list, tuple)):
                return lua.table_from(value, recursive=True)
            return value

        def wrap(fn: HostFunction) -> Any:
            def call(*args: Any) -> tuple[int, Any]:
                try:
                    plain = [to_py(a, 0, [MAX_ITEMS]) for a in args]
                except _TooBig as exc:
                    return 1, str(exc)
                status, value = fn(*plain)
                if status != OK:
                    return status, value
                try:
                    return OK, to_lua(value)
                except lua54.LuaMemoryError:
                    return STOPPED, memory
            return call

        try:
            table = lua.table_from({name: wrap(fn) for name, fn in host.items()})
            entry = lua.execute(prelude)
            status, message = entry(table, source, chunk_name, lua.table_from(limits.lua_table()))
        except lua54.LuaMemoryError:
            return "limit", memory
        except lua54.LuaError as exc:
            return "error", str(exc)
        return str(status), str(message)
