"""Fixtures for relay tests (helpers live in relayproc.py: test modules import them from there,
never from a conftest, whose module name is shared by every test folder)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from relayproc import RelayProcess, free_port


@pytest.fixture
def relay_factory(tmp_path: Path) -> Iterator[object]:
    started: list[RelayProcess] = []

    def make(*args: str, scheme: str = "http", env: dict[str, str] | None = None) -> RelayProcess:
        relay = RelayProcess(tmp_path / f"relay{len(started)}", free_port(), ["--rtc-address", "127.0.0.1", *args],
                             tmp_path / f"relay{len(started)}.log", scheme=scheme, extra_env=dict(env or {}))
        started.append(relay)
        relay.start()
        return relay

    yield make
    for relay in started:
        relay.stop()


@pytest.fixture
def relay(relay_factory: object) -> RelayProcess:
    return relay_factory()  # type: ignore[operator, no-any-return]


