// WebCrypto Ed25519 (inside Pyodide, in Node.js) against PyNaCl (CPython): the Pyodide half.
//
// Why: the browser signs and verifies with WebCrypto, the relay with PyNaCl; every bundle
// must verify the same way on both. tests/test_signer_interop.py writes INPUT (bundles and a
// workspace signed by PyNaCl, tampered copies, edge-case signatures); this runs
// tests/pyodide/webcrypto_checks.py on it and writes OUTPUT (what WebCrypto made of them, plus
// a bundle and a whole workspace signed by WebCrypto) for CPython to verify.
//
// usage: node tests/pyodide/webcrypto_interop.mjs INPUT.json OUTPUT.json
// Exits 0 when the checks ran (verdicts are CPython's job), 2 when they could not run.
import fs from 'node:fs';
import path from 'node:path';
import { REPO, RUNTIME_WHEELS, bootPyodide } from './boot.mjs';

async function main() {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) throw new Error('usage: webcrypto_interop.mjs INPUT.json OUTPUT.json');
  const t0 = performance.now();
  const py = await bootPyodide({ wheels: RUNTIME_WHEELS });
  py.globals.set('_interop_input', fs.readFileSync(path.resolve(input), 'utf8'));
  const result = await py.runPythonAsync(`
import sys
sys.path.insert(0, ${JSON.stringify(`${REPO}/tests/pyodide`)})
import webcrypto_checks
await webcrypto_checks.run(_interop_input)
`);
  fs.writeFileSync(path.resolve(output), result);
  console.log(`webcrypto interop checks ran in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`webcrypto_interop: ${err?.stack ?? err}`);
  process.exitCode = 2;
}
