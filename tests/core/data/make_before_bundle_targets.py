"""How data/before_bundle_targets.db was written (tests/core/test_bundle_targets.py), kept to redo it.

Run with the OLD core first on the path, from the repository root, e.g.
    git archive 6f1903f | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/core .venv/bin/python tests/core/data/make_before_bundle_targets.py \
        /tmp/x/before_bundle_targets.db
It prints the figures the test expects. Not a test (pytest collects test_*.py only)."""
import hashlib
import random
import shutil
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import openprod
from helpers import ManualClock, make_peer, sync

print(openprod.__file__, file=sys.stderr)
out = Path(sys.argv[1])
tmp = out.parent
clock = ManualClock()
alice = make_peer("Alice", str(tmp / "alice.db"), clock, seed=1, rng=random.Random(1))
bob = make_peer("Bob", str(tmp / "bob.db"), clock, seed=2, workspace_from=alice, rng=random.Random(2))
sync(alice, bob)
C = "contacts.Contacts"
jane = alice.ws.create_record(C, {"name": "Jane Doe", "phone": "555-0101"})
with alice.ws.transaction() as tx:  # one bundle about two records
    tom = tx.create_record(C, {"name": "Tom Roe", "phone": "555-0102"})
    tom2 = tx.create_record(C, {"name": "T. Roe", "email": "tom@example.org"})
    tx.edit_text(jane, "contacts.Contacts.details", [(0, 0, "Allergic to nuts.")])
sync(alice, bob)
alice.ws.set_field(jane, "contacts.Contacts.phone", "555-0111")   # concurrent: a conflict
bob.ws.set_field(jane, "contacts.Contacts.phone", "555-0122")
with bob.ws.transaction() as tx:
    tx.edit_text(jane, "contacts.Contacts.details", [(0, 0, "Note: ")])
with alice.ws.transaction() as tx:
    tx.edit_text(jane, "contacts.Contacts.details", [(17, 0, " Call first.")])
sync(alice, bob)
with alice.ws.transaction() as tx:
    tx.merge_records(tom, tom2)
with bob.ws.transaction() as tx:
    tx.set_field(tom2, "contacts.Contacts.phone", "555-0199")  # written apart from the merge
sync(alice, bob)
assert alice.ws.state_hash() == bob.ws.state_hash()
ws = alice.ws
wires = [b.wire for b in ws.oplog.bundles()]
print("STATE_HASH =", repr(ws.state_hash()))
print("WIRES_SHA256 =", repr(hashlib.sha256(b"".join(wires)).hexdigest()))
print("SIZE =", (ws.oplog.size().bundles, ws.oplog.size().operations))
print("JANE =", repr(jane), "TOM =", repr(tom), "TOM2 =", repr(tom2))
for rec, f in ((jane, "phone"), (tom, "phone"), (tom, "name"), (tom2, "email")):
    h = ws.history.field(rec, f)
    print("HIST", f, hashlib.sha256(repr(h).encode()).hexdigest(), len(h))
print("DETAILS =", repr(ws.records.get(jane).get("details")))
print("TOM_PHONE =", repr(ws.records.get(tom).get("phone")))
print("CONFLICTS =", len(ws.conflicts.open()))
alice.ws.close()
bob.ws.close()
conn = sqlite3.connect(tmp / "alice.db")
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.execute("VACUUM")
conn.close()
shutil.copy(tmp / "alice.db", out)
