// IndexedDB layout. One app database for what is shared by every workspace in this browser, and
// one database per workspace, so a workspace can be removed or exported on its own.
//
//   openprod                  settings: 'identity' -> identity JSON (Ed25519 key + display name)
//                             workspaces: {id, name, createdAt, openedAt}
//   openprod-ws-<uuid>        log: seq -> Uint8Array (one signed bundle's wire bytes), or a run of them
//                                  written together: last seq -> {seqs: [seq...], wires: [Uint8Array...]}
//                             snapshot: 'latest' -> {seq, data: Uint8Array, bytes, takenAt, ms}
//                             overlay_heads: overlay id -> Uint8Array (a staging overlay's own row)
//                             overlay_ops: [overlay id, seq] -> Uint8Array (one staged op row)
//                             sync: 'config' -> {relay, published, joined, joinMode, route, relayTransport, paused}
//                                   'marks' -> {sharedHlc, lastSyncAt, baseline, syncedMark} (see worker/sync.js)
//                             screen: 'last' -> {table, info, data, savedAt}: the last grid shown, so the
//                                   next start can show it while Python starts (read-only; js/opening.js)
//                             pending: n -> {method: 'set_cell', args, label, at}: cell edits typed while the
//                                   app was opening, durable here until applied (deleted in the same
//                                   transaction as the bundle they became: applied exactly once)
//
// The log holds every bundle stored after the latest snapshot; `seq` is the log position the
// Python session gave the bundle when SQLite stored it (commit order). Staged (overlay) edits are
// not bundles: the rows a call changed in an overlay are written to `overlay_heads`/`overlay_ops`
// in the same transaction as the log records of that call (see openprod/overlay_journal.py in the core).
import { openDB, deleteDB } from '../../vendor/idb.js';

const APP_DB = 'openprod';

/**
 * `closed`: called if the browser closes the connection (the database deleted, storage cleared) or a
 * later version wants it (the connection steps aside at once, so an upgrade is never blocked by it).
 * @returns {Promise<import('../../vendor/idb.js').IDBPDatabase>}
 */
export function openAppDb(closed = null) {
  return openDB(APP_DB, 1, {
    upgrade(db) {
      db.createObjectStore('settings');
      db.createObjectStore('workspaces', { keyPath: 'id' });
    },
    blocking(_current, _wanted, event) {
      event.target.close();
      if (closed) closed();
    },
    terminated() {
      if (closed) closed();
    },
  });
}

/**
 * One connection of the worker's, running ONE transaction at a time: the app database's, and on each
 * workspace's database one per writer (below). WebKit (WebKitGTK 2.50 here; Safari's engine: WebKit bug
 * 324094) can leave a database unable to run any transaction when a worker ends (its tab reloaded or
 * closed) while one connection has a readwrite and a readonly transaction in flight, or two readwrite:
 * open() still succeeds, every later transaction waits forever, in every tab, across reloads, until the
 * browser quits. Seen here as a tab stuck on "Opening the workspace…" after a reload; a probe page hit it
 * 2 times in 24 and never with one transaction at a time (docs/web.md). Writers that must run side by
 * side get a connection each (the probe: two connections with one readwrite each, 0 stuck in 10).
 * `open(closed)` opens it (again after the browser closed it or a later version asked it to step aside);
 * `close()` closes it once the transactions queued before it have ended.
 */
export class SerialDb {
  constructor(open = openAppDb) {
    this.open = open;
    this.db = null;
    this.shut = false;
    this.queue = Promise.resolve();
    this.inFlight = 0; // transactions begun and not yet ended (a test checks it never passes 1)
    this.most = 0;
  }

  /** Run `work(store, tx, db)` in a transaction of its own once the one before it has ended; resolves to
   * its result. `store`: the transaction's store if it has one (idb's tx.store). */
  run(storeNames, mode, work, options = undefined) {
    if (this.shut) return Promise.reject(new Error('this connection was closed'));
    const next = this.queue.then(async () => {
      this.db ??= await this.open(() => { this.db = null; });
      const db = this.db;
      const tx = db.transaction(storeNames, mode, options);
      this.inFlight += 1;
      this.most = Math.max(this.most, this.inFlight);
      try {
        const result = await work(tx.store, tx, db);
        await tx.done;
        return result;
      } finally {
        await tx.done.catch(() => {}); // ended (complete or aborted) before the next begins
        this.inFlight -= 1;
      }
    });
    this.queue = next.catch(() => {});
    return next;
  }

  /** Close the connection once what is queued has ended; later calls reject. */
  close() {
    this.shut = true;
    return this.queue.then(() => {
      if (this.db) this.db.close();
      this.db = null;
    });
  }

  get(storeName, key) {
    return this.run(storeName, 'readonly', (store) => store.get(key));
  }

  getAll(storeName) {
    return this.run(storeName, 'readonly', (store) => store.getAll());
  }

  put(storeName, value, key) {
    return this.run(storeName, 'readwrite', (store) => store.put(value, key));
  }

  /** Read the record at `key`, change it with `change(old|undefined)` and write it back, in one transaction. */
  update(storeName, key, change) {
    return this.run(storeName, 'readwrite', async (store) => {
      const value = change(await store.get(key));
      await store.put(value);
      return value;
    });
  }
}

export const workspaceDbName = (id) => `openprod-ws-${id}`;

/** `closed`: as for openAppDb (a later version or a deletion never waits for this connection). */
export function openWorkspaceDb(id, closed = null) {
  return openDB(workspaceDbName(id), 5, {
    blocking(_current, _wanted, event) {
      event.target.close();
      if (closed) closed();
    },
    terminated() {
      if (closed) closed();
    },
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('log');
        db.createObjectStore('snapshot');
      }
      if (db.objectStoreNames.contains('overlays')) db.deleteObjectStore('overlays'); // version 2: one record per overlay
      if (oldVersion < 3) {
        db.createObjectStore('overlay_heads');
        db.createObjectStore('overlay_ops');
      }
      if (oldVersion < 4) db.createObjectStore('sync');
      if (oldVersion < 5) {
        db.createObjectStore('screen');
        db.createObjectStore('pending', { autoIncrement: true });
      }
    },
  });
}

/** A connection of its own to workspace `id`, for one writer (host.js: snapshots and the grid's copy;
 * sync.js: its settings and marks), its transactions one at a time. */
export const writerDb = (id) => new SerialDb((closed) => openWorkspaceDb(id, closed));

/**
 * Readwrite transactions on each workspace database (by its name: the worker's connections to it share
 * the count), by what they write: how many are in flight and how many began so far. A log append that
 * overlaps another write waits for it in WebKit (its IndexedDB commits one writer at a time), so the
 * bench's split reports `overlapped` (docs/benchmarks.md, session 10). `mostOnOneConnection`: the most
 * in flight at once on one connection (WebKit bug 324094: two there can leave the database stuck).
 */
const writers = new Map();
const onConnection = new WeakMap(); // connection -> its readwrite transactions in flight

function writersOf(name) {
  let w = writers.get(name);
  if (!w) {
    w = { inFlight: 0, began: 0, kinds: {}, quiet: [], screenOverlaps: 0, screening: 0, logBehindScreen: 0, mostOnOneConnection: 0 };
    writers.set(name, w);
  }
  return w;
}

/** Count `tx`, a readwrite transaction of `kind` just begun on connection `db`. */
function writing(db, kind, tx) {
  const w = writersOf(db.name);
  const here = (onConnection.get(db) || 0) + 1;
  onConnection.set(db, here);
  w.mostOnOneConnection = Math.max(w.mostOnOneConnection, here);
  w.inFlight += 1;
  w.began += 1;
  w.kinds[kind] = (w.kinds[kind] || 0) + 1;
  if (kind === 'log' && w.screening) w.logBehindScreen += 1;
  if (kind === 'screen') w.screening += 1;
  const end = () => {
    onConnection.set(db, onConnection.get(db) - 1);
    w.inFlight -= 1;
    if (kind === 'screen') w.screening -= 1;
    if (w.inFlight === 0) for (const resolve of w.quiet.splice(0)) resolve();
  };
  tx.done.then(end, end);
  return w;
}

/** Readwrite transactions begun on database `name` in this worker so far, by kind ({log, marks, config,
 * snapshot, trim, screen}); `mostOnOneConnection` (a test checks it stays 1);
 * `screenOverlaps`: screen copies begun while another write was in flight (a test checks it stays 0);
 * `logBehindScreen`: log appends begun while a screen copy was in flight (they wait for it in WebKit). */
export function writesOf(name) {
  const w = writers.get(name);
  if (!w) return {};
  const screen = w.kinds.screen ? { screenOverlaps: w.screenOverlaps, logBehindScreen: w.logBehindScreen } : {};
  return { ...w.kinds, ...screen, mostOnOneConnection: w.mostOnOneConnection };
}

/** Resolves once no readwrite transaction counted by `writing` is in flight on database `name` (at once if none is). */
export function writesEnded(name) {
  const w = writersOf(name);
  return w.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => { w.quiet.push(resolve); });
}

/** Whether a readwrite transaction counted by `writing` is in flight on database `name`. */
export function writesInFlight(name) {
  return writersOf(name).inFlight > 0;
}

const opsOf = (id) => IDBKeyRange.bound([id, -Infinity], [id, Infinity]);

export async function removeWorkspaceDb(id) {
  await deleteDB(workspaceDbName(id));
}

/**
 * Appends of at least this many bundles (a catch-up's) are ONE log record, {seqs, wires} under the run's
 * last seq: Chromium's IndexedDB costs far more per record than per byte (300 records of 1.7 KB: ~15 ms a
 * strict transaction; the same 300 in one record: ~2 ms), so a 100k-op join's 10,000 records took
 * ~0.5 s of waits (docs/benchmarks.md, session 14). A person's edits stay one record per bundle.
 */
export const RUN_RECORDS = 16;

/** The log's records as [seq, wire] in order, a run's bundles spread out; only those after `afterSeq`. */
export function logEntries(keys, values, afterSeq = -Infinity) {
  const out = [];
  for (let i = 0; i < keys.length; i += 1) {
    const value = values[i];
    if (value && Array.isArray(value.seqs)) { // a run: it may hold bundles at or below a snapshot's seq
      for (let j = 0; j < value.seqs.length; j += 1) if (value.seqs[j] > afterSeq) out.push([value.seqs[j], value.wires[j]]);
    } else {
      out.push([keys[i], value]);
    }
  }
  return out;
}

/** Everything start-up needs: the latest snapshot, the log records after it (in order), the overlays. */
export async function readForStartup(db) {
  const tx = db.transaction(['snapshot', 'log', 'overlay_heads', 'overlay_ops'], 'readonly');
  const snapshot = (await tx.objectStore('snapshot').get('latest')) || null;
  const after = snapshot ? IDBKeyRange.lowerBound(snapshot.seq, true) : undefined;
  const [keys, values, overlays, overlayOps] = await Promise.all([
    tx.objectStore('log').getAllKeys(after),
    tx.objectStore('log').getAll(after),
    tx.objectStore('overlay_heads').getAll(),
    tx.objectStore('overlay_ops').getAll(),
  ]);
  await tx.done;
  return { snapshot, log: logEntries(keys, values, snapshot ? snapshot.seq : -Infinity), overlays, overlayOps };
}

/**
 * Append bundles to the log and apply overlay journal changes, in ONE transaction; resolves when
 * IndexedDB reports it complete. `strict` durability: the data is flushed to disk before
 * `complete`, so a saved (or staged) edit survives a tab close, a browser crash and (where the
 * OS honours flushes) a power cut. An overlay commit (its bundle appended, the overlay removed)
 * is therefore all or nothing.
 * @param {Array<[number, Uint8Array]>} items log records
 * @param {Array<[string, string, number|null, Uint8Array|null]>} changes overlay journal changes, in
 *   order: ['head', id, null, row] | ['op', id, seq, row] | ['drop_op', id, seq] | ['drop', id]
 */
export async function persist(db, items, changes = [], applied = []) {
  const stores = changes.length ? ['log', 'overlay_heads', 'overlay_ops'] : ['log'];
  if (applied.length) stores.push('pending');
  const tx = db.transaction(stores, 'readwrite', { durability: 'strict' });
  const w = writing(db, 'log', tx);
  const others = w.inFlight - 1;
  const began = w.began;
  for (const key of applied) tx.objectStore('pending').delete(key);
  const log = tx.objectStore('log');
  const run = items.length >= RUN_RECORDS;
  if (run) { // a catch-up's: one record, under its last seq (RUN_RECORDS)
    log.put({ seqs: items.map(([seq]) => seq), wires: items.map(([, wire]) => wire) }, items[items.length - 1][0]);
  } else {
    for (const [seq, wire] of items) log.put(wire, seq);
  }
  if (changes.length) {
    const heads = tx.objectStore('overlay_heads');
    const ops = tx.objectStore('overlay_ops');
    for (const [kind, id, seq, data] of changes) {
      if (kind === 'head') heads.put(data, id);
      else if (kind === 'op') ops.put(data, [id, seq]);
      else if (kind === 'drop_op') ops.delete([id, seq]);
      else if (kind === 'drop') {
        heads.delete(id);
        ops.delete(opsOf(id));
      }
    }
  }
  await tx.done;
  // other writes in flight at its start or begun during it; the log records written
  return { overlapped: others + (w.began - began), stored: run ? 1 : items.length };
}

/**
 * Store a snapshot, then drop the log records it contains (a run whose last seq is above it stays whole;
 * start-up reads only its bundles after the snapshot). Two transactions: the large snapshot write
 * never holds the `log` store, so an edit's append (its own transaction on `log`) does not queue
 * behind tens of megabytes; both on `conn` (writerDb), not the appends' connection. A crash between the
 * two leaves log records at or below the snapshot's `seq`: start-up reads only the records after it, and
 * the next snapshot trims them.
 */
export async function writeSnapshot(conn, seq, data, meta) {
  await conn.run('snapshot', 'readwrite', (store, tx, db) => {
    writing(db, 'snapshot', tx);
    store.put({ seq, data, bytes: data.byteLength, ...meta }, 'latest');
  }, { durability: 'strict' });
  await conn.run('log', 'readwrite', (store, tx, db) => {
    writing(db, 'trim', tx);
    store.delete(IDBKeyRange.upperBound(seq));
  }, { durability: 'strict' });
}

export async function logCount(db) {
  return db.count('log');
}

/** Queued edits (typed while the app was opening), in the order typed: [[key, edit]]. */
export async function readPending(db) {
  const tx = db.transaction('pending', 'readonly');
  const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
  await tx.done;
  return keys.map((key, i) => [key, values[i]]);
}

const syncOf = async (store) => {
  const [config, marks] = await Promise.all([store.get('config'), store.get('marks')]);
  return { config: config || {}, marks: marks || {} };
};

/** The workspace's sync settings and marks (worker/sync.js): {config, marks}, each {} if never written.
 * `db`: a connection, or a SerialDb (sync's own, writerDb). */
export async function readSync(db) {
  if (db instanceof SerialDb) return db.run('sync', 'readonly', syncOf);
  const tx = db.transaction('sync', 'readonly');
  const out = await syncOf(tx.store);
  await tx.done;
  return out;
}

export async function writeSync(db, key, value) {
  const put = (store, tx, conn) => {
    writing(conn, key, tx);
    store.put(value, key);
  };
  if (db instanceof SerialDb) return db.run('sync', 'readwrite', put, { durability: 'strict' });
  const tx = db.transaction('sync', 'readwrite', { durability: 'strict' });
  put(tx.store, tx, db);
  await tx.done;
  return undefined;
}

/** Merge `changes` into the sync settings of a workspace not open in this worker (joining writes them first). */
export async function updateSyncConfigFor(id, changes) {
  const db = await openWorkspaceDb(id);
  try {
    const { config } = await readSync(db);
    await writeSync(db, 'config', { ...config, ...changes });
  } finally {
    db.close();
  }
}

/** The display name, read straight from IndexedDB (the page, while the worker is busy starting Python). */
export async function readDisplayName() {
  const app = await openAppDb();
  try {
    const text = await app.get('settings', 'identity');
    return text ? JSON.parse(text).display_name : null;
  } finally {
    app.close();
  }
}

/** This browser's record of a workspace ({id, name, createdAt, openedAt, backupAt}), read by the page. */
export async function readWorkspaceEntry(id) {
  const app = await openAppDb();
  try {
    return (await app.get('workspaces', id)) || null;
  } finally {
    app.close();
  }
}

/** Open a workspace's database only if this browser has it (opening would create an empty one). */
async function existingWorkspaceDb(id) {
  const app = await openAppDb();
  try {
    if (!(await app.get('workspaces', id))) return null;
  } finally {
    app.close();
  }
  return openWorkspaceDb(id);
}

/** The last grid shown of a workspace and how many edits wait in its queue, or null (js/opening.js). */
export async function readOpening(id) {
  const db = await existingWorkspaceDb(id);
  if (!db) return null;
  try {
    const tx = db.transaction(['screen', 'pending'], 'readonly');
    const [screen, queued] = await Promise.all([tx.objectStore('screen').get('last'), tx.objectStore('pending').count()]);
    await tx.done;
    return { screen: screen || null, queued };
  } finally {
    db.close();
  }
}

/**
 * Keep the last grid shown (js/opening.js reads it at the next start) on the worker's open connection for
 * background writes (`conn`, writerDb: the snapshots'). The caller begins it only when no other write is
 * in flight (host.js keepScreen): WebKit's IndexedDB commits one writer at a time, and a copy of the grid
 * (hundreds of KB) written beside an edit's log append made that edit wait for it. Relaxed durability: it
 * is a cache.
 */
export async function writeScreenOn(conn, value) {
  await conn.run('screen', 'readwrite', (store, tx, db) => {
    const w = writing(db, 'screen', tx);
    if (w.inFlight > 1) w.screenOverlaps += 1;
    store.put(value, 'last');
  });
}

/** The same, for a tab that does not keep the workspace (its worker has no connection to it). */
export async function writeScreen(id, value) {
  const db = await existingWorkspaceDb(id);
  if (!db) return;
  try {
    const tx = db.transaction('screen', 'readwrite');
    tx.store.put(value, 'last');
    await tx.done;
  } finally {
    db.close();
  }
}

/** Whether the workspace is published or joined (its changes also live on a relay), read by the page. */
export async function readShared(id) {
  const db = await existingWorkspaceDb(id);
  if (!db) return false;
  try {
    const { config } = await readSync(db);
    return Boolean(config.published || config.joined);
  } finally {
    db.close();
  }
}

/** Keep an edit typed while the app opens: resolves once it is on disk (strict durability). */
export async function queueEdit(id, edit) {
  const db = await existingWorkspaceDb(id);
  if (!db) throw new Error('this workspace is not stored in this browser');
  try {
    const tx = db.transaction('pending', 'readwrite', { durability: 'strict' });
    const key = await tx.store.add(edit);
    await tx.done;
    return key;
  } finally {
    db.close();
  }
}
