// Ed25519 signatures of a catch-up checked on a worker of their own (verifier.js), beside this one.
//
// Chromium's WebCrypto verifies on the calling thread (the promise is settled when verify() returns),
// so a catch-up's verifies took the core worker's one thread: ~1.2 s of a 100k-op join's 4 s of ingest
// turns (docs/benchmarks.md, session 14). The sync glue (openprod_web.writes.VerifyAhead) hands the next
// slice's signatures here while it applies the current slice, as CPython's ingest checks the next
// bundles on a thread of its own. Verdicts only: the core still decides (libsodium's refusals, and
// what the pool could not tell is verified in the core worker as before).

let worker = null;
let broken = false;
let nextId = 0;
const waiting = new Map(); // id -> {resolve, reject}

function failAll(why) {
  broken = true;
  for (const { reject } of waiting.values()) reject(new Error(why));
  waiting.clear();
  if (worker) worker.terminate();
  worker = null;
}

function start() {
  worker = new Worker(new URL('./verifier.js', import.meta.url), { type: 'module', name: 'openprod-verify' });
  worker.onmessage = ({ data }) => {
    const entry = waiting.get(data.id);
    if (!entry) return;
    waiting.delete(data.id);
    data.verdicts.resolvedAt = performance.now(); // writes.VerifyAhead: how long Python took to resume after this
    data.verdicts.backend = data.backend; // ...and which backend gave them ('webcrypto' or 'sodium')
    entry.resolve(data.verdicts);
  };
  worker.onerror = (event) => { event.preventDefault(); failAll(`the verify worker failed: ${event.message || 'error'}`); };
  worker.onmessageerror = () => failAll('the verify worker sent what could not be read');
}

/**
 * Check `count` packed items, each key (32) | signature (64) | message length (4, little-endian) |
 * message: resolves to a Uint8Array of `count` verdicts (1 valid, 0 not, 2 could not tell); rejects if the
 * worker is gone (the caller then verifies those itself). The array's `backend`: which Ed25519 backend
 * the worker used ('webcrypto' or 'sodium', verifier.js); `resolvedAt`: performance.now() when it came back. Throws at once where no worker can be had.
 * `packed`: a Uint8Array, or Python bytes (a PyProxy, copied here before returning).
 */
export function verifyMany(packed, count) {
  if (broken) throw new Error('no verify worker');
  const bytes = packed instanceof Uint8Array ? packed.slice() : packed.toJs();
  if (!worker) start();
  nextId += 1;
  const id = nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, packed: bytes, count }, [bytes.buffer]);
  });
}

