"""Issue 10, item 7: damaged files on a real relay. A damaged workspace file is found when the relay
starts (or when it next opens the file), the workspace is marked unavailable with a clear reason in
/healthz, the log and the refusal members get, the other workspaces go on, and the documented
recovery (move the file aside, members' next syncs rebuild it) works. A damaged relay.db stops the
relay with one line saying what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from relayproc import FilePeer, RelayProcess, free_port, make_file_peer, relay_state, settings_env, wait_until


def damage(path: Path, *, keep_header: bool = True) -> None:
    """Overwrite a SQLite file with garbage: every page but the first (damaged), or all of it (destroyed)."""
    size = path.stat().st_size
    start = 4096 if keep_header else 0
    with open(path, "r+b") as handle:
        handle.seek(start)
        handle.write(os.urandom(max(size - start, 4096)))


def show(folder: Path, name: str, seed: int, relay: RelayProcess) -> FilePeer:
    owner = make_file_peer(folder, name, seed, owner_of=f"{name}'s show")
    ws = owner.open()
    for i in range(20):
        ws.create_record("contacts.Contacts", {"name": f"{name} crew {i}", "role": "x" * 200})
    ws.conn.close()
    owner.cli("publish", relay=relay)
    owner.cli("sync", relay=relay)
    return owner


def test_a_damaged_workspace_file_is_reported_and_the_others_go_on(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory()
    alice = show(tmp_path, "Alice", 1, relay)
    bert = show(tmp_path, "Bert", 2, relay)
    damaged = relay.workspace_file(alice.open())
    relay.stop()
    damage(damaged)
    relay.start()
    health = relay.health()
    assert health["status"] == "degraded"
    [problem] = health["unavailable"]
    assert problem["workspace"] == str(uuid.UUID(bytes=alice.open().workspace_id))
    assert "damaged" in problem["reason"]
    logged = [e for e in relay.events() if e.get("event") == "workspace_unavailable"]
    assert logged and "docs/relay.md" in logged[-1]["recovery"] and logged[-1]["path"] == str(damaged)
    # Alice is told in words, and nothing of hers is touched; Bert's workspace syncs as before.
    result = alice.cli("sync", relay=relay, check=False)
    assert result.returncode == 1
    assert "unavailable" in result.stderr and "damaged" in result.stderr and "Traceback" not in result.stderr
    assert alice.hash_and_count()[1] == 22
    ws = bert.open()
    ws.create_record("contacts.Contacts", {"name": "After the damage"})
    ws.conn.close()
    bert.cli("sync", relay=relay)
    assert relay_state(relay, relay.workspace_file(bert.open())) == bert.hash_and_count()
    # Recovery (docs/relay.md): stop, move the damaged file aside, start; Alice's next sync rebuilds it.
    relay.stop()
    shutil.move(damaged, damaged.with_suffix(".db.damaged"))
    for suffix in ("-wal", "-shm"):
        Path(f"{damaged}{suffix}").unlink(missing_ok=True)
    relay.start()
    assert relay.health()["status"] == "ok"
    alice.cli("sync", relay=relay)
    assert relay_state(relay, damaged) == alice.hash_and_count()


def test_damage_found_when_the_relay_next_opens_the_file(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory(env=settings_env(idle_close=1))
    alice = show(tmp_path, "Alice", 1, relay)
    damaged = relay.workspace_file(alice.open())
    pid = relay.proc.pid  # type: ignore[union-attr]
    wait_until(lambda: not [f for f in os.listdir(f"/proc/{pid}/fd")
                            if os.readlink(f"/proc/{pid}/fd/{f}").startswith(str(damaged))], 15, "the file closed")
    damage(damaged)
    result = alice.cli("sync", relay=relay, check=False)
    assert result.returncode == 1 and "unavailable" in result.stderr and "damaged" in result.stderr
    health = relay.health()
    assert health["status"] == "degraded" and "damaged" in health["unavailable"][0]["reason"]


def serve(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openprod_server.cli", "serve", "--data", str(data), "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60)


def test_a_damaged_relay_database_stops_the_relay_with_one_clear_line(relay_factory, tmp_path: Path) -> None:
    relay = relay_factory()
    show(tmp_path, "Alice", 1, relay)
    relay.stop()
    records = relay.data / "relay.db"
    backup = tmp_path / "relay.db.backup"
    shutil.copyfile(records, backup)
    for keep_header in (True, False):  # damaged, then destroyed outright
        shutil.copyfile(backup, records)
        damage(records, keep_header=keep_header)
        result = serve(relay.data)
        assert result.returncode == 1, result.stderr[-2000:]
        lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
        assert len(lines) == 1, result.stderr[-3000:]
        assert lines[0].startswith(f"Error: the relay's records ({records}) are damaged")
        assert "Restore relay.db from a backup" in lines[0] and "Traceback" not in result.stderr
    # Restoring the backup is the recovery: everything is as it was.
    shutil.copyfile(backup, records)
    relay.start()
    assert relay.health()["status"] == "ok" and relay.health()["workspaces"] == 1
