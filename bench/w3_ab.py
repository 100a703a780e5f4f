"""W3 keystrokes, core/ at a commit against the working tree's, in one process: `python -m bench.w3_ab --base REV`.

`[--steps N] [--chunks C] [--chunk K]`. Why one process: the machine is shared, and a cut of a few
µs in a ~150 µs keystroke is below what separate runs resolve (docs/benchmarks.md, Session 10). The
core at REV is extracted (git archive) and imported under another package name (`openprod_base`:
the core imports itself relatively), so both cores live side by side. Each types the first N steps
of the W3 trace into its own on-disk workspace (`openprod.connect`'s settings), then they type the
next keystrokes in alternating chunks of K transactions (A B, B A, ...), C chunks each, one
transaction per keystroke; CPU time per keystroke. Both texts must end equal.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import openprod

from .manifest import DOC_TABLE, TEXT_FIELD, bench_manifest
from .peer_workloads import _text_edit
from .peers import make_env
from .workloads import generate_trace

CPU = time.process_time


def _base_core(rev: str, into: str) -> ModuleType:
    """core/openprod at `rev`, imported as `openprod_base` from `into`."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", rev, "core/openprod"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    Path(into, "core", "openprod").rename(Path(into, "openprod_base"))
    sys.path.insert(0, into)
    return importlib.import_module("openprod_base")


def _typed(package: ModuleType, trace: list[tuple[int, int, str]]) -> tuple[Any, str]:
    """A workspace of `package` with the bench module, one text record, and `trace` typed into it."""
    storage = importlib.import_module(package.__name__ + ".storage")
    path = Path(tempfile.mkdtemp(prefix="w3-ab-")) / "a.db"
    ws = package.Workspace.create(storage.connect(str(path)), make_env("w3-a", 51), "bench w3-a")
    with ws.transaction(kind="module") as tx:
        tx.adopt_module(bench_manifest())
    with ws.transaction() as tx:
        doc = tx.create_record(DOC_TABLE)
    for edit in trace:
        with ws.transaction() as tx:
            tx.edit_text(doc, TEXT_FIELD, [edit])
    return ws, doc


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.w3_ab", description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, metavar="GIT_REV", help="the core to compare against (e.g. main)")
    parser.add_argument("--steps", type=int, default=2_000, help="W3 steps typed before measuring")
    parser.add_argument("--chunks", type=int, default=40, help="chunks measured per core")
    parser.add_argument("--chunk", type=int, default=100, help="keystrokes per chunk")
    args = parser.parse_args()
    trace = [_text_edit(e) for e in generate_trace(args.steps + args.chunks * args.chunk)]
    with tempfile.TemporaryDirectory(prefix="w3-ab-core-") as tmp:
        cores = {f"{args.base} (base)": _base_core(args.base, tmp), "working tree": openprod}
        typed = {name: _typed(package, trace[:args.steps]) for name, package in cores.items()}
        spent: dict[str, list[float]] = {name: [] for name in cores}
        print(f"load {os.getloadavg()[0]:.1f} at start; {args.steps:,} steps typed, then {args.chunks} chunks of "
              f"{args.chunk} keystrokes per core, alternated")
        for chunk in range(args.chunks):
            part = trace[args.steps + chunk * args.chunk:args.steps + (chunk + 1) * args.chunk]
            for name in (list(cores) if chunk % 2 == 0 else list(reversed(cores))):
                ws, doc = typed[name]
                gc.collect()
                start = CPU()
                for edit in part:
                    with ws.transaction() as tx:
                        tx.edit_text(doc, TEXT_FIELD, [edit])
                spent[name].append((CPU() - start) / len(part) * 1e6)
        texts = {ws.records.value(doc, TEXT_FIELD) for ws, doc in typed.values()}
        if len(texts) != 1:
            raise SystemExit("the two cores' texts differ")
    print(f"load {os.getloadavg()[0]:.1f} at end; CPU µs per keystroke (one transaction each):")
    for name, figures in spent.items():
        ordered = sorted(figures)
        print(f"  {name:24s} min {ordered[0]:6.1f}  p10 {ordered[len(ordered) // 10]:6.1f}  "
              f"median {statistics.median(ordered):6.1f}")
    base, new = (sorted(figures) for figures in spent.values())
    print(f"  working tree / base: median {statistics.median(new) / statistics.median(base):.3f}, "
          f"min {new[0] / base[0]:.3f}")


if __name__ == "__main__":
    main()
