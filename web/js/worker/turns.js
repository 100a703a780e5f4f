// The worker's Python takes one call at a time (a snapshot must never land inside a transaction),
// so every call waits its turn here. Two lanes: what a person is waiting for (an edit, a read for
// the screen) goes before background work (sync slices, status, snapshots, blobs), and before a
// background turn the worker yields to its event loop once, so an edit the page just posted is
// queued (and goes first) rather than waiting behind a whole run of background turns. A turn that
// has started is never interrupted: background work comes in small turns (sync ingests a slice of
// bundles per turn, see sync.js).
//
// Each turn is timed; `stats()` keeps the longest background turns and, for person turns, how long
// they waited and behind what (the bench and docs/web.md, "Saving while syncing").

export const LANES = ['person', 'background'];
const KEEP = 12;

const loop = new MessageChannel();
const waiting = [];
loop.port1.onmessage = () => waiting.shift()();

/** Resolves after one trip through the event loop (a message on a private channel: no timer clamping). */
export function yieldToLoop() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    loop.port2.postMessage(null);
  });
}

export class Turns {
  constructor() {
    this.queues = { person: [], background: [] };
    this.busy = false;
    this.current = null;
    this.order = 0; // turns started so far (tests read the order through `history`)
    this.history = []; // the last turns: {label, lane, order} (tests of the priority)
    this.longest = []; // the longest background turns: {label, ms}
    this.waits = []; // person turns: {label, waitMs, runMs, behind: label of the turn running when it was queued}
    this.counts = { person: 0, background: 0 };
    this.totals = {}; // label -> {n, ms}: where the worker's time went
    this.lastPersonAt = -Infinity; // when the last person turn ended (long background work waits for a pause)
    this.trace = null; // an array when the policy's `trace` is on: [label, lane, queuedAt, startedAt, endedAt] per turn
  }

  /** Run `fn` (sync or async) when its turn comes; resolves or rejects with its outcome. */
  run(fn, { lane = 'background', label = 'task' } = {}) {
    if (!LANES.includes(lane)) throw new Error(`unknown lane ${lane}`);
    return new Promise((resolve, reject) => {
      this.queues[lane].push({
        fn, resolve, reject, lane, label, queuedAt: performance.now(), behind: this.current ? this.current.label : null,
      });
      this.pump();
    });
  }

  /** Turns waiting, per lane. */
  pending() {
    return { person: this.queues.person.length, background: this.queues.background.length };
  }

  pump() {
    if (this.busy) return;
    const next = this.queues.person.shift() || this.queues.background.shift();
    if (!next) return;
    this.busy = true;
    this.start(next);
  }

  async start(task) {
    if (task.lane === 'background') {
      // let a message from the page in first: an edit queued now goes before this turn
      this.queues.background.unshift(task);
      await yieldToLoop();
      task = this.queues.person.shift() || this.queues.background.shift();
    }
    this.current = task;
    const startedAt = performance.now();
    this.order += 1;
    this.history.push({ label: task.label, lane: task.lane, order: this.order });
    if (this.history.length > 200) this.history.shift();
    try {
      task.resolve(await task.fn());
    } catch (err) {
      task.reject(err);
    } finally {
      this.note(task, startedAt, performance.now());
      this.current = null;
      this.busy = false;
      this.pump();
    }
  }

  note(task, startedAt, endedAt) {
    this.counts[task.lane] += 1;
    if (this.trace) this.trace.push([task.label, task.lane, task.queuedAt, startedAt, endedAt]);
    const ms = endedAt - startedAt;
    const total = (this.totals[task.label] ??= { n: 0, ms: 0 });
    total.n += 1;
    total.ms += ms;
    if (task.lane === 'person') {
      this.lastPersonAt = endedAt;
      this.waits.push({ label: task.label, waitMs: round(startedAt - task.queuedAt), runMs: round(ms), behind: task.behind });
      if (this.waits.length > 400) this.waits.shift();
    } else if (this.longest.length < KEEP || ms > this.longest[this.longest.length - 1].ms) {
      this.longest.push({ label: task.label, ms: round(ms) });
      this.longest.sort((a, b) => b.ms - a.ms);
      this.longest.length = Math.min(this.longest.length, KEEP);
    }
  }

  stats() {
    const waits = this.waits.map((w) => w.waitMs).sort((a, b) => a - b);
    const pick = (q) => (waits.length ? waits[Math.min(waits.length - 1, Math.floor(q * waits.length))] : null);
    return {
      counts: { ...this.counts },
      totals: Object.fromEntries(Object.entries(this.totals).map(([k, v]) => [k, { n: v.n, ms: round(v.ms) }])),
      pending: this.pending(), longestBackground: this.longest.slice(),
      personWaitMs: { n: waits.length, median: pick(0.5), p95: pick(0.95), max: waits.length ? waits[waits.length - 1] : null },
      slowestPersonWaits: [...this.waits].sort((a, b) => b.waitMs - a.waitMs).slice(0, KEEP),
    };
  }

  /** Forget the figures (the bench measures one phase at a time). */
  resetStats() {
    this.longest = [];
    this.waits = [];
    this.counts = { person: 0, background: 0 };
    this.totals = {};
  }
}

const round = (ms) => Math.round(ms * 10) / 10;
