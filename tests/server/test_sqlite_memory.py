"""The relay bounds SQLite's memory for all its open workspace files together.

Each workspace file is opened by the core (`openprod.connect`), which lets SQLite cache up to 32 MiB
of its pages; the relay keeps up to 64 files open, so busy workspaces could hold 2 GiB of cache.
`relay.limit_sqlite_memory` sets SQLite's soft heap limit for the process: past it SQLite reuses
cached pages rather than take more, and nothing fails. Shown in a process of its own (the limit is
one per process), on files opened the core's way and read through."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from openprod_server.config import RelayConfig
from openprod_server.relay import Relay, limit_sqlite_memory

FILES = 6
ROWS = 60_000  # of 300 bytes: ~20 MiB a file, all of it in the page cache once read (32 MiB allowed)

READ_THROUGH = """
import sys
from pathlib import Path
from openprod import connect
from openprod_server.relay import limit_sqlite_memory

def resident_mib():
    return int(Path('/proc/self/statm').read_text().split()[1]) * 4096 / 2**20

limit = int(sys.argv[2])
if limit:
    limit_sqlite_memory(limit)
start = resident_mib()
kept = []
for path in sorted(Path(sys.argv[1]).glob('*.db')):
    conn = connect(str(path))
    assert conn.execute('SELECT count(*), sum(length(v)) FROM filler').fetchone()[0] > 0
    kept.append(conn)
print(round(resident_mib() - start, 1))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-memory")
    filler = bytes(range(256)) + bytes(44)
    for i in range(FILES):
        conn = sqlite3.connect(folder / f"ws{i}.db")
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, v BLOB)")
        conn.executemany("INSERT INTO filler (v) VALUES (?)", ((filler,) for _ in range(ROWS)))
        conn.commit()
        conn.close()
    return folder


def grown_mib(files: Path, limit_mib: int) -> float:
    """Resident memory the process gained reading every file through (its connections kept open)."""
    done = subprocess.run([sys.executable, "-c", READ_THROUGH, str(files), str(limit_mib)],
                          capture_output=True, text=True, timeout=300, check=True)
    return float(done.stdout.strip())


def test_open_workspace_files_share_one_bound_on_sqlites_memory(files: Path) -> None:
    unbounded = grown_mib(files, 0)
    bounded = grown_mib(files, 32)
    assert unbounded > FILES * 15, unbounded  # each file's pages cached: the cost the limit is for
    assert bounded < 32 + 16, bounded  # the limit, and what SQLite needs beyond its page cache


def test_the_relay_sets_the_limit_it_is_configured_with(tmp_path: Path) -> None:
    probe = sqlite3.connect(":memory:")
    before = probe.execute("PRAGMA soft_heap_limit").fetchone()[0]
    try:
        Relay(RelayConfig(data_dir=tmp_path / "relay", web_dir=tmp_path / "no-web", sqlite_memory_mib=100))
        assert probe.execute("PRAGMA soft_heap_limit").fetchone()[0] == 100 * 1024 * 1024
        with pytest.raises(ValueError, match="positive number of MiB"):
            limit_sqlite_memory(0)
        assert probe.execute("PRAGMA soft_heap_limit").fetchone()[0] == 100 * 1024 * 1024  # unchanged
    finally:
        probe.execute(f"PRAGMA soft_heap_limit = {before}")
        probe.close()
