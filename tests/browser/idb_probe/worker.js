// The writer (docs/web.md, "Chromium probe"): under a Web Lock, loops puts on one database, the way the
// app's worker overlaps a catch-up's `persist` (log) and sync's `writeSync` (marks). `v` picks how:
//   rw2   two readwrite (strict) transactions in flight on ONE connection
//   rwro  a readwrite and a readonly in flight on one connection
//   seq   one transaction at a time on one connection
//   conn2 two readwrite in flight, each on its own connection
// Every 7th log value is 100 KB, the others `size` bytes. `busy` ms of synchronous work while they are in
// flight (Python's, in the app); `sub=1` starts an idle nested worker (the app's verifier pool).
// Each iteration is posted on a BroadcastChannel (the probe page sees the writer live on).
const P = new URLSearchParams(location.search);
const DB = P.get('db'), V = P.get('v'), SIZE = Number(P.get('size') || 4096);
const BUSY = Number(P.get('busy') || 0);
const spin = (ms) => { const e = performance.now() + ms; while (performance.now() < e); };
const STORES = ['log', 'marks', 'sync', 'meta'];
if (P.get('sub') === '1') { self.sub = new Worker('idle.js'); self.sub.onmessage = () => {}; }
const bc = new BroadcastChannel('probe-' + DB);
const open = () => new Promise((res, rej) => {
  const r = indexedDB.open(DB, 1);
  r.onupgradeneeded = () => { for (const s of STORES) r.result.createObjectStore(s); };
  r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
});
const done = (tx) => new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = tx.onabort = () => rej(tx.error); });
function put(db, store, n, size) {
  const tx = db.transaction(store, 'readwrite', { durability: 'strict' });
  tx.objectStore(store).put(new Uint8Array(size).fill(n & 255), n % 50);
  return done(tx);
}
function get(db, store, n) {
  const tx = db.transaction(store, 'readonly');
  tx.objectStore(store).get(n % 50);
  return done(tx);
}
navigator.locks.request('ws-' + DB, async () => {
  const a = await open();
  const b = V === 'conn2' ? await open() : a;
  postMessage('ready');
  for (let n = 0; ; n++) {
    const size = (n % 7 === 0) ? 100_000 : SIZE;
    if (V === 'rw2' || V === 'conn2') { const p = Promise.all([put(a, 'log', n, size), put(b, 'marks', n, 2048)]); spin(BUSY); await p; }
    else if (V === 'rwro') await Promise.all([put(a, 'log', n, size), get(a, 'marks', n)]);
    else if (V === 'seq') { await put(a, 'log', n, size); await put(a, 'marks', n, 2048); }
    bc.postMessage({ n, t: Date.now() });
  }
});
