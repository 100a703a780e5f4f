"""pycrdt (CPython) and Yjs (JavaScript, driven from Pyodide) merge each other's CRDT updates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from openprod.crdt import PycrdtBackend, visible

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by scripts/bootstrap")
def test_text_and_list_updates_merge_both_ways(tmp_path: Path) -> None:
    if not (ROOT / "node_modules" / "yjs").exists() or not (ROOT / "build" / "wheels").exists():
        pytest.skip("npm packages and Pyodide wheels are installed by scripts/bootstrap")
    py = PycrdtBackend(os.urandom)
    text = py.new_doc("text")
    text_update = py.edit_text(text, [(0, 0, "Hello from pycrdt")])
    items = py.new_doc("list")
    stamp1, stamp2, stamp3 = "0" * 23 + "1", "0" * 23 + "2", "0" * 23 + "3"
    list_update = py.edit_list(items, [(0, 0, [["a", stamp1], ["b", stamp1]])])
    (tmp_path / "in.json").write_text(json.dumps({"text": text_update.hex(), "list": list_update.hex()}))
    subprocess.run(["node", str(ROOT / "tests/pyodide/crdt_yjs_interop.mjs"), str(tmp_path / "in.json"),
                    str(tmp_path / "out.json")], check=True, timeout=300, capture_output=True)
    js = json.loads((tmp_path / "out.json").read_text())
    assert js["text"] == "[js] Hello from pycrdt"
    assert js["list"] == [["from-js", stamp2], ["a", stamp1]]
    # concurrent edits on the CPython side, then merge the JavaScript side's updates
    py.edit_text(text, [(17, 0, " (concurrent py)")])
    py.apply(text, bytes.fromhex(js["text_delta"]))
    assert py.render(text, "text") == "[js] Hello from pycrdt (concurrent py)"
    # a concurrent element insertion on the CPython side survives the JavaScript side's delete
    py.edit_list(items, [(2, 0, [["py", stamp3]])])
    py.apply(items, bytes.fromhex(js["list_delta"]))
    assert py.elements(items) == [["from-js", stamp2], ["a", stamp1], ["py", stamp3]]
    assert [value for _, value in visible(py.elements(items), "")] == ["from-js", "a", "py"]
    assert [value for _, value in visible(py.elements(items), stamp2)] == ["from-js", "py"]  # cleared at stamp2
