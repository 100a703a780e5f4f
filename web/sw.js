// Openprod service worker: precache the whole app (Pyodide, wheels, UI) so it starts with no server.
//
// build.py replaces the two markers below with the precache list ([path, sha256] for every file)
// and a version that is the hash of that list, so any change to any file makes a new sw.js, which
// the browser installs as an update. Files whose hash is already in an older cache are copied
// from there instead of downloaded again; everything fetched is checked against its hash.
// Requests for anything not in the list (the relay's API, WebSockets) go to the network untouched.
/* eslint-env serviceworker */
const VERSION = '__VERSION__';
/** @type {Array<[string, string]>} */
const PRECACHE = __PRECACHE__;
const PREFIX = 'openprod-';
const CACHE = PREFIX + VERSION;
const HASH_HEADER = 'X-Openprod-Sha256';
const scope = new URL(self.registration.scope);
const hashes = new Map(PRECACHE.map(([path, hash]) => [new URL(path, scope).href, hash]));
const INDEX = new URL('index.html', scope).href;

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A response for `url` whose body hashes to `hash`: from an older cache when possible, else the network. */
async function fetchVerified(url, hash) {
  const names = (await caches.keys()).filter((n) => n.startsWith(PREFIX) && n !== CACHE);
  for (const name of names) {
    const old = await (await caches.open(name)).match(url);
    if (old && old.headers.get(HASH_HEADER) === hash) return old;
  }
  const response = await fetch(url, { cache: 'no-cache' });
  if (!response.ok) throw new Error(`precache: ${url} answered ${response.status}`);
  const body = await response.arrayBuffer();
  const got = hex(await crypto.subtle.digest('SHA-256', body));
  if (got !== hash) throw new Error(`precache: ${url} has sha256 ${got}, expected ${hash} (a stale or partial copy)`);
  const headers = new Headers(response.headers);
  headers.set(HASH_HEADER, hash);
  headers.delete('Content-Length');
  return new Response(body, { status: 200, statusText: 'OK', headers });
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // A few at a time: the wasm and stdlib are large, the rest small.
    const queue = [...hashes.entries()];
    const workers = Array.from({ length: 4 }, async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const [url, hash] = item;
        if (await cache.match(url)) continue;
        await cache.put(url, await fetchVerified(url, hash));
      }
    });
    await Promise.all(workers);
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
  if (event.data && event.data.type === 'version' && event.ports[0]) event.ports[0].postMessage(VERSION);
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== scope.origin) return;
  url.search = '';
  url.hash = '';
  let key = url.href;
  if (request.mode === 'navigate' && (key === scope.href || key === INDEX)) key = INDEX;
  if (!hashes.has(key)) return; // not part of the app: let the network answer
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(key);
    if (hit) return hit;
    return fetch(request); // still installing: the network has it
  })());
});
