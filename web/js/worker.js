// The module worker behind every Openprod tab. Python's start is the longest step of opening the app,
// so it begins here, before the rest of the worker's modules load (worker/api.js: what the page
// calls); messages the page sends meanwhile are kept and answered in order once api.js is ready.
import { bootPython } from './worker/python.js';
import { Preopen, isHandOver } from './worker/preopen.js';

const early = [];
const keep = (event) => { if (!isHandOver(event.data)) early.push(event); };
self.addEventListener('message', keep);

const params = new URL(self.location.href).searchParams;
// The workspace the page is opening (`?open=<id>`): the page reads it from IndexedDB while Python starts
// here, and hands it over in one message (worker/preopen.js).
const opening = params.get('open');
const preopen = opening ? new Preopen(opening) : null;
self.addEventListener('message', (event) => {
  if (!isHandOver(event.data)) return;
  if (preopen && event.data.id === preopen.id) preopen.receive(event.data);
  else if (event.data.port) event.data.port.postMessage('release'); // not asked for: the page lets the lock go
});

// TEST-ONLY (--debug-peer builds): `?hold-engine` holds Python back until api.releaseEngine(), so
// the opening screen can be tested as a state. Normal builds ignore it (python.js checks build-info).
let held = null;
if (params.has('hold-engine')) {
  let release;
  held = { promise: new Promise((resolve) => { release = resolve; }), release };
}
const boot = bootPython({ hold: held && held.promise });
boot.catch(() => {}); // reported to the page through api.boot()

const { serve } = await import('./worker/api.js');
self.removeEventListener('message', keep);
serve({ boot, held, early, endpoint: self, preopen });
