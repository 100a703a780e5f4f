// The Pyodide start snapshot: the WebAssembly memory of a Python that has started and imported the
// standard-library modules the core uses, taken on a start with none (worker/python.js) and restored on
// the next start instead of starting Python again (Pyodide's private `_makeSnapshot` / `_loadSnapshot`).
//
//   openprod-pyodide   start: 'meta'  -> {key, size, sha256, madeAt}
//                             'bytes' -> ArrayBuffer (the memory image, ~30 MB)
//
// One snapshot, written in one transaction: a new one replaces the old. `key` is the app's build
// (build-info.json `build`, which changes with any file of the app, Pyodide's included) and Pyodide's
// version, so a new build never starts from an older build's memory; a snapshot with another key is
// deleted when its (small) meta is read, before its bytes are. The SHA-256 is checked before a restore:
// Pyodide checks only a magic number and its own build id, and a memory image damaged anywhere else would
// start a broken Python rather than fail.
import { openDB } from '../../vendor/idb.js';

const DB = 'openprod-pyodide';
const STORE = 'start';

const open = () => openDB(DB, 1, { upgrade(db) { db.createObjectStore(STORE); } });

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

/** The key a snapshot must carry to be used by this build. */
export function snapshotKey(info, pyodideVersion) {
  if (!info.build) throw new Error('build-info.json has no build stamp (build.py)');
  return `${info.build}/pyodide-${pyodideVersion}`;
}

async function read(name) {
  const db = await open();
  try {
    return (await db.get(STORE, name)) ?? null;
  } finally {
    db.close();
  }
}

/** The kept snapshot's meta ({key, size, sha256, madeAt}), or null. */
export const readMeta = () => read('meta');

/**
 * The snapshot's bytes if `meta` (readMeta's answer) carries `key` and its bytes are whole; otherwise the
 * reason it is not used (a snapshot of another build, or a damaged one, is deleted).
 * @returns {Promise<{bytes: Uint8Array|null, reason: string, readMs: number|null, checkMs: number|null}>}
 */
export async function usable(meta, key) {
  if (!meta) return { bytes: null, reason: 'none stored', readMs: null, checkMs: null };
  if (meta.key !== key) {
    await drop();
    return { bytes: null, reason: `made by another build (${meta.key})`, readMs: null, checkMs: null };
  }
  const t0 = performance.now();
  const stored = await read('bytes');
  const t1 = performance.now();
  const bytes = stored instanceof ArrayBuffer ? new Uint8Array(stored) : null;
  let reason = '';
  if (!bytes) reason = 'no bytes';
  else if (bytes.byteLength !== meta.size) reason = `${bytes.byteLength} bytes, expected ${meta.size}`;
  else if (hex(await crypto.subtle.digest('SHA-256', bytes)) !== meta.sha256) reason = 'its SHA-256 does not match';
  const out = { readMs: Math.round(t1 - t0), checkMs: Math.round(performance.now() - t1) };
  if (reason) {
    await drop();
    return { bytes: null, reason: `damaged: ${reason}`, ...out };
  }
  return { bytes, reason: '', ...out };
}

/** Keep `bytes` (a snapshot made by this build) for the next start, replacing any other. */
export async function keep(key, bytes) {
  const t0 = performance.now();
  const sha256 = hex(await crypto.subtle.digest('SHA-256', bytes));
  const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer : bytes.slice().buffer;
  const db = await open();
  try {
    const tx = db.transaction(STORE, 'readwrite');
    await Promise.all([
      tx.store.put(buffer, 'bytes'),
      tx.store.put({ key, size: bytes.byteLength, sha256, madeAt: Date.now() }, 'meta'),
      tx.done,
    ]);
  } finally {
    db.close();
  }
  return { bytes: bytes.byteLength, writeMs: Math.round(performance.now() - t0) };
}

/** Forget the kept snapshot (the next start makes a new one). */
export async function drop() {
  const db = await open();
  try {
    const tx = db.transaction(STORE, 'readwrite');
    await Promise.all([tx.store.delete('meta'), tx.store.delete('bytes'), tx.done]);
  } finally {
    db.close();
  }
}
