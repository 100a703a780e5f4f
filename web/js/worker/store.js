// IndexedDB layout. One app database for what is shared by every workspace in this browser, and
// one database per workspace, so a workspace can be removed or exported on its own.
//
//   openprod                  settings: 'identity' -> identity JSON (Ed25519 key + display name)
//                             workspaces: {id, name, createdAt, openedAt}
//   openprod-ws-<uuid>        log: seq -> Uint8Array (one signed bundle's wire bytes)
//                             snapshot: 'latest' -> {seq, data: Uint8Array, bytes, takenAt, ms}
//
// The log holds every bundle stored after the latest snapshot; `seq` is the log position the
// Python session gave the bundle when SQLite stored it (commit order).
import { openDB, deleteDB } from '../../vendor/idb.js';

const APP_DB = 'openprod';

/** @returns {Promise<import('../../vendor/idb.js').IDBPDatabase>} */
export function openAppDb() {
  return openDB(APP_DB, 1, {
    upgrade(db) {
      db.createObjectStore('settings');
      db.createObjectStore('workspaces', { keyPath: 'id' });
    },
  });
}

export const workspaceDbName = (id) => `openprod-ws-${id}`;

export function openWorkspaceDb(id) {
  return openDB(workspaceDbName(id), 1, {
    upgrade(db) {
      db.createObjectStore('log');
      db.createObjectStore('snapshot');
    },
  });
}

export async function removeWorkspaceDb(id) {
  await deleteDB(workspaceDbName(id));
}

/** Everything start-up needs: the latest snapshot and the log records after it, in order. */
export async function readForStartup(db) {
  const tx = db.transaction(['snapshot', 'log'], 'readonly');
  const snapshot = (await tx.objectStore('snapshot').get('latest')) || null;
  const after = snapshot ? IDBKeyRange.lowerBound(snapshot.seq, true) : undefined;
  const [keys, values] = await Promise.all([
    tx.objectStore('log').getAllKeys(after),
    tx.objectStore('log').getAll(after),
  ]);
  await tx.done;
  return { snapshot, log: keys.map((seq, i) => [seq, values[i]]) };
}

/**
 * Append bundles to the log in one transaction; resolves when IndexedDB reports it complete.
 * `strict` durability: the data is flushed to disk before `complete`, so a saved edit survives
 * a tab close, a browser crash and (where the OS honours flushes) a power cut.
 * @param {Array<[number, Uint8Array]>} items
 */
export async function appendLog(db, items) {
  const tx = db.transaction('log', 'readwrite', { durability: 'strict' });
  for (const [seq, wire] of items) tx.store.put(wire, seq);
  await tx.done;
}

/** Store a snapshot and drop the log records it contains, atomically. */
export async function writeSnapshot(db, seq, data, meta) {
  const tx = db.transaction(['snapshot', 'log'], 'readwrite', { durability: 'strict' });
  tx.objectStore('snapshot').put({ seq, data, bytes: data.byteLength, ...meta }, 'latest');
  tx.objectStore('log').delete(IDBKeyRange.upperBound(seq));
  await tx.done;
}

export async function logCount(db) {
  return db.count('log');
}
