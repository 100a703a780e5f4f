"""Print the architecture figures issue 12 tracks (docs/architecture.md, "Figures").

    .venv/bin/python scripts/architecture_numbers.py [checkout]   (default: this one)

Lines of the facade, the largest core module, import cycles inside the core (grimp, the graph
import-linter uses; every import counts, also those under TYPE_CHECKING and inside functions),
core modules importing the facade, and raw SQL on the core's tables in the shells (server/ and
web/py/). `duplicates` and `mypy --strict` are separate commands (see docs/architecture.md).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import grimp

_GIVEN = __name__ == "__main__" and len(sys.argv) > 1
ROOT = Path(sys.argv[1]).resolve() if _GIVEN else Path(__file__).resolve().parent.parent
CORE = ROOT / "core" / "openprod"
SHELLS = [ROOT / "server" / "openprod_server", ROOT / "web" / "py"]
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE)\b")


def core_tables() -> set[str]:
    ddl = (CORE / "storage.py").read_text()
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", ddl))


def strongly_connected(graph: grimp.ImportGraph, modules: set[str]) -> list[set[str]]:
    """Tarjan's algorithm over the module graph; components of two or more modules are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def facade_shape(core: Path = CORE) -> tuple[int, list[str]]:
    """workspace.py's lines and the Workspace's public names: methods, properties and the
    attributes its `__init__` sets (the parts: `ws.records`, `ws.staging`...)."""
    source = (core / "workspace.py").read_text()
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "Workspace")
    names = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    for node in ast.walk(init):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) \
                and node.value.id == "self":
            names.add(node.attr)
    return len(source.splitlines()), sorted(n for n in names if not n.startswith("_"))


def main() -> int:
    sys.path[:0] = [str(ROOT / "core")]
    facade = CORE / "workspace.py"
    sizes = sorted(((len(p.read_text().splitlines()), p.relative_to(ROOT)) for p in CORE.rglob("*.py")),
                   reverse=True)
    lines, public = facade_shape()
    print(f"facade lines: {lines} ({facade.relative_to(ROOT)}); public names on Workspace: {len(public)}")
    print(f"largest core module: {sizes[0][0]} lines ({sizes[0][1]})")
    graph = grimp.build_graph("openprod", include_external_packages=False)
    modules = set(graph.modules)
    cycles = strongly_connected(graph, modules)
    print(f"import cycles (strongly connected groups): {len(cycles)}; "
          f"modules in them: {sum(len(c) for c in cycles)}")
    for cycle in cycles:
        print("  cycle:", ", ".join(sorted(m.removeprefix("openprod.") for m in cycle)))
    upward = sorted(m for m in graph.find_modules_that_directly_import("openprod.workspace") if m != "openprod")
    print(f"core modules importing the facade: {len(upward)}" + (f" ({', '.join(upward)})" if upward else ""))
    tables = core_tables()
    table_re = re.compile(r"\b(" + "|".join(sorted(tables)) + r")\b")
    sites = []
    for shell in SHELLS:
        for path in sorted(shell.rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if SQL.search(line) and table_re.search(line) and ('"' in line or "'" in line):
                    sites.append(f"{path.relative_to(ROOT)}:{number}")
    print(f"raw SQL sites on core tables in the shells: {len(sites)}")
    for site in sites:
        print("  " + site)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
