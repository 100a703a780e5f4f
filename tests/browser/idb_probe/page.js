// mode=write: starts the writer worker (worker.js) and counts its iterations (window.n).
// mode=probe: waits for the writer's Web Lock (granted = the writer ended) and meanwhile, every 0.5 s, reads
// every store (each read bounded to 2 s; also a strict put in each once the lock is granted), until a
// round answers in full `after` ms past the lock, or `limit` ms in all. window.result holds every round.
const P = new URLSearchParams(location.search);
const DB = P.get('db');
const STORES = ['log', 'marks', 'sync', 'meta'];
if (P.get('mode') === 'write') {
  window.n = -1; new BroadcastChannel('probe-' + DB).onmessage = (e) => { window.n = e.data.n; };
  window.w = new Worker('worker.js' + location.search, { type: 'module' });
  window.w.onmessage = (e) => { if (e.data === 'ready') document.body.dataset.ready = '1'; };
} else {
  window.result = null;
  const t0 = Date.now();
  const bc = new BroadcastChannel('probe-' + DB);
  let last = null, lastN = null;
  bc.onmessage = (e) => { last = e.data.t; lastN = e.data.n; };
  let lockAt = null;
  navigator.locks.request('ws-' + DB, () => { lockAt = Date.now(); return new Promise(() => {}); });
  const bounded = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(() => r('NO ANSWER'), ms))]);
  const openDb = () => new Promise((res) => { const r = indexedDB.open(DB); r.onsuccess = () => res(r.result); r.onerror = () => res('ERR ' + r.error); r.onblocked = () => res('BLOCKED'); });
  const read = (db, s) => new Promise((res) => {
    try { const tx = db.transaction(s, 'readonly'); tx.objectStore(s).get(1); tx.oncomplete = () => res('ok'); tx.onabort = tx.onerror = () => res('abort ' + tx.error); }
    catch (e) { res('throw ' + e); }
  });
  const write = (db, s) => new Promise((res) => {
    try { const tx = db.transaction(s, 'readwrite', { durability: 'strict' }); tx.objectStore(s).put(1, 'probe'); tx.oncomplete = () => res('ok'); tx.onabort = tx.onerror = () => res('abort ' + tx.error); }
    catch (e) { res('throw ' + e); }
  });
  const LIMIT = Number(P.get('limit') || 120000), AFTER = Number(P.get('after') || 15000);
  (async () => {
    const rounds = [];
    let db = null;
    while (Date.now() - t0 < LIMIT) {
      const r = { t: Date.now() - t0, lock: lockAt !== null };
      if (!db || typeof db === 'string') db = await bounded(openDb(), 2000);
      if (typeof db === 'string') { r.open = db; db = null; }
      else {
        r.reads = {};
        await Promise.all(STORES.map(async (s) => { r.reads[s] = await bounded(read(db, s), 2000); }));
        if (lockAt !== null) { r.writes = {}; for (const s of STORES) r.writes[s] = await bounded(write(db, s), 2000); }
      }
      rounds.push(r);
      // Done once past `after` with a round that answered: a slow round (load) is followed up, a stuck store runs to `limit`.
      if (lockAt !== null && Date.now() - lockAt > AFTER && !JSON.stringify(r).includes('NO ANSWER') && !r.open) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    window.result = { rounds, lockAt: lockAt && lockAt - t0, lastMsg: last && last - t0, lastN };
  })();
}
