"""Kill the relay (SIGKILL) in the middle of a catch-up, restart it on the same data: nothing
the relay acknowledged is lost, nothing is stored twice, and the catch-up resumes from where it
stopped instead of starting over."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from relayproc import FilePeer, RelayProcess, make_file_peer, relay_state

TABLE = "contacts.Contacts"
RECORDS = 1500


def count(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM bundles").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def start_sync(peer: FilePeer, relay: RelayProcess) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "openprod_server.cli", "sync", "--db", str(peer.db), "--identity",
                             str(peer.identity_path), "--relay", relay.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill_when(relay: RelayProcess, done: object, low: int, high: int) -> int:
    """SIGKILL the relay as soon as `done()` lies strictly between low and high; returns that value."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = done()  # type: ignore[operator]
        if low < value < high:
            relay.kill()
            return int(value)
        assert value < high, "finished before it could be interrupted"
        time.sleep(0.005)
    raise AssertionError("the catch-up never started")


def test_relay_killed_during_catch_up_loses_and_duplicates_nothing(relay: RelayProcess, tmp_path: Path) -> None:
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Big show")
    ws = alice.open()
    for i in range(RECORDS):
        ws.create_record(TABLE, {"name": f"Crew member {i}", "role": "stagehand", "department": "crew"})
    ws_id, total = ws.workspace_id, ws.oplog.size().bundles
    ws.conn.close()
    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    alice.cli("publish", relay=relay)
    bob.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=relay)
    relay_file = relay.workspace_file(alice.open())

    # 1. Alice uploads; the relay dies part-way. What it stored survives; Alice's next sync sends the rest.
    upload = start_sync(alice, relay)
    stored = kill_when(relay, lambda: count(relay_file), 100, total - 100)
    upload.wait(30)
    assert upload.returncode != 0, "the interrupted sync must not claim success"
    relay.start()
    assert count(relay_file) >= stored, "nothing the relay stored is lost"
    result = alice.cli("sync", relay=relay)
    caught = [json.loads(line) for line in result.stdout.splitlines() if '"Established"' in line]
    assert caught
    assert count(relay_file) == total

    # 2. Bob downloads; the relay dies part-way; Bob resumes with only what he lacks.
    download = start_sync(bob, relay)
    got = kill_when(relay, lambda: count(bob.db), 100, total - 100)
    download.wait(30)
    assert download.returncode != 0
    relay.start()
    held = count(bob.db)
    assert held >= got
    result = bob.cli("sync", relay=relay)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    first = next(e for e in events if e["event"] == "Progress")
    assert first["received"] + first["remaining"] == total - held, "resumed: only the missing bundles are sent"
    assert events[-1]["in_sync"]
    assert alice.hash_and_count() == bob.hash_and_count() == relay_state(relay, relay_file)
    assert bob.hash_and_count()[1] == total
