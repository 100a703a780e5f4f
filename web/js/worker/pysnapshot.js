// The Pyodide start snapshot: the WebAssembly memory of a Python that has started and imported the
// standard-library modules the core uses, taken on a start with none (worker/python.js) and restored on
// the next start instead of starting Python again (Pyodide's private `_makeSnapshot` / `_loadSnapshot`).
//
//   openprod-pyodide   start: 'current' -> {key, bytes: ArrayBuffer, size, sha256, madeAt}
//
// One record: writing a new snapshot replaces the old one. `key` is the app's build (build-info.json
// `build`, which changes with any file of the app, Pyodide's included) and Pyodide's version, so a new
// build never starts from an older build's memory; a record with another key is deleted when read.
// The SHA-256 is checked before a restore: Pyodide checks only a magic number and its own build id, and a
// memory image damaged anywhere else would start a broken Python rather than fail.
import { openDB } from '../../vendor/idb.js';

const DB = 'openprod-pyodide';
const STORE = 'start';
const RECORD = 'current';

const open = () => openDB(DB, 1, { upgrade(db) { db.createObjectStore(STORE); } });

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

/** The key a snapshot must carry to be used by this build. */
export function snapshotKey(info, pyodideVersion) {
  if (!info.build) throw new Error('build-info.json has no build stamp (build.py)');
  return `${info.build}/pyodide-${pyodideVersion}`;
}

/** The stored record, whatever its key, with the time the read took; null when there is none. */
export async function readStored() {
  const t0 = performance.now();
  const db = await open();
  try {
    const record = (await db.get(STORE, RECORD)) || null;
    return { record, readMs: Math.round(performance.now() - t0) };
  } finally {
    db.close();
  }
}

/**
 * The snapshot's bytes if `stored` (readStored's answer) carries `key` and is whole; otherwise the
 * reason it is not used (and a record of another build, or a damaged one, is deleted).
 * @returns {Promise<{bytes: Uint8Array|null, reason: string, checkMs: number}>}
 */
export async function usable(stored, key) {
  const { record } = stored;
  if (!record) return { bytes: null, reason: 'none stored', checkMs: 0 };
  if (record.key !== key) {
    await drop();
    return { bytes: null, reason: `made by another build (${record.key})`, checkMs: 0 };
  }
  const t0 = performance.now();
  const bytes = record.bytes instanceof ArrayBuffer ? new Uint8Array(record.bytes) : null;
  let reason = '';
  if (!bytes) reason = 'not a byte buffer';
  else if (bytes.byteLength !== record.size) reason = `${bytes.byteLength} bytes, expected ${record.size}`;
  else if (hex(await crypto.subtle.digest('SHA-256', bytes)) !== record.sha256) reason = 'its SHA-256 does not match';
  const checkMs = Math.round(performance.now() - t0);
  if (reason) {
    await drop();
    return { bytes: null, reason: `damaged: ${reason}`, checkMs };
  }
  return { bytes, reason: '', checkMs };
}

/** Keep `bytes` (a snapshot made by this build) for the next start, replacing any other. */
export async function keep(key, bytes) {
  const t0 = performance.now();
  const sha256 = hex(await crypto.subtle.digest('SHA-256', bytes));
  const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer : bytes.slice().buffer;
  const db = await open();
  try {
    await db.put(STORE, { key, bytes: buffer, size: bytes.byteLength, sha256, madeAt: Date.now() }, RECORD);
  } finally {
    db.close();
  }
  return { bytes: bytes.byteLength, writeMs: Math.round(performance.now() - t0) };
}

/** Forget the stored snapshot (the next start makes a new one). */
export async function drop() {
  const db = await open();
  try {
    await db.delete(STORE, RECORD);
  } finally {
    db.close();
  }
}
