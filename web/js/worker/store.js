// IndexedDB layout. One app database for what is shared by every workspace in this browser, and
// one database per workspace, so a workspace can be removed or exported on its own.
//
//   openprod                  settings: 'identity' -> identity JSON (Ed25519 key + display name)
//                             workspaces: {id, name, createdAt, openedAt}
//   openprod-ws-<uuid>        log: seq -> Uint8Array (one signed bundle's wire bytes)
//                             snapshot: 'latest' -> {seq, data: Uint8Array, bytes, takenAt, ms}
//                             overlays: overlay id -> Uint8Array (a staging overlay's journal record)
//
// The log holds every bundle stored after the latest snapshot; `seq` is the log position the
// Python session gave the bundle when SQLite stored it (commit order). Staged (overlay) edits are
// not bundles: each changed overlay's rows are rewritten in `overlays` in the same transaction as
// the log records of the call that changed it (see openprod_web/staging.py).
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
  return openDB(workspaceDbName(id), 2, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('log');
        db.createObjectStore('snapshot');
      }
      if (oldVersion < 2) db.createObjectStore('overlays');
    },
  });
}

export async function removeWorkspaceDb(id) {
  await deleteDB(workspaceDbName(id));
}

/** Everything start-up needs: the latest snapshot, the log records after it (in order), the overlays. */
export async function readForStartup(db) {
  const tx = db.transaction(['snapshot', 'log', 'overlays'], 'readonly');
  const snapshot = (await tx.objectStore('snapshot').get('latest')) || null;
  const after = snapshot ? IDBKeyRange.lowerBound(snapshot.seq, true) : undefined;
  const [keys, values, overlays] = await Promise.all([
    tx.objectStore('log').getAllKeys(after),
    tx.objectStore('log').getAll(after),
    tx.objectStore('overlays').getAll(),
  ]);
  await tx.done;
  return { snapshot, log: keys.map((seq, i) => [seq, values[i]]), overlays };
}

/**
 * Append bundles to the log and rewrite changed overlays, in ONE transaction; resolves when
 * IndexedDB reports it complete. `strict` durability: the data is flushed to disk before
 * `complete`, so a saved (or staged) edit survives a tab close, a browser crash and (where the
 * OS honours flushes) a power cut. An overlay commit (its bundle appended, the overlay removed)
 * is therefore all or nothing.
 * @param {Array<[number, Uint8Array]>} items log records
 * @param {Map<string, Uint8Array|null>} overlays overlay id -> journal record, or null to delete
 */
export async function persist(db, items, overlays = new Map()) {
  const tx = db.transaction(['log', 'overlays'], 'readwrite', { durability: 'strict' });
  const log = tx.objectStore('log');
  for (const [seq, wire] of items) log.put(wire, seq);
  const store = tx.objectStore('overlays');
  for (const [id, data] of overlays) {
    if (data) store.put(data, id);
    else store.delete(id);
  }
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
