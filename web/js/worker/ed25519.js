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

/** A function signing with `seed` (32 bytes): message bytes -> 64-byte signature, synchronously. */
export function makeSigner(seed) {
  const key = Uint8Array.from(seed);
  if (key.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  return (message) => {
    const t0 = performance.now();
    const signature = ed.sign(message, key);
    signTime.last = Math.round((performance.now() - t0) * 10) / 10;
    signTime.by = 'worker';
    return signature;
  };
}

/** The public key of `seed` (to check that a signer matches its identity before it signs anything). */
export function publicKeyOf(seed) {
  return ed.getPublicKey(Uint8Array.from(seed));
}
