"""Shared fixtures: deterministic peers (seeded keys, controllable clocks) on real SQLite."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import ManualClock, make_peer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def peer_factory(tmp_path: Path, clock: ManualClock) -> Callable[..., object]:
    counter = iter(range(1, 10_000))

    def factory(name: str = "Alice", *, workspace_from: object | None = None, on_disk: bool = True,
                own_clock: ManualClock | None = None) -> object:
        n = next(counter)
        path = str(tmp_path / f"peer{n}.db") if on_disk else ":memory:"
        return make_peer(name, path, own_clock or clock, seed=n, workspace_from=workspace_from,
                         rng=random.Random(n))

    return factory


if sys.platform == "emscripten":
    # Pyodide only (tests/pyodide/run_core_tests.mjs): the checkout is mounted from the host, so
    # keep Hypothesis' example database out of it, and drop the per-example deadline, which
    # measures wasm speed rather than behaviour. Examples and health checks stay as on CPython.
    from hypothesis import HealthCheck
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile(
        "pyodide", parent=_hypothesis_settings.default, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    _hypothesis_settings.load_profile("pyodide")
