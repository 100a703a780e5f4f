"""What the CPython tests need to drive Pyodide under Node.js, and why they skip without it.

Why: the Pyodide runs (tests/pyodide/*.mjs) need `node`, npm's pyodide and the pinned wheels
in build/wheels. The README test command installs all three, so in CI nothing skips; on a
bare machine the skip reason says which command to run.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYODIDE_TESTS = ROOT / "tests" / "pyodide"


def pinned_wheels() -> list[str]:
    """`name==version` for every wheel Pyodide installs, read from scripts/fetch_wheels.py."""
    spec = importlib.util.spec_from_file_location("fetch_wheels", ROOT / "scripts" / "fetch_wheels.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load scripts/fetch_wheels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [*module.PURE_RUNTIME, *module.PURE_TEST, *module.EMSCRIPTEN]


def missing_pyodide_prerequisites() -> str | None:
    """Why the Pyodide runs cannot start here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (the README test command installs it)"
    if not (ROOT / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        return "node_modules/pyodide is missing: run `npm ci`"
    wheels = ROOT / "build" / "wheels"
    missing = []
    for pin in pinned_wheels():
        name, version = pin.split("==")
        if not any(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl")):
            missing.append(pin)
    if missing:
        return f"wheels missing from build/wheels: {', '.join(missing)}; run scripts/fetch_wheels.py"
    return None
