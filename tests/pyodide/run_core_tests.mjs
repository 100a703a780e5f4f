// Run the core's pytest suite inside Pyodide 314 under Node.js, with no network.
//
// Why: the same core code ships to the browser, so its test suite must pass there too, with
// the same results as on CPython. PyNaCl does not exist in Pyodide; tests/helpers.py falls
// back to the pure-Python signer, which produces identical signatures, and uses Yjs (loaded
// here from node_modules, as the web worker does in the browser) where CPython uses pycrdt.
//
// usage: node tests/pyodide/run_core_tests.mjs [RESULT.json] [--timings] [-- PYTEST ARGS...]
//   RESULT.json  per-test outcomes and durations (see tests/pyodide/outcome_recorder.py)
//   --timings    print the slowest test files after pytest's summary
//   PYTEST ARGS  replace the default target `tests/core` (paths are relative to the checkout)
// Exits with pytest's exit code (2 if Pyodide itself could not start).
import fs from 'node:fs';
import path from 'node:path';
import { REPO, RUNTIME_WHEELS, TEST_WHEELS, bootPyodide } from './boot.mjs';

function parseArgs(argv) {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const pytestArgs = split < 0 ? ['tests/core'] : argv.slice(split + 1);
  let json = null;
  let timings = false;
  for (const arg of own) {
    if (arg === '--timings') timings = true;
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else if (json === null) json = path.resolve(arg);
    else throw new Error(`unexpected argument ${arg}`);
  }
  return { json, timings, pytestArgs };
}

async function main() {
  const { json, timings, pytestArgs } = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const py = await bootPyodide({ wheels: [...RUNTIME_WHEELS, ...TEST_WHEELS], yjs: true });
  const bootSeconds = (performance.now() - t0) / 1000;
  const out = '/tmp/openprod-outcomes.json';
  const args = [
    '-p', 'no:cacheprovider', // it would write .pytest_cache into the host checkout
    '-p', 'outcome_recorder', '--outcomes-json', out,
    // pyproject's `timeout` is pytest-timeout's, which needs threads or SIGALRM (not in Pyodide, so not
    // installed). -W takes a literal message prefix, so this hides any unknown-ini warning, here only.
    '-W', 'ignore:Unknown config option:pytest.PytestConfigWarning',
    ...pytestArgs,
  ];
  py.globals.set('_pytest_args', py.toPy(args));
  const rc = await py.runPythonAsync(`
import sys
sys.path.insert(0, ${JSON.stringify(`${REPO}/tests/pyodide`)})
import pytest
int(pytest.main(list(_pytest_args)))
`);
  const totalSeconds = (performance.now() - t0) / 1000;
  let result = null;
  if (py.FS.analyzePath(out).exists) {
    result = JSON.parse(py.FS.readFile(out, { encoding: 'utf8' }));
    result.runtime = 'pyodide';
    result.boot_seconds = Number(bootSeconds.toFixed(3));
    result.total_seconds = Number(totalSeconds.toFixed(3));
  }
  if (json) {
    fs.mkdirSync(path.dirname(json), { recursive: true });
    fs.writeFileSync(json, JSON.stringify(result ?? { runtime: 'pyodide', exit_code: rc, tests: {} }, null, 1));
  }
  if (timings && result) {
    console.log('slowest test files under Pyodide (seconds, setup+call+teardown):');
    for (const [file, secs] of Object.entries(result.files).slice(0, 15)) {
      console.log(`  ${secs.toFixed(2).padStart(9)}  ${file}`);
    }
  }
  console.log(`pyodide: boot ${bootSeconds.toFixed(1)} s, total ${totalSeconds.toFixed(1)} s, pytest exit ${rc}`);
  return rc;
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`run_core_tests: ${err?.stack ?? err}`);
  process.exitCode = 2;
}
