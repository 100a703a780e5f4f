"""The core's `ingest_many` of the same bundles on CPython and in Pyodide (Node.js), signatures not checked.

`python -m bench.pyodide_ingest [--bundles 3000]`

Why: a browser joining a workspace runs the same Python in Pyodide (WebAssembly); how much slower that
Python is, alone, says how close to CPython's catch-up the browser can come (issue 19, target 3).
Both sides take the same wires, 200 per `ingest_many` (one commit each) into a new replica, with a
verifier that accepts every signature (signature checking differs: PyNaCl here, WebCrypto in the
browser), each the best of 3; the replica's state hash must equal the author's on both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openprod import Env, Workspace, connect

ROOT = Path(__file__).resolve().parents[1]


class AcceptAll:
    """A verifier that accepts every signature: only Python and SQLite are measured."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return True

    async def verify_async(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return True


def ingest_seconds(folder: str, workspace_id: bytes, wires: list[bytes], env: Env, label: str) -> tuple[float, str]:
    """Seconds to ingest `wires` into a new replica (200 per call), and the replica's state hash."""
    ws = Workspace.join(connect(os.path.join(folder, f"{label}.db")), env, workspace_id)
    t0 = time.perf_counter()
    for start in range(0, len(wires), 200):
        for result in ws.ingest_many(wires[start:start + 200]):
            assert result.status == "applied", result
    return time.perf_counter() - t0, ws.state_hash()


class NoSigner:
    """The replica signs nothing while it ingests."""

    def __init__(self, actor_id: bytes) -> None:
        self.actor_id = actor_id

    def sign(self, message: bytes) -> bytes:
        raise AssertionError("the replica signs nothing here")

    async def sign_async(self, message: bytes) -> bytes:
        raise AssertionError("the replica signs nothing here")


def replica_env(actor_id: bytes) -> Env:
    return Env(signer=NoSigner(actor_id), verifier=AcceptAll(), display_name="R")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=3000)
    parser.add_argument("--inside", default=None, help=argparse.SUPPRESS)  # the run inside Pyodide
    args = parser.parse_args(argv)
    if args.inside:
        data = json.loads(Path(args.inside).read_text())
        wires = [bytes.fromhex(w) for w in data["wires"]]
        actor = bytes.fromhex(data["actor"])
        runs = [ingest_seconds(tempfile.mkdtemp(), bytes.fromhex(data["workspace"]), wires, replica_env(actor), f"p{i}")
                for i in range(3)]
        print(json.dumps({"seconds": [r[0] for r in runs], "hash": runs[0][1]}))
        return
    from .peers import origin_peer, stored_wires  # CPython only (PyNaCl): not imported inside Pyodide
    from .sync_common import edit, load_average, new_record

    with tempfile.TemporaryDirectory(prefix="openprod-pyodide-ingest-") as folder:
        a = origin_peer(Path(folder), "A", 1)
        ids = [new_record(a.ws, j) for j in range(max(10, args.bundles // 10))]
        for j in range(args.bundles - len(ids) - 2):
            edit(a.ws, j + len(ids), ids[j % len(ids)])
        wires = stored_wires(a)
        load = [load_average()]
        actor = bytes(range(1, 33))  # any 32 bytes: the replica's actor id, never used to sign
        cpython = [ingest_seconds(folder, a.ws.workspace_id, wires, replica_env(actor), f"c{i}") for i in range(3)]
        assert all(h == a.ws.state_hash() for _, h in cpython)
        payload = Path(folder) / "wires.json"
        payload.write_text(json.dumps({"workspace": a.ws.workspace_id.hex(), "actor": actor.hex(),
                                       "wires": [w.hex() for w in wires]}))
        out = subprocess.run(["node", str(ROOT / "bench" / "pyodide_run.mjs"), "bench.pyodide_ingest",
                              "--inside", str(payload)], capture_output=True, text=True, check=True, cwd=ROOT)
        inside = json.loads(out.stdout.strip().splitlines()[-1])
        assert inside["hash"] == a.ws.state_hash(), "Pyodide's replica differs from the author's"
        load.append(load_average())
        ops = a.ws.oplog.size().operations
        best_c, best_p = min(r[0] for r in cpython), min(inside["seconds"])
        print(json.dumps({"bench": "pyodide_ingest", "bundles": len(wires), "ops": ops, "load": load,
                          "cpython_s": [round(r[0], 3) for r in cpython],
                          "pyodide_s": [round(s, 3) for s in inside["seconds"]],
                          "pyodide_over_cpython": round(best_p / best_c, 2)}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
