"""Frames from a Chromium performance trace: how long each took, and how much main-thread work it held.

The browser's own record: every rendered frame is an `AnimationFrame` span in the
`devtools.timeline` category (the data behind the Long Animation Frames API; its
`animation_frame_timing_info.duration_ms` is the LoAF duration). For each frame we also add up the
**thread time** (`tdur`: CPU time the renderer's main thread actually ran) of the top-level tasks
(`ThreadControllerImpl::RunTask`, category `toplevel`) that started inside it.

Why thread time: on a shared, loaded 2-core machine the wall-clock length of a frame includes the
time the operating system gave the CPU to other processes, so a wall-clock bound is a bet on the
neighbours. Thread time counts only the work this page did, which is what the grid controls (it
draws a bounded window of rows, so a frame's work does not grow with the table). Both are reported;
tests assert on thread time, benchmarks print both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel"]
TASK = "ThreadControllerImpl::RunTask"


@dataclass(frozen=True)
class Frame:
    start_us: int
    wall_ms: float  # from the frame's start to its end (what a person waits)
    cpu_ms: float  # main-thread thread time of the tasks that started in it (what the page did)
    loaf_ms: float | None  # the browser's own frame duration (Long Animation Frame timing), if given


def _events(trace: bytes | str | dict[str, Any] | list[Any]) -> list[dict[str, Any]]:
    data = json.loads(trace) if isinstance(trace, (bytes, str)) else trace
    events = data["traceEvents"] if isinstance(data, dict) else data
    return sorted((e for e in events if isinstance(e, dict)), key=lambda e: e.get("ts", 0))


def frames(trace: bytes | str | dict[str, Any] | list[Any]) -> tuple[list[Frame], bool]:
    """(frames in order, whether the trace carries thread time at all)."""
    events = _events(trace)
    tasks: dict[tuple[int, int], list[dict[str, Any]]] = {}
    thread_time = False
    for e in events:
        if e.get("name") == TASK and e.get("ph") == "X":
            tasks.setdefault((e["pid"], e["tid"]), []).append(e)
            thread_time = thread_time or "tdur" in e
    opened: dict[tuple[int, Any], dict[str, Any]] = {}
    out: list[Frame] = []
    for e in events:
        if e.get("name") != "AnimationFrame" or e.get("ph") not in ("b", "e") or "id2" not in e:
            continue
        key = (e["pid"], e["id2"].get("local") or e["id2"].get("global"))
        if e["ph"] == "b":
            info = (e.get("args") or {}).get("animation_frame_timing_info") or {}
            opened[key] = {"ts": e["ts"], "thread": (e["pid"], e["tid"]), "loaf": info.get("duration_ms")}
            continue
        begun = opened.pop(key, None)
        if begun is None:
            continue
        start, end = begun["ts"], e["ts"]
        cpu = sum(t.get("tdur", 0) for t in tasks.get(begun["thread"], ()) if start <= t["ts"] < end)
        out.append(Frame(start, (end - start) / 1000, cpu / 1000,
                         float(begun["loaf"]) if begun["loaf"] is not None else None))
    return out, thread_time


def summary(found: list[Frame]) -> dict[str, float]:
    def top(values: list[float]) -> float:
        return round(max(values), 1) if values else 0.0

    walls = sorted(f.wall_ms for f in found)
    return {"frames": len(found), "longest_wall_ms": top(walls),
            "median_wall_ms": round(walls[len(walls) // 2], 1) if walls else 0.0,
            "longest_cpu_ms": top([f.cpu_ms for f in found]),
            "longest_loaf_ms": top([f.loaf_ms for f in found if f.loaf_ms is not None])}
