// Reading the workspace this tab is opening while Python starts. The page names it in the worker's
// address (`worker.js?open=<id>`, js/main.js), so the read begins as the worker starts: the page's
// "open this workspace" would only arrive once the worker's thread is free of Python's start, and the
// stored workspace (tens of megabytes for a 100k-op workspace) would then be read after it.
//
// The workspace's Web Lock is taken first (if free), exactly as opening it would: no other tab writes
// it between this read and the moment the host takes it over (host.js `open`), so what was read is
// what is stored. If the lock is taken, another tab owns the workspace and nothing is read (this tab
// will be its client). If the page does not open this workspace after all, `drop` gives the lock back.
import { openAppDb, openWorkspaceDb, readForStartup } from './store.js';

/**
 * @typedef {{db: any, stored: object, release: () => void, startedAt: number, readAt: number, steps: object}} Preread
 *   `startedAt`/`readAt` are this worker's performance.now() when the read started and ended.
 */

/** Whether this browser has an identity and the workspace (otherwise the page never opens it here). */
async function openable(id) {
  const app = await openAppDb();
  try {
    const [identity, entry] = await Promise.all([app.get('settings', 'identity'), app.get('workspaces', id)]);
    return Boolean(identity && entry);
  } finally {
    app.close();
  }
}

/** The lock if it is free now: resolves to its release function, or null if another tab holds it. */
function lockIfFree(name) {
  return new Promise((resolve, reject) => {
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) {
        resolve(null);
        return undefined;
      }
      return new Promise((release) => resolve(release));
    }).catch(reject);
  });
}

export class Preopen {
  /** Starts at once: checks, takes the lock, reads. `result` resolves to a Preread or null (never rejects). */
  constructor(id) {
    this.id = id;
    this.claimed = false;
    this.dropped = false;
    this.result = this.read().catch((err) => {
      console.warn('[preopen]', err);
      return null;
    });
  }

  async read() {
    const steps = {}; // epoch ms of each step (bench/opening_bench.py's breakdown)
    const stamp = (name) => { steps[name] = performance.timeOrigin + performance.now(); };
    const startedAt = performance.now();
    if (!(await openable(this.id))) return null;
    stamp('checked');
    // the lock and the database are asked for together: each answer waits for a free moment of this
    // thread, which Python's start keeps busy for seconds at a time
    const opening = openWorkspaceDb(this.id);
    opening.catch(() => {}); // awaited below
    const release = await lockIfFree(`openprod-ws-${this.id}`);
    stamp('locked');
    let db = null;
    try {
      db = await opening;
      if (!release || this.dropped) throw new Error('not read');
      const stored = await readForStartup(db);
      stamp('read');
      if (this.dropped) throw new Error('dropped');
      return { db, stored, release, startedAt, readAt: performance.now(), steps };
    } catch (err) {
      if (db) db.close();
      if (release) release();
      if (this.dropped || !release) return null;
      throw err;
    }
  }

  /** The host opening this workspace takes the read and the lock (resolves to null if there is none). */
  claim() {
    if (this.dropped) return Promise.resolve(null);
    this.claimed = true;
    return this.result;
  }

  /** The page opens something else: the lock goes back and the read is forgotten. */
  drop() {
    if (this.claimed || this.dropped) return;
    this.dropped = true;
    this.result.then((pre) => {
      if (!pre) return;
      pre.db.close();
      pre.release();
    });
  }
}
