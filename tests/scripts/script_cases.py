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
    "circular table to the host": ("local t = {} t.self = t json.encode(t)", "error", "contains itself"),
    "very deep table to the host": (
        "local t = {} local c = t for i = 1, 100000 do c.x = {} c = c.x end json.encode(t)", "error",
        "nested more than 64 levels"),
    "function to the host": ("json.encode({ f = print })", "error", "a function cannot be handed to the host"),
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

# Self-checking scripts over the host API (each makes its own data and asserts what it reads):
# run on lupa (tests/scripts/test_host_api.py) and on wasmoon in the browser.
API: dict[str, str] = {
    "query parameters and ORDER BY": """
core.create_record("contacts.Contacts", { name = 'Jo "The Boss" \\\\ Smith', role = "SM" })
core.create_record("contacts.Contacts", { name = "x", role = "ASM" })
local hit = core.query_one("table == 'Contacts' AND name == ?", 'Jo "The Boss" \\\\ Smith')
assert(hit and hit.role == "SM", "exact name with quotes and a backslash")
local none = core.query("table == 'Contacts' AND name == ?", 'x" OR name exists OR name == "')
assert(#none == 0, "an injected value matched " .. #none)
local both = core.query("table == 'Contacts' AND role IN ? ORDER BY name DESC", { "SM", "ASM" })
assert(#both == 2 and both[1].name == "x", "IN with a list, ordered")
local ok, err = pcall(core.query, "name == ? AND role == ?", "only one")
assert(not ok and err:find("2 %? placeholder"), err)
local ok2, err2 = pcall(core.query, "name === 'x'")
assert(not ok2 and err2:find("line 1"), err2)
""",
    "records, tables, edges and text": """
local cue = core.create_entity({ table = "LightingCues", fields = { cue_number = "1", label = "Top" } })
local list = core.create_record("lighting.CueLists", { name = "Act 1" })
core.set_field(cue.id, "page", 12)
assert(core.get_field(cue.id, "page") == 12)
core.clear_field(cue.id, "label")
assert(core.get_record(cue.id).label == nil)
core.add_to_table(cue.id, "sm.SMCues")
assert(#core.get_record(cue.id).tables == 2)
core.remove_from_table(cue.id, "sm.SMCues")
local second = core.create_entity({ table = "LightingCues", fields = { cue_number = "2" } }).id
local e1 = core.create_ordered_edge("in_cue_list", cue.id, list)
local e0 = core.create_ordered_edge("in_cue_list", second, list, { before = e1 })
local order = core.query_ordered_edges(list, "in_cue_list")
assert(order[1].id == e0 and order[2].id == e1 and order[1].source_id == second)
core.move_ordered_edge(e0, { after = e1 })
assert(core.query_ordered_edges(list, "in_cue_list")[1].id == e1)
assert(#core.edges_from(cue.id, "in_cue_list") == 1 and #core.edges_to(list) == 2)
core.delete_edge(e0)
core.text.insert_at(cue.id, "description", 0, "Warm wash")
core.text.replace_range(cue.id, "description", 0, 4, "Cool")
core.text.delete_range(cue.id, "description", 4, 9)
assert(core.get_field(cue.id, "description") == "Cool", core.get_field(cue.id, "description"))
assert(#core.schema.list_tables() > 3 and #core.schema.get_fields("LightingCues") > 3)
core.delete_entity(second)
""",
    "json, log, context and ui": """
local text = json.encode({ n = 1, list = { 1, 2 }, name = "x" })
assert(text == '{"list": [1, 2], "n": 1, "name": "x"}', text)
assert(json.decode('{"a": [true, 2.5]}').a[2] == 2.5)
local ok, err = pcall(json.decode, "{nope")
assert(not ok and err:find("not valid JSON"))
assert(type(context.user().name) == "string" and context.script() == "api")
assert(context.trigger_entity() == nil and context.cancelled() == false)
assert(type(context.hlc_time()) == "string" and #core.get_conflicts() == 0)
assert(args.n == 3 and args.word == "go")
ui.progress.start("Counting", { total = args.n })
for i = 1, args.n do ui.progress.update(i) end
ui.progress.complete()
ui.toast("done") ui.toast.warn("careful")
log.info("logged")
""",
}
