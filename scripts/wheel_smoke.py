"""Smoke test run inside a fresh venv holding the installed wheel (see scripts/wheel_smoke).

Checks that both packages import from the installed wheel (not from the source tree), that every
module of the core is in it, and that a real workspace can be created, edited, closed, reopened
and read back on a SQLite file, through a plain `sqlite3.connect` as well as `openprod.connect`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3
import sys
import tempfile
from pathlib import Path

venv, source = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()

import openprod  # noqa: E402
import openprod_server  # noqa: E402

for package in (openprod, openprod_server):
    where = Path(package.__file__).resolve()
    if not where.is_relative_to(venv) or where.is_relative_to(source):
        sys.exit(f"{package.__name__} was imported from {where}, not from the installed wheel in {venv}")

expected = {p.relative_to(source / "core").with_suffix("").as_posix().replace("/", ".")
            for p in (source / "core" / "openprod").rglob("*.py")}
expected = {name.removesuffix(".__init__") for name in expected}
installed = {"openprod"} | {m.name for m in pkgutil.walk_packages(openprod.__path__, "openprod.")}
missing = sorted(expected - installed)
if missing:
    sys.exit(f"the wheel lacks these modules of the core: {', '.join(missing)}")
for name in sorted(installed):
    if name.endswith(("signer_webcrypto", "crdt_yjs")):
        continue  # browser-only backends: they import Pyodide's `js` when used
    importlib.import_module(name)
importlib.import_module("openprod_server.cli")
if not (Path(openprod.__file__).parent / "py.typed").exists():
    sys.exit("the wheel lacks openprod/py.typed")

from openprod import Env, Workspace, connect, starter_manifests  # noqa: E402
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity  # noqa: E402

me = generate_identity("Smoke Test")
env = Env(signer=NaclSigner(me), verifier=NaclVerifier(), display_name=me.display_name)
with tempfile.TemporaryDirectory() as tmp:
    path = str(Path(tmp) / "show.db")
    with Workspace.create(connect(path), env, "Smoke") as ws:
        ws.adopt_module(starter_manifests()["contacts"])
        jane = ws.create_record("contacts.Contacts", {"name": "Jane Doe"})
        ws.set_field(jane, "contacts.Contacts.phone", "555-0101")
        hashed = ws.state_hash()
    with Workspace.open(sqlite3.connect(path), env) as ws:  # a plain connection works too
        record = ws.records.get(jane)
        assert record is not None and record.values["contacts.Contacts.phone"] == "555-0101", record
        assert ws.state_hash() == hashed
        assert [c.new for c in ws.history.field(jane, "contacts.Contacts.phone")] == ["555-0101"]
print(f"wheel smoke: openprod and openprod_server from {venv.name}, {len(installed)} core modules, "
      "create/edit/reopen/read OK")
