// Sync for the workspace this tab owns: to the relay (a WebSocket, or a WebRTC data channel to the
// relay's aiortc peer) and directly to other browsers over WebRTC data channels, signalled through the
// relay's room for this workspace. Runs in the owner tab's worker only (one tab owns a workspace).
//
// The sessions are the core's sans-IO SyncSession, one per link, held by Python (openprod_web.sync):
// this engine moves frames, fires timers and works the sessions in a loop (`cycle`):
//   1. feed every received frame, fire due timers;
//   2. work in slices of bundles, sized to take about `sliceMs` (each slice is one call in the worker's
//      Python queue, so a page call waits for one slice at most: editing never waits on sync);
//   3. make everything stored so far durable in IndexedDB (the host's log flush);
//   4. only then take the frames to send: an acknowledgement never leaves before the bundles it
//      acknowledges are logged, and our own new bundles never leave before they are saved here.
//   5. once quiet, read the state hash of what changed a page per turn (hub.hash_step), so a
//      session's check finds it cached rather than reading a large workspace in one long turn.
// Every step is a turn in the worker's queue (turns.js): a person's call goes before waiting turns.
// "N changes since you last synced" scans the changes after a mark, so it is counted only while a Sync
// screen is showing (it renews a 30 s lease), never during a catch-up. Links that drop are retried with backoff (1, 2, 4, 8, 15, 30 s, jittered), at once when the
// device comes back online or the person presses "Sync now". Nothing here blocks editing: with no
// network the workspace works as before and the status says so.
import { RtcLink, SocketLink } from './links.js';
import { RelayError, inviteLink, normalizeRelay, postSigned, socketUrl } from './relayapi.js';
import { SignalRoom } from './signal.js';
import { readSync, writeSync, writerDb } from './store.js';
import { verifyMany } from './verifypool.js';

export const SYNC_POLICY = {
  backoffMs: [1000, 2000, 4000, 8000, 15000, 30000],
  connectTimeoutMs: 10000,
  rtcTimeoutMs: 15000,
  sliceBundles: 32, // a turn's first size; then adapted to take about sliceMs (workSlice)
  sliceMs: 12,
  sliceMaxBundles: 512,
  hashRows: 500, // rows of the state hash read per turn (a few ms in Pyodide)
  hashAfterMs: 120, // ...begun once frames and writes paused this long, during a burst of them
  hashBurstGapMs: 250, // activity this soon after the last is a burst
  hashQuietMs: 1500, // ...and once the page has made no call this long (a person's pause: edits, scrolling)
  hashWaitMaxMs: 30000, // ...or this long after it was first wanted, whatever the page does
  durableEveryMs: 150, // during a long run of turns: log what arrived and acknowledge it this often
  statusEveryMs: 250,
  countsEveryMs: 2000,
  watchMs: 30000,
  changedEveryMs: 250,
  // the marks a status refresh moves (sharedHlc, syncedMark, lastSyncAt) are written to IndexedDB at most
  // this often: refreshed several times a second while in sync, each was a strict write of its own beside
  // the edits' log appends (docs/benchmarks.md, session 10); losing the last few seconds of them on a
  // crash only makes "last synced" and "N changes since" a little older until the next sync
  marksEveryMs: 5000,
};

/**
 * How long the state hash's reading waits still, in ms (<= 0: read it now). `now`, `activeAt` (the last
 * frames or write), `personAt` (the end of the page's last call) and `wantedAt` (when the hash was first
 * wanted since it was last current) are performance.now() times; `activeGapMs` is the gap before the
 * last activity (a short one: a burst). Frames and writes: at once after a lone one, `hashAfterMs` after
 * a burst's last. The person: `hashQuietMs` after their last call, unless the hash has been wanted for
 * `hashWaitMaxMs` already. `caughtUp`: a link's first catch-up has just ended (a join, a reconnect) and
 * no edit was made since: the person is waiting for "in sync", which needs this hash, so it is read at
 * once (the page's own reads after a catch-up put it off 1.5 s: docs/benchmarks.md, session 12).
 */
export function hashDelay({ now, wants, wantedAt, activeAt, activeGapMs, personAt, caughtUp = false }, policy) {
  if (wants && caughtUp) return 0;
  const frames = (activeGapMs >= policy.hashBurstGapMs ? 0 : policy.hashAfterMs) - (now - activeAt);
  if (!wants || now - wantedAt >= policy.hashWaitMaxMs) return frames;
  const person = policy.hashQuietMs - (now - personAt);
  return Math.max(frames, Math.min(person, wantedAt + policy.hashWaitMaxMs - now));
}

/** Refusals that retrying cannot fix: say so and wait for the person. */
const FATAL = new Set(['not_joined', 'bad_signature', 'unsupported_version', 'wrong_workspace']);
const DEFAULT_CONFIG = {
  relay: '', published: false, joined: false, joinMode: 'open',
  route: 'both', // 'both' | 'relay' | 'direct' (the relay only introduces browsers)
  relayTransport: 'websocket', // or 'webrtc'
  paused: false,
};

const message = (err) => String(err && err.message ? err.message : err);

export class SyncEngine {
  constructor(host, { emit, policy }) {
    this.host = host;
    this.emit = emit;
    this.policy = policy;
    this.hub = null;
    // the `sync` store's own connection (opened at the first read, closed by stop()): a marks write is
    // never in flight on the log's connection beside an append (store.js SerialDb, WebKit bug 324094)
    this.db = writerDb(host.id);
    this.config = { ...DEFAULT_CONFIG };
    this.marks = {};
    this.me = null;
    this.links = new Map();
    this.nextId = 0;
    this.active = false;
    this.relay = { attempt: 0, retryAt: null, timer: null, error: null, refused: null, rtcFailed: false };
    this.room = {
      room: null, attempt: 0, retryAt: null, timer: null, error: null, refused: null, relayId: 'relay', peers: new Map(), iceServers: [],
    };
    this.running = false;
    this.again = false;
    this.timer = null;
    this.status = null;
    this.counts = { at: 0, arrived: -1, baseline: -1, since: { total: 0, people: [] }, owner: false };
    this.statusAt = 0;
    this.statusTimer = null;
    this.notifyAt = 0;
    this.notifyTimer = null;
    this.catchingUp = false;
    this.slice = policy.sliceBundles;
    this.activeAt = 0;
    this.activeGapMs = Infinity;
    this.hashTimer = null;
    this.hashWantedAt = null; // when the state hash was first wanted and put off for the person
    this.caughtUpAt = null; // when a link's first catch-up ended, until the hash is read (hashDelay's `caughtUp`)
    this.deviceOffline = false;
    this.error = null;
    this.diverged = null;
    this.watchUntil = 0;
    this.marksTimer = null;
    this.marksDirty = false; // marks changed in memory since the last write (noteMarks)
    this.marksWrittenAt = -Infinity;
    this.starting = null;
    this.onOnline = () => this.retryNow();
    // Where a catch-up's time goes (stats().catchup; bench.browser_bench --only join prints it): epoch
    // ms of its steps, the ms the loop waited for the log's IndexedDB writes, and its idle ms between cycles.
    this.timeline = { startedAt: Date.now(), establishedAt: null, firstWorkAt: null, caughtUpAt: null, inSyncAt: null,
      durableWaitMs: 0, durableWaits: 0, outputMs: 0, idleMs: 0, cycles: 0, endedAt: 0 };
    this.trace = host.turns.trace; // policy.trace: the turns' trace, and the loop's events beside them (mark)
  }

  /** With policy.trace only: an event in the join's timeline ([label, 'event', from, from, to, detail]). */
  mark(label, from, to = from, detail = null) {
    this.trace.push([label, 'event', from, from, to, detail]);
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /** Start once (the host starts it a moment after opening; a sync action starts it at once). */
  ensureStarted() {
    if (!this.starting) this.starting = this.start();
    return this.starting;
  }

  async start() {
    const python = await this.host.python();
    // a catch-up's next slice is verified on a worker of its own while this one applies (verifypool.js)
    this.hub = python.web.SyncHub.callKwargs(this.host.session, { verify_pool: verifyMany });
    if (this.policy.profile) this.hub.profile_start(); // bench.browser_bench --join-profile
    await this.host.blobs().attachHub(this.hub); // attachments travel on the same links (blobs/1)
    this.me = JSON.parse(this.hub.identity_json()).actor;
    const { config, marks } = await readSync(this.db);
    this.config = { ...DEFAULT_CONFIG, ...config };
    this.marks = marks;
    this.active = true;
    self.addEventListener('online', this.onOnline);
    this.connect();
    await this.refreshStatus(true);
  }

  async stop() {
    if (this.starting) await this.starting.catch(() => {});
    if (!this.hub) {
      await this.db.close();
      return;
    }
    this.active = false;
    self.removeEventListener('online', this.onOnline);
    this.clearTimers();
    await this.disconnect('this tab closed the workspace').catch(() => {});
    if (this.marksDirty) await this.writeMarks().catch(() => {}); // the marks noted since the last write
    await this.db.close();
    if (this.host.blobKeeper) this.host.blobKeeper.detachHub();
    this.hub.detach();
    this.hub.destroy();
    this.hub = null;
  }

  clearTimers() {
    for (const t of [this.timer, this.relay.timer, this.room.timer, this.statusTimer, this.notifyTimer, this.hashTimer]) clearTimeout(t);
    this.timer = this.relay.timer = this.room.timer = this.statusTimer = this.notifyTimer = this.hashTimer = null;
    this.relay.retryAt = this.room.retryAt = null;
  }

  /** Say goodbye on every open session (one last output), then close every transport and the room. */
  async disconnect(why) {
    const open = [...this.links.values()].filter((l) => l.session && l.state === 'open');
    if (open.length && this.hub) {
      await this.host.serial(() => { for (const l of open) this.hub.close(l.id, why); });
      await this.output().catch(() => {});
    }
    for (const link of [...this.links.values()]) link.drop(why);
    if (this.room.room) this.room.room.close();
    this.room.room = null;
  }

  // --- what the person decides ---------------------------------------------------------------

  /** This tab's page can hold RTCPeerConnections (WebKitGTK has none; every iPad browser has them). */
  canRtc() {
    return this.host.capabilities.rtc !== false;
  }

  /** The page said what it can do after sync started: reconnect the way it now allows. */
  capabilitiesChanged() {
    if (!this.active) return;
    this.clearTimers();
    this.disconnect('this browser cannot use WebRTC').catch(() => {}).then(() => this.connect());
  }

  wantsSync() {
    const c = this.config;
    return this.active && !c.paused && Boolean(c.relay) && (c.published || c.joined);
  }

  wantsRelay() { return this.wantsSync() && this.config.route !== 'direct'; }

  wantsDirect() { return this.wantsSync() && this.config.route !== 'relay' && this.canRtc(); }

  /** WebRTC to the relay: when chosen, possible here, and not already failed (then the WebSocket). */
  relayOverRtc() { return this.config.relayTransport === 'webrtc' && this.canRtc() && !this.relay.rtcFailed; }

  wantsRoom() {
    return this.wantsDirect() || (this.wantsRelay() && this.config.relayTransport === 'webrtc' && this.canRtc());
  }

  async saveConfig(changes) {
    this.config = { ...this.config, ...changes };
    await writeSync(this.db, 'config', this.config);
  }

  /**
   * A recovery the relay accepted (worker.js `recoverOwnership`): once this copy holds the workspace (in
   * sync), write the signed change of owner into it, once, and sync shares it like any change. Kept in
   * the config until written, so a reload or a lost connection only delays it.
   */
  async finishRecovery() {
    this.finishing = true;
    try {
      await this.host.call('recover_ownership', this.config.recovery);
      await this.saveConfig({ recovery: null, recoveryRefused: null });
    } catch (err) {
      // refused by the workspace itself (the words were used by someone else first): kept, stop trying;
      // anything else (the tab closing) is tried again at the next "in sync"
      if (err && err.name === 'ValidationError') await this.saveConfig({ recovery: null, recoveryRefused: err.message });
      else console.warn('[sync] recovery not written yet', err);
    } finally {
      this.finishing = false;
    }
    this.refreshStatus(true);
  }

  /** Change the marks and write them now (a person's action: "mark seen", an episode's baseline). */
  async saveMarks(changes) {
    this.marks = { ...this.marks, ...changes };
    await this.writeMarks();
  }

  /** Change the marks at once; write them at most every `marksEveryMs` (status refreshes move them often). */
  noteMarks(changes) {
    this.marks = { ...this.marks, ...changes };
    this.marksDirty = true;
    if (this.marksTimer) return;
    const wait = Math.max(0, this.policy.marksEveryMs - (performance.now() - this.marksWrittenAt));
    this.marksTimer = setTimeout(() => {
      this.marksTimer = null;
      if (this.hub) this.writeMarks().catch((err) => console.warn('[sync] marks not written', err));
    }, wait);
  }

  async writeMarks() {
    clearTimeout(this.marksTimer);
    this.marksTimer = null;
    this.marksDirty = false;
    this.marksWrittenAt = performance.now();
    await writeSync(this.db, 'marks', this.marks);
  }

  /** Actions from the page (`api.call('sync:<action>', args)`), run in the owner tab. */
  async action(name, args = {}) {
    switch (name) {
      case 'status': return this.refreshStatus(true);
      case 'watch': // the Sync screen is showing: keep "N changes since you last synced" current for a while
        this.watchUntil = Date.now() + this.policy.watchMs;
        return this.refreshStatus(true);
      case 'publish': return this.publish(args);
      case 'configure': return this.configure(args);
      case 'pause': await this.configure({ paused: true }); return this.status;
      case 'resume': await this.configure({ paused: false }); return this.status;
      case 'retry': this.retryNow(); return this.refreshStatus(true);
      case 'mark_seen': {
        await this.saveMarks({ baseline: await this.host.serial(() => this.hub.max_seq()) });
        this.counts.at = 0;
        return this.refreshStatus(true);
      }
      case 'create_key': return this.request('create_key', {
        expires_in_ms: args.expiresInMs, max_uses: args.maxUses ?? null,
      });
      case 'list_keys': return this.request('list_keys', {});
      case 'revoke_key': return this.request('revoke_key', { code: args.code });
      case 'members': return this.request('members', {});
      case 'lan_relays': return lanRelays(this.config.relay);
      case 'decide_request': return this.request('decide_request', { actor: args.actor, approve: Boolean(args.approve) });
      case 'remove_member': return this.request('remove_member', { actor: args.actor });
      case 'readmit_member': return this.request('readmit_member', { actor: args.actor });
      case 'set_join_mode': {
        const result = await this.request('set_join_mode', { mode: args.mode });
        await this.saveConfig({ joinMode: result.join_mode });
        await this.refreshStatus(true);
        return result;
      }
      default: throw new RelayError('bad_request', `unknown sync action ${name}`);
    }
  }

  async request(action, args) {
    if (!this.config.relay) throw new RelayError('not_published', 'Publish this workspace to a relay first.');
    const body = await this.host.serial(() => this.hub.relay_request(action, JSON.stringify(args)));
    return postSigned(this.config.relay, action, body);
  }

  async publish({ relay, joinMode }) {
    const address = normalizeRelay(relay);
    const owner = await this.host.serial(() => this.hub.is_owner());
    if (!owner) throw new RelayError('not_owner', 'Only the person who created this workspace can publish it.');
    const body = await this.host.serial(() => this.hub.relay_request('publish', JSON.stringify({ join_mode: joinMode || 'open' })));
    const result = await postSigned(address, 'publish', body);
    await this.saveConfig({ relay: address, published: true, joinMode: result.join_mode, paused: false });
    this.relay.refused = null;
    this.connect();
    await this.refreshStatus(true);
    return { ...result, invite: inviteLink(address, this.host.id) };
  }

  async configure(changes) {
    const allowed = {};
    for (const key of ['route', 'relayTransport', 'paused']) if (key in changes) allowed[key] = changes[key];
    if ('relay' in changes) allowed.relay = normalizeRelay(changes.relay);
    await this.saveConfig(allowed);
    this.relay.rtcFailed = false;
    this.relay.refused = null;
    this.room.refused = null;
    this.relay.attempt = 0;
    this.room.attempt = 0;
    this.clearTimers();
    await this.disconnect(this.config.paused ? 'sync paused on this device' : 'sync settings changed');
    this.connect();
    return this.refreshStatus(true);
  }

  /** The page saw the device go offline or come back (workers are not told reliably). */
  networkChanged(online) {
    if (!this.active) return;
    this.deviceOffline = !online;
    if (online) {
      this.retryNow();
      return;
    }
    this.clearRetries();
    for (const link of [...this.links.values()]) link.drop('this device went offline');
    if (this.room.room) this.room.room.fail('this device went offline');
    this.refreshStatus(true);
  }

  retryNow() {
    if (!this.active) return;
    this.relay.attempt = 0;
    this.room.attempt = 0;
    this.relay.refused = null;
    this.room.refused = null;
    this.relay.rtcFailed = false;
    this.clearRetries();
    this.connect();
  }

  clearRetries() {
    clearTimeout(this.relay.timer);
    clearTimeout(this.room.timer);
    this.relay.timer = this.room.timer = null;
    this.relay.retryAt = this.room.retryAt = null;
  }

  // --- connections ---------------------------------------------------------------------------

  connect() {
    if (this.wantsRelay()) this.connectRelay();
    if (this.wantsRoom()) this.connectRoom();
    this.refreshStatus();
  }

  newId(kind) {
    this.nextId += 1;
    return `${kind}-${this.nextId}`;
  }

  linkOptions(kind, prefix = kind) {
    return {
      id: this.newId(prefix), kind,
      onOpen: (link) => this.openSession(link),
      onFrames: (link, frames) => {
        if (this.trace) this.mark('frames', performance.now(), undefined, frames.reduce((n, f) => n + f.length, 0));
        link.inbound.push(...frames);
        this.kick();
      },
      onClose: (link, why) => this.linkClosed(link, why),
    };
  }

  relayLink() {
    for (const link of this.links.values()) if (link.kind === 'relay') return link;
    return null;
  }

  peerLink(actor) {
    for (const link of this.links.values()) if (link.kind === 'peer' && link.actor === actor) return link;
    return null;
  }

  linkByPeerId(peerId) {
    for (const link of this.links.values()) if (link.peerId === peerId) return link;
    return null;
  }

  connectRelay() {
    if (!this.wantsRelay() || this.relayLink() || this.relay.refused || this.relay.timer) return;
    this.relay.retryAt = null;
    if (this.relayOverRtc()) {
      if (this.room.room && this.room.room.state === 'open') this.offer(this.room.relayId, null, 'relay');
      else this.connectRoom(); // the offer goes out with the welcome
      return;
    }
    const link = new SocketLink({
      ...this.linkOptions('relay'), url: socketUrl(this.config.relay, 'sync', this.host.id),
      timeoutMs: this.policy.connectTimeoutMs,
    });
    this.links.set(link.id, link);
  }

  retryLater(state, connect) {
    if (state.timer || !this.active || this.deviceOffline) return; // offline: the 'online' event retries
    const steps = this.policy.backoffMs;
    const base = steps[Math.min(state.attempt, steps.length - 1)];
    state.attempt += 1;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    state.retryAt = Date.now() + delay;
    state.timer = setTimeout(() => {
      state.timer = null;
      state.retryAt = null;
      connect();
      this.refreshStatus();
    }, delay);
  }

  async openSession(link) {
    try {
      await this.host.serial(() => this.hub.open(link.id, link.offerer, link.offerer ? '' : (link.actor || '')));
    } catch (err) {
      link.drop(`could not start syncing: ${message(err)}`);
      return;
    }
    if (link.state === 'closed') {
      await this.host.serial(() => this.hub.lost(link.id));
      this.drainEvents();
      return;
    }
    link.session = true;
    this.kick();
    this.refreshStatus();
  }

  async linkClosed(link, why) {
    if (link.session && this.hub) {
      // frames that came in just before the close may hold the peer's reason (a refusal): read them first
      link.session = false;
      const hub = this.hub;
      await this.host.serial(() => {
        if (link.inbound.length) hub.feed(link.id, link.inbound);
        link.inbound = [];
        hub.lost(link.id);
      }).catch(() => {});
      this.drainEvents();
    }
    this.links.delete(link.id);
    const reason = link.closeReason;
    if (link.kind === 'relay') {
      this.relay.error = reason ? reason.detail : why;
      if (reason && reason.byPeer && FATAL.has(reason.reason)) {
        this.relay.refused = reason;
      } else if (link.transport === 'webrtc' && !link.established) {
        this.relay.rtcFailed = true; // "where it connects": fall back to the WebSocket at once
        this.relay.error = `WebRTC to the relay did not connect (${why}); using a WebSocket`;
        this.connectRelay();
      } else if (this.wantsRelay()) {
        this.retryLater(this.relay, () => this.connectRelay());
      }
    } else if (link.offerer && this.wantsDirect() && link.peerId && this.room.peers.has(link.peerId) && !this.peerLink(link.actor)) {
      const peer = { id: link.peerId, actor: link.actor };
      setTimeout(() => {
        if (this.room.peers.has(peer.id) && !this.peerLink(peer.actor) && this.wantsDirect()) this.offer(peer.id, peer.actor, 'peer');
      }, this.policy.backoffMs[2]);
    }
    this.refreshStatus(true);
  }

  // --- the signalling room and direct links ------------------------------------------------------

  connectRoom() {
    if (!this.wantsRoom() || this.room.room || this.room.timer || this.room.refused) return;
    this.room.retryAt = null;
    const room = new SignalRoom({
      relay: this.config.relay, workspace: this.host.id, timeoutMs: this.policy.connectTimeoutMs,
      auth: (nonce) => this.host.serial(() => this.hub.signal_auth(nonce)),
      onMessage: (msg) => this.onSignal(room, msg),
      onClose: (why) => this.roomClosed(room, why),
    });
    this.room.room = room;
  }

  roomClosed(room, why) {
    if (this.room.room !== room) return;
    this.room.room = null;
    this.room.peers.clear();
    this.room.error = why;
    for (const link of [...this.links.values()]) {
      if (link.transport === 'webrtc' && link.state === 'connecting') link.drop('the signalling room closed');
    }
    if (this.wantsRoom()) this.retryLater(this.room, () => this.connectRoom());
    this.refreshStatus(true);
  }

  onSignal(room, msg) {
    if (this.room.room !== room) return;
    const state = this.room;
    switch (msg.type) {
      case 'welcome':
        state.attempt = 0;
        state.error = null;
        state.relayId = msg.relay || 'relay';
        state.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
        state.peers = new Map((msg.peers || []).map((p) => [p.id, p.actor]));
        if (this.wantsDirect()) {
          for (const p of msg.peers || []) if (p.actor !== this.me && !this.peerLink(p.actor)) this.offer(p.id, p.actor, 'peer');
        }
        if (this.wantsRelay() && this.relayOverRtc() && !this.relayLink()) {
          this.offer(state.relayId, null, 'relay');
        }
        break;
      case 'peer-joined':
        state.peers.set(msg.id, msg.actor);
        break;
      case 'peer-left': {
        state.peers.delete(msg.id);
        const link = this.linkByPeerId(msg.id);
        if (link) link.drop('the other browser left');
        break;
      }
      case 'offer': {
        if (!this.wantsDirect() || msg.actor === this.me) {
          room.send({ type: 'bye', to: msg.from });
          break;
        }
        const old = this.peerLink(msg.actor);
        if (old) old.drop('replaced by a new connection from the same person');
        const link = new RtcLink({ ...this.linkOptions('peer'), bridge: (cmd) => this.emit('rtc', cmd), timeoutMs: this.policy.rtcTimeoutMs });
        link.peerId = msg.from;
        link.actor = msg.actor;
        link.offerer = false;
        this.links.set(link.id, link);
        this.emit('rtc', { op: 'answer', link: link.id, sdp: msg.sdp, iceServers: state.iceServers });
        break;
      }
      case 'answer':
      case 'candidate': {
        const link = this.linkByPeerId(msg.from);
        if (!link || link.transport !== 'webrtc') break;
        if (msg.type === 'answer') this.emit('rtc', { op: 'remote-answer', link: link.id, sdp: msg.sdp });
        else this.emit('rtc', { op: 'candidate', link: link.id, candidate: msg.candidate });
        break;
      }
      case 'bye': {
        const link = this.linkByPeerId(msg.from);
        if (link) link.drop('the other browser declined the connection');
        break;
      }
      case 'refused':
        state.error = msg.detail || msg.reason;
        if (FATAL.has(msg.reason)) state.refused = { reason: msg.reason, detail: msg.detail };
        break;
      default:
        break;
    }
    this.refreshStatus();
  }

  offer(peerId, actor, kind) {
    const link = new RtcLink({ ...this.linkOptions(kind, kind === 'relay' ? 'relay-rtc' : 'peer'), bridge: (cmd) => this.emit('rtc', cmd), timeoutMs: this.policy.rtcTimeoutMs });
    link.peerId = peerId;
    link.actor = actor;
    link.offerer = true;
    this.links.set(link.id, link);
    this.emit('rtc', { op: 'offer', link: link.id, iceServers: this.room.iceServers });
  }

  /** From the page's RTC bridge (js/rtc.js): 'signal', 'open', 'frames', 'closed'. */
  rtcEvent(id, kind, payload) {
    const link = this.links.get(id);
    if (!link) {
      if (kind !== 'closed') this.emit('rtc', { op: 'close', link: id });
      return;
    }
    if (kind === 'signal') {
      if (this.room.room) this.room.room.send({ ...payload, to: link.peerId });
      else link.drop('the signalling room closed');
    } else if (kind === 'open') {
      link.opened();
    } else if (kind === 'frames') {
      link.onFrames(link, payload.map((f) => (f instanceof Uint8Array ? f : new Uint8Array(f))));
    } else if (kind === 'closed') {
      clearTimeout(link.timer);
      link.closed(payload || 'the direct connection closed');
    }
  }

  // --- the loop ------------------------------------------------------------------------------

  /** Run the loop now (or again once it ends). `activity`: frames came in or something was written
   * here (the state hash waits for a pause in those, `hashAfterMs`); false for timers. */
  kick(activity = true) {
    if (activity) {
      const now = performance.now();
      this.activeGapMs = now - this.activeAt; // a long gap: a single edit, not a burst
      this.activeAt = now;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    Promise.resolve().then(() => this.run());
  }

  async run() {
    this.running = true;
    const ranAt = this.trace ? performance.now() : 0;
    if (this.catchingUp && this.timeline.endedAt) this.timeline.idleMs += performance.now() - this.timeline.endedAt;
    this.timeline.cycles += 1;
    try {
      do {
        this.again = false;
        await this.cycle();
      } while (this.again && this.active);
      this.error = null;
    } catch (err) {
      this.error = message(err);
      console.warn('[sync]', err);
      setTimeout(() => this.kick(false), 1000);
    } finally {
      this.running = false;
      this.timeline.endedAt = performance.now();
      if (this.trace) this.mark('run', ranAt, this.timeline.endedAt);
    }
    this.armTimer();
  }

  feedInbound() {
    for (const link of this.links.values()) {
      if (link.session && link.inbound.length) {
        const frames = link.inbound;
        link.inbound = [];
        this.hub.feed(link.id, frames);
      }
    }
  }

  async cycle() {
    if (!this.hub) return;
    const { host, hub } = this;
    // A state hash being read (step 5 of an earlier cycle) is finished first, a page per turn: the
    // frames and timers now due may ask for it, and would otherwise read it whole in one long turn.
    while (this.hub && !this.catchingUp && hub.hashing
      && await host.serial(() => hub.hash_step(this.policy.hashRows), 'sync:hash'));
    await host.serial(() => {
      this.feedInbound();
      hub.fire_timers();
    }, 'sync:feed+timers');
    let flushedAt = performance.now();
    while (this.hub && await host.serial(() => this.workSlice(hub), 'sync:work')) {
      this.drainEvents();
      if (this.catchingUp) this.refreshStatus(); // a catch-up shows its progress while it runs (at most every statusEveryMs)
      if (performance.now() - flushedAt >= this.policy.durableEveryMs) {
        // keep acknowledgements and the progress shown flowing during a long catch-up
        const t0 = performance.now();
        await host.makeDurable();
        const t1 = performance.now();
        if (this.trace) this.mark('durable', t0, t1);
        await this.output();
        this.timeline.durableWaitMs += t1 - t0;
        this.timeline.durableWaits += 1;
        this.timeline.outputMs += performance.now() - t1;
        this.refreshStatus(); // throttled; on a slow device a whole catch-up can fit in one cycle
        this.noteRemote(); // the page refreshes what it shows (throttled): a catch-up's cycle can be long
        flushedAt = performance.now();
      }
    }
    this.drainEvents();
    const stepAt = this.trace ? performance.now() : 0;
    if (this.hub && host.blobKeeper) await host.blobKeeper.step(); // attachment pieces in and out
    if (this.trace) this.mark('blobs', stepAt, performance.now());
    const durableAt = this.trace ? performance.now() : 0;
    await host.makeDurable();
    if (this.trace) this.mark('durable', durableAt, performance.now());
    await this.output();
    this.noteRemote();
    this.refreshStatus();
    // The state hash of what changed, a page per turn, before a session's check asks for it at once
    // (a long turn on a large workspace). Read once frames and writes paused (`hashAfterMs` during a
    // burst of them, at once after a lone one: a peer's check may follow our push within milliseconds;
    // once begun, the hash is finished before frames are fed) and once the person paused
    // (`hashQuietMs`): on a 100k-op workspace one reading is about a second of turns, so read after
    // each edit of someone editing at their own pace it kept the worker busy between all of them, and
    // an edit that came during a page waited for it. A check the peer sent meanwhile waits for it
    // (the session holds it); `hashWaitMaxMs` bounds how long a person editing without a pause puts it off.
    if (!this.hub || this.catchingUp) return;
    const wants = Boolean(hub.wants_hash); // one crossing into Python per cycle
    const wait = this.hashWait(wants);
    if (!wants) return; // the hash is current: no turn spent asking again (an edit would wait behind it)
    if (wait <= 0) {
      while (this.hub && !this.again && !this.catchingUp
        && await host.serial(() => hub.hash_step(this.policy.hashRows), 'sync:hash'));
      if (this.hub && !this.again && !hub.wants_hash) this.hashWantedAt = this.caughtUpAt = null;
    } else if (!this.hashTimer) {
      this.hashTimer = setTimeout(() => {
        this.hashTimer = null;
        this.kick(false);
      }, wait + 1);
    }
  }

  /** How long the state hash's reading waits still (ms; <= 0: now). See `cycle` and `hashDelay`. */
  hashWait(wants) {
    const now = performance.now();
    if (!wants) this.hashWantedAt = this.caughtUpAt = null;
    else if (this.hashWantedAt === null) this.hashWantedAt = now;
    // an edit since the catch-up ended: the person is at work, their pause rules again
    if (this.caughtUpAt !== null && this.host.lastWriteAt >= this.caughtUpAt) this.caughtUpAt = null;
    return hashDelay({
      now, wants, wantedAt: this.hashWantedAt, activeAt: this.activeAt, activeGapMs: this.activeGapMs,
      personAt: this.host.turns.lastPersonAt, caughtUp: this.caughtUpAt !== null,
    }, this.policy);
  }

  /**
   * One turn of the sessions' work: at most `slice` bundles ingested in one SQLite transaction, the
   * size adapted so a turn takes about `sliceMs` (an edit waits for one turn at most; larger turns
   * cost less per bundle: fewer commits, fewer crossings, larger batches of WebCrypto verifies).
   */
  async workSlice(hub) {
    // frames that came in during the last slice, fed in this turn: a turn of their own between every
    // two slices cost a trip through the worker's event loop each (~500 per 100k-op join)
    this.feedInbound();
    const t0 = performance.now();
    this.timeline.firstWorkAt ??= Date.now();
    const size = this.slice;
    const more = await hub.work(size);
    const ms = performance.now() - t0;
    const { sliceMs, sliceBundles, sliceMaxBundles } = this.policy;
    if (more && ms > 0) { // a turn that ran out of work says nothing about the size
      const scaled = Math.round(size * Math.min(2, Math.max(0.5, sliceMs / ms)));
      this.slice = Math.min(sliceMaxBundles, Math.max(Math.min(8, sliceBundles), scaled));
    }
    return more;
  }

  /** Send what the sessions want sent, once everything stored is durable (else try again next cycle). */
  async output() {
    if (!this.hub) return;
    const out = await this.host.serial(() => {
      if (this.host.session.seq > this.host.loggedSeq) return null;
      const proxy = this.hub.output();
      try {
        return proxy.toJs().map(([id, frames, closed]) => [id, frames.map((f) => f.slice()), closed]);
      } finally {
        proxy.destroy();
      }
    }, 'sync:output');
    if (out === null) {
      this.again = true;
      return;
    }
    this.drainEvents(); // before closing links: a session's end carries its reason
    for (const [id, frames, closed] of out) {
      const link = this.links.get(id);
      if (!link) continue;
      if (frames.length) link.send(frames);
      if (this.trace && frames.length) this.mark('send', performance.now(), undefined, frames.length);
      if (closed) {
        link.session = false; // the hub has forgotten it
        link.drop(link.closeReason ? link.closeReason.detail : 'sync session ended');
      }
    }
  }

  armTimer() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.hub || !this.active) return;
    const next = this.hub.next_timer();
    if (next === undefined || next === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick(false);
    }, Math.max(0, Math.min(next - Date.now(), 60000)) + 1);
  }

  drainEvents() {
    if (!this.hub) return;
    const events = JSON.parse(this.hub.take_events());
    let announce = false;
    for (const event of events) {
      const link = this.links.get(event.link);
      if (event.type === 'closed') {
        if (link) link.closeReason = { reason: event.reason, detail: event.detail, byPeer: event.by_peer };
        continue;
      }
      if (!link) continue;
      if (event.type === 'established') {
        link.established = true;
        if (!link.actor) link.actor = event.peer;
        this.timeline.establishedAt ??= Date.now();
        if (link.kind === 'relay') {
          this.relay.attempt = 0;
          this.relay.error = null;
          this.relay.refused = null;
        }
        this.beginEpisode();
      } else if (event.type === 'progress') {
        link.progress = event.remaining > 0 ? { received: event.received, remaining: event.remaining } : null;
      } else if (event.type === 'caught_up') {
        link.progress = null;
        this.timeline.caughtUpAt = Date.now();
        if (link.caughtUpAt === undefined) { // the link's first catch-up ended: a join or a reconnect
          link.caughtUpAt = performance.now();
          this.caughtUpAt = link.caughtUpAt;
        }
      } else if (event.type === 'in_sync') {
        if (!link.inSync) announce = true; // a link's first "in sync" (a join's end): the page hears it now
        link.inSync = true;
        link.checked = true;
        this.timeline.inSyncAt ??= Date.now();
        this.diverged = null;
      } else if (event.type === 'diverged') {
        link.inSync = false;
        link.checked = true;
        this.diverged = 'This device and a peer hold the same changes but compute different states: please report this.';
      } else if (event.type === 'refused') {
        console.warn('[sync] bundle refused', event);
      }
    }
    const catchingUp = [...this.links.values()].some((l) => l.progress);
    if (this.catchingUp && !catchingUp) {
      this.host.scheduleSnapshot();
      this.counts.at = 0;
    }
    this.catchingUp = catchingUp;
    if (announce) this.refreshStatus(true); // not behind `statusEveryMs` (nor the count of changes: SyncHub.status)
  }

  /** First link up after none: "N changes since you last synced" counts from the end of the last sync. */
  beginEpisode() {
    const others = [...this.links.values()].filter((l) => l.established);
    if (others.length !== 1) return;
    const from = Math.max(this.marks.baseline || 0, this.marks.syncedMark || 0);
    if (from !== (this.marks.baseline || 0)) this.saveMarks({ baseline: from }).catch(() => {});
  }

  /** Bundles that arrived from peers: tell the page (and other tabs) at most every `changedEveryMs`. */
  noteRemote() {
    const host = this.host;
    if (host.loggedSeq <= host.notifiedSeq) return;
    const wait = this.policy.changedEveryMs - (Date.now() - this.notifyAt);
    if (wait > 0) {
      if (!this.notifyTimer) this.notifyTimer = setTimeout(() => { this.notifyTimer = null; this.noteRemote(); }, wait);
      return;
    }
    this.notifyAt = Date.now();
    host.notifyRemote();
  }

  // --- status --------------------------------------------------------------------------------

  /** Recompute the status (at most every `statusEveryMs` unless `now`) and send it to the page and other tabs. */
  refreshStatus(now = false) {
    if (!now) {
      const wait = this.policy.statusEveryMs - (Date.now() - this.statusAt);
      if (wait > 0) {
        if (!this.statusTimer) this.statusTimer = setTimeout(() => { this.statusTimer = null; this.refreshStatus(true); }, wait);
        return Promise.resolve(this.status);
      }
    }
    this.statusAt = Date.now();
    return this.computeStatus().then((status) => {
      this.status = status;
      if (status && status.state === 'in-sync' && this.config.recovery && !this.finishing) this.finishRecovery();
      this.emit('sync', status);
      this.host.broadcast({ kind: 'sync', status });
      return status;
    }).catch((err) => {
      console.warn('[sync] status', err);
      return this.status;
    });
  }

  async computeStatus() {
    if (!this.hub) return this.status;
    // "N changes since you last synced" scans the bundles after the mark: only when they changed, never
    // during a catch-up, at most every `countsEveryMs`
    const baseline = this.marks.baseline || 0;
    // only others' bundles count: an edit made here never makes them stale (a recount of a large
    // workspace's changes is a long turn an edit would wait behind)
    const arrived = this.hub.arrived + this.host.received;
    const stale = this.counts.arrived !== arrived || this.counts.baseline !== baseline;
    const watched = Date.now() < this.watchUntil;
    // ...nor between a link's first catch-up and its first check (a long turn "in sync" would wait
    // behind), for `countsEveryMs` at most (with others editing, the first check may not match)
    const checking = [...this.links.values()].some((l) => l.caughtUpAt !== undefined && !l.checked
      && performance.now() - l.caughtUpAt < this.policy.countsEveryMs);
    // (nor in the status that first says a link is in sync: the hub leaves them out of that one, `since`
    // null, and the next refresh counts)
    const counts = watched && stale && !this.catchingUp && !checking
      && Date.now() - this.counts.at >= this.policy.countsEveryMs;
    const py = JSON.parse(await this.host.serial(() => this.hub.status(this.marks.sharedHlc || '', this.marks.baseline || 0, counts), counts ? 'sync:status+counts' : 'sync:status'));
    const changes = {};
    if (py.shared_hlc && py.shared_hlc !== this.marks.sharedHlc) changes.sharedHlc = py.shared_hlc;
    if (py.links.some((l) => l.in_sync) && py.mark !== this.marks.syncedMark) {
      changes.syncedMark = py.mark;
      changes.lastSyncAt = Date.now();
    }
    if (py.links.some((l) => l.in_sync)) changes.lastSyncAt = Date.now();
    if (Object.keys(changes).length) this.noteMarks(changes);
    this.counts.owner = py.owner;
    if (counts && py.since) this.counts = { ...this.counts, at: Date.now(), since: py.since, arrived, baseline };
    else if (watched && stale && !this.statusTimer) { // counts are behind: look again once allowed
      const wait = Math.max(this.policy.statusEveryMs, this.policy.countsEveryMs - (Date.now() - this.counts.at));
      this.statusTimer = setTimeout(() => { this.statusTimer = null; this.refreshStatus(true); }, wait);
    }
    const byId = new Map(py.links.map((l) => [l.link, l]));
    const links = [...this.links.values()].map((link) => {
      const s = byId.get(link.id) || {};
      return {
        id: link.id, kind: link.kind, transport: link.transport, state: link.established ? 'open' : 'connecting',
        actor: link.actor,
        name: link.kind === 'relay' ? 'Relay' : (s.peer_name || `another browser${link.actor ? ` (${link.actor.slice(0, 8)})` : ''}`),
        inSync: Boolean(s.in_sync), progress: link.progress, received: s.received || 0,
      };
    });
    return this.describe(links, py);
  }

  describe(links, py) {
    const c = this.config;
    const relay = links.find((l) => l.kind === 'relay') || null;
    const peers = links.filter((l) => l.kind === 'peer');
    const catching = links.filter((l) => l.progress);
    const progress = catching.length ? catching.reduce((acc, l) => ({
      received: acc.received + l.progress.received, remaining: acc.remaining + l.progress.remaining,
    }), { received: 0, remaining: 0 }) : null;
    let state;
    let retryAt = null;
    if (!c.published && !c.joined) state = 'local';
    else if (c.paused) state = 'paused';
    else if (c.route === 'direct' && !this.canRtc()) state = 'no-direct';
    else if (this.relay.refused && c.route !== 'direct') state = 'refused';
    else if (progress) state = 'catching-up';
    else if (relay && relay.state === 'open') state = relay.inSync ? 'in-sync' : 'syncing';
    else if (c.route === 'direct' && peers.some((p) => p.state === 'open')) state = peers.every((p) => p.state !== 'open' || p.inSync) ? 'in-sync' : 'syncing';
    else if (c.route === 'direct' && this.room.room && this.room.room.state === 'open') state = 'waiting';
    else if ((relay && relay.state === 'connecting') || (c.route === 'direct' && this.room.room)) state = 'connecting';
    else {
      state = 'offline';
      retryAt = c.route === 'direct' ? this.room.retryAt : this.relay.retryAt;
    }
    const deviceOffline = this.deviceOffline && state === 'offline';
    return {
      workspace: this.host.id, elsewhere: false, state, retryAt, progress, deviceOffline, rtc: this.canRtc(),
      error: this.error || this.diverged || (state === 'refused' ? this.relay.refused.detail : null),
      lastError: c.route === 'direct' ? this.room.error : this.relay.error,
      config: { ...c }, owner: this.counts.owner, invite: c.relay && (c.published || c.joined) ? inviteLink(c.relay, this.host.id) : null,
      relay, peers, room: this.room.room ? this.room.room.state : 'closed',
      lastSyncAt: this.marks.lastSyncAt || null, unshared: py.unshared,
      since: this.counts.since, checkedAt: this.counts.at,
    };
  }

  /** For the snapshot policy: snapshots wait while a catch-up streams in (one is taken when it ends). */
  holdsSnapshots() {
    return this.catchingUp;
  }

  stats() {
    return {
      config: this.config, status: this.status,
      links: [...this.links.values()].map((l) => ({ id: l.id, kind: l.kind, transport: l.transport, state: l.state, established: l.established, actor: l.actor })),
      hashWanted: this.hub ? Boolean(this.hub.wants_hash) : null, // the state hash is not the current state's yet
      verifyAhead: this.hub ? JSON.parse(this.hub.verify_ahead()) : null, // signatures checked on the verify worker
      profile: this.hub && this.policy.profile ? JSON.parse(this.hub.profile_report(40)) : undefined,
      catchup: { ...this.timeline, durableWaitMs: Math.round(this.timeline.durableWaitMs), outputMs: Math.round(this.timeline.outputMs),
        idleMs: Math.round(this.timeline.idleMs), endedAt: undefined },
    };
  }
}

/** The relays the workspace's relay knows of on the venue network (GET /lan/relays, discovery.py):
 * {looking: false} when that relay does not look for others, else {looking: true, relays: [...]}. */
async function lanRelays(relay) {
  if (!relay) throw new RelayError('not_published', 'Publish this workspace to a relay first.');
  let response;
  try {
    response = await fetch(`${relay}/lan/relays`, { cache: 'no-store' });
  } catch (err) {
    throw new RelayError('unreachable', `Could not reach the relay at ${relay}: check the address and the network.`,
      String(err && err.message ? err.message : err));
  }
  if (response.status === 404) return { looking: false, relays: [] };
  const data = await response.json().catch(() => null);
  if (!response.ok || !data || !Array.isArray(data.relays)) {
    throw new RelayError('bad_answer', `The relay at ${relay} gave an answer this app does not understand.`);
  }
  return { looking: true, relays: data.relays };
}
