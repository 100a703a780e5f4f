// The verify worker (verifypool.js): Ed25519 verdicts on a thread of its own, through WebCrypto or
// libsodium's WebAssembly build, whichever is measured cheaper on this device (verifychoice.js).
// A message {id, packed, count, backend?}: `count` items, each key (32) | signature (64) | message length
// (4, little-endian) | message; `backend` ('webcrypto' or 'sodium') forces one (the tests compare them).
// The answer {id, verdicts, backend, sample}: a byte per item, 1 valid, 0 not, 2 could not tell (the key
// did not import, or verify threw, or the backend asked for is not here: the core worker then verifies
// that item itself); which backend gave them, and whether the batch was a re-sample of the costlier one.
// libsodium loads in the background: until it is ready every batch goes to WebCrypto.
import { Chooser } from './verifychoice.js';

const ALG = { name: 'Ed25519' };
const keys = new Map(); // key hex -> CryptoKey (importKey costs more than verify)
const chooser = new Chooser({ warm: { sodium: 600 } });
let sodium = null; // libsodium-wrappers, once its wasm is compiled
import('../../vendor/libsodium-wrappers/sodium.mjs')
  .then(async ({ default: lib }) => { await lib.ready; sodium = lib; })
  .catch(() => {}); // no libsodium (a build without it, or wasm refused): WebCrypto alone, as before

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

async function keyOf(raw) {
  const name = hex(raw);
  let key = keys.get(name);
  if (!key) {
    key = await crypto.subtle.importKey('raw', raw, ALG, true, ['verify']);
    keys.set(name, key);
  }
  return key;
}

// What libsodium refuses whatever the message (core/openprod/ed25519_rules.py, which the core applies to
// every item too): keys or nonces R of small order, keys not canonical, S >= L. WebCrypto accepts some
// (S >= L, small-order keys), and in WebKitGTK a small-order or non-canonical key lost the page, so
// these never reach it: their verdict is libsodium's, 0.
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const Y8 = 0x5FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826n; // y of an order-8 point
const SMALL_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8]); // y of all 8 torsion points
const MASK = (1n << 255n) - 1n;
const little = (bytes) => BigInt(`0x${hex(Uint8Array.from(bytes).reverse()) || '0'}`);

function refusedBySodium(raw, signature) {
  const ay = little(raw) & MASK;
  const ry = (little(signature.subarray(0, 32)) & MASK) % P;
  return ay >= P || SMALL_Y.has(ay) || SMALL_Y.has(ry) || little(signature.subarray(32)) >= L;
}

async function webcryptoVerdict(raw, signature, message) {
  if (refusedBySodium(raw, signature)) return 0;
  try {
    return (await crypto.subtle.verify(ALG, await keyOf(raw), signature, message)) ? 1 : 0;
  } catch {
    return 2;
  }
}

function sodiumVerdict(raw, signature, message) {
  try {
    return sodium.crypto_sign_verify_detached(signature, message, raw) ? 1 : 0;
  } catch {
    return 2;
  }
}

/** Verdicts for `items` ([key, signature, message] or null where not as packed) from `backend`. */
async function verdicts(backend, items) {
  if (backend === 'sodium') {
    return items.map((item) => (item && sodium ? sodiumVerdict(...item) : 2));
  }
  if (backend !== 'webcrypto') return items.map(() => 2);
  return Promise.all(items.map((item) => (item ? webcryptoVerdict(...item) : 2)));
}

function unpack(packed, count) {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const items = [];
  let at = 0;
  for (let i = 0; i < count; i += 1) {
    const length = at + 100 <= packed.length ? view.getUint32(at + 96, true) : -1;
    if (length < 0 || at + 100 + length > packed.length) { // not as packed: say nothing of it, or the rest
      items.push(null);
      at = packed.length;
      continue;
    }
    items.push([packed.subarray(at, at + 32), packed.subarray(at + 32, at + 96), packed.subarray(at + 100, at + 100 + length)]);
    at += 100 + length;
  }
  return items;
}

async function answer({ id, packed, count, backend }) {
  const items = unpack(packed, count);
  const { name, sample } = backend ? { name: backend, sample: false } : chooser.pick(sodium ? ['webcrypto', 'sodium'] : ['webcrypto']);
  const t0 = performance.now();
  const out = Uint8Array.from(await verdicts(name, items));
  if (!backend) chooser.record(name, items.filter(Boolean).length, performance.now() - t0, sample);
  self.postMessage({ id, verdicts: out, backend: name, sample, costs: { ...chooser.costs } }, [out.buffer]);
}

// One batch at a time, so a batch's time is its own (WebCrypto's verifies of two batches would overlap).
let tail = Promise.resolve();
self.onmessage = ({ data }) => { tail = tail.then(() => answer(data)); };
