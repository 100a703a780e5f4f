"""`openprod serve` fails with one clear line (and status 1) when it cannot start."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from relayproc import free_port


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openprod_server.cli", "serve", *args], capture_output=True,
                          text=True, timeout=60)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve("--data", str(tmp_path / "data"), "--port", str(port))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: port {port} on 127.0.0.1 is already in use (another relay?); stop it or choose "
                     "another port with --port"]


def test_unwritable_data_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data directory should go")
    result = serve("--data", str(blocker / "data"), "--port", str(free_port()))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot write to data directory {blocker / 'data'}")
    assert "choose another with --data" in lines[0]


def test_listening_beyond_loopback_needs_the_lan_flag(tmp_path: Path) -> None:
    result = serve("--data", str(tmp_path / "data"), "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: listening on 0.0.0.0 reaches beyond this machine; add --lan to do that (it serves HTTPS with the "
        "relay's own certificate authority)"]


def test_client_without_identity_file(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "openprod_server.cli", "sync", "--db", str(tmp_path / "x.db"),
                             "--identity", str(tmp_path / "me.json")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no workspace file at {tmp_path / 'x.db'}; create one with `openprod init` or `openprod join`"]


def test_serve_finds_the_built_web_app_by_default(tmp_path: Path) -> None:
    """`./scripts/serve` passes no --web: the relay must find build/web from its own package folder."""
    from openprod_server.config import REPO_WEB

    repo = Path(__file__).resolve().parents[2]
    assert repo / "build" / "web" == REPO_WEB
