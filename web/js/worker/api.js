// What the worker behind every Openprod tab does (js/worker.js starts Python, then loads this): keeps
// the identity and the list of workspaces in IndexedDB, and hosts the open workspace (see host.js).
// The page talks to it through Comlink; nothing here waits on the network.
import * as Comlink from '../../vendor/comlink.mjs';
import { SerialDb, updateSyncConfigFor, writeScreen } from './store.js';
import { ApiError, DEFAULT_POLICY, WorkspaceHost } from './host.js';
import { RelayError, parseInvite, postSigned } from './relayapi.js';
import { SYNC_POLICY } from './sync.js';
import { Preopen, isHandOver } from './preopen.js';
import { SCREEN_SHOWN } from './python.js';

let pythonBoot = null;
let preopen = null; // the workspace named in the worker's address, as the page read it while Python started (preopen.js)
let hold = null; // TEST-ONLY (--debug-peer builds): Python starts once the test lets it (api.releaseEngine)
const python = () => pythonBoot;
// the app database, one transaction at a time (store.js SerialDb: a WebKit fault leaves it stuck otherwise)
const appStore = new SerialDb();
const app = async () => appStore;
let host = null;
let listener = null;
let recoveryWords = null; // the words of a workspace just created, until the page takes them
let unanswered = null; // {workspace, made}: a recovery sent whose answer never came (memory only), asked again as is
const policy = { ...DEFAULT_POLICY, ...SYNC_POLICY };
// What this tab's page can do for the worker (workers never have RTCPeerConnection; the page may not either:
// WebKitGTK is built without WebRTC). Told by the page before it opens a workspace.
const capabilities = { rtc: true };
// The relay answers a join without a key exactly as one with a wrong key (one answer for every bad key).
const NEEDS_KEY = 'Joining this workspace needs an access key (or it is not on this relay yet). Ask the person who '
  + 'invited you for a key and type it under “Access key”.';
const identityChannel = new BroadcastChannel('openprod-identity');

function emit(type, detail) {
  if (listener) listener(type, detail).catch?.(() => {});
}

async function identityJson() {
  const text = await (await app()).get('settings', 'identity');
  if (!text) throw new ApiError({ type: 'IdentityError', message: 'choose a display name first' });
  return text;
}

function publicIdentity(text) {
  const data = JSON.parse(text);
  return { display_name: data.display_name, actor_id: data.actor_id, created_at: data.created_at };
}

identityChannel.onmessage = (event) => {
  const name = event.data && event.data.display_name;
  if (!name) return;
  if (host) host.setDisplayName(name);
  emit('identity', { display_name: name });
};

// The steps of the latest openWorkspace, [ms since the worker started, step] (stats(): a test that finds
// a tab stuck opening says where it stopped).
const openingSteps = [];
const opened = (step) => { openingSteps.push([Math.round(performance.now()), step]); };

/** The early read of `id` if it is the one being opened (the host takes it); any other is given back. */
function takePreopen(id) {
  const pre = preopen;
  preopen = null;
  if (!pre) return null;
  if (pre.id === id) return pre.claim();
  pre.drop();
  return null;
}

async function closeHost() {
  takePreopen(null);
  if (host) {
    const old = host;
    host = null;
    await old.close();
  }
}

// The last grid shown, kept so the next start can show it at once while Python starts (js/opening.js).
// Written just after a grid read, at most once every SCREEN_EVERY_MS: the page re-reads the grid ~50 ms
// after each edit, so that is when the next edit is least likely to come (at a person's pace); a read
// that comes sooner is written once the reads stop for SCREEN_QUIET_MS. A timer firing 0.5-2 s after a
// read met the next edit at any moment: that edit's append then waited for the whole copy in WebKit
// (docs/benchmarks.md, session 11, helper grid11).
const SCREEN_EVERY_MS = 2000;
const SCREEN_AFTER_READ_MS = 100;
const SCREEN_QUIET_MS = 1500;
const screen = { info: null, latest: null, timer: null, writing: false, at: 0 };

function rememberScreen(id, method, args, result) {
  if (method === 'info') screen.info = { id, info: result };
  else if (method === 'rows' && screen.info && screen.info.id === id) {
    screen.latest = { id, value: { table: args.table, info: screen.info.info, data: result, savedAt: Date.now() } };
    scheduleScreenCopy();
  }
}

/** Write `screen.latest` after a pause: SCREEN_AFTER_READ_MS after a read, at most one copy per SCREEN_EVERY_MS. */
function scheduleScreenCopy() {
  clearTimeout(screen.timer);
  const since = Date.now() - screen.at;
  const wait = since >= SCREEN_EVERY_MS ? SCREEN_AFTER_READ_MS : Math.max(SCREEN_QUIET_MS, SCREEN_EVERY_MS - since);
  screen.timer = setTimeout(writeLatestScreen, wait);
}

async function writeLatestScreen() {
  screen.timer = null;
  if (screen.writing) return; // one copy at a time: a newer read is written after this one
  screen.writing = true;
  const latest = screen.latest;
  try {
    // the tab keeping the workspace writes on its own connection, between log writes (host.keepScreen)
    const kept = host && host.id === latest.id ? await host.keepScreen(latest.value) : false;
    if (!kept) await writeScreen(latest.id, latest.value);
  } catch (err) {
    console.warn('[screen cache]', err);
  } finally {
    screen.at = Date.now();
    screen.writing = false;
  }
  if (screen.latest !== latest && !screen.timer) scheduleScreenCopy(); // a newer read waited for this copy
}

// The name each workspace's entry was last written with here: a screen's 'info' rewrites the entry
// only when the name changed (it was every 'info': a write to the app database per screen drawn).
const namesWritten = new Map();

async function touchWorkspace(id, name) {
  const written = await appStore.update('workspaces', id, (entry = { id, createdAt: Date.now() }) => (
    { ...entry, name: name ?? entry.name, openedAt: Date.now() }));
  namesWritten.set(id, written.name);
}

const api = {
  /** Register the page's event callback: (type, detail) for 'changed', 'role', 'identity', 'snapshot',
   * 'progress' ({kind, done, total} during a CSV import), 'sync' (the sync status), 'rtc' (commands for
   * the page's WebRTC bridge, js/rtc.js) and 'error'. */
  subscribe(callback) {
    listener = callback;
  },

  /** What the page offers: {rtc: typeof RTCPeerConnection !== 'undefined'}. Without WebRTC, sync uses the
   * relay's WebSocket only and says so. */
  setCapabilities(found) {
    capabilities.rtc = Boolean(found && found.rtc);
    if (host && host.sync) host.sync.capabilitiesChanged();
    return { ...capabilities };
  },

  /** Resolves with Python's boot timings once it has started (js/worker.js starts it with the worker;
   * with `?hold-engine` in --debug-peer builds only, it waits for `releaseEngine()`). */
  async boot() {
    return (await python()).timings;
  },

  /** Keep the Pyodide start snapshot this start made, if any (worker/python.js): the page calls it once
   * the app is interactive, so writing ~30 MB to IndexedDB is not in the way of opening. */
  async keepStartSnapshot() {
    return (await python()).keepStartSnapshot();
  },

  /** TEST-ONLY: let a held Python start (see boot). */
  releaseEngine() {
    if (hold) hold.release();
    hold = null;
  },

  /** TEST-ONLY: whether Python is held back on purpose (`?hold-engine`): opening is then slow by design,
   * and the page's watch (js/opening.js) does not call it stuck. */
  engineHeld() {
    return Boolean(hold);
  },

  /** Apply the cell edits typed while the app was opening (in the tab that owns the workspace). */
  async applyQueued() {
    if (!host) throw new ApiError({ type: 'LocalError', message: 'no workspace is open' });
    return host.call('queued:apply', {});
  },

  async identity() {
    const text = await (await app()).get('settings', 'identity');
    return text ? publicIdentity(text) : null;
  },

  /** First run: generate the Ed25519 key pair with WebCrypto. Later: rename (seen on the next change). */
  async saveIdentity(displayName) {
    const py = await python();
    const db = await app();
    const current = await db.get('settings', 'identity');
    const text = current ? py.web.rename_identity(current, displayName) : await py.web.new_identity(displayName);
    await db.put('settings', text, 'identity');
    const pub = publicIdentity(text);
    if (host) host.setDisplayName(pub.display_name);
    identityChannel.postMessage({ display_name: pub.display_name });
    return pub;
  },

  async listWorkspaces() {
    const all = await (await app()).getAll('workspaces');
    return all.sort((a, b) => (b.openedAt || 0) - (a.openedAt || 0));
  },

  /** Create a workspace (offline), adopt the chosen starter modules, and open it as owner. */
  async createWorkspace(name, modules, template = '') {
    const identity = await identityJson();
    const py = await python();
    await closeHost();
    await py.loadExtras(); // mnemonic, for the recovery words
    const session = await py.web.Session.create_with_recovery(identity, name, template ? [] : modules, template);
    recoveryWords = session.take_recovery_words(); // held here until the page takes them, once
    const info = JSON.parse(await session.call('info', '')).ok;
    const created = new WorkspaceHost({ id: info.workspace_id, python, identity: identityJson, emit, policy, capabilities });
    await created.adoptNew(session);
    host = created;
    await touchWorkspace(info.workspace_id, info.name);
    return info.workspace_id;
  },

  /**
   * A copy of the open workspace as it is now, without its history (openprod.fork): a new workspace
   * owned by this person, with its own recovery words; the original gets a signed note naming it.
   * Opens the copy; resolves to its id.
   */
  async forkWorkspace(name) {
    if (!host || !host.session || host.role !== 'owner') {
      throw new ApiError({ type: 'LocalError', message: 'Open the workspace in this tab (and close it in other tabs) to copy it.' });
    }
    const py = await python();
    await py.loadExtras(); // mnemonic, for the copy's recovery words
    const session = await py.web.Session.fork_of(host.session, name || '');
    const info = JSON.parse(await session.call('info', '')).ok;
    const origin = JSON.parse(await session.call('provenance', '')).ok.forked_from;
    await host.call('note_fork', { fork: info.workspace_id, state_hash: origin.state_hash }); // stored like any write
    await closeHost();
    recoveryWords = session.take_recovery_words();
    const copy = new WorkspaceHost({ id: info.workspace_id, python, identity: identityJson, emit, policy, capabilities });
    await copy.adoptNew(session);
    host = copy;
    await touchWorkspace(info.workspace_id, info.name);
    return info.workspace_id;
  },

  /** The open workspace as a template file: {data: Uint8Array, bytes, fileName}. */
  async saveTemplate(withRecords = true) {
    if (!host) throw new ApiError({ type: 'LocalError', message: 'no workspace is open' });
    const out = await host.call('template', { with_records: Boolean(withRecords) });
    const data = Uint8Array.from(atob(out.data), (c) => c.charCodeAt(0));
    const safe = (out.name || 'workspace').replace(/[^\p{L}\p{N} _-]+/gu, '').trim().replace(/\s+/g, '-') || 'workspace';
    return { data, bytes: out.bytes, fileName: `${safe}.openprod-template` };
  },

  /** The recovery words of the workspace just created, once (null afterwards): never stored. */
  takeRecoveryWords() {
    const words = recoveryWords;
    recoveryWords = null;
    return words;
  },

  /** Open a workspace stored in this browser; resolves to this tab's role: 'owner' or 'client'. */
  async openWorkspace(id) {
    if (host && host.id === id && host.role !== 'closed') return host.role;
    openingSteps.length = 0;
    opened('asked');
    const preread = takePreopen(id);
    opened(preread ? 'the page is reading it' : 'no read by the page');
    await closeHost();
    const apps = await app();
    opened('app database open');
    const known = await apps.get('workspaces', id);
    opened(known ? 'known here' : 'not stored here');
    if (!known) {
      if (preread) preread.then((pre) => pre && (pre.db.close(), pre.release()));
      throw new ApiError({ type: 'NotFoundError', message: 'this workspace is not stored in this browser' });
    }
    host = new WorkspaceHost({ id, python, identity: identityJson, emit, policy, capabilities, preread, step: opened });
    let role;
    try {
      role = await host.open();
    } catch (err) {
      const failed = host;
      host = null;
      await failed.close();
      throw err;
    }
    await touchWorkspace(id);
    return role;
  },

  async closeWorkspace() {
    await closeHost();
  },

  /** The page shows no workspace (its address named none, or no identity yet): the early read of the
   * one named in the worker's address is given back, lock and all. */
  forgetOpening() {
    takePreopen(null);
  },

  /**
   * Join a workspace a relay serves: `invite` is the invitation link (or the workspace id, on this
   * page's relay), `code` the access key if the owner gave one. The relay is asked first (a signed
   * request); only if it says yes is an empty replica created here, which sync then fills.
   * Resolves to {workspace, via}; a refusal is an Error in plain words and stores nothing. Where the owner
   * lets people in one by one, resolves to {workspace, pending: true, name}, also storing nothing.
   */
  async joinWorkspace({ invite, code }) {
    const identity = await identityJson();
    const { relay, workspace } = parseInvite(invite, self.location.origin);
    const py = await python();
    const body = await py.web.join_request(identity, workspace, String(code || '').trim());
    let result;
    try {
      result = await postSigned(relay, 'join', body);
    } catch (err) {
      if (err instanceof RelayError) {
        // No key typed: say that one is needed, not that "that access key" (none) is wrong.
        const message = err.code === 'invalid_access_key' && !String(code || '').trim() ? NEEDS_KEY : err.message;
        throw new ApiError({ type: 'JoinError', message });
      }
      throw err;
    }
    if (result.pending) return { workspace, pending: true, name: result.name };
    const db = await app();
    const known = await db.get('workspaces', workspace);
    const changes = { relay, joined: true, paused: false };
    if (known && host && host.id === workspace && host.sync && host.sync.hub) {
      await host.sync.saveConfig(changes);
      host.sync.retryNow();
      return { workspace, via: result.via };
    }
    await updateSyncConfigFor(workspace, changes);
    if (known) return { workspace, via: result.via };
    await closeHost();
    const session = await py.web.Session.join(identity, workspace);
    const joined = new WorkspaceHost({ id: workspace, python, identity: identityJson, emit, policy, capabilities });
    await joined.adoptNew(session);
    host = joined;
    await touchWorkspace(workspace, '');
    return { workspace, via: result.via };
  },

  /**
   * Recover ownership with the workspace's recovery words (a lost laptop): the relay checks a proof
   * signed with the key the words stand for and makes this person the owner (and a member); only then
   * is anything stored here. The signed change of owner goes into the workspace itself once this copy
   * has it (the sync engine's `finishRecovery`, remembered across reloads). New words, shown once, are
   * handed to the page by `takeRecoveryWords`; the old ones open nothing from now on.
   * Words that are not recovery words, or that do not open this workspace, are an Error in plain
   * words, and nothing changes here or on the relay.
   */
  async recoverOwnership({ invite, words }) {
    const identity = await identityJson();
    let parsed;
    try {
      parsed = parseInvite(invite, self.location.origin);
    } catch (err) {
      if (err instanceof RelayError) throw new ApiError({ type: 'RecoveryError', message: err.message });
      throw err;
    }
    const { relay, workspace } = parsed;
    const py = await python();
    await py.loadExtras(); // mnemonic, for the words
    const again = unanswered && unanswered.workspace === workspace ? JSON.stringify(unanswered.made) : '';
    const made = JSON.parse(await py.web.recovery_request(identity, workspace, String(words || ''), again));
    if (made.error) throw new ApiError({ type: 'RecoveryError', message: made.error });
    unanswered = { workspace, made };
    try {
      await postSigned(relay, 'recover', made.body);
      unanswered = null;
    } catch (err) {
      if (err instanceof RelayError && err.code === 'unreachable') {
        // The relay may have taken the words before the answer was lost: the same request, asked again
        // with the same words, gets the same answer (and the same new words) instead of "used already".
        throw new ApiError({ type: 'RecoveryUnanswered', message: 'The relay did not answer, so this device cannot tell whether it took the words. Check the network, then press Recover ownership again with the same words: asking again does not use them up.' });
      }
      unanswered = null;
      if (err instanceof RelayError && err.code === 'not_allowed') {
        throw new ApiError({ type: 'RecoveryError', message: 'These recovery words do not open this workspace. Check them against the paper you wrote them on: words already used once no longer work.' });
      }
      if (err instanceof RelayError) throw new ApiError({ type: 'RecoveryError', message: err.message });
      throw err;
    }
    const changes = { relay, joined: true, paused: false, recovery: { recovery_key: made.recovery_key, next_key: made.next_key, proof: made.proof } };
    recoveryWords = made.words;
    const known = await (await app()).get('workspaces', workspace);
    if (known && host && host.id === workspace && host.sync && host.sync.hub) {
      await host.sync.saveConfig(changes);
      host.sync.retryNow();
      return { workspace };
    }
    await updateSyncConfigFor(workspace, changes);
    await closeHost();
    if (known) {
      await api.openWorkspace(workspace);
      return { workspace };
    }
    const session = await py.web.Session.join(identity, workspace);
    const joined = new WorkspaceHost({ id: workspace, python, identity: identityJson, emit, policy, capabilities });
    await joined.adoptNew(session);
    host = joined;
    await touchWorkspace(workspace, '');
    return { workspace };
  },

  /** A backup of the open workspace: {data: Uint8Array, bytes, fileName, name, at}. Remembered as its last backup. */
  async exportBackup() {
    if (!host) throw new ApiError({ type: 'LocalError', message: 'no workspace is open' });
    const { data, bytes } = await host.call('backup', {});
    const at = Date.now();
    const entry = await appStore.update('workspaces', host.id, (old = { id: host.id }) => ({ ...old, backupAt: at }));
    const day = new Date(at).toISOString().slice(0, 10);
    const safe = (entry.name || 'workspace').replace(/[^\p{L}\p{N} _-]+/gu, '').trim().replace(/\s+/g, '-') || 'workspace';
    return { data, bytes, fileName: `${safe}-${day}.openprod-backup`, name: entry.name || '', at };
  },

  /**
   * Restore a backup file on this device: checked, then every change verified and applied in an empty
   * replica, which is kept only if it reaches the backup's exact state hash. A workspace already stored
   * here is refused (its data is never touched). Resolves to {workspace, name, bundles}.
   */
  async restoreBackup(data) {
    const identity = await identityJson();
    const py = await python();
    const info = JSON.parse(py.web.read_backup(data));
    if (info.error) throw new ApiError(info.error);
    const { workspace, name } = info.ok;
    if (await (await app()).get('workspaces', workspace)) {
      throw new ApiError({
        type: 'BackupError',
        message: `“${name || 'This workspace'}” is already on this device, so nothing was restored. A backup is `
          + 'for a device that does not have the workspace (or after the browser deleted it).',
      });
    }
    await closeHost();
    const session = await py.web.Session.join(identity, workspace);
    const out = JSON.parse(await session.restore_backup(data));
    if (out.error) {
      session.destroy();
      throw new ApiError(out.error);
    }
    const restored = new WorkspaceHost({ id: workspace, python, identity: identityJson, emit, policy, capabilities });
    await restored.adoptNew(session);
    host = restored;
    await touchWorkspace(workspace, name);
    return { workspace, name, bundles: out.ok.bundles };
  },

  /** The page saw the device go offline or online: sync drops its links at once, or retries now. */
  networkChanged(online) {
    if (host && host.sync) host.sync.networkChanged(Boolean(online));
  },

  /** The page's WebRTC bridge reports on a data channel: 'signal', 'open', 'frames', 'closed'. */
  rtcEvent(link, kind, payload) {
    if (host) host.rtcEvent(link, kind, payload);
  },

  /** Run a core API method (see openprod_web.session.METHODS); writes resolve once durable. */
  async call(method, args) {
    if (!host) throw new ApiError({ type: 'LocalError', message: 'no workspace is open' });
    const result = await host.call(method, args);
    if (method === 'info' && result && namesWritten.get(result.workspace_id) !== result.name) {
      touchWorkspace(result.workspace_id, result.name).catch(() => {}); // renamed (here or by sync)
    }
    if (result) rememberScreen(host.id, method, args, result);
    return result;
  },

  /** Boot timings, the open workspace's figures (host.stats). `resetTurns`: forget the worker turns'
   * timings after reading them (the bench measures one phase at a time). */
  async stats({ resetTurns = false } = {}) {
    const booted = pythonBoot ? await pythonBoot : null;
    const boot = booted ? booted.timings : null;
    // The WebAssembly memory Python lives in (it only grows; bench/memory_bench.py reads it).
    const heap = booted && booted.py._module && booted.py._module.HEAP8;
    const memory = { wasmHeapBytes: heap ? heap.buffer.byteLength : null };
    const out = { boot, memory, workspace: host ? host.stats() : null, policy, workerOrigin: performance.timeOrigin,
      opening: openingSteps, appTransactionsAtOnce: appStore.most };
    if (resetTurns && host) {
      host.turns.resetStats();
      host.splits = [];
    }
    return out;
  },

  /** Take a snapshot now (owner only); resolves with its size and timings. */
  async snapshotNow() {
    if (!host || host.role !== 'owner') throw new Error('only the tab that owns the workspace takes snapshots');
    return host.snapshot();
  },

  /** Change the policy (snapshots, sync's pacing; tests, diagnostics): sync's loop looks at it at once. */
  configure(changes) {
    Object.assign(policy, changes);
    if (host && host.sync) host.sync.kick(false);
    return policy;
  },

  /**
   * TEST-ONLY debug peer (see worker/debug.js): refused unless this bundle was built with
   * `build.py --debug-peer`, which normal builds never are.
   */
  async debugPeer(action, args) {
    const py = await python();
    if (!py.debug) {
      throw new ApiError({ type: 'LocalError', message: 'the debug peer exists only in test builds (build.py --debug-peer)' });
    }
    if (!host || host.role !== 'owner') throw new ApiError({ type: 'LocalError', message: 'open a workspace in this tab first' });
    const { runDebug } = await import('./debug.js');
    return runDebug(host, py, action, args);
  },

  async storageEstimate() {
    const estimate = navigator.storage && navigator.storage.estimate ? await navigator.storage.estimate() : null;
    return estimate ? { usage: estimate.usage, quota: estimate.quota } : null;
  },
};

/**
 * Answer the page. `boot` is Python starting (begun before this module loaded), `held` its test hold,
 * `early` the messages the page sent while this module loaded: replayed first, in order; `opening` the
 * workspace named in the worker's address ({id, handOver}: the page's read of it, preopen.js).
 */
export function serve({ boot, held, early, endpoint, opening = null }) {
  pythonBoot = boot;
  preopen = opening ? new Preopen(opening.id, opening.handOver) : null;
  hold = held;
  const wrapped = new Map(); // Comlink's listener -> the same, skipping the page's hand-over (worker.js takes it)
  const skipHandOver = (fn) => {
    const skip = (data) => isHandOver(data) || Boolean(data && data.kind === SCREEN_SHOWN);
    if (!wrapped.has(fn)) wrapped.set(fn, (event) => { if (!skip(event.data)) fn(event); });
    return wrapped.get(fn);
  };
  Comlink.expose(api, {
    postMessage: (...args) => endpoint.postMessage(...args),
    removeEventListener: (type, fn) => endpoint.removeEventListener(type, skipHandOver(fn)),
    addEventListener: (type, fn) => {
      endpoint.addEventListener(type, skipHandOver(fn));
      if (type === 'message') for (const event of early.splice(0)) fn(event);
    },
  });
}
