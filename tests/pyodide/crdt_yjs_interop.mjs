// Runs openprod.crdt_yjs.YjsBackend inside Pyodide (Node) against Yjs from node_modules:
// applies the pycrdt-made updates given in argv[2] (JSON {text: hex, list: hex}), makes a
// concurrent edit on each, and writes {text, list, text_delta, list_delta} (hex) to argv[3].
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { loadPyodide } = await import(path.join(root, 'node_modules/pyodide/pyodide.mjs'));
globalThis.Y = await import(path.join(root, 'node_modules/yjs/dist/yjs.mjs'));
const py = await loadPyodide({ indexURL: path.join(root, 'node_modules/pyodide') + '/' });
const wheels = path.join(root, 'build/wheels');
await py.loadPackage(path.join(wheels, 'micropip-0.11.1-py3-none-any.whl'));
py.FS.mkdirTree('/wheels');
const needed = fs.readdirSync(wheels).filter((w) => w.startsWith('cbor2-') || w.startsWith('lark-'));
for (const w of needed) py.FS.writeFile('/wheels/' + w, new Uint8Array(fs.readFileSync(path.join(wheels, w))));
await py.runPythonAsync(`import micropip
await micropip.install([${needed.map((w) => `'emfs:/wheels/${w}'`).join(',')}], deps=False)`);
py.FS.mkdirTree('/proj/openprod');
py.FS.mount(py.FS.filesystems.NODEFS, { root: path.join(root, 'core', 'openprod') }, '/proj/openprod');
py.globals.set('inputs', fs.readFileSync(process.argv[2], 'utf8'));
const out = await py.runPythonAsync(`
import json, os, sys
sys.path.insert(0, '/proj')
import js
from openprod.crdt_yjs import YjsBackend
data = json.loads(inputs)
backend = YjsBackend(js.Y, os.urandom)
text = backend.new_doc("text")
backend.apply(text, bytes.fromhex(data["text"]))
text_delta = backend.edit_text(text, [(0, 0, "[js] ")])
items = backend.new_doc("list")
backend.apply(items, bytes.fromhex(data["list"]))
# element operations: insert one stamped element at the start, delete the (now third) element "b"
list_delta = backend.edit_list(items, [(0, 0, [["from-js", "0" * 23 + "2"]]), (2, 1, [])])
json.dumps({"text": backend.render(text, "text"), "list": backend.elements(items),
            "text_delta": text_delta.hex(), "list_delta": list_delta.hex()})
`);
fs.writeFileSync(process.argv[3], out);
