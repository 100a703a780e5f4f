// Probe: what a Pyodide memory snapshot (Pyodide 314's private `_makeSnapshot`/`_loadSnapshot`) would save
// at start-up, in Node (not the browser: a figure to decide on, not a target's figure).
//
//   node bench/pyodide_snapshot_probe.mjs [--rounds 3]
//
// Per round, alternating in the same run: a plain `loadPyodide` + the stdlib modules the core uses, then a
// `loadPyodide` from a snapshot made after the same imports (read from a file); prints both and the
// snapshot's size. Then it tries a snapshot after installing the core's wheels and `import openprod` (what
// would save the most) and prints whether Pyodide allows it.
import { loadPyodide } from '../node_modules/pyodide/pyodide.mjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const indexURL = path.join(ROOT, 'node_modules/pyodide/') + '/';
const WEB = path.join(ROOT, 'build/web');
const info = JSON.parse(fs.readFileSync(path.join(WEB, 'build-info.json'), 'utf8'));
const wheels = info.install_order.filter((k) => k !== 'openprod_web' && k !== 'openprod_web_debug')
  .map((k) => path.join(WEB, 'wheels', info.wheels[k]));
const STDLIB = 'import json, sqlite3, dataclasses, typing, hashlib, datetime, decimal, re, enum, functools';
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
const now = () => performance.now();

const made = await loadPyodide({ indexURL, _makeSnapshot: true });
made.runPython(STDLIB);
const snapshot = made.makeMemorySnapshot();
const file = path.join(os.tmpdir(), `openprod-pyodide-snapshot-${process.pid}.bin`);
fs.writeFileSync(file, snapshot);

const plain = [];
const fromSnapshot = [];
let check = null;
for (let i = 0; i < rounds; i += 1) {
  let t = now();
  const py = await loadPyodide({ indexURL });
  py.runPython(STDLIB);
  plain.push(Math.round(now() - t));
  t = now();
  const restored = await loadPyodide({ indexURL, _loadSnapshot: new Uint8Array(fs.readFileSync(file)) });
  fromSnapshot.push(Math.round(now() - t));
  if (!check) { // the core's wheels still install and work after a restore (cbor2 has a C extension)
    await restored.loadPackage(wheels, { messageCallback: () => {}, checkIntegrity: false });
    check = restored.runPython("import openprod, cbor2; str(cbor2.loads(cbor2.dumps({'ok': 1})))");
  }
}
fs.unlinkSync(file);

let afterWheels;
try {
  const py = await loadPyodide({ indexURL, _makeSnapshot: true });
  await py.loadPackage(wheels, { messageCallback: () => {}, checkIntegrity: false });
  py.runPython('import openprod');
  afterWheels = `made: ${py.makeMemorySnapshot().length} bytes`;
} catch (err) {
  afterWheels = `refused: ${String(err.message || err).split('\n')[0]}`;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({
  node: process.version, load_average: os.loadavg().map((x) => Math.round(x * 100) / 100),
  snapshot_bytes: snapshot.length, plain_start_ms: plain, snapshot_start_ms: fromSnapshot,
  ratio_median: Math.round((median(fromSnapshot) / median(plain)) * 100) / 100,
  wheels_after_restore: check, snapshot_after_wheels_and_import: afterWheels,
}));
