// Boot Pyodide 314 under Node.js with the project's wheels and source, entirely offline.
//
// Why: the core must run unchanged in the browser's Python. Node gives us the same Pyodide
// build without a browser, so the test runners here use it. Everything comes from this
// checkout: Pyodide from node_modules/pyodide, wheels from build/wheels (pinned by
// scripts/fetch_wheels.py), and the source tree mounted read/write with NODEFS at /repo.
// `import openprod` resolves to /repo/core/openprod, as the distribution maps it (package-dir).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WHEELS = path.join(ROOT, 'build', 'wheels');
const PYODIDE_DIR = path.join(ROOT, 'node_modules', 'pyodide') + path.sep;

/** Inside Pyodide: where the checkout is mounted, and the sys.path entry that holds `openprod`. */
export const REPO = '/repo';
const SRC = '/opt/openprod-src';

/** The core's runtime wheels, and what its test suite adds. */
export const RUNTIME_WHEELS = ['cbor2', 'lark', 'et_xmlfile', 'openpyxl'];
export const TEST_WHEELS = [
  'pytest', 'pluggy', 'iniconfig', 'packaging', 'pygments',
  'hypothesis', 'sortedcontainers', 'ecdsa', 'six',
];

/** name -> pinned version, read from scripts/fetch_wheels.py so there is one list of pins. */
export function pinnedVersions() {
  const text = fs.readFileSync(path.join(ROOT, 'scripts', 'fetch_wheels.py'), 'utf8');
  const pins = new Map();
  for (const m of text.matchAll(/"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)"/g)) {
    pins.set(m[1].toLowerCase(), m[2]);
  }
  return pins;
}

/** The wheel file for a pinned project in build/wheels; throws a message that says what to run. */
export function wheelFile(name, pins = pinnedVersions()) {
  const version = pins.get(name.toLowerCase());
  if (!version) throw new Error(`${name} is not pinned in scripts/fetch_wheels.py`);
  const prefix = `${name.replace(/-/g, '_')}-${version}-`;
  const files = fs.existsSync(WHEELS) ? fs.readdirSync(WHEELS) : [];
  const found = files.filter((f) => f.startsWith(prefix) && f.endsWith('.whl'));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${prefix}*.whl in ${WHEELS}, found ${found.length}; run: .venv/bin/python scripts/fetch_wheels.py`);
  }
  return found[0];
}

/**
 * Yjs from node_modules as `globalThis.Y` (Python: `js.Y`): the CRDT backend under Pyodide, as
 * the web worker provides it in the browser (tests/helpers.py picks it up from there).
 */
export async function loadYjs() {
  const file = path.join(ROOT, 'node_modules', 'yjs', 'dist', 'yjs.mjs');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm ci`);
  globalThis.Y = await import(file);
}

/**
 * A ready Pyodide: micropip and the named wheels installed with deps=False (no index, no
 * network), the checkout at /repo, cwd /repo, `openprod` importable, bytecode writing off
 * (so nothing cpython-314 lands in the host tree) and Hypothesis' storage in MEMFS.
 * With `yjs`, Yjs is loaded first (see loadYjs).
 */
export async function bootPyodide({ wheels = RUNTIME_WHEELS, quiet = false, yjs = false } = {}) {
  if (yjs) await loadYjs();
  const { loadPyodide } = await import(path.join(PYODIDE_DIR, 'pyodide.mjs'));
  const pins = pinnedVersions();
  const files = wheels.map((w) => wheelFile(w, pins));
  const micropip = wheelFile('micropip', pins);
  const py = await loadPyodide({
    indexURL: PYODIDE_DIR,
    env: {
      HOME: '/home/pyodide',
      PYTHONDONTWRITEBYTECODE: '1',
      HYPOTHESIS_STORAGE_DIRECTORY: '/tmp/hypothesis',
    },
    stdout: quiet ? () => {} : undefined,
  });
  await py.loadPackage(path.join(WHEELS, micropip), { messageCallback: () => {} });
  py.FS.mkdirTree('/wheels');
  for (const f of files) py.FS.writeFile(`/wheels/${f}`, fs.readFileSync(path.join(WHEELS, f)));
  py.globals.set('_openprod_wheels', py.toPy(files.map((f) => `emfs:/wheels/${f}`)));
  await py.runPythonAsync('import micropip\nawait micropip.install(list(_openprod_wheels), deps=False)');
  py.globals.delete('_openprod_wheels');

  py.FS.mkdirTree(REPO);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: ROOT }, REPO);
  py.FS.mkdirTree(`${SRC}/openprod`);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: path.join(ROOT, 'core', 'openprod') }, `${SRC}/openprod`);
  py.runPython(`
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, ${JSON.stringify(SRC)})
os.chdir(${JSON.stringify(REPO)})
`);
  return py;
}
