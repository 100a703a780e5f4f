// Ed25519 signing on the worker's own thread (noble-ed25519, audited, with noble-hashes' SHA-512).
//
// Why not WebCrypto: its sign() is asynchronous and WebKit runs it on a work queue of its own, then
// posts the result back to the worker: two thread hops per edit. In WebKitGTK that was a median 2 ms
// and up to tens of ms of a save's time when the machine was busy (Chromium: 0.2 ms), the largest
// part of WebKit's slow saves (docs/benchmarks.md, session 10). Signing here takes no hop. The seed
// is the one Python already holds (the identity); signatures are the same bytes (Ed25519 is
// deterministic), so peers and PyNaCl verify them as before. Verification stays on WebCrypto.
import * as ed from '../../vendor/noble/ed25519.js';
import { sha512 } from '../../vendor/noble/sha2.js';

ed.hashes.sha512 = sha512;

/** The last signature of a local write: who made it and how long it took (the bench's split, host.js). */
export const signTime = { last: null, by: null };

const L = 2n ** 252n + 27742317777372353535851937790883648493n; // the group order
const numberLE = (bytes) => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n);
const bytesLE32 = (n) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 255n));

/**
 * A function signing with `seed` (32 bytes): message bytes -> 64-byte signature, synchronously.
 * RFC 8032 5.1.6 on noble's point arithmetic and SHA-512, with the expanded key (a, prefix, A) derived
 * once here: noble's own `sign` derives it again for every signature, a second scalar multiplication
 * (half the cost). Tested against PyNaCl (tests/browser/test_worker_signing.py).
 */
export function makeSigner(seed) {
  const key = Uint8Array.from(seed);
  if (key.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const { prefix, scalar, pointBytes } = ed.utils.getExtendedPublicKey(key);
  return (message) => {
    const t0 = performance.now();
    const m = Uint8Array.from(message);
    const r = ed.etc.mod(numberLE(sha512(ed.etc.concatBytes(prefix, m))), L); // the nonce
    const R = ed.Point.BASE.multiply(r).toBytes();
    const k = ed.etc.mod(numberLE(sha512(ed.etc.concatBytes(R, pointBytes, m))), L);
    const signature = ed.etc.concatBytes(R, bytesLE32(ed.etc.mod(r + k * scalar, L)));
    signTime.last = Math.round((performance.now() - t0) * 10) / 10;
    signTime.by = 'worker';
    return signature;
  };
}

/** The public key of `seed` (to check that a signer matches its identity before it signs anything). */
export function publicKeyOf(seed) {
  return ed.getPublicKey(Uint8Array.from(seed));
}
