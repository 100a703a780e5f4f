// While Python starts (about 3 s in Chromium here, 8-10 s in WebKit), the last grid this workspace
// showed is drawn at once from a copy kept in IndexedDB (worker.js writes it after each grid read),
// read-only and labelled as such. A cell edit typed meanwhile is not lost and not refused: it is
// written to the workspace's `pending` store (strict durability, so it survives the tab being closed
// the next instant) and the header says it is kept, not saved. Once the workspace is open, the tab
// that owns it applies the queue in order (worker/host.js `applyQueued`), each edit removed in the same
// transaction as the bundle it became; an edit the core refuses is reported in words. Everything else
// (new records, paste, import, staging, undo) is refused with a sentence: it needs the app running.
import { h, mount } from './ui/dom.js';
import { renderTable } from './ui/table.js';
import { openAppDb, queueEdit, readDisplayName, readOpening } from './worker/store.js';

export const OPENING_WORDS = 'Opening… You can look around. Cell edits you type now are kept and saved in a moment; '
  + 'everything else works once it has opened.';

/** Refused while opening: the message says what to do. */
export class StillOpening extends Error {
  constructor() {
    super('Openprod is still opening: try again in a moment. (Cell edits typed now are kept.)');
    this.name = 'StillOpening';
  }
}

/** The route's workspace and table, if it is a grid (or the workspace itself): {workspace, table}. */
function gridRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'w' || !parts[1]) return null;
  if (parts.length === 2) return { workspace: parts[1], table: null };
  if (parts[2] === 't' && parts[3] && parts.length === 4) return { workspace: parts[1], table: parts[3] };
  return null;
}

/**
 * The opening screen: `app` gets a `preview` that `read`/`write` consult (cached rows; queued cell
 * edits) until `leave()`. Resolves to the preview, or null when there is nothing to show. `kept`: the
 * read of the kept screen main.js started ({id, found}), if any.
 */
export async function showOpening(app, kept = null) {
  const route = gridRoute(location.hash);
  if (!route) return null;
  let found = null;
  const named = readDisplayName().catch(() => null); // read beside the screen, not after it
  try {
    const early = kept ? await kept : null; // main.js starts the read while the page's modules load
    found = early && early.id === route.workspace ? early.found : await readOpening(route.workspace);
  } catch (err) {
    console.warn('[opening]', err);
    return null;
  }
  performance.mark('openprod-screen-read'); // the kept screen is read (bench breakdown)
  const screen = found && found.screen;
  if (!screen || (route.table && screen.table !== route.table)) return null;
  const table = screen.info.tables.find((t) => t.id === screen.table);
  if (!table) return null;

  const name = await named;
  if (name && !app.identity) {
    app.identity = { display_name: name };
    app.showIdentity();
  }
  const preview = new Opening(app, route.workspace, screen, found.queued);
  app.preview = preview;
  app.ws = { id: route.workspace, info: screen.info, role: 'opening' };
  document.getElementById('ws-title').textContent = screen.info.name;
  document.body.classList.add('in-workspace', 'previewing');
  app.sidebar.hidden = false;
  document.getElementById('sidebar-toggle').hidden = false;
  app.showSidebar(app.sidebarWanted());
  app.renderSidebar(table.id);
  await app.refreshStorageFirst(); // its banner first: nothing moves later
  const notice = h('p', { class: 'opening-notice', role: 'status' }, OPENING_WORDS);
  preview.notice = notice;
  app.screen = await renderTable({ main: app.main, table, app, view: app.view(table.id) });
  app.main.prepend(notice);
  if (app.screen.onStatus) app.screen.onStatus(); // the grid fits the room the notice left
  app.status.queued = found.queued;
  app.status.render();
  document.getElementById('opening-status').hidden = true;
  document.body.dataset.opening = 'preview';
  performance.mark('openprod-first-screen'); // bench: the first screen a person sees, before Python is up
  return preview;
}

class Opening {
  constructor(app, workspace, screen, queued) {
    this.app = app;
    this.workspace = workspace;
    this.screen = screen;
    this.queued = queued;
    this.notice = null;
  }

  read(method, args) {
    if (method === 'rows' && args && args.table === this.screen.table) return Promise.resolve(this.screen.data);
    return Promise.reject(new StillOpening());
  }

  /** A cell edit is kept (durably) for when the app is ready; anything else is refused. */
  async write(method, args) {
    if (method !== 'set_cell') throw new StillOpening();
    const row = this.screen.data.rows.find((r) => r.id === args.record);
    const field = this.screen.data.fields.find((f) => f.id === args.field);
    const first = this.screen.data.fields[0];
    const name = row && first ? row.values[first.id] : null;
    const label = `${name === null || name === undefined || name === '' ? 'a record' : name} › ${field ? field.display_name : args.field}`;
    await queueEdit(this.workspace, { method, args, label, at: Date.now() });
    if (row) row.values[args.field] = args.value; // shown as typed; the worker checks it when it applies it
    const flags = this.screen.data.flags || (this.screen.data.flags = {});
    const rowFlags = flags[args.record] || (flags[args.record] = { new: false, fields: {} });
    rowFlags.fields[args.field] = { ...(rowFlags.fields[args.field] || {}), queued: true };
    this.queued += 1;
    this.app.status.queued = this.queued;
    this.app.status.render();
    return { value: args.value, queued: true };
  }

  /** The app is ready: wait for a cell being typed in to be finished (kept), then step aside. */
  async leave() {
    const grid = this.app.screen && this.app.screen.grid;
    if (grid && grid.editing) {
      mount(this.notice, 'Ready. Finish the cell you are typing in (Enter saves it) to start editing everything.');
      await new Promise((resolve) => {
        const check = setInterval(() => {
          if (!grid.editing) {
            clearInterval(check);
            resolve();
          }
        }, 100);
      });
    }
    document.body.classList.remove('previewing');
    // still the copy on screen until the app draws its own (app.js routeNow): tests wait for that
    document.body.dataset.opening = 'replacing';
    if (this.app.preview === this) this.app.preview = null;
  }
}

// Opening never stays silent. It takes seconds (Python's start: 8-10 s in WebKit); past SLOW_MS the
// screen says what is happening and what to do, and says it again every SLOW_MS until it has opened.
export const SLOW_MS = 20000;
const ANSWER_MS = 8000; // a read of a few bytes: seconds late only when storage has stopped answering
export const OPENING_STATUS = 'Opening the workspace…';
export const SLOW_WORDS = 'Still opening: this is taking longer than usual. Your work is kept on this device. '
  + 'If nothing changes in a minute, reload the page.';
export const STUCK_WORDS = 'This browser\'s storage has stopped answering, so the workspace cannot open. Your work '
  + 'is still kept on this device. Reloading the page will not help: quit the browser completely (close all its '
  + 'windows; on an iPad, swipe it away in the app switcher), then open Openprod again.';

/** Opening's reads of the app database (the identity, the workspace's entry), in one transaction: it
 * waits if either store is stuck (WebKit's fault leaves the stores a stuck transaction held waiting). */
async function readBoth(id) {
  const db = await openAppDb();
  try {
    const tx = db.transaction(['settings', 'workspaces'], 'readonly');
    await Promise.all([tx.objectStore('settings').get('identity'), tx.objectStore('workspaces').get(id)]);
    await tx.done;
  } finally {
    db.close();
  }
}

/** What `promise` (which never rejects) gives within `ms`, else `late`. */
function within(promise, ms, late) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(late), ms);
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Whether `read` (a promise) settles within `ms`: an error is an answer too. */
const answersWithin = (read, ms) => within(read.then(() => true, () => true), ms, false);

/** Whether a test holds Python back on purpose (worker/api.js engineHeld; test builds), else false. */
const heldOnPurpose = (app, answerMs) => within(
  Promise.resolve(app.api && app.api.engineHeld()).then((held) => held === true, () => false), answerMs, false);

/**
 * Shorter SLOW_MS and ANSWER_MS for the browser tests, in TEST builds only (build.py --debug-peer):
 * `?opening-ms=SLOW,ANSWER` lets a test see the stuck words without waiting out 28 s for each look
 * (tests/browser/test_opening_stuck.py). Without it nothing is read; a normal build keeps the defaults.
 */
async function testTimes(asked, defaults) {
  const [slowMs, answerMs] = asked.split(',').map(Number);
  if (!(slowMs > 0 && answerMs > 0)) return defaults;
  try {
    const info = await fetch(new URL('../build-info.json', import.meta.url), { cache: 'no-cache' }).then((r) => r.json());
    return info.debug_peer === true ? { slowMs, answerMs } : defaults;
  } catch {
    return defaults;
  }
}

/**
 * Watch the opening of workspace `id` (app.js): past SLOW_MS, the opening screen says it is slow, or
 * that storage stopped answering (WebKit can leave the app database unable to run a transaction: see
 * worker/store.js SerialDb) and what to do. Returns stop(), called once it has opened or failed.
 */
export function watchOpening(app, id) {
  let stopped = false;
  let timer = null;
  const say = (kind, words) => {
    if (stopped) return;
    document.body.dataset.openingStuck = kind;
    const status = document.getElementById('opening-status');
    if (app.preview && app.preview.notice) mount(app.preview.notice, words);
    else {
      status.textContent = words;
      status.hidden = false;
      status.dataset.stuck = kind;
    }
  };
  let reading = null; // a read still unanswered is waited for again, not joined by another connection
  let times = { slowMs: SLOW_MS, answerMs: ANSWER_MS };
  const check = async () => {
    // a test holding Python back (test builds only) keeps opening waiting on purpose: not slow
    if (await heldOnPurpose(app, times.answerMs)) {
      if (!stopped) timer = setTimeout(check, times.slowMs);
      return;
    }
    reading ??= readBoth(id).finally(() => { reading = null; });
    const answers = await answersWithin(reading, times.answerMs);
    if (stopped) return;
    if (answers) say('slow', SLOW_WORDS);
    else say('storage', STUCK_WORDS);
    timer = setTimeout(check, times.slowMs);
  };
  const start = (chosen) => {
    times = chosen;
    if (!stopped) timer = setTimeout(check, times.slowMs);
  };
  const asked = new URLSearchParams(location.search).get('opening-ms'); // TEST-ONLY: see testTimes
  if (asked === null) start(times);
  else testTimes(asked, times).then(start);
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (!document.body.dataset.openingStuck) return;
    delete document.body.dataset.openingStuck;
    const status = document.getElementById('opening-status');
    status.textContent = OPENING_STATUS;
    delete status.dataset.stuck;
  };
}
