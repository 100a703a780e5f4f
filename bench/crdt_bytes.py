"""Bytes on the wire for collaborative text: what a separate state-vector exchange would save.

Types N single-character edits (80% appended, 20% inserted at a random place, 10% of them
deletions) into one text field, one bundle per edit (the worst case: a person saving after every
keystroke), then prints three sizes from the same run: the sum of the Yjs updates in the ops,
one state-vector update of the final document (what the spec's per-field CRDT sync would send a
peer that has nothing), and the signed bundles that actually carry the edits. The ratio that
matters is bundles : updates (the signed envelope around each edit) against state : updates
(what merging the updates would save). docs/sync.md records a run.

Run: `python -m bench.crdt_bytes [--edits N]`.
"""

from __future__ import annotations

import argparse
import random

from openprod import Workspace, connect
from openprod import operations as o
from openprod.bundle import decode_bundle

from .peers import make_env

MODULE = """
[module]
name = "notes"
version = "1.0.0"

[table.Notes.fields.title]
type = "string"

[table.Notes.fields.body]
type = "string"
crdt = "text"
"""
BODY = "notes.Notes.body"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=2000)
    args = parser.parse_args()
    ws = Workspace.create(connect(":memory:"), make_env("Typist", 1), "Bytes")
    ws.adopt_module(MODULE)
    record = ws.create_record("notes.Notes", {"title": "Rehearsal notes"})
    rng = random.Random(1)
    length = 0
    for _ in range(args.edits):
        at = rng.randint(0, length) if rng.random() < 0.2 else length
        with ws.transaction() as tx:
            if length and rng.random() < 0.1:
                tx.edit_text(record, BODY, [(max(0, at - 1), 1, "")])
                length -= 1
            else:
                tx.edit_text(record, BODY, [(at, 0, "x")])
                length += 1
    wires = [stored.wire for stored in ws.oplog.bundles()]  # the 3 that found the workspace, adopt, make the record
    updates = sum(len(op.delta) for wire in wires for op in decode_bundle(wire).ops if isinstance(op, o.ApplyCrdt))
    bundles = sum(len(wire) for wire in wires)
    state = len(ws.records.crdt_state(record, BODY))
    print(f"{args.edits} edits of one text field ({length} characters at the end), one bundle each")
    print(f"  Yjs updates in the ops:            {updates:>10,} B  (1.00x)")
    print(f"  one state-vector update (spec):    {state:>10,} B  ({state / updates:.2f}x the updates)")
    print(f"  signed bundles carrying the edits: {bundles:>10,} B  ({bundles / updates:.1f}x the updates)")


if __name__ == "__main__":
    main()
