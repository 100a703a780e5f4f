"""The sandbox suite as data: each script, and what the run must end with. The same cases run
on lupa (tests/scripts/test_sandbox.py) and on wasmoon in a real browser (tests/browser)."""

from __future__ import annotations

# name -> (Lua source, expected kind, words in the message)
ESCAPES: dict[str, tuple[str, str, str]] = {
    "os.execute": ("os.execute('touch /tmp/openprod-escaped')", "sandbox", "os"),
    "io.open": ("io.open('/etc/passwd')", "sandbox", "io"),
    "require": ("require('os')", "sandbox", "require"),
    "dofile": ("dofile('/etc/passwd')", "sandbox", "dofile"),
    "loadfile": ("loadfile('/etc/passwd')", "sandbox", "loadfile"),
    "package": ("package.loadlib('x', 'y')", "sandbox", "package"),
    "debug": ("debug.sethook()", "sandbox", "debug"),
    "debug via load": ("local f = load('return debug') f().getinfo(1)", "sandbox", "debug"),
    "collectgarbage": ("collectgarbage('stop')", "sandbox", "collectgarbage"),
    "string.dump": ("local b = string.dump(function() end)", "sandbox", "string.dump"),
    "string.dump via a string": ("local b = ('x').dump(function() end)", "sandbox", "string.dump"),
    "load of bytecode": ("local f, err = load('\\27Lua\\84\\0\\25\\147', 'x', 'b') assert(f, err)", "error",
                         "binary chunk"),
    "load of bytecode, default mode": ("local f, err = load('\\27LuaT') assert(f, err)", "error", "binary chunk"),
    "string metatable": ("local mt = getmetatable('') mt.__index = nil", "error", "index a nil value"),
    "_G metatable": ("setmetatable(_G, nil)", "error", "protected metatable"),
    "__gc finalizer": ("setmetatable({}, {__gc = function() while true do end end})", "sandbox", "__gc"),
    "error object with __tostring": (
        "error(setmetatable({}, {__tostring = function() while true do end end}))", "error", "type table"),
    "yield out of the script": ("coroutine.yield(1)", "sandbox", "yielded"),
    "coroutine hides a loop": (
        "local co = coroutine.create(function() while true do end end) coroutine.resume(co) error('escaped')",
        "limit", "instruction limit"),
    "coroutine.wrap hides a loop": (
        "local f = coroutine.wrap(function() while true do end end) pcall(f) error('escaped')", "limit",
        "instruction limit"),
    "pcall swallows the limit": ("while true do pcall(function() while true do end end) end", "limit",
                                 "instruction limit"),
    "xpcall swallows the limit": (
        "while true do xpcall(function() while true do end end, function(e) return e end) end", "limit",
        "instruction limit"),
    "pcall swallows the memory limit": (
        "while true do pcall(function() local t = {} for i = 1, 1e9 do t[i] = {} end end) end", "limit",
        "memory limit"),
    "infinite loop": ("while true do end", "limit", "instruction limit"),
    "endless tail calls": ("local function f() return f() end f()", "limit", "instruction limit"),
    "memory bomb": ("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 64) .. i end", "limit", "memory limit"),
    "string.rep bomb": ("local s = string.rep('x', 2^30)", "limit", "memory limit"),
    "runaway recursion": ("local function f(n) return f(n + 1) + 1 end f(1)", "limit", ""),
    "exponential pattern": ("local s = string.rep('a', 5000) return s:find(string.rep('a*', 10) .. 'b')", "limit",
                            "pattern too complex"),
    "python object": ("return python.eval('1')", "sandbox", "python"),
}

# Everything ordinary a script needs still works inside the sandbox.
ALLOWED = """
local t = {}
for i = 1, 100 do t[#t + 1] = i * i end
assert(table.concat(t, ","):sub(1, 8) == "1,4,9,16")
assert(string.format("%05.1f", 3.14159) == "003.1")
assert(("Cue 12"):match("%d+") == "12" and ("a,b"):gsub(",", ";") == "a;b")
assert(math.floor(7 / 2) == 3 and math.maxinteger > 0 and utf8.char(233) == "é")
local ok, err = pcall(error, "caught")
assert(not ok and err == "caught")
local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
assert(co(1) == 2 and co(5) == 10)
local Class = setmetatable({}, { __index = function(_, k) return k .. "!" end })
assert(Class.hi == "hi!" and getmetatable(Class) ~= nil)
local f = load("return 1 + ...")
assert(f(41) == 42)
assert(select("#", 1, 2, 3) == 3 and type(next) == "function" and tostring(nil) == "nil")
assert(_VERSION == "Lua 5.4")
"""
