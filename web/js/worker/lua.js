// Lua 5.4 for scripts in the browser: wasmoon (Lua compiled to WebAssembly), vendored by build.py
// from the pinned npm package, so nothing is fetched from the internet. The core's sandbox,
// limits and API are in its Lua prelude (core/openprod/scripts/prelude.py); this file does only
// what is engine-specific, as lupa does on CPython (core/openprod/lua_lupa.py): a fresh Lua state
// per run with a memory cap (wasmoon's traceAllocations + setMemoryMax), and values passed across.

/**
 * A runner over a loaded wasmoon module: run(prelude, source, chunkName, host, limits) ->
 * [status, message]. `host` maps each API name to a function returning [status, value].
 * Synchronous, so the Python core (under Pyodide) can call it like lupa.
 * @param {any} wasmoon the wasmoon exports (LuaEngine, LuaMultiReturn)
 * @param {any} cmodule the loaded Lua WebAssembly module (LuaFactory.getLuaModule())
 */
export function makeLuaRunner(wasmoon, cmodule, onBroken = () => {}) {
  const { LuaEngine, LuaMultiReturn } = wasmoon;
  return function run(prelude, source, chunkName, host, limits) {
    const engine = new LuaEngine(cmodule, {
      openStandardLibs: true, injectObjects: false, enableProxy: false, traceAllocations: true,
    });
    const memory = `memory limit reached (${Math.floor(limits.memory_bytes / 2 ** 20)} MiB): the script built `
      + 'more data than a script may hold';
    try {
      engine.global.setMemoryMax(limits.memory_bytes);
      const table = {};
      for (const name of Object.keys(host)) {
        const fn = host[name];
        table[name] = (...args) => {
          const [status, value] = fn(...args.map(plain));
          return LuaMultiReturn.of(status, luaValue(value));
        };
      }
      // The prelude returns (status, message); a Lua function called from JS gives only its first
      // result, so wrap it to return both in a table.
      const entry = engine.doStringSync(
        `local entry = (function() ${prelude}\nend)() return function(...) local s, m = entry(...) return { s, m } end`);
      const out = entry(table, source, chunkName, {
        instructions: limits.instructions, hook_every: limits.hook_every, pattern_work: limits.pattern_work,
        memory_mib: Math.max(1, Math.floor(limits.memory_bytes / 2 ** 20)),
      });
      return [String(out[0]), String(out[1])];
    } catch (error) {
      const text = String(error && error.message ? error.message : error);
      if (/not enough memory/.test(text)) return ['limit', memory];
      return ['error', text];
    } finally {
      try {
        engine.global.close();
      } catch (error) {
        // The WebAssembly module is in a bad state: load a fresh one for the next run.
        console.warn('Lua engine reset after a failed close', error);
        onBroken();
      }
    }
  };
}

/** A value from Lua as plain data (wasmoon hands tables over as objects and arrays). */
function plain(value) {
  return value === null ? undefined : value;
}

/** Plain data for Lua: wasmoon cannot push null inside a table, and Lua tables hold no nil. */
function luaValue(value) {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) return value.map(luaValue);
  if (typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== null && item !== undefined) out[key] = luaValue(item);
    }
    return out;
  }
  return value;
}

let loading = null;

/** Load the vendored wasmoon once (from the app's own files) and hand back a runner. */
export function loadLua() {
  if (!loading) {
    loading = (async () => {
      await import('../../vendor/wasmoon/wasmoon.js'); // UMD: sets globalThis.wasmoon
      const wasmoon = globalThis.wasmoon;
      const wasm = new URL('../../vendor/wasmoon/glue.wasm', import.meta.url).href;
      const cmodule = await new wasmoon.LuaFactory(wasm).getLuaModule();
      return makeLuaRunner(wasmoon, cmodule, () => { loading = null; });
    })();
    loading.catch(() => { loading = null; });
  }
  return loading;
}
