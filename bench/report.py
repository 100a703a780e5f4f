"""Results: what each benchmark measured, the machine it ran on, JSON on disk, a Markdown table.

Why one shape for every benchmark: the JSON in bench/results/ is the recorded baseline later
runs are compared with, and docs/benchmarks.md is rendered from it, so the numbers in the docs
are the numbers measured, never retyped.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# Set by `--core REV` for the child run: says which committed core/ is being measured.
CORE_LABEL_ENV = "OPENPROD_BENCH_CORE"

OK = "ok"
FAILED = "failed"
NOT_AVAILABLE = "not available yet"
INCOMPLETE = "incomplete"  # stopped at its time budget; the figures cover the part that ran


@dataclass
class Result:
    """One benchmark's outcome. `metrics` holds numbers; `checks` holds pass/fail/unavailable facts."""

    name: str
    title: str
    status: str = OK
    headline: str = ""  # the figure and its ratio, one line
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)  # name -> "pass", "FAIL: why", NOT_AVAILABLE
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks[name] = "pass" if passed else f"FAIL: {detail}".rstrip(": ")
        if not passed:
            self.status = FAILED

    @property
    def failed(self) -> bool:
        return self.status == FAILED


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 2,000 samples is the 1,900th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else float("inf")


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10).stdout
    except OSError:
        return ""
    return out.strip().splitlines()[0] if out.strip() else ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(tmpdir: Path, signer_backend: str) -> dict[str, Any]:
    """Everything needed to judge a figure: when, where, on what, with which versions."""
    import openprod

    repo = Path(__file__).resolve().parent.parent
    source = Path(openprod.__file__).resolve().parent
    commit = _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    if source == repo / "core" / "openprod":
        dirty = bool(_first_line(["git", "-C", str(repo), "status", "--porcelain", "--", "core"]))
        code = commit + (" (core/ has uncommitted changes)" if dirty else "")
    elif os.environ.get(CORE_LABEL_ENV):
        code = f"{os.environ[CORE_LABEL_ENV]}; bench/ from the working tree at {commit}"
    else:
        code = f"bench at {commit}, openprod imported from {source}"
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "uname": _first_line(["uname", "-a"]) or " ".join(platform.uname()),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "sqlite": sqlite3.sqlite_version,
        "cbor2": _version("cbor2"),
        "pynacl": _version("PyNaCl"),
        "signer": signer_backend,
        "db_dir": str(tmpdir),
        "git_commit": code,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def save_json(path: Path, mode: str, machine: dict[str, Any], digests: dict[str, str],
              results: list[Result], elapsed_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    machine = {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    data = {
        "mode": mode,
        "machine": machine,
        "workload_digests": digests,
        "elapsed_s": round(elapsed_s, 1),
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def render_markdown(data: dict[str, Any]) -> str:
    """The results table and machine block for docs/benchmarks.md, from a saved JSON."""
    m = data["machine"]
    lines = [
        f"Run: `{data['mode']}` mode, {m['date']}, {data['elapsed_s']} s in total.",
        "",
        f"- Machine: `{m['uname']}`",
        f"- CPU: {m['cpu_model']}, {m['cores']} cores",
        f"- Python {m['python']}, SQLite {m['sqlite']}, cbor2 {m['cbor2']}, signer {m['signer']}",
        f"- Code: {m['git_commit']}; databases in `{m['db_dir']}` (WAL, synchronous=NORMAL)",
        f"- Load average (1/5/15 min) at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end', '?')}: other work shared the 2 cores, hence the same-run ratios",
        "",
        "| benchmark | status | figure and ratio against the same-run reference | CPU s of the timed part |",
        "|---|---|---|---|",
    ]
    for r in data["results"]:
        headline = r["headline"].replace("|", "\\|")
        cpu = r["metrics"].get("cpu_seconds", r["metrics"].get("b_cpu_seconds", ""))
        lines.append(f"| {r['title']} | {r['status']} | {headline} | {cpu} |")
    lines += peer_table(data)
    checks = [(r["title"], name, verdict) for r in data["results"] for name, verdict in r["checks"].items()]
    if checks:
        lines += ["", "| benchmark | check | result |", "|---|---|---|"]
        lines += [f"| {title} | {name} | {verdict} |" for title, name, verdict in checks]
    return "\n".join(lines) + "\n"


def peer_table(data: dict[str, Any]) -> list[str]:
    """Our peer-workload figures beside the Yjs and Automerge ones from peer-workloads.md."""
    by_name = {r["name"]: r for r in data["results"]}
    rows: list[str] = []
    w1 = by_name.get("w1", {}).get("metrics", {})
    if "b_seconds" in w1:
        rows.append(f"| W1: B applies {w1['records']:,} changes one by one | {w1['b_seconds']:.2f} s "
                    f"({w1['b_writes_per_s']:,} writes/s), verified and on disk | 0.41 s (245k writes/s) "
                    "| 92 s (1.1k writes/s) |")
        bulk = (f"{w1['bulk_seconds']:.2f} s (all {w1['records']:,} bundles in one `ingest_many`, each verified)"
                if "bulk_seconds" in w1 else "not measured in this run")
        rows.append(f"| W1: B loads A's full state at once | {bulk} | 0.32 s | 0.49 s |")
    w2 = by_name.get("w2", {})
    if "a_merge_ms" in w2.get("metrics", {}):
        m = w2["metrics"]
        conflicts = next((v for k, v in w2["checks"].items() if "open conflicts" in k), "?")
        shown = f"{m['records']:,} open, each with both values" if conflicts == "pass" else conflicts
        one_call = f"; {m['one_call_ms']:.0f} ms in one `ingest_many` call" if "one_call_ms" in m else ""
        rows.append(f"| W2: merge {m['records']:,} concurrent changes | {m['a_merge_ms']:.0f} ms / "
                    f"{m['b_merge_ms']:.0f} ms ({m['records']:,} verified ingest calls each side{one_call}) "
                    "| 24 ms | 210 ms |")
        rows.append(f"| W2: conflicts surfaced on f0 | {shown} | none (Y.Map hides the loser) "
                    "| 1,000 with both values |")
        rows.append("| W2: which value is shown | latest HLC (time), ties by op id | replica id | replica id |")
    w3 = by_name.get("w3", {})
    m3 = w3.get("metrics", {})
    if "seconds" in m3:
        done = f"{m3['edits']:,} of {m3['trace_steps']:,} edits in {m3['seconds']:.1f} s"
        rows.append(f"| W3: typing trace, one transaction per edit | {done} ({w3['status']}) | 0.75 s | 16.7 s |")
    elif w3:
        rows.append(f"| W3: typing trace, one transaction per edit | {w3['status']} | 0.75 s | 16.7 s |")
    if not rows:
        return []
    note = "" if data["mode"].startswith("full") else " (quick sizes: not comparable)"
    return ["", f"Beside the peers (peer-workloads.md, Node 20, same machine kind){note}:", "",
            "| workload | Openprod (this run) | Yjs 13.6.33 | Automerge 3.5.0 |", "|---|---|---|---|", *rows]
