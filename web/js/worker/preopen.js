// Reading the workspace a tab is opening while Python starts, on the page's thread.
//
// Python's start keeps the worker's thread busy for seconds at a time (Pyodide's start, then the
// imports), and every step of an IndexedDB read (the lock granted, the database opened, each value
// delivered) waits for a free moment of the thread that asked: read by the worker, a 48 MB workspace
// arrived only after the imports. The page's thread is free once the kept screen is drawn, so the page
// reads (`handOver`, from js/main.js) and hands the values to the worker in one message (their buffers
// transferred, not copied); the worker (`Preopen`, from js/worker.js, which the page names the workspace
// to: `worker.js?open=<id>`) takes that one message at its first free moment.
//
// The workspace's Web Lock is taken by the page first, if free, exactly as opening it would: no other
// tab writes the workspace between this read and the moment the host takes it over (host.js `open`),
// so what was read is what is stored. The page holds the lock for the worker (both live and die with
// the tab) until the worker says to let it go (its host closes, or it did not open that workspace). If
// the lock is taken, another tab owns the workspace: nothing is read (this tab will be its client).
import { openAppDb, openWorkspaceDb, readForStartup } from './store.js';

const KIND = 'openprod-preread';
const held = new Set(); // the releases of locks this page holds for its worker, from the moment each is granted
let left = false; // the page has let its worker go: a read still under way stops and lets its lock go

/**
 * Let go of every lock this page holds for its worker, now: the worker has been ended (js/main.js, on
 * `pagehide`). A lock granted during a read counts too (the page may be frozen before the read ends).
 */
export function letGoNow() {
  left = true;
  for (const release of held) release();
  held.clear();
}
const now = () => performance.timeOrigin + performance.now();

/**
 * @typedef {{db: any, stored: object, release: () => void, startedAt: number, readAt: number, steps: object}} Preread
 *   `startedAt`/`readAt` are this worker's performance.now() when the read started and ended.
 */

/** Whether this browser has an identity and the workspace (otherwise the page never opens it here). */
async function openable(id, steps) {
  const app = await openAppDb();
  steps.appOpened = now();
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

/** Every buffer in what was read, to transfer rather than copy. */
function buffers(stored) {
  const found = new Set();
  const add = (value) => { if (value && value.buffer instanceof ArrayBuffer) found.add(value.buffer); };
  if (stored.snapshot) add(stored.snapshot.data);
  for (const [, wire] of stored.log) add(wire);
  for (const row of stored.overlays) add(row);
  for (const row of stored.overlayOps) add(row);
  return [...found];
}

/**
 * The page's half: read workspace `id` under its lock and post it to `worker` (always posts once, with
 * `stored: null` if nothing was read). The lock is held until the worker answers on the port.
 */
export async function handOver(id, worker) {
  const steps = { start: now() };
  if (window.openprodOpening) window.openprodOpening.push([Math.round(performance.now()), 'page reads it', steps]);
  const channel = new MessageChannel();
  let release = null;
  let db = null;
  let message = { kind: KIND, id, stored: null, steps };
  let transfer = [];
  try {
    if (await openable(id, steps)) {
      steps.checked = now();
      release = await lockIfFree(`openprod-ws-${id}`);
      steps.locked = now();
      if (release) held.add(release);
      if (release && !left) {
        db = await openWorkspaceDb(id);
        const stored = await readForStartup(db);
        steps.read = now();
        message = { kind: KIND, id, stored, steps };
        transfer = buffers(stored);
      }
    }
  } catch (err) {
    console.warn('[preread]', err);
    message = { kind: KIND, id, stored: null, steps };
  } finally {
    if (db) db.close();
  }
  if (release && left) {
    held.delete(release);
    release();
    return; // the worker is gone: nothing to hand over
  }
  if (release && message.stored) {
    channel.port1.onmessage = () => {
      channel.port1.close();
      held.delete(release);
      release();
    };
  } else if (release) {
    held.delete(release);
    release();
  }
  worker.postMessage({ ...message, port: channel.port2 }, [channel.port2, ...transfer]);
}

/** Whether a message the worker received is the page's hand-over (not for Comlink; js/worker.js checks the same). */
export const isHandOver = (data) => Boolean(data && data.kind === KIND);

/** The worker's half: `handOver` resolves to the page's message about workspace `id` (js/worker.js). */
export class Preopen {
  constructor(id, handOver) {
    this.id = id;
    this.claimed = false;
    this.dropped = false;
    const startedAt = performance.now();
    /** @type {Promise<Preread|null>} */
    this.result = handOver.then(async (data) => {
      const port = data.port || null; // none if the page could not even load this module
      const release = () => {
        if (!port) return;
        port.postMessage('release');
        port.close();
      };
      if (!data.stored || data.id !== id) {
        release(); // the page has let the lock go already if it read nothing; if not, it does now
        return null;
      }
      // the host's own connection: opened once the read is here (not beside the page's reads at the start)
      const db = openWorkspaceDb(id);
      try {
        const opened = await db;
        if (this.dropped) throw new Error('dropped');
        const steps = { ...data.steps, handed: now() };
        return { db: opened, stored: data.stored, release, startedAt, readAt: performance.now(), steps };
      } catch (err) {
        db.then((d) => d.close(), () => {});
        release();
        if (!this.dropped) console.warn('[preread]', err);
        return null;
      }
    });
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
