"""pycrdt (CPython) and Yjs (JavaScript, driven from Pyodide) merge each other's CRDT updates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from openprod.crdt import PycrdtBackend

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by scripts/bootstrap")
def test_text_and_list_updates_merge_both_ways(tmp_path: Path) -> None:
    if not (ROOT / "node_modules" / "yjs").exists() or not (ROOT / "build" / "wheels").exists():
        pytest.skip("npm packages and Pyodide wheels are installed by scripts/bootstrap")
    py = PycrdtBackend(os.urandom)
    text = py.new_doc("text")
    text_update = py.edit_text(text, [(0, 0, "Hello from pycrdt")])
    items = py.new_doc("list")
    list_update = py.replace_list(items, ["a", "b"])
    (tmp_path / "in.json").write_text(json.dumps({"text": text_update.hex(), "list": list_update.hex()}))
    subprocess.run(["node", str(ROOT / "tests/pyodide/crdt_yjs_interop.mjs"), str(tmp_path / "in.json"),
                    str(tmp_path / "out.json")], check=True, timeout=300, capture_output=True)
    js = json.loads((tmp_path / "out.json").read_text())
    assert js["text"] == "[js] Hello from pycrdt"
    assert js["list"] == ["from-js", "a", "b"]
    # concurrent edits on the CPython side, then merge the JavaScript side's updates
    py.edit_text(text, [(17, 0, " (concurrent py)")])
    py.apply(text, bytes.fromhex(js["text_delta"]))
    assert py.render(text, "text") == "[js] Hello from pycrdt (concurrent py)"
    py.apply(items, bytes.fromhex(js["list_delta"]))
    assert py.render(items, "list") == ["from-js", "a", "b"]
