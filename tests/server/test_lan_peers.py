"""Relays on a venue LAN (server/openprod_server/discovery.py).

- The advertisement's TXT records: written and read back, junk and other protocol versions ignored.
- Two real relays given each other's address by hand (`--peer`): a workspace published on both
  converges on both, and a teammate on one relay sees what a teammate on the other wrote.
- Two real relays inside a network namespace this test creates (loopback with multicast on): they find
  each other over mDNS (python-zeroconf) with no address given, and converge. Skipped, saying why,
  where network namespaces cannot be made (not root, no `ip netns`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from relayproc import FilePeer, RelayProcess, free_port, make_file_peer, relay_state

from helpers import netns_unavailable
from openprod.sync import PROTOCOL_VERSION
from openprod_server.discovery import Advert, parse_advert, txt_for

TABLE = "contacts.Contacts"


def test_txt_records_round_trip_and_junk_is_ignored() -> None:
    relay = bytes(range(32))
    spaces = [uuid.uuid4().bytes for _ in range(9)]
    txt = txt_for(relay, spaces, "http", "lighting-laptop")
    assert txt["v"] == str(PROTOCOL_VERSION) and set(txt) >= {"ws0", "ws1"}  # 7 ids per TXT string
    assert all(len(f"{k}={v}".encode()) <= 255 for k, v in txt.items())
    raw = {k.encode(): v.encode() for k, v in txt.items()}
    advert = parse_advert(raw, "10.1.2.3", 8765)
    assert advert == Advert(url="http://10.1.2.3:8765", relay=relay, workspaces=frozenset(spaces),
                            name="lighting-laptop")
    assert parse_advert({**raw, b"v": b"1"}, "10.1.2.3", 8765) is None  # another protocol version
    assert parse_advert({**raw, b"relay": b"zz"}, "10.1.2.3", 8765) is None
    assert parse_advert({**raw, b"relay": b"ab" * 16}, "10.1.2.3", 8765) is None  # 16 bytes, not 32
    assert parse_advert({**raw, b"ws0": b"not-hex"}, "10.1.2.3", 8765) is None
    assert parse_advert({**raw, b"scheme": b"ftp"}, "10.1.2.3", 8765) is None
    assert parse_advert(raw, "", 8765) is None and parse_advert(raw, "10.1.2.3", 0) is None
    assert parse_advert({b"v": None}, "10.1.2.3", 8765) is None
    assert parse_advert(raw, "fe80::1", 8765).url == "http://[fe80::1]:8765"  # type: ignore[union-attr]


def _add(peer: FilePeer, name: str) -> None:
    ws = peer.open()
    try:
        ws.create_record(TABLE, {"name": name})
    finally:
        ws.close()


def _names(peer: FilePeer) -> list[str]:
    ws = peer.open()
    try:
        return sorted(str(r.values.get(f"{TABLE}.name")) for r in ws.records.all(TABLE))
    finally:
        ws.close()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    """Wait for a state (a generous bound for a loaded machine; it is normally reached in seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _same(a: RelayProcess, b: RelayProcess, ws_file: Callable[[RelayProcess], Path]) -> bool:
    if not ws_file(a).exists() or not ws_file(b).exists():
        return False
    return relay_state(a, ws_file(a)) == relay_state(b, ws_file(b))


def _file_of(ws_id: bytes) -> Callable[[RelayProcess], Path]:
    def path(relay: RelayProcess) -> Path:
        return relay.data / "workspaces" / f"{uuid.UUID(bytes=ws_id)}.db"

    return path


@pytest.fixture
def two_relays(tmp_path: Path) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    ports = free_port(), free_port()
    relays = [RelayProcess(tmp_path / name, port, ["--rtc-address", "127.0.0.1", "--peer",
                                                   f"http://127.0.0.1:{other}", "--peer-every", "0.5"],
                           tmp_path / f"{name}.log")
              for name, port, other in (("office", ports[0], ports[1]), ("lighting", ports[1], ports[0]))]
    try:
        for relay in relays:
            relay.start()
        yield relays[0], relays[1]
    finally:
        for relay in relays:
            relay.stop()


def test_two_relays_given_each_others_address_converge(two_relays: tuple[RelayProcess, RelayProcess],
                                                        tmp_path: Path) -> None:
    office, lighting = two_relays
    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
    ws = alice.open()
    ws_id = ws.workspace_id
    ws.close()
    ws_file = _file_of(ws_id)
    for relay in (office, lighting):
        alice.cli("publish", relay=relay)
    _add(alice, "Jane (office)")
    alice.cli("sync", relay=office)
    wait_until(lambda: _same(office, lighting, ws_file), "the lighting relay to catch up with the office")

    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=ws_id)
    bob.cli("join", "--workspace", str(uuid.UUID(bytes=ws_id)), relay=lighting)
    bob.cli("sync", relay=lighting)
    assert _names(bob) == ["Jane (office)"]  # written on the office network, read on the lighting one
    _add(bob, "Omar (lighting)")
    bob.cli("sync", relay=lighting)
    wait_until(lambda: _same(office, lighting, ws_file), "the office relay to catch up with lighting")
    alice.cli("sync", relay=office)
    assert _names(alice) == ["Jane (office)", "Omar (lighting)"]
    assert alice.hash_and_count()[0] == bob.hash_and_count()[0]

    hello = json.loads(__import__("urllib.request").request.urlopen(f"{office.url}/lan/relays").read())
    assert [r["url"] for r in hello["relays"]] == [lighting.url]
    members = [e for e in lighting.events() if e.get("event") == "joined"]
    assert any(e["actor"] == office.health()["relay_actor"] for e in members)  # joined as itself, like anyone


class NamespacedRelay(RelayProcess):
    """A relay process started inside a network namespace (the test reaches it through files and logs)."""

    namespace: str = ""

    def start(self) -> None:
        self.starts += 1
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns the handle
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "openprod_server.cli", "serve", "--data",
             str(self.data), "--port", str(self.port), *self.args], stdout=out, stderr=out, env={**os.environ})
        wait_until(lambda: any(e.get("event") == "relay_started" for e in self.events()), "the relay to start", 60)


@pytest.fixture
def namespace() -> Iterator[str]:
    why = netns_unavailable()
    if why is not None:
        pytest.skip(f"mDNS between relays in a network namespace: {why} (the manual-address test covers syncing)")
    name = f"openprod-lan-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for command in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "lo", "multicast", "on"],
                        ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "netns", "exec", name, *command], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_two_relays_find_each_other_over_mdns_in_a_network_namespace(namespace: str, tmp_path: Path) -> None:
    relays = []
    for name in ("office", "lighting"):
        relay = NamespacedRelay(tmp_path / name, 8765 if name == "office" else 8766,
                                ["--rtc-address", "127.0.0.1", "--mdns", "--mdns-interface", "127.0.0.1",
                                 "--peer-every", "0.5"], tmp_path / f"{name}.log")
        relay.namespace = namespace  # a fresh namespace: nothing else listens on these ports
        relays.append(relay)

    def inside(peer: FilePeer, *args: str, relay: RelayProcess) -> None:
        result = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-m", "openprod_server.cli",
                                 *args, "--db", str(peer.db), "--identity", str(peer.identity_path), "--relay",
                                 relay.url], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    try:
        for relay in relays:
            relay.start()
        office, lighting = relays
        alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Hamlet")
        ws = alice.open()
        ws_id = ws.workspace_id
        ws.close()
        ws_file = _file_of(ws_id)
        for relay in relays:
            inside(alice, "publish", relay=relay)
        _add(alice, "Jane (office)")
        inside(alice, "sync", relay=office)
        wait_until(lambda: any(e.get("event") == "lan_relay_found" for e in office.events())
                   and any(e.get("event") == "lan_relay_found" for e in lighting.events()), "mDNS discovery")
        wait_until(lambda: _same(office, lighting, ws_file), "the relays to converge over mDNS-found peering")

        def lighting_sees_office_hosting_it() -> bool:  # the advertisement is updated when a workspace is published
            found = [e for e in lighting.events() if e.get("event") == "lan_relay_found"]
            return bool(found) and found[-1]["url"] == "http://127.0.0.1:8765" and found[-1]["workspaces"] == 1

        wait_until(lighting_sees_office_hosting_it, "the office's updated advertisement")
        assert not any(a == "--peer" for relay in relays for a in relay.args)  # no address was given
    finally:
        for relay in relays:
            relay.stop()
