// Entry point. Checks that this browser and this address can run Openprod before starting
// anything: off localhost, service workers and WebCrypto exist only on HTTPS, so a page opened
// on plain HTTP explains how to reach the relay's HTTPS address instead of failing silently.
import { h, mount } from './ui/dom.js';

// Uncaught errors of this page, kept for diagnosis (`openprodErrors` in the console; the WebKit
// browser tests read it, WebDriver has no error events).
const uncaught = [];
window.openprodErrors = uncaught;
// The steps of opening a workspace, [ms, step] (app.js `traced`): a test finding a tab stuck opening prints them.
window.openprodOpening = [];
window.addEventListener('error', (event) => uncaught.push(String(event.message)));
window.addEventListener('unhandledrejection', (event) => {
  uncaught.push(String(event.reason && event.reason.message ? event.reason.message : event.reason));
});

function problems() {
  const found = [];
  if (!window.isSecureContext) found.push('insecure');
  else {
    if (!window.crypto || !window.crypto.subtle) found.push('no-webcrypto');
    if (!('indexedDB' in window)) found.push('no-indexeddb');
    if (!('locks' in navigator)) found.push('no-locks');
  }
  if (typeof Worker === 'undefined' || typeof WebAssembly === 'undefined') found.push('no-worker');
  return found;
}

function explain(found) {
  const main = document.getElementById('main');
  const here = location.host;
  const https = `https://${location.hostname}${location.port ? `:${location.port}` : ''}${location.pathname}`;
  const parts = [h('h1', {}, 'Openprod cannot start here')];
  if (found.includes('insecure')) {
    parts.push(
      h('p', {}, `This page was opened over plain HTTP at ${here}. Browsers allow offline storage (service workers) `,
        'and signing keys (WebCrypto) only on secure addresses: HTTPS, or this device\'s own address (localhost).'),
      h('h2', {}, 'What to do'),
      h('ol', {},
        h('li', {}, 'Open the relay\'s HTTPS address instead — the one it printed when it started, for example ',
          h('code', {}, https), '.'),
        h('li', {}, 'The first time, your device asks you to trust the relay\'s local certificate: accept it once ',
          '(the venue network has no internet for public certificates).'),
        h('li', {}, 'After that the app is kept on this device and opens even with no network.')));
  }
  if (found.includes('no-webcrypto')) parts.push(h('p', {}, 'This browser has no WebCrypto, needed to sign your changes.'));
  if (found.includes('no-indexeddb')) parts.push(h('p', {}, 'This browser has no IndexedDB (private browsing?), needed to keep your work.'));
  if (found.includes('no-locks')) parts.push(h('p', {}, 'This browser is too old (no Web Locks), needed to keep two tabs from overwriting each other.'));
  if (found.includes('no-worker')) parts.push(h('p', {}, 'This browser cannot run WebAssembly in a worker.'));
  mount(main, ...parts);
  document.body.dataset.ready = 'blocked';
}

const found = problems();
if (found.length) {
  explain(found);
} else {
  // The worker first, before the page's own modules load: Python's start (the longest step of opening)
  // begins at once. `?hold-engine` holds Python back in TEST builds only (--debug-peer), to test the
  // opening screen; the worker reads it from its own address. The workspace this address opens is named
  // there too: the worker then waits for this page's read of it (worker/preopen.js).
  const route = /^#\/w\/([^/]+)/.exec(location.hash);
  const params = new URLSearchParams();
  if (new URLSearchParams(location.search).has('hold-engine')) params.set('hold-engine', '');
  let opening = null;
  try {
    if (route) opening = decodeURIComponent(route[1]);
  } catch { /* a malformed address: nothing is read early, the page says what is wrong */ }
  if (opening) params.set('open', opening);
  const query = params.toString() ? `?${params}` : '';
  const worker = new Worker(new URL(`./worker.js${query}`, import.meta.url), { type: 'module', name: 'openprod-core' });
  performance.mark('openprod-worker-created');
  // The last screen this workspace showed, read from this browser's storage while the page's modules load.
  const kept = route ? import('./worker/store.js').then(async ({ readOpening }) => {
    const id = decodeURIComponent(route[1]);
    return { id, found: await readOpening(id) };
  }) : null;
  if (kept) kept.catch(() => {}); // showOpening reports it
  // ...and read here, where the thread is free while Python's start keeps the worker's busy: once the
  // last screen is drawn (a large workspace's read would hold it up)
  let preopen = null; // worker/preopen.js, once loaded
  const handOver = opening ? () => import('./worker/preopen.js').then((m) => {
    preopen = m;
    return m.handOver(opening, worker);
  }).catch((err) => {
    console.warn(err);
    worker.postMessage({ kind: 'openprod-preread', id: opening, stored: null }); // the worker reads it when asked
  }) : null;
  // A page the person navigates away from (a link, another address in this tab) may be kept, frozen, in the
  // browser's back-forward cache: WebKit does, worker and Web Lock included, so another tab of this
  // workspace would wait on a tab that never answers. Leaving ends this tab's hold as closing it would:
  // the worker ends (what it said was saved is in storage; typing not yet saved is kept by ui/drafts.js)
  // and the locks go. Coming back opens the app anew.
  window.addEventListener('pagehide', (event) => {
    if (!event.persisted) return; // the page is being discarded: the browser lets everything go itself
    worker.terminate();
    if (preopen) preopen.letGoNow();
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });
  const { start } = await import('./app.js');
  performance.mark('openprod-page-loaded'); // the page's modules (bench breakdown)
  // Once the last screen is drawn: tell the worker (it reads Python's start snapshot then, worker/python.js)
  // and read the workspace being opened.
  const afterScreen = () => {
    worker.postMessage({ kind: 'openprod-screen-shown' });
    if (handOver) handOver();
  };
  await start(worker, kept, afterScreen);
}
