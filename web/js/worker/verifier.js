// The verify worker (verifypool.js): Ed25519 verdicts through WebCrypto, on a thread of its own.
// A message {id, packed, count}: `count` items, each key (32) | signature (64) | message length (4,
// little-endian) | message; the answer {id, verdicts}: a byte per item, 1 valid, 0 not, 2 could not
// tell (the key did not import, or verify threw: the core worker then verifies that item itself).
const ALG = { name: 'Ed25519' };
const keys = new Map(); // key hex -> CryptoKey (importKey costs more than verify)

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

async function verdict(raw, signature, message) {
  try {
    return (await crypto.subtle.verify(ALG, await keyOf(raw), signature, message)) ? 1 : 0;
  } catch {
    return 2;
  }
}

self.onmessage = async ({ data: { id, packed, count } }) => {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const checks = [];
  let at = 0;
  for (let i = 0; i < count; i += 1) {
    const raw = packed.subarray(at, at + 32);
    const signature = packed.subarray(at + 32, at + 96);
    const length = at + 100 <= packed.length ? view.getUint32(at + 96, true) : -1;
    if (length < 0 || at + 100 + length > packed.length) { // not as packed: say nothing of it, or the rest
      checks.push(2);
      at = packed.length;
      continue;
    }
    const message = packed.subarray(at + 100, at + 100 + length);
    at += 100 + length;
    checks.push(verdict(raw, signature, message));
  }
  const verdicts = Uint8Array.from(await Promise.all(checks));
  self.postMessage({ id, verdicts }, [verdicts.buffer]);
};
