"""Shared by the sync benchmarks: a real relay process on a free loopback port, and clients.

Why a real process: the figures must include what a user's device meets, the relay's own
event loop, SQLite file and WebSocket stack, not an in-process shortcut.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from openprod import Workspace

from .manifest import FIELD_IDS, TABLE
from .peers import make_env
from .workloads import FIELD_KINDS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def relay_env(source: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if source is not None:
        paths = [str(source / "server"), str(source / "core"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


class RelayProcess:
    def __init__(self, data: Path, source: Path | None = None, extra: tuple[str, ...] = ()) -> None:
        """`source`: run the relay from another checkout's `server/` and `core/` (an older commit,
        unpacked with `git archive`), for a before/after comparison in one window. `extra`: more
        `serve` arguments (e.g. `--web` for a given build)."""
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data.parent / f"{data.name}.log", "ab")  # noqa: SIM115 - the child writes to it
        self.proc = subprocess.Popen([sys.executable, "-m", "openprod_server.cli", "serve", "--data", str(data),
                                      "--port", str(self.port), "--log-level", "warning", *extra],
                                     stdout=self.log, stderr=self.log, env=relay_env(source))
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the relay did not start") from None
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU the relay process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def load_average() -> str:
    """The machine's 1-minute load average (shared cores: every figure is stated beside it)."""
    return f"{os.getloadavg()[0]:.1f}"


def record_values(j: int) -> dict[str, Any]:
    """Ten field values for record j, one per bench field (10 SetField ops)."""
    values: dict[str, Any] = {}
    for name, kind in FIELD_KINDS:
        values[FIELD_IDS[name]] = {"str": f"value {j} {name}", "int": j, "bool": j % 2 == 0,
                                   "float": j / 4}[kind]
    return values


def edit(ws: Workspace, j: int, record: str) -> None:
    """One bundle of ten field writes."""
    with ws.transaction() as tx:
        for field, value in record_values(j).items():
            tx.set_field(record, field, value)


def new_record(ws: Workspace, j: int) -> str:
    with ws.transaction() as tx:
        return tx.create_record(TABLE, {k.rsplit(".", 1)[1]: v for k, v in record_values(j).items()})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "median": statistics.median(values), "p99": percentile(values, 99),
            "max": max(values)}


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):  # not Linux: the model stays unknown
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def report(name: str, result: dict[str, Any]) -> None:
    print(json.dumps({"bench": name, "machine": machine(), **result}, indent=2))


__all__ = ["RelayProcess", "edit", "load_average", "make_env", "new_record", "record_values", "report", "summary"]
