"""The sandbox, the limits and the API tables, written once in Lua so every engine runs the same.

An engine loads PRELUDE in a fresh Lua state (standard libraries open) and calls the function it
returns with (host, source, chunk_name, limits). The prelude:

* builds an empty environment and puts in only safe library functions plus the API built from
  the host table's names ('core.query' -> core.query; a name that is both a function and a
  prefix, like 'ui.toast' and 'ui.toast.warn', becomes a callable table);
* counts instructions with a debug hook on the script's coroutine and on every coroutine the
  script creates (hooks are per coroutine, so an unhooked one would escape the count);
* makes limit errors uncatchable: pcall, xpcall, coroutine.resume/wrap/close re-raise once the
  run is stopped, and a memory error stops the run rather than being caught and ignored;
* refuses what could escape: string.dump (removed from the real string table, which strings
  reach through their metatable), getmetatable on strings, __gc finalizers (they run with hooks
  off), loading bytecode (load is text only, into the sandbox), and Lua patterns whose worst
  case backtracking would run unbounded inside one C call;
* runs the chunk, then `main()` if the script defined one.

It returns (status, message): ('ok', '') or ('syntax' | 'error' | 'limit' | 'sandbox', message).
Nothing the script can reach runs without the hook: error values are never converted with
their metamethods outside the script's coroutine.
"""

from __future__ import annotations

PRELUDE = r"""
return function(host, source, chunk_name, limits)
  local error, pcall, xpcall, type, tostring, select, next = error, pcall, xpcall, type, tostring, select, next
  local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
  local rawset, rawequal, rawlen = rawset, rawequal, rawlen
  local load, ipairs, pairs, tonumber, assert = load, ipairs, pairs, tonumber, assert
  local sethook, getinfo = debug.sethook, debug.getinfo
  local co_create, co_resume = coroutine.create, coroutine.resume
  local co_status, co_yield = coroutine.status, coroutine.yield
  local co_running, co_isyieldable, co_close = coroutine.running, coroutine.isyieldable, coroutine.close
  local s_find, s_match, s_gmatch, s_gsub, s_sub = string.find, string.match, string.gmatch, string.gsub, string.sub
  local concat = table.concat
  local MEMORY = "not enough memory"

  local max_steps, every, pattern_work = limits.instructions, limits.hook_every, limits.pattern_work
  local steps = 0
  local stopped = nil

  local function stop(kind, message)
    if not stopped then stopped = { kind = kind, message = message } end
    error(stopped.message, 0)
  end
  local memory_message = "memory limit reached (" .. (limits.memory_mib or "?") ..
    " MiB): the script built more data than a script may hold"

  local function hook()
    steps = steps + every
    if stopped then error(stopped.message, 0) end
    if steps > max_steps then
      stop("limit", "instruction limit reached (" .. max_steps ..
        " instructions): the script ran too long; is there a loop that never ends?")
    end
  end

  -- pcall and friends: a stopped run cannot be caught, nor can running out of memory
  local function settle(ok, ...)
    if stopped then error(stopped.message, 0) end
    if not ok and rawequal((...), MEMORY) then stop("limit", memory_message) end
    return ok, ...
  end
  local function safe_pcall(f, ...) return settle(pcall(f, ...)) end
  local function safe_xpcall(f, handler, ...)
    return settle(xpcall(f, function(e)
      if stopped or rawequal(e, MEMORY) then return e end
      return handler(e)
    end, ...))
  end

  local function new_thread(f)
    if type(f) ~= "function" then error("coroutine.create needs a function", 2) end
    local co = co_create(f)
    sethook(co, hook, "", every)
    return co
  end
  local function safe_resume(co, ...) return settle(co_resume(co, ...)) end
  local function pass_on(ok, ...)
    if not ok then error((...), 0) end
    return ...
  end
  local coroutine_lib = {
    create = new_thread, resume = safe_resume, status = co_status, yield = co_yield,
    running = co_running, isyieldable = co_isyieldable,
    close = function(co) return settle(co_close(co)) end,
    wrap = function(f)
      local co = new_thread(f)
      return function(...) return pass_on(safe_resume(co, ...)) end
    end,
  }

  -- Lua patterns backtrack: k repeats that can match the same characters (next to each other, or
  -- any `.` repeat) over n characters can take n^k steps inside one C call, which no hook sees.
  -- Repeats split by a literal (%d+-%d+) backtrack only locally and count once.
  local function pattern_cost(pattern, n)
    local dots, run, longest, optional, i, len = 0, 0, 0, 0, 1, #pattern
    local anchored = s_sub(pattern, 1, 1) == "^"
    if anchored then i = 2 end
    while i <= len do
      local c = s_sub(pattern, i, i)
      local is_dot = false
      if c == "(" or c == ")" then
        i = i + 1
      else
        if c == "%" then
          i = i + 2
        elseif c == "[" then
          i = i + 1
          if s_sub(pattern, i, i) == "^" then i = i + 1 end
          if s_sub(pattern, i, i) == "]" then i = i + 1 end
          while i <= len and s_sub(pattern, i, i) ~= "]" do
            if s_sub(pattern, i, i) == "%" then i = i + 1 end
            i = i + 1
          end
          i = i + 1
        else
          is_dot = c == "."
          i = i + 1
        end
        local q = s_sub(pattern, i, i)
        if q == "*" or q == "+" or q == "-" then
          i = i + 1
          if is_dot then dots = dots + 1 else run = run + 1 end
          if run > longest then longest = run end
        elseif q == "?" then
          i = i + 1
          optional = optional + 1
        else
          run = 0
        end
      end
    end
    local k = dots + longest
    if k < 2 and optional < 12 then return 0 end
    return (n + 1.0) ^ (anchored and k - 1 or k) * 2.0 ^ optional
  end
  local function guard(s, pattern, plain)
    if plain or type(pattern) ~= "string" then return end
    if type(s) ~= "string" and type(s) ~= "number" then return end
    local cost = pattern_cost(pattern, #tostring(s))
    if cost > pattern_work then
      stop("limit", "pattern too complex for this text: " .. #pattern .. "-character pattern with several " ..
        "repeats over " .. #tostring(s) .. " characters could run for a very long time; use fewer repeats " ..
        "or split the text first")
    end
  end
  string.find = function(s, p, init, plain) guard(s, p, plain); return s_find(s, p, init, plain) end
  string.match = function(s, p, init) guard(s, p); return s_match(s, p, init) end
  string.gmatch = function(s, p, init) guard(s, p); return s_gmatch(s, p, init) end
  string.gsub = function(s, p, r, n) guard(s, p); return s_gsub(s, p, r, n) end
  string.dump = nil  -- strings reach this table through their metatable: bytecode never leaves

  local function copy(t)
    local out = {}
    for k, v in pairs(t) do out[k] = v end
    return out
  end

  local env = {}
  local forbidden = {
    os = "os (processes, files and the clock are outside a script's reach; use context.hlc_time())",
    io = "io (files are outside a script's reach)",
    require = "require (loading files or native modules)", dofile = "dofile (reading files)",
    loadfile = "loadfile (reading files)", package = "package (loading native modules)",
    debug = "debug (it can reach past the sandbox)", collectgarbage = "collectgarbage",
    python = "python (the host's objects)", dump = "string.dump (bytecode)",
    fs = "fs (files) without the fs.read or fs.write capability, which whoever runs the script grants",
  }
  local function refuse(_, key)
    local why = rawget(forbidden, key)
    if why then stop("sandbox", "a script may not use " .. why) end
    return nil
  end
  setmetatable(string, { __index = refuse, __metatable = false })
  local function safe_load(chunk, name, _mode, chunk_env)
    return load(chunk, name, "t", chunk_env == nil and env or chunk_env)
  end
  local function safe_setmetatable(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      stop("sandbox", "a script may not set __gc finalizers (setmetatable with __gc)")
    end
    return setmetatable(t, mt)
  end
  local function safe_getmetatable(v)
    if type(v) == "string" then return nil end
    return getmetatable(v)
  end

  env._G = env
  env._VERSION = _VERSION
  env.assert, env.error, env.ipairs, env.next, env.pairs, env.select = assert, error, ipairs, next, pairs, select
  env.tonumber, env.tostring, env.type = tonumber, tostring, type
  env.rawequal, env.rawget, env.rawset, env.rawlen = rawequal, rawget, rawset, rawlen
  env.pcall, env.xpcall, env.load = safe_pcall, safe_xpcall, safe_load
  env.setmetatable, env.getmetatable = safe_setmetatable, safe_getmetatable
  env.string = string
  env.table = copy(table)
  env.math = copy(math)
  env.utf8 = copy(utf8)
  env.coroutine = coroutine_lib

  -- What crosses to the host is plain data of bounded size, checked here the same way for every
  -- engine (a circular or very deep table would otherwise recurse inside the engine's converter).
  local function check_value(v, depth, seen, budget)
    local kind = type(v)
    if kind == "nil" or kind == "boolean" or kind == "number" or kind == "string" then return budget - 1 end
    if kind ~= "table" then error("a " .. kind .. " cannot be handed to the host (only nil, booleans, numbers, " ..
      "strings and tables)", 0) end
    if seen[v] then error("a table handed to the host contains itself", 0) end
    if depth >= 64 then error("a table handed to the host is nested more than 64 levels deep", 0) end
    seen[v] = true
    for key, item in next, v do
      budget = check_value(key, depth + 1, seen, budget)
      budget = check_value(item, depth + 1, seen, budget)
      if budget < 0 then error("a value handed to the host has more than 1,000,000 items", 0) end
    end
    seen[v] = nil
    return budget
  end
  local function check_args(...)
    for i = 1, select("#", ...) do
      local v = (select(i, ...))
      if type(v) == "table" or type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then
        local ok, err = pcall(check_value, v, 0, {}, 1000000)
        if not ok then return err end
      end
    end
    return nil
  end

  -- the API: each host name becomes a function in a nested table
  -- "name:line: " of the script line that made the call (nothing when it cannot be told, e.g. a
  -- tail call), so a message never points into the prelude
  local function where()
    local info = getinfo(3, "Sl")
    if info and info.short_src == chunk_name and (info.currentline or 0) > 0 then
      return chunk_name .. ":" .. info.currentline .. ": "
    end
    return ""
  end
  local function api_function(name)
    local f = host[name]
    return function(...)
      local bad = check_args(...)
      if bad then error(where() .. bad, 0) end
      local status, value = f(...)
      if status == 0 then return value end
      if status == 2 then stop("error", value) end
      if status == 3 then stop("sandbox", value) end
      error(where() .. value, 0)
    end
  end
  local tree = {}
  for name in pairs(host) do
    if name ~= "args" then
      local node = tree
      for part in s_gmatch(name, "[^.]+") do
        node.children = node.children or {}
        node.children[part] = node.children[part] or {}
        node = node.children[part]
      end
      node.fn = api_function(name)
    end
  end
  local function build(node)
    if not node.children then return node.fn end
    local t = {}
    for part, child in pairs(node.children) do t[part] = build(child) end
    if node.fn then
      local fn = node.fn
      setmetatable(t, { __call = function(_, ...) return fn(...) end, __metatable = false })
    end
    return t
  end
  for part, child in pairs(tree.children or {}) do env[part] = build(child) end
  if host.args then env.args = api_function("args")() or {} end
  if env.log and env.log.info then
    local info = env.log.info
    env.print = function(...)
      local parts = {}
      for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
      info(concat(parts, "\t"))
    end
  end

  setmetatable(env, { __index = refuse, __metatable = false })

  local chunk, syntax = load(source, "=" .. chunk_name, "t", env)
  if not chunk then return "syntax", syntax end

  local main = co_create(function()
    chunk()
    local entry = rawget(env, "main")
    if type(entry) == "function" then entry() end
  end)
  sethook(main, hook, "", every)
  local ok, err = co_resume(main)
  if stopped then return stopped.kind, stopped.message end
  if not ok then
    if rawequal(err, MEMORY) then return "limit", memory_message end
    if type(err) == "string" then return "error", err end
    if type(err) == "number" then return "error", "error " .. err end
    return "error", "the script raised an error value of type " .. type(err) .. " (raise a string to say why)"
  end
  if co_status(main) ~= "dead" then
    return "sandbox", "the script yielded outside a coroutine it created"
  end
  return "ok", ""
end
"""
