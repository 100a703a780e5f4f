"""Run sizes and the state shared between benchmarks of one run.

Why share: the ingest benchmark's 10,000 author bundles take longer to write than to ingest,
and the rebuild benchmark needs exactly the replica that ingest produced; building them once
keeps the whole suite well inside its time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import FIELD_IDS, TABLE
from .peers import Peer, ingest_all, origin_peer, replica_peer, stored_wires
from .workloads import Workloads


@dataclass(frozen=True)
class Sizes:
    label: str
    commit_samples: int  # one-field bundles timed (after warm-up)
    commit_warmup: int
    ingest_records: int  # records the ingest edits cycle through
    ingest_bundles: int  # 10 field writes each
    rebuild_repeats: int
    w1_records: int
    w2_records: int
    w3_steps: int
    reference_repeats: int  # plain-SQLite references are cheap: take the median of several
    w3_budget_s: float | None  # W3 stops typing after this long (None: the whole trace)


FULL = Sizes("full", commit_samples=2_000, commit_warmup=200, ingest_records=1_000, ingest_bundles=10_000,
             rebuild_repeats=3, w1_records=10_000, w2_records=1_000, w3_steps=100_000, reference_repeats=3,
             w3_budget_s=100.0)
QUICK = Sizes("quick", commit_samples=300, commit_warmup=50, ingest_records=100, ingest_bundles=1_000,
              rebuild_repeats=1, w1_records=1_000, w2_records=200, w3_steps=5_000, reference_repeats=3,
              w3_budget_s=None)


@dataclass
class IngestFixture:
    """An author's bundles for the ingest benchmark: setup (workspace, module, records), then edits."""

    author: Peer
    setup_wires: list[bytes]
    edit_wires: list[bytes]
    author_seconds: float  # writing the edit bundles locally
    replica: Peer | None = None  # the peer that ingested everything (for rebuild)


@dataclass
class Context:
    sizes: Sizes
    tmpdir: Path
    work: Workloads
    _ingest: IngestFixture | None = field(default=None, repr=False)

    def path(self, name: str) -> Path:
        return self.tmpdir / name

    def ingest_fixture(self) -> IngestFixture:
        """The author's bundles: `ingest_bundles` edits of 10 fields over `ingest_records` records."""
        if self._ingest is None:
            author = origin_peer(self.tmpdir, "ingest-author", seed=11)
            ids = []
            for _ in range(self.sizes.ingest_records):
                with author.ws.transaction() as tx:
                    ids.append(tx.create_record(TABLE))
            setup = stored_wires(author)
            edits: list[bytes] = []
            records = self.work.records
            start = time.perf_counter()
            for j in range(self.sizes.ingest_bundles):
                values = records[j % len(records)][1]
                with author.ws.transaction() as tx:
                    for name, value in values.items():
                        tx.set_field(ids[j % len(ids)], FIELD_IDS[name], value)
                assert author.ws.last_receipt is not None
                edits.append(author.ws.last_receipt.wire)
            self._ingest = IngestFixture(author, setup, edits, time.perf_counter() - start)
        return self._ingest

    def ingested_replica(self) -> Peer:
        """A replica holding all of the fixture's bundles (ingested untimed if ingest did not run)."""
        fixture = self.ingest_fixture()
        if fixture.replica is None:
            replica = replica_peer(self.tmpdir, "ingest-replica", seed=12, origin=fixture.author)
            ingest_all(replica, fixture.setup_wires)
            ingest_all(replica, fixture.edit_wires)
            fixture.replica = replica
        return fixture.replica
