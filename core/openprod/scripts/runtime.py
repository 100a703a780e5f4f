"""The Lua runtime a script runs on: handed in, never imported by the core.

The core does no I/O and must run unchanged on CPython and under Pyodide, while the Lua engine
differs (lupa with Lua 5.4 on CPython, wasmoon in the browser). So the core owns everything that
must behave the same everywhere (the sandbox, the limits, the host API, written once in Lua in
`prelude.py` plus the Python host functions) and an engine only does what is engine-specific:
start a fresh Lua state with a memory cap, convert values at the boundary, run the prelude.

Calling convention between the prelude and the host: every host function returns a pair
`(status, value)`: `OK` and the result, `FAILED` and a message the script may catch with pcall,
`STOPPED` and the reason the whole run must end (nothing can catch it), or `REFUSED` and why a
script may not do that (the run ends as a sandbox refusal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import LocalError, ValidationError

OK, FAILED, STOPPED, REFUSED = 0, 1, 2, 3

HostFunction = Callable[..., tuple[int, Any]]


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one run may use. Both runtimes enforce the same numbers."""

    instructions: int = 50_000_000
    """Lua VM instructions, counted in steps of `hook_every` (including inside coroutines)."""
    memory_bytes: int = 64 * 2**20
    """Bytes the Lua state may allocate (the engine's allocator refuses beyond it)."""
    hook_every: int = 1000
    """How often (in instructions) the counting hook runs."""
    pattern_work: int = 10**8
    """Estimated backtracking steps a Lua pattern match may take (string.find/match/gsub/gmatch)."""

    def lua_table(self) -> dict[str, int]:
        """What the prelude reads from its `limits` argument."""
        return {"instructions": self.instructions, "hook_every": self.hook_every,
                "pattern_work": self.pattern_work, "memory_mib": max(1, self.memory_bytes // 2**20)}

    def __post_init__(self) -> None:
        if self.instructions < self.hook_every or self.memory_bytes < 2**20 or self.hook_every < 1:
            raise ValidationError("script limits: instructions >= hook_every >= 1, memory at least 1 MiB")


class ScriptError(LocalError):
    """A script run failed; nothing it did was kept.

    `kind`: 'syntax' (the script does not parse), 'error' (it raised an error it did not catch),
    'limit' (instruction, memory or pattern limit), 'sandbox' (it reached for something a script
    may not use). `line()` is the one-line reason the CLI prints.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def line(self) -> str:
        return " ".join(f"{self.kind}: {self.message}".split())


class LuaEngine(Protocol):
    """A Lua 5.4 engine (lupa on CPython, wasmoon in the browser)."""

    def run(self, prelude: str, source: str, chunk_name: str, host: Mapping[str, HostFunction],
            limits: Limits) -> tuple[str, str]:
        """Start a fresh Lua state capped at `limits.memory_bytes`, load `prelude` (text), and call
        the function it returns with (host table, source, chunk_name, `limits.lua_table()`). The host table maps each
        name to a function that converts its Lua arguments to plain Python values (nil -> None,
        tables with keys 1..n -> list, other tables -> dict with str keys), calls the host
        function, and converts the returned value back (lists and dicts to tables).

        Returns the prelude's (status, message): ('ok', '') or (kind, message) as ScriptError
        takes them. A memory error the Lua state raises outside the prelude's reach is reported
        as ('limit', ...). The state is closed afterwards."""
        ...


class ScriptFiles(Protocol):
    """Files a script may reach, handed in by a shell that has a file system (the relay's CLI): the
    core itself does no I/O. Each method raises LocalError (PermissionError's message says which
    capability is missing) for a path outside what was granted."""

    def can(self, capability: str) -> bool:
        """Was 'fs.read' or 'fs.write' granted at all (for any path)?"""
        ...

    def read(self, path: str) -> str: ...

    def check_write(self, path: str) -> None:
        """Refuse now a write that `write` would refuse later."""
        ...

    def write(self, path: str, text: str) -> None: ...
