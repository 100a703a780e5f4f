"""Types as a tool: the core, the relay, the web worker's Python and the benchmarks stay `mypy --strict`
clean (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_core_the_relay_the_worker_and_the_benchmarks_are_mypy_strict_clean() -> None:
    packages = ["core/openprod", "server/openprod_server", "web/py/openprod_web", "bench"]
    run = subprocess.run([sys.executable, "-m", "mypy", *packages], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Success: no issues found" in run.stdout
