"""cProfile of the ingest and rebuild paths, to show where the time goes (`--profile`).

Why a separate pass: a profiler slows Python code several times over, so profiled runs are
never the recorded figures; they only rank hotspots. Uses the standard library, so it needs
nothing outside the project's dependencies.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from pathlib import Path

from .context import Context
from .peers import ingest_all, replica_peer


def _profile(fn: Callable[[], object], title: str, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    out.write(f"=== {title} ===\n")
    for key in ("tottime", "cumulative"):
        out.write(f"--- top {top} by {key} ---\n")
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(top)
    return out.getvalue()


def profile_ingest_and_rebuild(ctx: Context, top: int = 25) -> str:
    """Profile a fresh replica ingesting the ingest fixture's edits, then its rebuild."""
    fixture = ctx.ingest_fixture()
    replica = replica_peer(ctx.tmpdir, "profile-replica", seed=13, origin=fixture.author)
    ingest_all(replica, fixture.setup_wires)
    ingest = _profile(lambda: ingest_all(replica, fixture.edit_wires),
                      f"ingest of {len(fixture.edit_wires):,} bundles (10 field writes each)", top)
    rebuild = _profile(replica.ws.rebuild, "rebuild of the same replica", top)
    return ingest + "\n" + rebuild


def save_profile(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
