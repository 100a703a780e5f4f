"""The architecture holds: import contracts (import-linter, configured in pyproject.toml) and the
classification of every core module as front door or private (docs/architecture.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core" / "openprod"

# The core's front door for shells: the package, `openprod.sync`, and these modules (result types,
# wire formats, signers and backends handed in, schema and input helpers). Everything else is
# private and listed in pyproject.toml's "Shells use the core's public API only" contract.
PUBLIC = {
    "openprod", "openprod.workspace", "openprod.errors", "openprod.ids", "openprod.identity", "openprod.encoding",
    "openprod.hlc", "openprod.modules", "openprod.results", "openprod.cues", "openprod.csv_import",
    "openprod.csv_reader", "openprod.starter", "openprod.signer_nacl", "openprod.signer_pure",
    "openprod.signer_webcrypto", "openprod.crdt_yjs", "openprod.views", "openprod.export", "openprod.backup",
    "openprod.recovery", "openprod.fork",
    "openprod.sync", "openprod.sync.errors", "openprod.sync.messages", "openprod.sync.proof",
    "openprod.scripts", "openprod.lua_lupa", "openprod.lua_wasmoon",
    "openprod.blobs", "openprod.text_edits",
}


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _numbers() -> Any:
    """scripts/architecture_numbers.py, which prints the figures these tests hold."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("architecture_numbers", ROOT / "scripts" / "architecture_numbers.py")
    assert spec is not None and spec.loader is not None
    numbers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(numbers)
    return numbers


def _core_modules() -> set[str]:
    found = set()
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _covered(module: str, names: set[str]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def test_the_import_contracts_hold() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "web" / "py"), str(ROOT / "core"),
                                                         str(ROOT / "server")])}
    script = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout


def test_every_core_module_is_front_door_or_private() -> None:
    private = set(_contracts()["Shells use the core's public API only"]["forbidden_modules"])  # type: ignore[arg-type]
    modules = _core_modules()
    unclassified = sorted(m for m in modules if m not in PUBLIC and not _covered(m, private))
    assert unclassified == [], "classify these as public (tests/test_architecture.py) or private (pyproject.toml)"
    both = sorted(m for m in PUBLIC if _covered(m, private))
    assert both == []
    stale = sorted(m for m in PUBLIC | private if m not in modules)
    assert stale == []


def test_the_core_has_no_import_cycles() -> None:
    """Every import counts (also under TYPE_CHECKING and inside functions): a reader can start at
    any module and never be led back to where they began (scripts/architecture_numbers.py)."""
    import grimp

    numbers = _numbers()
    graph = grimp.build_graph("openprod", include_external_packages=False)
    cycles = numbers.strongly_connected(graph, set(graph.modules))
    assert [sorted(c) for c in cycles] == []
    below = sorted(m for m in graph.find_modules_that_directly_import("openprod.workspace")
                   if m not in ("openprod", "openprod.csv_import", "openprod.fork")
                   and not m.startswith("openprod.scripts."))
    assert below == [], "nothing below the facade imports it"


def test_the_layer_diagram_in_the_docs_is_the_checked_contract() -> None:
    """docs/architecture.md draws the layers import-linter checks (the same rows, same order)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("<!-- layers: checked by tests/test_architecture.py -->", 1)[1].split("```")[1]
    drawn = [row.split("   ")[0].strip() for row in block.strip("\n").splitlines()]
    layers = _contracts()["The core's layers point down"]["layers"]
    checked = [" | ".join(m.strip().removeprefix("openprod.") for m in row.split("|")) for row in layers]  # type: ignore[union-attr]
    assert drawn == checked


def test_no_two_test_modules_share_a_name() -> None:
    """pytest imports test files by basename (rootdir-relative, no packages): two files of one name in
    different folders stop the whole run at collection, as happened once when two branches merged."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


FACADE_MAX_LINES = 380
FACADE_MAX_PUBLIC = 65  # 64 at the split; +1 state_hash_steps (the browser reads the hash a page at a time)


def test_the_facade_stays_thin() -> None:
    """The Workspace lists parts (one per subsystem, each in its own module) instead of a hundred
    delegations: a new read goes on its subsystem's part, not here (docs/architecture.md)."""
    lines, public = _numbers().facade_shape()
    assert lines <= FACADE_MAX_LINES, f"workspace.py has {lines} lines (at most {FACADE_MAX_LINES})"
    assert len(public) <= FACADE_MAX_PUBLIC, f"the Workspace has {len(public)} public names: {public}"
