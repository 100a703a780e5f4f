"""The sandbox on lupa (Lua 5.4): every escape refused, every limit stopping the run with a clear
reason, ordinary Lua still working. The same cases run on wasmoon in the browser."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from openprod.lua_lupa import LupaEngine
from openprod.scripts import Limits, Script, ScriptError, run_script

sys.path.insert(0, str(Path(__file__).parent))
from script_cases import ALLOWED, ESCAPES

ENGINE = LupaEngine()
SMALL = Limits(instructions=5_000_000, memory_bytes=16 * 2**20)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_each_escape_is_refused(peer_factory, name: str) -> None:
    ws = peer_factory("Alice").ws
    source, kind, words = ESCAPES[name]
    before = ws.state_hash()
    with pytest.raises(ScriptError) as failed:
        run_script(ws, ENGINE, Script(name="escape", source=source, mode="autoCommit"), limits=SMALL)
    assert failed.value.kind == kind, failed.value.line()
    assert words in failed.value.message, failed.value.line()
    assert ws.state_hash() == before and not os.path.exists("/tmp/openprod-escaped")


def test_ordinary_lua_works_in_the_sandbox(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    assert run_script(ws, ENGINE, Script(name="ok", source=ALLOWED), limits=SMALL).status == "unchanged"


def test_the_limits_are_the_numbers_given(peer_factory) -> None:
    """A loop of known length passes under a limit above it and stops under one below it."""
    ws = peer_factory("Alice").ws
    loop = Script(name="count", source="local s = 0 for i = 1, 200000 do s = s + i end")
    run_script(ws, ENGINE, loop, limits=Limits(instructions=3_000_000))
    with pytest.raises(ScriptError, match="instruction limit reached \\(200000 instructions\\)"):
        run_script(ws, ENGINE, loop, limits=Limits(instructions=200_000))
    big = Script(name="big", source="local t = {} for i = 1, 100000 do t[i] = string.rep('x', 100) .. i end")
    run_script(ws, ENGINE, big, limits=Limits(memory_bytes=64 * 2**20))
    with pytest.raises(ScriptError, match="memory limit reached \\(4 MiB\\)"):
        run_script(ws, ENGINE, big, limits=Limits(memory_bytes=4 * 2**20))


def test_each_run_gets_a_fresh_lua_state(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    run_script(ws, ENGINE, Script(name="a", source="leak = 1 string.leak = 2"))
    run_script(ws, ENGINE, Script(name="b", source="assert(leak == nil and string.leak == nil)"))


def test_values_too_big_for_the_host_are_refused(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    deep = "local t = {} local c = t for i = 1, 100 do c.x = {} c = c.x end json.encode(t)"
    with pytest.raises(ScriptError, match=r"^deep:1: a table handed to the host is nested more than 64"):
        run_script(ws, ENGINE, Script(name="deep", source=deep))
    loop = "local t = {} t.self = t return json.encode(t)"
    with pytest.raises(ScriptError, match=r"^a table handed to the host contains itself$"):
        run_script(ws, ENGINE, Script(name="cycle", source=loop))
