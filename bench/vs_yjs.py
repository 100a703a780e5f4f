"""W1 and W2 beside Yjs in the same window: ours and the Yjs harness alternated, one ratio per run.

`python -m bench.vs_yjs [--pairs 2] [--core REV] [--harness DIR] [--workdir DIR]`

Why this exists: issue 19's target 5 compares our W1 (B ingests 10,000 bundles one at a time) and
W2 (one call merging the other side's 1,000 bundles) with Yjs on this machine, and the machine is
shared: Yjs's own figures moved 1.4-4x within minutes in earlier sessions. So both run here, in
turns (ours, Yjs, ours, Yjs, ...), each our run is divided by the mean of the Yjs runs beside it,
and the load average is printed with every figure. Ours runs as `python -m bench w1 w2` in a child
process at full size; Yjs as `node bench.mjs --only yjs:w1,yjs:w2` from a copy of the peer harness
(shared/bench/peer-bench), whose dependencies come from its own package.json and lock file
(`npm ci`, once per copy). Nothing of the harness is kept in this repository. Both sides' workload
digests must equal peer-workloads.md's, or nothing is compared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .workloads import EXPECTED_DIGESTS

ROOT = Path(__file__).resolve().parents[1]
# shared/bench/peer-bench beside the checkout: /work/shared/... for /work/main and for /work/wt/NAME
HARNESS = next((d / "shared" / "bench" / "peer-bench" for d in ROOT.parents
                if (d / "shared" / "bench" / "peer-bench" / "bench.mjs").is_file()),
               ROOT.parent / "shared" / "bench" / "peer-bench")
TARGETS = {"w1": 12.0, "w2": 6.0}  # issue 19, target 5: at most this many times Yjs
YJS_METRICS = {"w1": ("W1", "b_apply_incremental"), "w2": ("W2", "merge_batch")}


def load() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Run:
    """One run of one side: its figures in ms (w1, w2), the load before and after, and its digests."""

    side: str
    ms: dict[str, float]
    load_before: str
    load_after: str
    seconds: float
    digests: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


def harness_copy(source: Path, workdir: Path) -> Path:
    """A writable copy of the peer harness with its npm dependencies installed (`npm ci`, kept for reuse)."""
    if not (source / "bench.mjs").is_file():
        raise SystemExit(f"no peer harness at {source} (give --harness DIR)")
    dest = workdir / "peer-bench"
    # contents only, not modes: the shared folder is read-only, and the copy is refreshed on every run
    for item in sorted(source.rglob("*")):
        relative = item.relative_to(source)
        if relative.parts[0] in {"node_modules", "results"}:
            continue
        if item.is_dir():
            (dest / relative).mkdir(parents=True, exist_ok=True)
        else:
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, dest / relative)
    if not (dest / "node_modules" / "yjs" / "package.json").is_file():
        print(f"Installing the harness's npm dependencies in {dest} (npm ci) ...", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=dest, check=True)
    return dest


def parse_yjs(lines: list[str]) -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
    """W1 `b_apply_incremental` and W2 `merge_batch` medians (ms), the digests, and their reps and checks."""
    records = [json.loads(line) for line in lines if line.startswith("{")]
    env = next((r for r in records if r.get("type") == "env"), None)
    if env is None:
        raise ValueError("the Yjs harness wrote no env line")
    digests = {k.removesuffix("_sha256"): v for k, v in env["workload"].items() if k.endswith("_sha256")}
    ms: dict[str, float] = {}
    extra: dict[str, Any] = {"yjs_version": None, "checks": {}}
    for name, (workload, metric) in YJS_METRICS.items():
        row = next((r for r in records if r.get("type") == "time" and r.get("lib") == "yjs"
                    and r.get("workload") == workload and r.get("metric") == metric), None)
        if row is None:
            raise ValueError(f"the Yjs harness reported no {workload} {metric}")
        ms[name] = float(row["median_ms"])
        extra[f"{name}_reps_ms"] = row["reps_ms"]
        extra["yjs_version"] = row.get("lib_version")
    for r in records:
        if r.get("type") == "check":
            extra["checks"][r["name"]] = r["value"]
    return ms, digests, extra


def parse_ours(data: dict[str, Any]) -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
    """W1 B's one-at-a-time ingest and W2's one-call merge (ms) from `python -m bench w1 w2 --json`."""
    by_name = {r["name"]: r for r in data["results"]}
    failed = {n: r["checks"] for n, r in by_name.items()
              if r["status"] == "failed" or any(str(v).startswith("FAIL") for v in r["checks"].values())}
    if failed:
        raise ValueError(f"our run failed a check: {failed}")
    w1, w2 = by_name["w1"]["metrics"], by_name["w2"]["metrics"]
    ms = {"w1": float(w1["b_seconds"]) * 1000, "w2": float(w2["one_call_ms"])}
    extra = {"cpu_ms": {"w1": float(w1["b_cpu_seconds"]) * 1000, "w2": float(w2["one_call_cpu_ms"])},
             "w1_vs_plain_sqlite": w1["ratio"], "w2_runs_ms": w2["one_call_runs_ms"],
             "w2_warmup_ms": w2["one_call_warmup_ms"], "commit": data["machine"]["git_commit"]}
    return ms, dict(data["workload_digests"]), extra


def run_ours(tmp: Path, index: int, core: str | None) -> Run:
    out = tmp / f"ours-{index}.json"
    cmd = [sys.executable, "-m", "bench", "w1", "w2", "--json", str(out)] + (["--core", core] if core else [])
    before, start = load(), time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds, after = time.perf_counter() - start, load()
    if run.returncode != 0 or not out.is_file():
        raise SystemExit(f"our bench failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    ms, digests, extra = parse_ours(json.loads(out.read_text()))
    return Run("ours", ms, before, after, seconds, digests, extra)


def run_yjs(harness: Path, tmp: Path, index: int) -> Run:
    out = tmp / f"yjs-{index}.jsonl"
    before, start = load(), time.perf_counter()
    run = subprocess.run(["node", "bench.mjs", "--only", "yjs:w1,yjs:w2", "--out", str(out)], cwd=harness,
                         capture_output=True, text=True, check=False)
    seconds, after = time.perf_counter() - start, load()
    if run.returncode != 0:
        raise SystemExit(f"the Yjs harness failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    ms, digests, extra = parse_yjs(out.read_text().splitlines())
    return Run("yjs", ms, before, after, seconds, digests, extra)


def check_digests(run: Run) -> None:
    """Stop unless this run's workload is peer-workloads.md's, digest for digest."""
    wrong = {k: run.digests.get(k) for k, want in EXPECTED_DIGESTS.items() if run.digests.get(k) != want}
    if wrong:
        raise SystemExit(f"STOP: {run.side}'s workload digests differ from peer-workloads.md: {wrong}")


def ratios(runs: list[Run]) -> list[dict[str, Any]]:
    """Each of our runs against the mean of the Yjs runs next to it in the sequence (before and after).

    Also our CPU time over Yjs's wall time: Yjs's CPU is at most its wall time, so this is a lower
    bound of the CPU-to-CPU ratio, and waits for the machine's other work do not inflate it."""
    rows = []
    for i, run in enumerate(runs):
        if run.side != "ours":
            continue
        beside = [r for r in (runs[i - 1] if i else None, runs[i + 1] if i + 1 < len(runs) else None)
                  if r is not None and r.side == "yjs"]
        if not beside:
            continue
        row: dict[str, Any] = {"ours_run": i, "load": run.load_before, "yjs_runs": [runs.index(r) for r in beside]}
        for name in TARGETS:
            yjs_ms = statistics.fmean(r.ms[name] for r in beside)
            cpu_ms = run.extra["cpu_ms"][name]
            row[name] = {"ours_ms": round(run.ms[name], 1), "yjs_ms": round(yjs_ms, 1),
                         "ratio": round(run.ms[name] / yjs_ms, 1), "ours_cpu_ms": round(cpu_ms, 1),
                         "cpu_ratio_at_least": round(cpu_ms / yjs_ms, 1)}
        rows.append(row)
    return rows


def verdict(rows: list[dict[str, Any]], name: str) -> str:
    got = [row[name]["ratio"] for row in rows]
    target = TARGETS[name]
    if all(r <= target for r in got):
        return f"met in every pair ({', '.join(f'{r}x' for r in got)}; target {target:g}x)"
    if not any(r <= target for r in got):
        return (f"missed in every pair ({', '.join(f'{r}x' for r in got)}; target {target:g}x, "
                f"best {min(got) / target:.1f}x over)")
    return f"mixed ({', '.join(f'{r}x' for r in got)}; target {target:g}x)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vs_yjs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2, help="runs of each side, alternated, ours first (default 2)")
    parser.add_argument("--core", metavar="GIT_REV", help="measure core/ as committed at GIT_REV (as python -m bench)")
    parser.add_argument("--harness", type=Path, default=HARNESS, help=f"the peer harness (default {HARNESS})")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "openprod-peer-bench",
                        help="where the harness is copied and npm-installed, kept between runs")
    parser.add_argument("--json", type=Path, help="also write every run and ratio here")
    args = parser.parse_args(argv)
    harness = harness_copy(args.harness, args.workdir)
    print(f"W1/W2 beside Yjs: {args.pairs} pairs, ours first; load average {load()}", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="openprod-vs-yjs-") as tmp:
        for index in range(args.pairs):
            for side in ("ours", "yjs"):
                run = run_ours(Path(tmp), index, args.core) if side == "ours" else run_yjs(harness, Path(tmp), index)
                check_digests(run)
                runs.append(run)
                print(f"  run {len(runs) - 1} {side:4}: W1 {run.ms['w1']:9.1f} ms, W2 {run.ms['w2']:7.1f} ms "
                      f"({run.seconds:.0f} s; load {run.load_before} -> {run.load_after}) "
                      f"{json.dumps(run.extra, separators=(',', ':'))}", flush=True)
    rows = ratios(runs)
    print("  all workload digests (ours and Yjs's) equal peer-workloads.md's")
    print("\n| our run | W1 ours / Yjs (ms) | W1 ratio | W1 our CPU / Yjs | W2 ours / Yjs (ms) | W2 ratio | "
          "W2 our CPU / Yjs | load before ours |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        w1, w2 = row["w1"], row["w2"]
        print(f"| {row['ours_run']} (Yjs runs {', '.join(map(str, row['yjs_runs']))}) | {w1['ours_ms']:,.0f} / "
              f"{w1['yjs_ms']:,.0f} | {w1['ratio']}x | {w1['cpu_ratio_at_least']}x | {w2['ours_ms']:,.1f} / "
              f"{w2['yjs_ms']:,.1f} | {w2['ratio']}x | {w2['cpu_ratio_at_least']}x | {row['load']} |")
    print("(our CPU / Yjs: our run's CPU time over Yjs's wall time, a lower bound of the CPU ratio)")
    print(f"\nW1 one bundle at a time, at most {TARGETS['w1']:g}x Yjs: {verdict(rows, 'w1')}")
    print(f"W2 one-call merge, at most {TARGETS['w2']:g}x Yjs: {verdict(rows, 'w2')}")
    if args.json:
        args.json.write_text(json.dumps({"runs": [vars(r) for r in runs], "ratios": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
