"""Selects, runs and reports the benchmarks; saves the JSON baseline in bench/results/.

Why the digests come first: the peer workloads are only comparable with the published Yjs and
Automerge figures if the data is identical, so a mismatch stops the run before anything is timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .context import FULL, QUICK, Context
from .core_benches import bench_commit, bench_ingest, bench_rebuild
from .peer_workloads import run_w1, run_w2, run_w3
from .peers import SIGNER_BACKEND, BenchFailure
from .profiling import profile_ingest_and_rebuild, save_profile
from .report import CORE_LABEL_ENV, FAILED, Result, machine_info, render_markdown, save_json
from .workloads import DigestMismatch, build_workloads, verify_digests

RESULTS_DIR = Path(__file__).resolve().parent / "results"

from .query_bench import bench_query  # noqa: E402

BENCHMARKS: dict[str, tuple[str, Callable[[Context], Result]]] = {
    "commit": ("(a) local commit of a one-field bundle: median/p95 µs vs single-row INSERT+COMMIT", bench_commit),
    "ingest": ("(b) verified ingest of 100k field ops in 10k bundles: ops/s vs one executemany", bench_ingest),
    "rebuild": ("(c) ws.rebuild() of the ingested replica (~100k ops): seconds vs read+decode+write", bench_rebuild),
    "w1": ("W1 peer workload: 10,000 records one bundle each, B ingests one by one", run_w1),
    "w2": ("W2 peer workload: 1,000 concurrent edits per side, merged both ways", run_w2),
    "w3": ("W3 peer workload: 100k-step typing trace into a text CRDT field", run_w3),
    "query": ("query over 50k records (table + field + edge hop) vs hand-written SQL", bench_query),
}
ALIASES = {"a": "commit", "b": "ingest", "c": "rebuild"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Openprod benchmarks. Each prints its figure and a ratio against a reference measured "
                    "in the same run. Names: " + ", ".join(BENCHMARKS) + " (or a, b, c); default: all.")
    parser.add_argument("names", nargs="*", metavar="BENCHMARK", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 1 minute); not comparable with full")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile the ingest and rebuild paths (separate, untimed pass)")
    parser.add_argument("--json", type=Path, help="where to save results (default: bench/results/<mode>.json)")
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON results")
    parser.add_argument("--tmpdir", type=Path, help="directory for the benchmark databases (default: system temp)")
    parser.add_argument("--w3-budget", type=float, metavar="SECONDS",
                        help="stop W3's typing after this long, 0 = never (default: 100 full, none quick)")
    parser.add_argument("--core", metavar="GIT_REV",
                        help="measure core/ as committed at GIT_REV (extracted to a temporary directory) instead "
                             "of the working tree, e.g. to compare commits or to avoid uncommitted edits")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--render", type=Path, metavar="JSON", help="print a saved run as Markdown and exit")
    return parser.parse_args(argv)


def _selected(names: list[str]) -> list[str]:
    chosen = []
    for raw in names or list(BENCHMARKS):
        name = ALIASES.get(raw.lower(), raw.lower())
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {raw!r}; choose from {', '.join(BENCHMARKS)} (or a, b, c)")
        if name not in chosen:
            chosen.append(name)
    return [n for n in BENCHMARKS if n in chosen]  # always in suite order: rebuild reuses ingest


def _print_result(result: Result) -> None:
    print(f"\n## {result.title}  [{result.status}]")
    print(f"   {result.headline}")
    for note in result.notes:
        print(f"   - {note}")
    for name, verdict in result.checks.items():
        print(f"   check: {name}: {verdict}")
    sys.stdout.flush()


def _run_with_core(rev: str, argv: list[str]) -> int:
    """Re-run this command in a child process that imports `openprod` from core/ as of `rev`."""
    repo = Path(__file__).resolve().parent.parent
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", f"{rev}^{{commit}}"], capture_output=True,
                         text=True, check=False).stdout.strip()
    if not sha:
        raise SystemExit(f"--core: {rev!r} is not a commit of {repo}")
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha, "core"], capture_output=True,
                             check=True).stdout
    rest = [a for i, a in enumerate(argv) if a != "--core" and not a.startswith("--core=")
            and not (i > 0 and argv[i - 1] == "--core")]
    with tempfile.TemporaryDirectory(prefix="openprod-core-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        # Since the layout change the package is core/openprod; before it, core/ itself.
        nested = Path(tmp, "core", "openprod")
        (nested if nested.is_dir() else Path(tmp, "core")).rename(Path(tmp, "openprod"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")])),
               CORE_LABEL_ENV: f"core/ at commit {sha} (extracted with git archive)"}
        print(f"Measuring core/ as of {sha} ({rev})")
        return subprocess.run([sys.executable, "-m", "bench", *rest], env=env, cwd=repo, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        for name, (summary, _) in BENCHMARKS.items():
            print(f"{name:8} {summary}")
        return 0
    if args.render:
        print(render_markdown(json.loads(args.render.read_text())), end="")
        return 0
    names = _selected(args.names)
    if args.core:
        return _run_with_core(args.core, sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    if args.w3_budget is not None:
        sizes = dataclasses.replace(sizes, w3_budget_s=args.w3_budget or None)
    began = time.perf_counter()
    if args.quick:
        print("QUICK MODE: reduced sizes, figures NOT comparable with a full run or with the peers' figures")
    print("Generating the peer workloads and checking their digests ...")
    work = build_workloads()
    try:
        digests = verify_digests(work)
    except DigestMismatch as exc:
        print(f"STOP: {exc}", file=sys.stderr)
        return 2
    print("  all five digests match peer-workloads.md (w1_records, w2_base, w2_edits, w3_trace, w3_final_text)")
    with tempfile.TemporaryDirectory(prefix="openprod-bench-", dir=args.tmpdir) as tmp:
        tmpdir = Path(tmp)
        machine = machine_info(tmpdir.parent, SIGNER_BACKEND)
        print(f"  {machine['cpu_model']}, {machine['cores']} cores; Python {machine['python']}; "
              f"SQLite {machine['sqlite']}; signer {machine['signer']}; mode {sizes.label}")
        print(f"  code: {machine['git_commit']}; load average {machine['load_average_at_start']}")
        ctx = Context(sizes, tmpdir, work)
        results: list[Result] = []
        for name in names:
            try:
                result = BENCHMARKS[name][1](ctx)
            except BenchFailure as exc:
                result = Result(name, BENCHMARKS[name][0], status=FAILED, headline=f"FAILED: {exc}")
            results.append(result)
            _print_result(result)
        elapsed = time.perf_counter() - began
        mode = sizes.label if names == list(BENCHMARKS) else f"{sizes.label}-partial"
        print(f"\nTotal {elapsed:.0f} s ({mode}).")
        if args.profile:
            profile = profile_ingest_and_rebuild(ctx)
            profile_path = RESULTS_DIR / f"profile-{sizes.label}.txt"
            save_profile(profile, profile_path)
            print(f"Profile of ingest and rebuild (a separate pass, not timed) saved to {profile_path}")
    if not args.no_save:
        path = args.json or RESULTS_DIR / f"{mode}.json"
        save_json(path, mode, machine, digests, results, elapsed)
        print(f"Results saved to {path}")
    return 1 if any(r.failed for r in results) else 0
