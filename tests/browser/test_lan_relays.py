"""The Sync screen lists the relays its relay knows of on the venue network (GET /lan/relays): two
real relay processes given each other's address, the app on one of them; and a relay that does not
look for others says so."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from conftest import WEB, Server, _free_port, _relay_command, _wait_listening
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def two_lan_relays(web_bundle: Path, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    ports = [_free_port(), _free_port()]
    started: list[Server] = []
    for mine, other in (ports, ports[::-1]):
        data = tmp_path / f"relay-{mine}"
        data.mkdir()
        log = (tmp_path / f"relay-{mine}.log").open("ab")
        proc = subprocess.Popen([*_relay_command(mine, data, WEB), "--peer", f"http://127.0.0.1:{other}",
                                 "--peer-every", "0.5"], stdout=log, stderr=log)
        started.append(Server(f"http://127.0.0.1:{mine}/", proc, "relay", data, WEB, mine))
    for server in started:
        _wait_listening(server.port, server.proc)
    yield started[0], started[1]
    for server in started:
        server.stop()


def _known(server: Server) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{server.origin}/lan/relays", timeout=10) as response:
        relays: list[dict[str, Any]] = json.loads(response.read())["relays"]
    return relays


@pytest.mark.chromium_only(reason="one engine is enough for a list fetched by the worker")
def test_the_sync_screen_lists_the_relays_on_the_network(two_lan_relays: tuple[Server, Server], rtc_context: Any,
                                                          server_factory: Any, screenshot_dir: Path) -> None:
    here, there = two_lan_relays
    deadline = time.monotonic() + 60  # a bound on waiting for the state, not a pause
    while not any(r["url"].rstrip("/") == there.origin for r in _known(here)):
        assert time.monotonic() < deadline, "the relays did not find each other"
        time.sleep(0.2)

    alice = AppPage(rtc_context(here).new_page()).open(here.url)
    alice.ensure_identity("Alice Stage")
    ws = alice.create_workspace("Hamlet")
    alice.call("sync:publish", relay=here.origin, joinMode="open")
    page = alice.page

    def show() -> None:
        page.goto(f"{here.url}#/w/{ws}/sync")
        section = page.get_by_role("region", name="Relays on this network")
        expect(section).to_contain_text(there.origin, timeout=30_000)
        section.scroll_into_view_if_needed()

    show()
    section = page.get_by_role("region", name="Relays on this network")
    expect(section).to_contain_text("Your relay shares the workspaces")
    alice.tablet_shots(screenshot_dir, "47-lan-relays", show)

    # a relay that does not look for others says so, in words
    plain = server_factory()
    bob = AppPage(rtc_context(plain).new_page()).open(plain.url)
    bob.ensure_identity("Bob")
    other = bob.create_workspace("Macbeth")
    bob.call("sync:publish", relay=plain.origin, joinMode="open")
    bob.page.goto(f"{plain.url}#/w/{other}/sync")
    expect(bob.page.get_by_role("region", name="Relays on this network")).to_contain_text(
        "Your relay is not looking for other relays on this network.", timeout=30_000)
    assert alice.errors == [] and bob.errors == []
