"""Applying received bundles writes no temporary file (CPython, Linux: reads /proc/self/fd).

Every received bundle is applied inside a savepoint; SQLite copies each page the bundle changes
first into the savepoint's sub-journal. With SQLite's default temp storage that journal goes to a
temporary file once it passes 64 KiB (16 pages), and every further page is one more write to it:
a catch-up paid about 45 of them per bundle. The core keeps temp storage in memory, so a bundle
touching many pages opens no file. The file is unlinked when made, so it shows only as an open
descriptor of the process, looked up here just before the batch commits.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import Peer, sync

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")

TABLE = "contacts.Contacts"
NOTES = f"{TABLE}.role"  # a plain text field


def _temp_files() -> list[str]:
    """SQLite's temporary files this process holds open (named etilqs_*, deleted at creation)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


def test_a_received_bundle_touching_many_pages_opens_no_temp_file(peer_factory) -> None:
    alice: Peer = peer_factory("Alice")
    bob: Peer = peer_factory("Bob", workspace_from=alice)
    with alice.ws.transaction() as tx:  # 300 records of ~1 KiB: their rows fill ~80 pages
        records = [tx.create_record(TABLE, {"name": f"Person {n}", "role": f"{n} " + "x" * 1000})
                   for n in range(300)]
    sync(alice, bob)
    with alice.ws.transaction() as tx:  # one bundle rewriting every one of those rows
        for n, record in enumerate(records):
            tx.set_field(record, NOTES, f"{n} " + "y" * 1000)
    assert alice.ws.last_receipt is not None
    wire = alice.ws.last_receipt.wire

    seen: list[list[str]] = []

    def before_commit(sql: str) -> None:
        if sql == "COMMIT":
            seen.append(_temp_files())

    bob.ws.conn.set_trace_callback(before_commit)
    try:
        results = bob.ws.ingest_many([wire])
    finally:
        bob.ws.conn.set_trace_callback(None)
    assert [r.status for r in results] == ["applied"]
    assert seen == [[]]  # the batch's one COMMIT, and no temporary file open at it
    assert bob.ws.state_hash() == alice.ws.state_hash()
