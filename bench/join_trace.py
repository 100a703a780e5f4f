"""A join's timeline from the worker's trace (`policy.trace`, `bench.browser_bench --join-trace`).

The worker records every turn (label, lane, queued, started, ended: performance.now() ms) and the sync
loop's events beside them: frames in (`frames`, bytes), frames out (`send`), the waits for the log's
IndexedDB writes (`durable`), the attachments' step (`blobs`), and each run of the loop (`run`). This
splits the wall time between the first ingest and "caught up" into: time in turns (per label), waits
on IndexedDB outside turns, the loop's other gaps between turns (yields, promise hops), and time the
loop was not running at all (waiting for the relay's frames or a timer); and it times the hops a
page of bundles takes: frames in -> the ingest that takes them, acknowledgement out -> the relay's
next frames in.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

STEP = 0.05  # ms per bin: turns and waits are painted onto bins, most specific first


def _bins(a: float, b: float, t0: float) -> tuple[int, int]:
    return max(0, int((a - t0) / STEP)), max(0, int((b - t0) / STEP))


def summarize(trace: dict[str, Any], first_work_epoch: float, caught_up_epoch: float) -> dict[str, Any]:
    """Where the time from the first ingest turn to "caught up" went (seconds, and counts)."""
    origin = float(trace["origin"])
    t0, t1 = first_work_epoch - origin, caught_up_epoch - origin
    events = [e for e in trace["events"] if e[4] >= t0 and e[3] <= t1]
    n = max(1, int((t1 - t0) / STEP))
    # what each bin was: 0 idle (the loop not running), 1 loop running between turns, 2 durable wait, 3 blobs step,
    # 4+ a turn (its label's index)
    paint = bytearray(n)
    labels: list[str] = []
    for kind, code in (("run", 1), ("blobs", 3), ("durable", 2)):
        for e in events:
            if e[0] == kind and e[1] == "event":
                a, b = _bins(e[3], e[4], t0)
                paint[a:b] = bytes([code]) * max(0, min(b, n) - a)
    turns = sorted((e for e in events if e[1] != "event"), key=lambda e: e[3])
    for e in turns:
        if e[0] not in labels:
            labels.append(e[0])
        a, b = _bins(e[3], e[4], t0)
        paint[a:b] = bytes([4 + labels.index(e[0])]) * max(0, min(b, n) - a)
    counts = [0] * (4 + len(labels))
    for v in paint:
        counts[v] += 1
    split = {"not running (waiting for frames or a timer)": counts[0], "loop, between turns": counts[1],
             "IndexedDB wait outside turns": counts[2], "blobs step, outside turns": counts[3]}
    split.update({f"turn {label}": counts[4 + i] for i, label in enumerate(labels)})
    out: dict[str, Any] = {"wall_s": round((t1 - t0) / 1000, 3),
                           "split_s": {k: round(v * STEP / 1000, 3) for k, v in split.items() if v}}
    out["turns_n"] = {label: sum(1 for e in turns if e[0] == label) for label in labels}
    # the gaps' sum by the turns around them (the five largest): which hops cost the time between turns
    pairs: dict[str, float] = {}
    for a, b in itertools.pairwise(turns):
        key = f"{a[0]} -> {b[0]}"
        pairs[key] = pairs.get(key, 0.0) + max(0.0, b[3] - a[4])
    out["gaps_by_turns_s"] = {k: round(v / 1000, 3) for k, v in sorted(pairs.items(), key=lambda kv: -kv[1])[:6]}
    # gaps between one turn's end and the next one's start, and how long a queued turn waited
    gaps = [b[3] - a[4] for a, b in itertools.pairwise(turns) if b[3] > a[4]]
    out["gaps_between_turns"] = {"n": len(gaps), "sum_s": round(sum(gaps) / 1000, 3),
                                 "median_ms": round(statistics.median(gaps), 2) if gaps else None}
    # frames in -> the start of the next ingest turn; acknowledgement out -> the next frames in
    frames = [e[3] for e in events if e[0] == "frames"]
    works = [e[3] for e in turns if e[0] == "sync:work"]
    sends = [e[3] for e in events if e[0] == "send"]
    out["frames_in"] = {"n": len(frames), "bytes": sum(int(e[5] or 0) for e in events if e[0] == "frames")}
    out["sends"] = len(sends)
    out["frames_to_ingest_ms"] = _hops(frames, works)
    out["send_to_next_frames_ms"] = _hops(sends, frames)
    out["durable"] = {"n": sum(1 for e in events if e[0] == "durable"),
                      "sum_s": round(sum(e[4] - e[3] for e in events if e[0] == "durable") / 1000, 3)}
    blobs = [e for e in events if e[0] == "blobs" and e[1] == "event"]
    out["blobs_steps"] = {"n": len(blobs), "sum_s": round(sum(e[4] - e[3] for e in blobs) / 1000, 3)}
    return out


def _hops(starts: list[float], ends: list[float]) -> dict[str, Any]:
    """For each time in `starts`, the wait until the first of `ends` after it (ms: n, median, p90, max)."""
    waits = []
    j = 0
    for s in starts:
        while j < len(ends) and ends[j] < s:
            j += 1
        if j < len(ends):
            waits.append(ends[j] - s)
    if not waits:
        return {"n": 0}
    waits.sort()
    return {"n": len(waits), "median": round(statistics.median(waits), 2),
            "p90": round(waits[int(0.9 * (len(waits) - 1))], 2), "max": round(waits[-1], 2)}
