"""The core's test suite gives the same per-test results under Pyodide 314 (Node.js) as on CPython.

Why: the browser runs this exact core in Pyodide. Running the suite there (no network, wheels
from build/wheels) catches anything that only works on CPython: a C-only dependency, threads,
newer SQL, platform-specific bytes. Both runs record outcomes with the same plugin
(tests/pyodide/outcome_recorder.py), so the comparison is like for like.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pyodide_env import PYODIDE_TESTS, ROOT, missing_pyodide_prerequisites

RUNNER = PYODIDE_TESTS / "run_core_tests.mjs"
TIMEOUT_S = 20 * 60


def run_cpython_suite(target: str, out: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    path = [str(PYODIDE_TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "outcome_recorder",
         "--outcomes-json", str(out), target],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )


def outcomes(path: Path) -> dict[str, str]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {nodeid: entry["outcome"] for nodeid, entry in data["tests"].items()}


def describe_difference(cpython: dict[str, str], pyodide: dict[str, str]) -> str:
    lines = []
    for nodeid in sorted(set(cpython) | set(pyodide)):
        a, b = cpython.get(nodeid, "not run"), pyodide.get(nodeid, "not run")
        if a != b:
            lines.append(f"  {nodeid}: CPython {a}, Pyodide {b}")
    return "\n".join(lines)


def test_outcome_recorder_reports_each_kind_of_result(tmp_path: Path) -> None:
    """The comparison below is only as good as this plugin: check it tells outcomes apart."""
    (tmp_path / "test_kinds.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown")

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("setup")

        def test_ok(): pass
        def test_bad(): assert False
        def test_skip(): pytest.skip("no")
        @pytest.mark.skip(reason="marked")
        def test_marked_skip(): pass
        @pytest.mark.xfail(strict=False)
        def test_xfail(): assert False
        @pytest.mark.xfail(strict=False)
        def test_xpass(): pass
        def test_setup_error(broken_setup): pass
        def test_teardown_error(broken_teardown): pass
        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n): assert n == 1
    """), encoding="utf-8")
    out = tmp_path / "outcomes.json"
    result = run_cpython_suite("test_kinds.py", out, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["exit_code"] == 1
    assert outcomes(out) == {
        "test_kinds.py::test_ok": "passed",
        "test_kinds.py::test_bad": "failed",
        "test_kinds.py::test_skip": "skipped",
        "test_kinds.py::test_marked_skip": "skipped",
        "test_kinds.py::test_xfail": "xfailed",
        "test_kinds.py::test_xpass": "xpassed",
        "test_kinds.py::test_setup_error": "error",
        "test_kinds.py::test_teardown_error": "error",
        "test_kinds.py::test_param[1]": "passed",
        "test_kinds.py::test_param[2]": "failed",
    }
    assert list(data["files"]) == ["test_kinds.py"]


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 120)  # the project default (600 s) would cut a growing suite short
def test_core_suite_gives_the_same_results_under_pyodide(tmp_path: Path) -> None:
    reason = missing_pyodide_prerequisites()
    if reason:
        pytest.skip(reason)
    pyodide_json, cpython_json, node_log = tmp_path / "pyodide.json", tmp_path / "cpython.json", tmp_path / "node.log"
    # Start the slow Pyodide run first and run CPython meanwhile; output goes to a file so a
    # chatty failure can never block on a full pipe.
    with node_log.open("w", encoding="utf-8") as log:
        node = subprocess.Popen(["node", str(RUNNER), str(pyodide_json), "--timings"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            cpython = run_cpython_suite("tests/core", cpython_json)
            node_rc = node.wait(timeout=TIMEOUT_S)
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
    node_output = node_log.read_text(encoding="utf-8")
    tail = "\n".join(node_output.splitlines()[-60:])
    assert cpython.returncode == 0, f"the core suite fails on CPython itself:\n{cpython.stdout[-4000:]}"
    assert node_rc == 0, f"the core suite fails under Pyodide (exit {node_rc}):\n{tail}"

    data = json.loads(pyodide_json.read_text(encoding="utf-8"))
    assert (data["runtime"], data["platform"]) == ("pyodide", "emscripten")
    assert data["python"].startswith("3.14"), data["python"]
    on_cpython, on_pyodide = outcomes(cpython_json), outcomes(pyodide_json)
    assert on_cpython, "the CPython run collected no core tests"
    assert on_pyodide == on_cpython, "per-test outcomes differ:\n" + describe_difference(on_cpython, on_pyodide)
    passed = {t for t, o in on_pyodide.items() if o == "passed"}
    assert passed, "no core test passed under Pyodide"
