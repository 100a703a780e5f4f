// Run a bench module inside Pyodide under Node.js: `node bench/pyodide_run.mjs MODULE ARGS...`
// (bench/pyodide_ingest.py uses it to time the core's ingest in the browser's Python). The checkout
// is mounted at /repo (tests/pyodide/boot.mjs); paths under /tmp are mounted too, for the bench's input.
import { bootPyodide, REPO } from '../tests/pyodide/boot.mjs';

const [module, ...args] = process.argv.slice(2);
const py = await bootPyodide({ quiet: false });
py.FS.mkdirTree('/hosttmp');
py.FS.mount(py.FS.filesystems.NODEFS, { root: '/tmp' }, '/hosttmp');
py.globals.set('_args', py.toPy(args.map((a) => a.replace(/^\/tmp\//, '/hosttmp/'))));
await py.runPythonAsync(`
import sys, runpy
sys.path.insert(0, ${JSON.stringify(REPO)})
sys.argv = [${JSON.stringify(module)}, *list(_args)]
runpy.run_module(${JSON.stringify(module)}, run_name='__main__')
`);
