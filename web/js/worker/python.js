// Boots Pyodide inside this module worker from the app's own files (never a CDN) and installs the
// wheels listed in build-info.json (loadPackage by URL), from same-origin URLs the service worker
// serves from its cache when offline. Hands Yjs to the core so collaborative (CRDT) fields work, and
// the Lua loader for scripts.
//
// Python's own start is most of the boot, so it is started from a memory snapshot when this build has
// kept one (worker/pysnapshot.js): the WebAssembly memory of a Python that had started and imported the
// standard-library modules below. A start with no usable snapshot is a normal start that makes one just
// before the wheels are installed (Pyodide 314 refuses a snapshot taken after them), kept in IndexedDB
// once the app is interactive (keepStartSnapshot). Any failure on the restored path (a refused or
// broken memory image, the wheels or the imports failing after it) drops the snapshot and starts again
// normally, in this same worker.
import { loadPyodide, version as pyodideVersion } from '../../pyodide/pyodide.mjs';
import { loadLua } from './lua.js';
import * as startSnapshot from './pysnapshot.js';

const ROOT = new URL('../../', import.meta.url);

// The standard-library modules that installing the wheels and `import openprod, openprod_web` import
// beyond Pyodide's own start (listed in Node: sys.modules before and after). Imported before the
// snapshot is taken so a restored start has them; a module missing from here is only imported later.
const STDLIB = ['csv', 'datetime', 'difflib', 'email', 'getpass', 'hashlib', 'hmac', 'importlib.metadata',
  'pickle', 'pkgutil', 'secrets', 'sqlite3', 'tarfile', 'tomllib', 'unicodedata'];

// The page's message once its last screen is drawn (js/main.js): the snapshot's 30 MB read waits for it,
// since read at once it held up the page's modules and last screen by 100-200 ms. A bound, not a wait on
// a page that failed before drawing.
export const SCREEN_SHOWN = 'openprod-screen-shown';
const SCREEN_WAIT_MS = 2000;
const META_WAIT_MS = 5000;

const message = (err) => String((err && err.message) || err).split('\n')[0];

/**
 * Start Pyodide (from `restore`, a snapshot's bytes, or normally, making a snapshot) and install and
 * import the app's wheels. Returns the Python handles and the snapshot made (bytes), if any.
 */
async function startPython(info, { restore, stamp }) {
  const py = await loadPyodide({
    indexURL: new URL('pyodide/', ROOT).href,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    stdout: (line) => console.log('[python]', line),
    stderr: (line) => console.warn('[python]', line),
    ...(restore ? { _loadSnapshot: restore } : { _makeSnapshot: true }),
  });
  let made = null;
  if (!restore) {
    try {
      py.runPython(`import ${STDLIB.join(', ')}`);
      made = py.makeMemorySnapshot();
    } catch (err) { // a start without a snapshot is still a start
      console.warn('[python] no start snapshot made:', message(err));
    }
    // `_makeSnapshot` gives Python's `js` module a recording Proxy of globalThis (so the snapshot can name
    // what Python held), and that Proxy breaks the platform's getters: `js.crypto.subtle` throws "Illegal
    // invocation". Nothing has imported `js` yet; from here on it is the real globalThis.
    py.registerJsModule('js', globalThis);
    py.runPython("import sys; sys.modules.pop('js', None)");
  }
  stamp('pyodideLoaded');
  const t1 = performance.now();
  const wheel = (key) => new URL(`wheels/${info.wheels[key]}`, ROOT).href;
  // Our wheels are pinned and their dependencies are the other wheels here, so they are loaded
  // straight from their URLs in one go (fetched in parallel), with no micropip resolution step.
  const urls = info.install_order.map(wheel);
  await py.loadPackage(urls, { messageCallback: () => {}, checkIntegrity: false });
  stamp('wheelsLoaded');
  const web = py.pyimport('openprod_web');
  const debug = info.debug_peer ? py.pyimport('openprod_web_debug') : null;
  const methodsProxy = web.METHODS;
  const methods = Object.fromEntries(methodsProxy.toJs({ dict_converter: Array.from }));
  methodsProxy.destroy();
  return { py, web, debug, methods, made, t1, wheel };
}

/**
 * @returns {Promise<{py: any, web: any, debug: any, methods: Record<string, boolean>, loadExtras: () => Promise<void>,
 *   keepStartSnapshot: () => Promise<object|null>, timings: Record<string, any>}>}
 *   `web` is the imported `openprod_web` Python package; `methods` maps API method -> writes?;
 *   `debug` is the TEST-ONLY `openprod_web_debug` package, present only in --debug-peer builds.
 *   `timings.snapshot` says how Python started: `state` 'restored' (from a kept snapshot), 'made' (a
 *   normal start that made one) or 'none', with `reason` when a kept one was not used.
 *   `screenShown` resolves when the page's last screen is drawn (worker.js).
 */
export async function bootPython({ hold = null, screenShown = null } = {}) {
  const t0 = performance.now();
  const at = {}; // epoch ms of each step, for the start-up breakdown (bench/opening_bench.py)
  const stamp = (name) => { at[name] = performance.timeOrigin + performance.now(); };
  stamp('bootStart');
  const yjs = import('../../vendor/yjs/yjs.mjs'); // loads while Pyodide starts
  // The kept snapshot's meta (small) is read while build-info.json is fetched; its bytes only if it fits.
  // Bounded: the snapshot only saves time, and Python's start never waits on it for long.
  const metaRead = Promise.race([
    startSnapshot.readMeta().then((meta) => ({ meta }), (err) => ({ meta: null, error: message(err) })),
    new Promise((resolve) => {
      setTimeout(() => resolve({ meta: null, error: `IndexedDB did not answer in ${META_WAIT_MS} ms` }), META_WAIT_MS);
    }),
  ]);
  // no-cache: without a service worker yet, never take an older bundle's list from the HTTP cache
  const info = await fetch(new URL('build-info.json', ROOT), { cache: 'no-cache' }).then((r) => r.json());
  if (hold && info.debug_peer) await hold; // TEST-ONLY, and only in --debug-peer builds (worker.js boot)
  const key = startSnapshot.snapshotKey(info, pyodideVersion);
  const { meta, error } = await metaRead;
  const snapshot = { state: 'none', key, reason: error ? `not read: ${error}` : 'none stored', screenWaitMs: null,
    readMs: null, checkMs: null, restoreMs: null, bytes: null, kept: null };
  let started = null;
  if (meta) {
    if (meta.key === key && screenShown) {
      const tw = performance.now();
      await Promise.race([screenShown, new Promise((resolve) => { setTimeout(resolve, SCREEN_WAIT_MS); })]);
      snapshot.screenWaitMs = Math.round(performance.now() - tw);
    }
    const found = await startSnapshot.usable(meta, key)
      .catch((err) => ({ bytes: null, reason: message(err), readMs: null, checkMs: null }));
    Object.assign(snapshot, { reason: found.reason, readMs: found.readMs, checkMs: found.checkMs });
    if (found.bytes) {
      const tr = performance.now();
      try {
        started = await startPython(info, { restore: found.bytes, stamp });
        snapshot.state = 'restored';
        snapshot.bytes = found.bytes.byteLength;
        snapshot.restoreMs = Math.round(at.pyodideLoaded - performance.timeOrigin - tr);
      } catch (err) {
        console.warn('[python] the start snapshot did not work, starting normally:', message(err));
        snapshot.reason = `restore failed: ${message(err)}`;
        await startSnapshot.drop().catch(() => {});
      }
    }
  }
  if (!started) {
    started = await startPython(info, { restore: null, stamp });
    if (started.made) {
      snapshot.state = 'made';
      snapshot.bytes = started.made.byteLength;
    }
  }
  const { py, web, debug, methods, t1, wheel } = started;
  let pending = started.made;
  started.made = null;
  web.use_yjs(await yjs);
  web.use_ed25519(await import('./ed25519.js')); // local writes signed on this thread (worker/ed25519.js)
  web.use_lua(loadLua); // wasmoon is loaded on a first script run, not at start-up
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
  /** Store the snapshot this start made (once; the page calls it when the app is interactive). */
  const keepStartSnapshot = async () => {
    if (!pending) return snapshot.kept;
    const bytes = pending;
    pending = null;
    try {
      snapshot.kept = await startSnapshot.keep(key, bytes);
    } catch (err) {
      snapshot.kept = { error: message(err) };
    }
    return snapshot.kept;
  };
  return {
    py,
    web,
    debug,
    methods,
    loadExtras,
    keepStartSnapshot,
    timings: { pyodideMs: Math.round(t1 - t0), wheelsMs: Math.round(t2 - t1), bootMs: Math.round(t2 - t0), at, snapshot },
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
