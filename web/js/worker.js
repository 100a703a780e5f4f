// The module worker behind every Openprod tab. Python's start is the longest step of opening the app,
// so it begins here, before the rest of the worker's modules load (worker/api.js: what the page
// calls); messages the page sends meanwhile are kept and answered in order once api.js is ready.
import { bootPython, SCREEN_SHOWN } from './worker/python.js';

const early = [];
// The page's hand-over of the workspace it is opening (worker/preopen.js `handOver`) and its word that the
// last screen is drawn (worker/python.js): not for Comlink.
const isHandOver = (data) => Boolean(data && data.kind === 'openprod-preread');
const isScreenShown = (data) => Boolean(data && data.kind === SCREEN_SHOWN);
const keep = (event) => { if (!isHandOver(event.data) && !isScreenShown(event.data)) early.push(event); };
self.addEventListener('message', keep);
let shown;
const screenShown = new Promise((resolve) => { shown = resolve; });
self.addEventListener('message', (event) => { if (isScreenShown(event.data)) shown(); });

const params = new URL(self.location.href).searchParams;
// The workspace the page is opening (`?open=<id>`): the page reads it from IndexedDB while Python starts
// here, and hands it over in one message (worker/preopen.js, loaded with api.js: nothing more to load
// before Python's start).
const opening = params.get('open');
let handed;
const handOver = new Promise((resolve) => { handed = resolve; });
self.addEventListener('message', (event) => {
  if (!isHandOver(event.data)) return;
  if (opening && event.data.id === opening) handed(event.data);
  else if (event.data.port) event.data.port.postMessage('release'); // not asked for: the page lets the lock go
});

// TEST-ONLY (--debug-peer builds): `?hold-engine` holds Python back until api.releaseEngine(), so
// the opening screen can be tested as a state. Normal builds ignore it (python.js checks build-info).
let held = null;
if (params.has('hold-engine')) {
  let release;
  held = { promise: new Promise((resolve) => { release = resolve; }), release };
}
const boot = bootPython({ hold: held && held.promise, screenShown });
boot.catch(() => {}); // reported to the page through api.boot()

const { serve } = await import('./worker/api.js');
self.removeEventListener('message', keep);
serve({ boot, held, early, endpoint: self, opening: opening && { id: opening, handOver } });
