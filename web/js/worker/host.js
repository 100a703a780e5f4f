// One workspace opened in this tab's worker, either as its OWNER or as a CLIENT of the tab that owns it.
//
// Ownership: the owner holds the Web Lock `openprod-ws-<id>` for as long as it has the workspace
// open. Only the owner runs the core on the database and writes IndexedDB, so two tabs can never
// interleave writes or fork the actor's chain of bundles. A tab that finds the lock taken becomes a
// client: it forwards every call over the BroadcastChannel of the same name and the owner answers
// after its log write is durable. The client also queues for the lock, so when the owner's tab
// closes (the browser releases its locks) the client takes over: it restores from IndexedDB and
// re-runs calls that were still unanswered (except record creation, whose outcome is unknown).
//
// Durability: a write call resolves only after the bundles it stored are in the IndexedDB log, and
// the staging overlays it changed are rewritten in the `overlays` store (same IDB transaction).
// Snapshots: `Session.snapshot()` (conn.serialize()) is written with the log position it contains,
// then the log up to that position is deleted (store.js writeSnapshot). Serializing a large workspace
// is one long turn, so a snapshot waits for a moment with no call from the page (`snapshotQuietMs`).
import {
  openWorkspaceDb, persist, readForStartup, readPending, workspaceDbName, writeScreenOn, writeSnapshot, writerDb, writesEnded,
  writesInFlight, writesOf,
} from './store.js';
import { takeLog, takeOverlays, takeSnapshot } from './python.js';
import { SyncEngine } from './sync.js';
import { signTime } from './ed25519.js';
import { BlobKeeper } from './blobs.js';
import { Turns } from './turns.js';
import { patchRows } from './gridrows.js';

// How long WebCrypto took for a signature, if anything signs through it (the split of a write's time,
// noteSplit; the app's own writes are signed by worker/ed25519.js, which times itself).
const subtle = globalThis.crypto && globalThis.crypto.subtle;
if (subtle && !subtle.timedSign) {
  const sign = subtle.sign.bind(subtle);
  subtle.timedSign = true;
  subtle.sign = (...args) => {
    const t0 = performance.now();
    return sign(...args).then((out) => {
      signTime.last = Math.round((performance.now() - t0) * 10) / 10;
      signTime.by = 'webcrypto';
      return out;
    });
  };
}

export const DEFAULT_POLICY = {
  /** Take a snapshot soon once this many log records follow the last one... */
  snapshotEvery: 200,
  /** ...or after this long with no writes, if any records follow it. */
  snapshotIdleMs: 15000,
  /** Delay before a snapshot that `snapshotEvery` asked for (lets a burst of edits finish). */
  snapshotSoonMs: 300,
  /** A client gives up on an owner that does not answer. */
  callTimeoutMs: 30000,
  /** While a catch-up streams in, snapshots wait (one is taken at its end) unless this many records follow the last one. */
  snapshotCatchupEvery: 5000,
  /** A background snapshot starts only once the page has made no call for this long (a person's pause):
   * serializing a large workspace is one long turn, and writing tens of megabytes holds IndexedDB. */
  snapshotQuietMs: 1500,
  /** ...or once it has waited this long for such a moment (someone editing without a pause). */
  snapshotWaitMaxMs: 30000,
  /** Sync starts this long after an existing workspace is opened (its first screen goes first). */
  syncStartDelayMs: 1000,
};
const SCREEN_PAUSE_MS = 150; // keepScreen: a copy of the grid waits for this pause after a writing call

/** Calls that change nothing when run twice, so a client may re-run them after a takeover. */
const NOT_REPEATABLE = new Set(['create_record']);

/** What the page may queue while the app opens (js/opening.js): single cell edits, nothing else. */
const QUEUEABLE = new Set(['set_cell']);

/** An error the core reported about the request (bad value, missing record...), not a crash. */
export class ApiError extends Error {
  constructor({ type, message }) {
    super(message);
    this.name = type || 'OpenprodError';
  }
}

const errorJson = (err) => ({ type: err && err.name ? err.name : 'Error', message: String(err && err.message ? err.message : err) });

export class WorkspaceHost {
  /**
   * @param {object} o
   * @param {string} o.id workspace id (UUID text)
   * @param {() => Promise<any>} o.python resolves to the booted Python (see python.js)
   * @param {() => Promise<string>} o.identity resolves to the identity JSON
   * @param {(type: string, detail: object) => void} o.emit events for this tab's page
   * @param {object} o.policy snapshot and timeout settings
   * @param {{rtc: boolean}} [o.capabilities] what this tab's page can do (WebRTC or not)
   * @param {Promise<import('./preopen.js').Preread|null>|null} [o.preread] this workspace as the page read it
   *   while Python started, its lock held for this host (preopen.js); null: read when opened
   */
  constructor({ id, python, identity, emit, policy, capabilities = { rtc: true }, preread = null, step = () => {} }) {
    this.step = step; // the opening's steps, for diagnosis (api.js stats)
    this.id = id;
    this.python = python;
    this.identity = identity;
    this.emit = emit;
    this.policy = policy;
    this.capabilities = capabilities;
    this.preread = preread;
    this.shut = false; // close() was called
    this.lockName = `openprod-ws-${id}`;
    this.clientId = crypto.randomUUID();
    this.role = 'closed';
    this.session = null;
    this.db = null; // the log's connection: start-up's reads, then `persist` (one flush at a time)
    this.background = null; // writerDb: snapshots and the grid's copy, on a connection of their own
    this.pending = new Map();
    this.nextCallId = 0;
    this.turns = new Turns(); // Python's calls, one at a time, a person's first (turns.js)
    // policy.trace (bench.browser_bench --join-trace): every turn and sync's waits, for a join's timeline
    if (policy.trace) this.turns.trace = [];
    this.rowsKept = null; // the last grid read and its mark: the next read of that table is a patch (readRows)
    this.lastFlush = Promise.resolve();
    this.writeCalls = 0; // writing calls taken and not yet durable (a screen copy waits for none)
    this.lastWriteAt = -Infinity; // when the last one ended (a screen copy waits for a pause in a burst)
    this.unsaved = [];
    // log appends: transactions, bundles, IndexedDB records (a run is one: store.js RUN_RECORDS), bytes, ms until done
    this.persisted = { n: 0, records: 0, stored: 0, bytes: 0, ms: 0 };
    this.unsavedOverlays = []; // overlay journal changes not yet written, in order
    this.appliedQueued = []; // keys of queued edits done with: deleted with the next log write
    this.applying = null;
    this.journalWrites = 0; // overlay journal records written (staged edits change no log seq)
    this.loggedSeq = 0;
    this.received = 0; // bundles handed in by `receive` (the debug peer)
    this.notifiedSeq = 0; // log position the page (and other tabs) were last told about
    this.sync = null; // the SyncEngine, in the owner tab
    this.tail = 0; // log records after the latest snapshot
    this.snapshotTimer = null;
    this.snapshotSoon = false;
    this.snapshotting = null;
    this.latencies = [];
    this.splits = []; // per local write: where its time to durable went (noteSplit)
    this.startup = null;
    this.lastSnapshot = null;
    this.release = null;
    this.waiting = null;
    this.channel = new BroadcastChannel(this.lockName);
    this.channel.onmessage = (event) => this.onMessage(event.data);
    let ready;
    this.ready = new Promise((resolve) => { ready = resolve; });
    this.markReady = ready;
  }

  // --- roles ------------------------------------------------------------------------------

  /** Hold the lock until `close()`; resolves to true if we got it now, false if another tab has it. */
  requestLock({ wait }) {
    return new Promise((resolve, reject) => {
      const options = wait ? { signal: this.waiting.signal } : { ifAvailable: true };
      navigator.locks.request(this.lockName, options, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        return new Promise((release) => {
          this.release = release;
          resolve(true);
        });
      }).catch((err) => {
        if (err && err.name === 'AbortError') resolve(false);
        else reject(err);
      });
    });
  }

  /** Open an existing workspace: owner if no other tab has it, else client (and next in line). */
  async open() {
    const pre = this.preread && await this.preread;
    this.preread = null;
    this.step(pre ? 'handed the page\'s read' : 'nothing handed over');
    if (pre) { // read by the page while Python started, under the lock it holds for this host
      this.release = pre.release;
      if (this.shut) { // closed while the read finished
        pre.db.close();
        this.release();
        this.release = null;
        throw new Error('the workspace was closed');
      }
      await this.becomeOwner(null, pre);
      // a tab that found the lock taken before this host existed re-sends what it asked meanwhile
      this.channel.postMessage({ kind: 'owner', from: this.clientId });
      return this.role;
    }
    if (await this.requestLock({ wait: false })) {
      this.step('lock free');
      await this.becomeOwner(null);
      return this.role;
    }
    this.step('lock taken: another tab has it');
    this.role = 'client';
    this.markReady();
    this.emit('role', { role: 'client' });
    this.waitForTakeover();
    return this.role;
  }

  waitForTakeover() {
    this.waiting = new AbortController();
    this.requestLock({ wait: true }).then(async (got) => {
      if (!got || this.role === 'closed') return;
      await this.becomeOwner(null);
      this.emit('role', { role: 'owner', takeover: true });
      this.channel.postMessage({ kind: 'owner', from: this.clientId });
      await this.rerunPending();
    }).catch((err) => this.emit('error', errorJson(err)));
  }

  /** Take ownership of a brand-new workspace created in this worker. */
  async adoptNew(session) {
    if (!(await this.requestLock({ wait: false }))) throw new Error('a new workspace is already locked by another tab');
    await this.becomeOwner(session);
    await this.flush();
    await this.snapshot();
  }

  /** `pre`: the stored workspace, already read (preopen.js). */
  async becomeOwner(newSession, pre = null) {
    this.role = 'opening';
    const t0 = pre ? pre.startedAt : performance.now();
    // The stored workspace is read while Python starts (both take a while; neither needs the other).
    const reading = pre ? Promise.resolve({ db: pre.db, stored: pre.stored, at: pre.readAt }) : (async () => {
      const db = await openWorkspaceDb(this.id);
      const stored = newSession ? null : await readForStartup(db);
      return { db, stored, at: performance.now() };
    })();
    let python;
    try {
      python = await this.python();
      this.step('python ready');
    } catch (err) {
      reading.then(({ db }) => db.close(), () => {});
      throw err;
    }
    const t1 = performance.now();
    const { db, stored, at: t2 } = await reading;
    this.step('read');
    this.db = db;
    this.background = writerDb(this.id);
    if (newSession) {
      this.session = newSession;
      this.startup = { created: true };
    } else {
      const { snapshot, log, overlays, overlayOps } = stored;
      if (!snapshot && log.length === 0) throw new Error('this workspace has no data in this browser');
      const identity = await this.identity();
      const t3s = performance.now();
      this.session = await python.web.Session.open.callKwargs(identity, this.id,
        snapshot ? snapshot.data : undefined, snapshot ? snapshot.seq : 0, log, { overlays, overlay_ops: overlayOps });
      const t3 = performance.now();
      const replay = JSON.parse(await this.session.call('stats', '')).ok;
      this.loggedSeq = replay.seq;
      this.tail = log.length;
      this.startup = {
        waitBootMs: Math.round(t1 - t0), readMs: Math.round(t2 - t0), openMs: Math.round(t3 - t3s),
        readEarly: Boolean(pre), // read by the page while Python started (preopen.js), not once opened
        snapshotSeq: replay.snapshot_seq, snapshotBytes: replay.snapshot_bytes, logRecords: log.length,
        replayed: replay.replayed, replayStatuses: replay.replay_statuses,
        restoreMs: replay.restore_ms, replayMs: replay.replay_ms, overlaysRestored: replay.overlays_restored,
        // epoch ms, for the start-up breakdown (bench/opening_bench.py); the read runs beside Python's start
        at: { start: performance.timeOrigin + t0, pythonReady: performance.timeOrigin + t1,
          read: performance.timeOrigin + t2, opened: performance.timeOrigin + t3, ...(pre ? pre.steps : {}) },
      };
    }
    this.step('opened');
    this.session.set_progress((kind, done, total) => this.emit('progress', { kind, done, total }));
    this.notifiedSeq = this.loggedSeq;
    this.role = 'owner';
    this.markReady();
    this.emit('role', { role: 'owner' });
    if (this.tail >= this.policy.snapshotEvery) this.scheduleSnapshot();
    // Sync starts a moment after an existing workspace opens: the page's first screen comes first.
    const engine = new SyncEngine(this, { emit: this.emit, policy: this.policy });
    this.sync = engine;
    setTimeout(() => {
      if (this.sync === engine) engine.ensureStarted().catch((err) => this.emit('error', errorJson(err)));
    }, newSession ? 0 : this.policy.syncStartDelayMs);
  }

  // --- calls ------------------------------------------------------------------------------

  /** Run an API method here (owner) or in the owner's tab (client). */
  async call(method, args) {
    await this.ready;
    if (this.role === 'owner' || this.role === 'opening') return this.execute(method, args);
    if (this.role === 'client') return this.forward(method, args);
    throw new Error('this workspace is closed');
  }

  async execute(method, args) {
    await this.ready;
    if (this.role !== 'owner') throw new Error('this tab does not own the workspace');
    if (method === 'backup') return this.backup();
    if (method === 'queued:apply') return this.applyQueued();
    if (method.startsWith('blob:')) return this.blobs().action(method.slice(5), args || {});
    if (method.startsWith('sync:')) {
      if (!this.sync) throw new ApiError({ type: 'LocalError', message: 'this workspace is closing' });
      await this.sync.ensureStarted();
      return this.sync.action(method.slice(5), args || {});
    }
    const python = await this.python();
    if (method === 'rows' && args && !args.since) return this.readRows(args);
    const writes = python.methods[method];
    if (writes === undefined) throw new ApiError({ type: 'LocalError', message: `unknown method ${method}` });
    if (method === 'view_export' && args && args.format === 'xlsx') await python.loadExtras(); // openpyxl, once
    const started = performance.now();
    const marks = writes ? { arrive: started } : null;
    if (writes) this.writeCalls += 1;
    try {
      return await this.runCall(method, args, writes, started, marks);
    } finally {
      if (writes) {
        this.writeCalls -= 1;
        this.lastWriteAt = performance.now();
      }
    }
  }

  /** A grid read: after the first, only the records written since this tab's last read of the same
   * table (`rowsKept`), put into that read's rows (gridrows.js); a whole read when Python cannot say
   * which records changed. The page gets all rows either way. */
  async readRows(args) {
    // reads in flight at once each patch the kept read they began with (a patch covers every op since
    // its mark), so whichever ends last leaves a matching read and mark
    const kept = this.rowsKept && this.rowsKept.table === args.table ? this.rowsKept : null;
    let data = await this.runCall('rows', kept ? { ...args, since: kept.data.mark } : args, false, performance.now(), null);
    if (data && data.patch) {
      data = patchRows(kept.data, data) || await this.runCall('rows', args, false, performance.now(), null);
    }
    if (data && data.mark) this.rowsKept = { table: args.table, data };
    return data;
  }

  /** A core API call's turn, then (if it writes) its durability (execute's body). */
  async runCall(method, args, writes, started, marks) {
    const text = await this.person(() => {
      if (marks) {
        marks.turn = performance.now();
        signTime.last = signTime.by = null; // what this call signs, if it signs
      }
      return this.session.call(method, JSON.stringify(args || {}));
    }, method);
    const out = JSON.parse(text);
    if (marks) marks.python = performance.now();
    if (writes) await this.afterWrite(method, started, out.error ? null : 'this-tab', marks);
    if (writes === 'local' && !out.error) await this.snapshot(); // no bundle to log: the snapshot keeps it
    if (out.error) throw new ApiError(out.error);
    return out.ok;
  }

  /** After Python wrote: make it durable, then tell this tab and the others what changed. */
  async afterWrite(method, started, origin, marks = null) {
    const seqBefore = this.loggedSeq;
    const journalBefore = this.journalWrites;
    const flushing = this.flush();
    await flushing;
    const logged = this.loggedSeq !== seqBefore;
    if (!logged && this.journalWrites === journalBefore) return;
    if (logged && origin === 'this-tab') {
      this.latencies.push(performance.now() - started);
      if (this.latencies.length > 200) this.latencies.shift();
      if (marks) this.noteSplit(marks, flushing.marks);
    }
    const detail = { method, seq: this.loggedSeq, from: this.clientId };
    this.notifiedSeq = this.loggedSeq;
    this.channel.postMessage({ kind: 'changed', ...detail });
    this.emit('changed', { ...detail, origin: origin || 'this-tab' });
    if (logged) {
      this.scheduleSnapshot();
      if (this.sync) this.sync.kick(); // live push to peers (sent once durable)
    }
  }

  /** Bundles from peers are durable: tell this tab's page and the other tabs (the sync engine throttles this). */
  notifyRemote() {
    this.notifiedSeq = this.loggedSeq;
    const detail = { method: 'sync', seq: this.loggedSeq, from: this.clientId };
    this.channel.postMessage({ kind: 'changed', ...detail });
    this.emit('changed', { ...detail, origin: 'remote' });
    this.scheduleSnapshot();
  }

  /** Resolves once every bundle stored so far is in the IndexedDB log (flushing as often as needed). */
  async makeDurable() {
    for (;;) {
      await this.flush();
      if (!this.session || this.session.seq <= this.loggedSeq) return;
    }
  }

  broadcast(message) {
    if (this.role === 'owner') this.channel.postMessage({ ...message, from: this.clientId });
  }

  /** From this tab's page: the RTC bridge reports on a data channel (see sync.js). */
  rtcEvent(link, kind, payload) {
    if (this.sync) this.sync.rtcEvent(link, kind, payload);
  }

  /**
   * Bundles from another peer (the sync layer's entry point; also the debug peer's): verified and
   * applied by the core, logged like local ones, and durable before this resolves.
   * @param {Uint8Array[]} wires
   * @param {string} source who sent them (for quarantine records)
   * @returns {Promise<Array<{status: string, reason: string|null, detail: string}>>}
   */
  async receive(wires, source) {
    await this.ready;
    if (this.role !== 'owner') throw new Error('only the tab that owns the workspace receives bundles');
    this.received += wires.length; // others' bundles: "N changes since you last synced" counts again (sync.js)
    const text = await this.serial(() => this.session.receive(wires, source), 'receive');
    await this.afterWrite('receive', performance.now(), 'remote');
    return JSON.parse(text);
  }

  /**
   * Apply the cell edits typed while the app was opening (js/opening.js), in the order typed. Each is
   * removed from the queue in the same IndexedDB transaction as the bundle it became, so it is applied
   * exactly once even if the tab dies in between; one the core refuses is removed and reported.
   * Resolves to [{label, value, saved, error}].
   */
  applyQueued() {
    if (this.applying) return this.applying.then(() => this.applyQueued());
    this.applying = (async () => {
      const results = [];
      await this.lastFlush.catch(() => {}); // the log's connection runs one transaction at a time
      for (const [key, edit] of await readPending(this.db)) {
        let out = { error: { message: 'only cell edits can wait for the app to open' } };
        if (edit && QUEUEABLE.has(edit.method)) {
          out = JSON.parse(await this.person(async () => {
            const text = await this.session.call(edit.method, JSON.stringify(edit.args || {}));
            this.appliedQueued.push(key); // before anything can take the bundle for the log without it
            return text;
          }, 'queued:apply'));
        } else {
          this.appliedQueued.push(key);
        }
        await this.afterWrite(edit.method, performance.now(), out.error ? null : 'this-tab');
        await this.flush();
        results.push({ label: edit.label || '', value: edit.args ? edit.args.value : null, saved: !out.error,
          error: out.error ? out.error.message : null });
      }
      return results;
    })().finally(() => { this.applying = null; });
    return this.applying;
  }

  /** The whole workspace as a backup file's bytes (openprod_web/backup.py, format v1). */
  async backup() {
    const data = await this.person(() => {
      const proxy = this.session.export_backup(Date.now());
      try {
        return proxy.toJs().slice();
      } finally {
        proxy.destroy();
      }
    }, 'backup');
    return { data, bytes: data.byteLength };
  }

  /** Background work on Python (sync, status, snapshots, blobs): one call at a time, after a person's calls. */
  serial(fn, label = 'background') {
    return this.turns.run(fn, { lane: 'background', label });
  }

  /** A call a person waits for (an edit, a read for the screen): goes before queued background work. */
  person(fn, label = 'call') {
    return this.turns.run(fn, { lane: 'person', label });
  }

  forward(method, args) {
    const id = ++this.nextCallId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('the tab that has this workspace open did not answer; close other tabs or reload'));
      }, this.policy.callTimeoutMs);
      this.pending.set(id, { resolve, reject, method, args, timer });
      this.channel.postMessage({ kind: 'call', from: this.clientId, id, method, args });
    });
  }

  /** After a takeover, or when a new owner appears: settle calls the old owner never answered. */
  async rerunPending() {
    const calls = [...this.pending.entries()];
    for (const [id, call] of calls) {
      if (NOT_REPEATABLE.has(call.method)) {
        clearTimeout(call.timer);
        this.pending.delete(id);
        call.reject(new Error('the tab that had this workspace open closed before confirming; check whether '
          + 'the record was created before trying again'));
      } else if (this.role === 'owner') {
        clearTimeout(call.timer);
        this.pending.delete(id);
        this.execute(call.method, call.args).then(call.resolve, call.reject);
      } else {
        this.channel.postMessage({ kind: 'call', from: this.clientId, id, method: call.method, args: call.args });
      }
    }
  }

  onMessage(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.kind === 'call' && (this.role === 'owner' || this.role === 'opening')) {
      this.execute(msg.method, msg.args).then(
        (ok) => this.channel.postMessage({ kind: 'reply', to: msg.from, id: msg.id, ok }),
        (err) => this.channel.postMessage({ kind: 'reply', to: msg.from, id: msg.id, error: errorJson(err) }),
      );
    } else if (msg.kind === 'reply' && msg.to === this.clientId) {
      const call = this.pending.get(msg.id);
      if (!call) return;
      this.pending.delete(msg.id);
      clearTimeout(call.timer);
      if (msg.error) call.reject(new ApiError(msg.error));
      else call.resolve(msg.ok);
    } else if (msg.kind === 'changed' && msg.from !== this.clientId) {
      this.emit('changed', { method: msg.method, seq: msg.seq, origin: msg.method === 'sync' ? 'remote' : 'other-tab' });
    } else if (msg.kind === 'sync' && this.role === 'client') {
      this.lastSyncStatus = { ...msg.status, elsewhere: true };
      this.emit('sync', this.lastSyncStatus);
    } else if (msg.kind === 'owner' && this.role === 'client') {
      this.rerunPending();
    }
  }

  // --- persistence --------------------------------------------------------------------------

  /** Append every bundle stored so far to the log, and rewrite every changed overlay, in one
   * IndexedDB transaction; resolves when all of it is durable. */
  flush() {
    const items = takeLog(this.session);
    this.unsavedOverlays.push(...takeOverlays(this.session));
    if (!items.length && !this.unsaved.length && !this.unsavedOverlays.length && !this.appliedQueued.length) {
      return this.lastFlush;
    }
    const previous = this.lastFlush;
    const marks = { queued: performance.now() };
    this.lastFlush = (async () => {
      await previous.catch(() => {});
      marks.begin = performance.now();
      const batch = this.unsaved.concat(items);
      const overlays = this.unsavedOverlays;
      const applied = this.appliedQueued;
      this.unsaved = [];
      this.unsavedOverlays = [];
      this.appliedQueued = [];
      if (!batch.length && !overlays.length && !applied.length) return;
      try {
        const t0 = performance.now();
        const { overlapped, stored } = await persist(this.db, batch, overlays, applied);
        marks.complete = performance.now();
        marks.overlapped = overlapped;
        marks.records = batch.length;
        this.persisted.n += 1;
        this.persisted.records += batch.length;
        this.persisted.stored += stored;
        this.persisted.bytes += batch.reduce((sum, [, wire]) => sum + wire.byteLength, 0);
        this.persisted.ms += marks.complete - t0;
      } catch (err) {
        this.unsaved = batch.concat(this.unsaved);
        this.unsavedOverlays = overlays.concat(this.unsavedOverlays);
        this.appliedQueued = applied.concat(this.appliedQueued);
        throw new Error(`could not write to this browser's storage: ${err && err.message ? err.message : err}`);
      }
      if (overlays.length) this.journalWrites += overlays.length;
      if (batch.length) {
        this.tail += batch.length;
        this.loggedSeq = Math.max(this.loggedSeq, batch[batch.length - 1][0]);
      }
    })();
    this.lastFlush.marks = marks;
    return this.lastFlush;
  }

  /**
   * Keep `value` (the last grid shown) for the next opening, on this tab's connection for background writes
   * (`this.background`). Begun only once no log append is queued or in flight and no other write to the
   * workspace is (store.js writesEnded, on any of the worker's connections), no writing call is under way
   * and none ended in the last SCREEN_PAUSE_MS (edits back to back: after the burst). An edit's append then
   * waits for it only if it comes while the copy is written. False if this tab keeps no connection to the
   * workspace.
   */
  async keepScreen(value) {
    const name = workspaceDbName(this.id);
    for (;;) {
      if (!this.db || this.role !== 'owner') return false;
      const flushing = this.lastFlush;
      await flushing.catch(() => {});
      if (!this.db) return false;
      await writesEnded(name);
      const pause = performance.now() - this.lastWriteAt;
      if (this.db && flushing === this.lastFlush && !writesInFlight(name) && !this.writeCalls && pause >= SCREEN_PAUSE_MS) break;
      await new Promise((resolve) => { setTimeout(resolve, Math.max(20, SCREEN_PAUSE_MS - pause)); }); // edits are coming
    }
    await writeScreenOn(this.background, value);
    return true;
  }

  /** Where one local write's time to durable went (the bench's split, docs/benchmarks.md session 10):
   * ms from the worker taking the call to its turn, Python (transaction and signature), waiting for an
   * earlier IndexedDB write, this write's transaction, and its answer; absolute times let the bench add
   * the page's hops (performance.timeOrigin differs between the page and the worker). */
  noteSplit(marks, flush) {
    const end = performance.now();
    const ms = (a, b) => (a === undefined || b === undefined ? null : Math.round((b - a) * 10) / 10);
    this.splits.push({
      arriveAt: performance.timeOrigin + marks.arrive, doneAt: performance.timeOrigin + end,
      queueMs: ms(marks.arrive, marks.turn), pythonMs: ms(marks.turn, marks.python),
      flushWaitMs: flush ? ms(flush.queued, flush.begin) : null, idbMs: flush ? ms(flush.begin, flush.complete) : null,
      afterMs: flush ? ms(flush.complete, end) : null, records: flush ? flush.records ?? 0 : 0,
      overlapped: flush ? flush.overlapped ?? null : null,
      signMs: signTime.last, signer: signTime.by,
    });
    if (this.splits.length > 400) this.splits.shift();
  }

  scheduleSnapshot() {
    if (this.tail <= 0 || this.role !== 'owner') return;
    if (this.sync && this.sync.holdsSnapshots() && this.tail < this.policy.snapshotCatchupEvery) return;
    const soon = this.tail >= this.policy.snapshotEvery;
    if (soon && this.snapshotTimer && this.snapshotSoon) return; // a steady stream of edits must not postpone it
    clearTimeout(this.snapshotTimer);
    this.snapshotSoon = soon;
    this.snapshotTimer = setTimeout(() => this.snapshotWhenQuiet(), soon ? this.policy.snapshotSoonMs : this.policy.snapshotIdleMs);
  }

  /** The policy's snapshot, once the page has been quiet for `snapshotQuietMs`, or `snapshotWaitMaxMs`
   * after it was due whatever the page does (a stream of edits cannot postpone it for long). */
  snapshotWhenQuiet(dueAt = performance.now()) {
    const now = performance.now();
    const wait = this.policy.snapshotQuietMs - (now - this.turns.lastPersonAt);
    if (wait > 0 && this.role === 'owner' && now - dueAt < this.policy.snapshotWaitMaxMs) {
      this.snapshotTimer = setTimeout(() => this.snapshotWhenQuiet(dueAt), wait);
      return;
    }
    this.snapshotTimer = null;
    this.snapshot().catch((err) => this.emit('error', errorJson(err)));
  }

  /** Serialize the database and store it with its log position; trims the log. */
  snapshot() {
    if (this.snapshotting) return this.snapshotting;
    this.snapshotting = (async () => {
      await this.flush();
      const t0 = performance.now();
      const snap = await this.serial(async () => takeSnapshot(this.session), 'snapshot');
      if (!snap) {
        this.scheduleSnapshot();
        return null;
      }
      const t1 = performance.now();
      await writeSnapshot(this.background, snap.seq, snap.data, { takenAt: Date.now(), serializeMs: Math.round(t1 - t0) });
      const t2 = performance.now();
      this.tail = Math.max(0, this.loggedSeq - snap.seq);
      this.lastSnapshot = { seq: snap.seq, bytes: snap.data.byteLength, serializeMs: t1 - t0, writeMs: t2 - t1 };
      this.emit('snapshot', this.lastSnapshot);
      return this.lastSnapshot;
    })().finally(() => { this.snapshotting = null; });
    return this.snapshotting;
  }

  stats() {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const pick = (q) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10 : null);
    return {
      id: this.id, role: this.role, startup: this.startup, lastSnapshot: this.lastSnapshot, logTail: this.tail,
      loggedSeq: this.loggedSeq, writeToDurableMs: { n: sorted.length, median: pick(0.5), p95: pick(0.95) },
      turns: this.turns.stats(), splits: this.splits.slice(), writes: writesOf(workspaceDbName(this.id)),
      persisted: { ...this.persisted, ms: Math.round(this.persisted.ms) }, // the log's IndexedDB transactions
      sync: this.sync ? this.sync.stats() : (this.lastSyncStatus ? { status: this.lastSyncStatus } : null),
      trace: this.turns.trace ? { origin: performance.timeOrigin, events: this.turns.trace } : undefined,
    };
  }

  setDisplayName(name) {
    if (this.session && this.role === 'owner') this.session.set_display_name(name);
  }

  /** Attachments kept on this device (worker/blobs.js), opened on first use. */
  blobs() {
    this.blobKeeper ??= new BlobKeeper(this);
    return this.blobKeeper;
  }

  async close() {
    this.shut = true;
    const wasOwner = this.role === 'owner';
    this.role = 'closed';
    clearTimeout(this.snapshotTimer);
    if (this.waiting) this.waiting.abort();
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new Error('the workspace was closed'));
    }
    this.pending.clear();
    if (this.sync) {
      const engine = this.sync;
      this.sync = null;
      await engine.stop().catch(() => {});
    }
    if (wasOwner) {
      await this.lastFlush.catch(() => {});
      if (this.tail > 0) {
        this.role = 'owner';
        await this.snapshot().catch(() => {});
        this.role = 'closed';
      }
    }
    if (this.blobKeeper) this.blobKeeper.close();
    this.blobKeeper = null;
    if (this.session) this.session.destroy();
    this.session = null;
    if (this.background) await this.background.close().catch(() => {});
    this.background = null;
    if (this.db) this.db.close();
    this.db = null;
    this.channel.close();
    if (this.release) this.release();
    this.release = null;
  }
}
