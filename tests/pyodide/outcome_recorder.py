"""A pytest plugin that writes each test's outcome and duration to a JSON file.

Why: the core suite runs on CPython and under Pyodide, and "the same results" is checked by
comparing these files. Both runs load this same plugin (`-p outcome_recorder --outcomes-json
PATH`), so an outcome means the same thing on both sides: "passed", "failed", "skipped",
"xfailed", "xpassed" or "error" (setup or teardown raised).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import pytest

_ORDER = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 1, "failed": 2, "error": 3}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--outcomes-json", metavar="PATH", default=None,
                     help="write per-test outcomes and durations as JSON to PATH")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--outcomes-json")
    if path:
        config.pluginmanager.register(OutcomeRecorder(Path(path)), "outcome-recorder")


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xpassed" if report.passed else "xfailed"
    if report.when != "call" and report.failed:
        return "error"
    return str(report.outcome)


class OutcomeRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tests: dict[str, dict[str, Any]] = {}
        self.started = time.perf_counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0})
        entry["duration"] = round(entry["duration"] + report.duration, 6)
        # A test's outcome is its worst phase: a passing call with a failing teardown is an error.
        # Skips are reported in setup (markers) or call (pytest.skip); a later "passed" teardown
        # must not hide them.
        if report.when == "teardown" and report.passed:
            return
        outcome = _outcome(report)
        if report.when == "setup" and outcome == "passed":
            return
        if _ORDER[outcome] >= _ORDER[entry["outcome"]]:
            entry["outcome"] = outcome

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        files: dict[str, float] = {}
        for nodeid, entry in self.tests.items():
            name = nodeid.split("::", 1)[0]
            files[name] = round(files.get(name, 0.0) + entry["duration"], 6)
        result = {
            "python": platform.python_version(),
            "platform": sys.platform,
            "exit_code": int(exitstatus),
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "tests": dict(sorted(self.tests.items())),
            "files": dict(sorted(files.items(), key=lambda kv: -kv[1])),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(result, indent=1), encoding="utf-8")
