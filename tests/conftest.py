"""Shared fixtures: deterministic peers (seeded keys, controllable clocks) on real SQLite."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import ManualClock, make_peer  # noqa: E402


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
