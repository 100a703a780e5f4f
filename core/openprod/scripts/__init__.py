"""Lua scripts (spec/scripts.md): automation that writes like a person, into its own overlay for
review by default. The Lua engine is handed in (`openprod.lua_lupa.LupaEngine` on CPython;
wasmoon in the browser): see docs/scripts.md for why and how the limits hold on each.

    from openprod.scripts import Script, run_script
    from openprod.lua_lupa import LupaEngine
    result = run_script(ws, LupaEngine(), Script(name="renumber", source=text), args={"start": 1})
"""

from .host import ScriptEvent, Trigger
from .library import (
    SCRIPTS_MODULE,
    SCRIPTS_TABLE,
    LibraryScript,
    ScriptArg,
    find_script,
    list_scripts,
    parse_args,
    save_script,
    script_values,
)
from .params import QueryParamError
from .runtime import Limits, LuaEngine, ScriptError, ScriptFiles
from .session import PreparedRun, RunResult, Script, prepare_script, run_script
from .triggers import (
    TRIGGERS_TABLE,
    TriggerCycleError,
    TriggerDef,
    TriggerLimitError,
    TriggerRun,
    TriggerRunner,
    drive_chain,
    list_triggers,
    save_trigger,
    trigger_values,
)

__all__ = [
    "SCRIPTS_MODULE",
    "SCRIPTS_TABLE",
    "TRIGGERS_TABLE",
    "LibraryScript",
    "Limits",
    "LuaEngine",
    "PreparedRun",
    "QueryParamError",
    "RunResult",
    "Script",
    "ScriptArg",
    "ScriptError",
    "ScriptEvent",
    "ScriptFiles",
    "Trigger",
    "TriggerCycleError",
    "TriggerDef",
    "TriggerLimitError",
    "TriggerRun",
    "TriggerRunner",
    "drive_chain",
    "find_script",
    "list_scripts",
    "list_triggers",
    "parse_args",
    "prepare_script",
    "run_script",
    "save_script",
    "save_trigger",
    "script_values",
    "trigger_values",
]
