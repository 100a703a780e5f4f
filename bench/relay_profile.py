"""Where a running relay's CPU goes: py-spy samples the relay process (no code change, little
overhead) and each sample is put in one stage of a bundle's way through the relay.

Why sampling and not cProfile: cProfile slows every Python call several times over, which on a
saturated relay changes what saturates; py-spy reads the process from outside. py-spy is in the
`bench` extra (`pip install -e ".[bench]"`); without it the benchmark runs and says so.

Stages, matched from the innermost frame outwards (the first rule that matches wins):
verify (Ed25519), encode (building frames to send), decode (reading received frames),
ingest (checks and the SQLite apply), fan-out (queueing stored bundles for every session),
socket (WebSocket framing, the event loop's reads and writes), timers (session timers),
other (everything else: logging, HTTP, the loop's own bookkeeping).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (stage, substrings of a frame "function (file:line)"), tried from the innermost frame out.
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("verify", ("signer_nacl.py", "nacl/", "verify_detached")),
    ("encode", ("encode_message_v1", "split_v1", "encode_batch", "encode_frames")),
    ("decode", ("receive_frame", "Reassembler", "decode_message")),
    ("ingest", ("check_received", "apply_received", "drain_parked", "ingest_many")),
    ("fan-out", ("bundle_stored", "_stored", "_fill", "_take_live", "fan_out")),
    ("timers", ("get_timer", "handle_timer", "_timers", "_next_quiet_action")),
    ("socket", ("websockets/", "uvicorn/", "selector_events.py", "starlette/", "_flush", "_read (")),
]


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


class Sampler:
    """`py-spy record` attached to a running process until `stop()`."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError('py-spy is not installed: pip install -e ".[bench]"')
        self.out = out
        self.proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "-o", str(out),
                                      "--nonblocking", "-r", str(rate)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stage_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for stage, needles in RULES:
            if any(n in frame for n in needles):
                return stage
    return "other"


def split(raw: Path) -> tuple[Counter[str], Counter[str]]:
    """Samples per stage, and per innermost function (self time), from py-spy's raw output."""
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            n = int(count)
            stack = stack_text.split(";")
            stages[stage_of(stack)] += n
            leaves[stack[-1]] += n
    return stages, leaves


def shares(stages: Counter[str]) -> dict[str, float]:
    total = sum(stages.values()) or 1
    return {stage: round(100 * n / total, 1) for stage, n in stages.most_common()}


def describe(raw: Path, cpu_ms_per_bundle: float, top: int = 25) -> str:
    """The split as text: share of samples and CPU ms per bundle for each stage, and the hottest functions."""
    stages, leaves = split(raw)
    total = sum(stages.values()) or 1
    lines = [f"relay CPU per bundle by stage ({total} samples):"]
    for stage, n in stages.most_common():
        lines.append(f"  {stage:8s} {100 * n / total:5.1f} %  {cpu_ms_per_bundle * n / total:6.2f} ms")
    lines.append(f"hottest functions (self time, top {top}):")
    for frame, n in leaves.most_common(top):
        lines.append(f"  {100 * n / total:5.1f} %  {frame}")
    return "\n".join(lines)
