"""Helpers for relay tests: real relay processes on free loopback ports, and peers with real
clocks (the relay refuses bundles from the future by its own wall clock)."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from helpers import seeded_identity
from openprod import Env, Identity, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier
from openprod.starter import starter_manifests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RelayProcess:
    data: Path
    port: int
    args: list[str]
    log: Path
    scheme: str = "http"
    ca: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        self.starts += 1
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns the handle
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openprod_server.cli", "serve", "--data", str(self.data), "--port",
             str(self.port), *self.args], stdout=out, stderr=out, env={**os.environ, **self.extra_env})
        self.wait_healthy()

    def context(self) -> ssl.SSLContext | None:
        if self.scheme != "https":
            return None
        return ssl.create_default_context(cafile=str(self.data / "tls" / "ca.pem"))

    def health(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5, context=self.context()) as response:
            result: dict[str, object] = json.loads(response.read())
            return result

    def wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited: {self.log.read_text()[-2000:]}")
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"relay did not become healthy: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def workspace_file(self, ws: Workspace) -> Path:
        import uuid

        return self.data / "workspaces" / f"{uuid.UUID(bytes=ws.workspace_id)}.db"


def env_for(identity: Identity) -> Env:
    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)


@dataclass
class FilePeer:
    """A peer as a person has it: an identity file and a workspace file (opened only when needed)."""

    name: str
    identity: Identity
    identity_path: Path
    db: Path

    def open(self) -> Workspace:
        return Workspace.open(connect(str(self.db)), env_for(self.identity))

    def cli(self, *args: str, relay: RelayProcess, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        use_ca = relay.scheme == "https" and "--no-ca" not in args
        extra = ["--ca", str(relay.data / "tls" / "ca.pem")] if use_ca else []
        args = tuple(a for a in args if a != "--no-ca")
        result = subprocess.run([sys.executable, "-m", "openprod_server.cli", *args, "--db", str(self.db),
                                 "--identity", str(self.identity_path), "--relay", relay.url, *extra],
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed: {result.stdout}\n{result.stderr}")
        return result

    def hash_and_count(self) -> tuple[str, int]:
        ws = self.open()
        try:
            return ws.state_hash(), ws.oplog.size().bundles
        finally:
            ws.conn.close()


def make_file_peer(folder: Path, name: str, seed: int, *, owner_of: str | None = None,
                   workspace_id: bytes | None = None) -> FilePeer:
    identity = seeded_identity(name, seed)
    identity_path = folder / f"{name.lower()}.json"
    identity_path.write_text(identity.to_json())
    db = folder / f"{name.lower()}.db"
    conn = connect(str(db))
    if owner_of is not None:
        ws = Workspace.create(conn, env_for(identity), owner_of)
        with ws.transaction(kind="module") as tx:
            tx.adopt_module(starter_manifests()["contacts"])
    else:
        assert workspace_id is not None
        Workspace.join(conn, env_for(identity), workspace_id)
    conn.close()
    return FilePeer(name, identity, identity_path, db)


def relay_state(relay: RelayProcess, ws_file: Path) -> tuple[str, int]:
    """The relay replica's state hash and bundle count, from a copy (the relay's file is left alone)."""
    import shutil
    import tempfile

    from openprod.signer_nacl import generate_identity

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "relay.db"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{ws_file}{suffix}").exists():
                shutil.copyfile(f"{ws_file}{suffix}", f"{copy}{suffix}")
        ws = Workspace.open(connect(str(copy)), env_for(generate_identity("Reader")))
        try:
            return ws.state_hash(), ws.oplog.size().bundles
        finally:
            ws.conn.close()


def settings_env(**options: object) -> dict[str, str]:
    """Relay options as environment variables (OPENPROD_SERVE_<OPTION>): a relay that lacks an option
    ignores it and runs with its defaults, so a test of a limit fails on a relay without the limit
    instead of failing to start it."""
    return {f"OPENPROD_SERVE_{name.upper()}": str(value) for name, value in options.items()}


def process_memory_kib(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of a process, in KiB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def open_files(pid: int) -> list[str]:
    """What a process holds open: one entry per file descriptor (socket:[..], paths)."""
    import os

    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:  # closed while listing
            continue
    return out


def wait_until(condition: object, timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll `condition()` until it returns something truthy (state, not timing: the timeout only bounds a failure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()  # type: ignore[operator]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
