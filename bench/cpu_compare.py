"""CPU time (`time.process_time`) of the hot paths, for comparing two core versions on a busy machine.

Wall-clock ratios wander with the load of a shared machine; CPU time of the same work wanders
less. Run it alternately against two cores, e.g. the committed one and an older one extracted
with `git archive <rev> core | tar -x -C /tmp/old`:

    .venv/bin/python bench/cpu_compare.py after
    PYTHONPATH=/tmp/old/core .venv/bin/python bench/cpu_compare.py before

It prints the CPU time of one local commit (a one-field bundle, mean of 1,500), of ingesting
those 1,700 bundles into a replica (200 per `ingest_many`), and of rebuilding the replica (best
of 3), and checks that the replica converged. Numbers in docs/benchmarks.md (issue 12).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time

from openprod import Env, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier, generate_identity
from openprod.starter import starter_manifests


def _env(name: str) -> Env:
    identity = generate_identity(name)
    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=name)


def main(label: str) -> None:
    tmp = tempfile.mkdtemp(prefix="openprod-cpu-")
    ws = Workspace.create(connect(os.path.join(tmp, "a.db")), _env("Ann"), "Show")
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(starter_manifests()["contacts"])
    with ws.transaction() as tx:
        ids = [tx.create_record("contacts.Contacts", {"name": f"P{i}"}) for i in range(200)]
    rng = random.Random(1)
    commits = 1500
    started = time.process_time()
    for i in range(commits):
        with ws.transaction() as tx:
            tx.set_field(ids[i % 200], "contacts.Contacts.role", f"role {rng.random()}")
    commit_us = (time.process_time() - started) / commits * 1e6
    wires = [b.wire for b in ws.oplog.bundles()]
    replica = Workspace.join(connect(os.path.join(tmp, "b.db")), _env("Bob"), ws.workspace_id)
    started = time.process_time()
    for start in range(0, len(wires), 200):
        replica.ingest_many(wires[start:start + 200])
    ingest_ms = (time.process_time() - started) * 1000
    if replica.state_hash() != ws.state_hash():
        raise SystemExit("the replica did not converge")
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        replica.rebuild()
        best = min(best, time.process_time() - started)
    print(f"{label}: commit {commit_us:.0f} µs CPU, ingest {ingest_ms:.0f} ms CPU ({len(wires)} bundles), "
          f"rebuild {best * 1000:.0f} ms CPU")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core")
