// Which Ed25519 backend the verify worker (verifier.js) uses for a batch: the one measured cheaper on
// this device, not guessed from the engine's name. WebKitGTK's WebCrypto verify costs ~500 µs (libgcrypt)
// where libsodium's WebAssembly takes ~110 µs once JavaScriptCore has tiered it up; Chromium's WebCrypto
// takes ~46 µs against libsodium's ~92 µs (and ~1 ms a verify before V8 has tiered it up); Safari with
// CryptoKit may be fast too (docs/benchmarks.md, session 16). So each batch is timed, a running cost per
// verify is kept per backend, the cheaper one is used, and the other is tried within a bounded share of
// the time spent verifying: warming up a backend not measured yet, then re-sampling it now and then, so a
// tier-up or a change is seen while a device whose first backend is fast loses little to the trying.

/** Running cost per verify (µs) of each backend, and the choice made from them. */
export class Chooser {
  /**
   * @param {{warmShare?: number, sampleShare?: number, weight?: number, warm?: Record<string, number>}} options
   *   warmShare: at most this share of all verify time goes to a backend not measured yet (its warm-up);
   *   sampleShare: ...to re-sampling the costlier one once both are measured; weight: of the newest batch
   *   in the running cost; warm: verifies a backend does before its timings count (libsodium: JSC runs
   *   its first ~600 calls ~8x slower while it tiers the wasm up).
   */
  constructor({ warmShare = 0.3, sampleShare = 0.08, weight = 0.5, warm = {} } = {}) {
    this.warmShare = warmShare;
    this.sampleShare = sampleShare;
    this.weight = weight;
    this.warm = warm;
    this.costs = {}; // name -> µs per verify
    this.done = {}; // name -> verifies done
    this.totalMs = 0; // all batches' time
    this.warmMs = 0; // ...of which warming up a backend not measured yet
    this.sampleMs = 0; // ...of which re-sampling the costlier one
    this.batches = 0;
  }

  /**
   * The backend for the next batch among `ready` (names, preferred first when nothing is measured):
   * {name, sample}, sample true where the batch is for measuring rather than the cheaper choice.
   * @param {string[]} ready
   */
  pick(ready) {
    this.batches += 1;
    const unknown = ready.filter((n) => !(n in this.costs));
    const known = ready.filter((n) => n in this.costs);
    if (known.length === 0) return { name: unknown[0], sample: ready.length > 1 };
    const best = known.reduce((a, b) => (this.costs[b] < this.costs[a] ? b : a));
    if (unknown.length > 0 && this.warmMs <= this.warmShare * this.totalMs) return { name: unknown[0], sample: true };
    const others = known.filter((n) => n !== best);
    if (others.length > 0 && this.sampleMs <= this.sampleShare * this.totalMs) {
      return { name: others[this.batches % others.length], sample: true };
    }
    return { name: best, sample: false };
  }

  /** Note that `name` verified `count` items in `ms` milliseconds (wall time, waits included), on a
   * batch picked as a `sample` or not. */
  record(name, count, ms, sample = false) {
    if (count <= 0) return;
    this.totalMs += ms;
    if (sample && name in this.costs) this.sampleMs += ms;
    else if (sample) this.warmMs += ms;
    const before = this.done[name] || 0;
    this.done[name] = before + count;
    if (before < (this.warm[name] || 0)) return; // still warming up: its timings are not its cost
    const perVerify = (ms * 1000) / count;
    const old = this.costs[name];
    this.costs[name] = old === undefined ? perVerify : old + this.weight * (perVerify - old);
  }
}
