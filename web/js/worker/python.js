// Boots Pyodide inside this module worker from the app's own files (never a CDN) and installs the
// wheels listed in build-info.json (loadPackage by URL), from same-origin URLs the service worker
// serves from its cache when offline. Hands Yjs to the core so collaborative (CRDT) fields work, and
// the Lua loader for scripts.
import { loadPyodide } from '../../pyodide/pyodide.mjs';
import { loadLua } from './lua.js';

const ROOT = new URL('../../', import.meta.url);

/**
 * @returns {Promise<{py: any, web: any, debug: any, methods: Record<string, boolean>, loadExtras: () => Promise<void>,
 *   timings: Record<string, number>}>}
 *   `web` is the imported `openprod_web` Python package; `methods` maps API method -> writes?;
 *   `debug` is the TEST-ONLY `openprod_web_debug` package, present only in --debug-peer builds.
 */
export async function bootPython({ hold = null } = {}) {
  const t0 = performance.now();
  const at = {}; // epoch ms of each step, for the start-up breakdown (bench/opening_bench.py)
  const stamp = (name) => { at[name] = performance.timeOrigin + performance.now(); };
  stamp('bootStart');
  const yjs = import('../../vendor/yjs/yjs.mjs'); // loads while Pyodide starts
  // no-cache: without a service worker yet, never take an older bundle's list from the HTTP cache
  const infoPromise = fetch(new URL('build-info.json', ROOT), { cache: 'no-cache' }).then((r) => r.json());
  if (hold) {
    const early = await infoPromise;
    if (early.debug_peer) await hold; // TEST-ONLY, and only in --debug-peer builds (worker.js boot)
  }
  const py = await loadPyodide({
    indexURL: new URL('pyodide/', ROOT).href,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    stdout: (line) => console.log('[python]', line),
    stderr: (line) => console.warn('[python]', line),
  });
  stamp('pyodideLoaded');
  const info = await infoPromise;
  const t1 = performance.now();
  const wheel = (key) => new URL(`wheels/${info.wheels[key]}`, ROOT).href;
  // Our wheels are pinned and their dependencies are the other wheels here, so they are loaded
  // straight from their URLs in one go (fetched in parallel), with no micropip resolution step.
  const urls = info.install_order.map(wheel);
  await py.loadPackage(urls, { messageCallback: () => {}, checkIntegrity: false });
  stamp('wheelsLoaded');
  const web = py.pyimport('openprod_web');
  web.use_yjs(await yjs);
  web.use_lua(loadLua); // wasmoon is loaded on a first script run, not at start-up
  const debug = info.debug_peer ? py.pyimport('openprod_web_debug') : null;
  const methodsProxy = web.METHODS;
  const methods = Object.fromEntries(methodsProxy.toJs({ dict_converter: Array.from }));
  methodsProxy.destroy();
  const t2 = performance.now();
  stamp('imported');
  let extras = null;
  /** Wheels kept out of the start-up (openpyxl for Excel export): loaded once, when first needed. */
  const loadExtras = () => {
    if (!extras) {
      extras = py.loadPackage((info.lazy_wheels || []).map(wheel), { messageCallback: () => {}, checkIntegrity: false });
      extras.catch(() => { extras = null; });
    }
    return extras;
  };
  return {
    py,
    web,
    debug,
    methods,
    loadExtras,
    timings: { pyodideMs: Math.round(t1 - t0), wheelsMs: Math.round(t2 - t1), bootMs: Math.round(t2 - t0), at },
  };
}

/** A Python list of (seq, bytes) -> [[seq, Uint8Array]] with each array owning its buffer. */
export function takeLog(session) {
  const proxy = session.take_log();
  try {
    return proxy.toJs().map(([seq, wire]) => [seq, wire.slice()]);
  } finally {
    proxy.destroy();
  }
}

/** Overlay journal changes since the last call: [[kind, overlay id, seq|null, Uint8Array|null]]. */
export function takeOverlays(session) {
  const proxy = session.take_overlays();
  try {
    return proxy.toJs().map(([kind, id, seq, data]) => [kind, id, seq ?? null, data ? data.slice() : null]);
  } finally {
    proxy.destroy();
  }
}

/** Session.snapshot() -> {seq, data} or null while a transaction is open. */
export function takeSnapshot(session) {
  const proxy = session.snapshot();
  if (proxy === undefined || proxy === null) return null;
  try {
    const [seq, data] = proxy.toJs();
    return { seq, data };
  } finally {
    proxy.destroy();
  }
}
