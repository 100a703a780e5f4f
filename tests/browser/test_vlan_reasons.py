"""Where the virtual-LAN test cannot run, it skips and says exactly why (no browser, no root needed)."""

from __future__ import annotations

import pytest

import helpers


def test_without_root_the_reason_says_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers.shutil, "which", lambda name: "/usr/sbin/ip")
    monkeypatch.setattr(helpers.os, "geteuid", lambda: 1000)
    assert helpers.netns_unavailable() == (
        "the test runs as a non-root user, and creating network namespaces needs root")


def test_without_ip_the_reason_says_iproute2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers.shutil, "which", lambda name: None)
    reason = helpers.netns_unavailable()
    assert reason is not None and "no `ip` command (iproute2)" in reason
