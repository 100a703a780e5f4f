"""Two browsers on one venue LAN sync directly over WebRTC, the relay only introducing them.

Not on 127.0.0.1: the test builds a small LAN of network namespaces (vlan.py): a switch, the relay's
laptop at 10.77.0.1, Alice's device at 10.77.0.2 and Bob's at 10.77.0.3, each device with nothing but
loopback and one cable into the switch. Each person's Chromium runs inside their device's namespace
(Playwright drives it over a pipe, which crosses namespaces). The relay runs as on a venue network,
`openprod serve --lan`: HTTPS with its own certificate authority, which each device trusts the way a
person does after the relay's /trust page (here: the CA put into the device's certificate store with
NSS's `certutil`). No flag makes the page a secure context and no certificate error is ignored.

The browsers keep Chromium's default of hiding their addresses behind random `.local` names in ICE
candidates (the app asks for no camera or microphone, which would lift that); the other browser
resolves those names with multicast DNS over the LAN, as on a real venue network.

Needs root and iproute2 (network namespaces); skips, saying which is missing, elsewhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from conftest import ARGS, CHROMIUM, RELAY, WEB, Server, _free_port
from playwright.sync_api import expect
from vlan import Device, VirtualLan

from helpers import netns_unavailable

CONTACTS = "contacts.Contacts"
# Chromium's own flags (conftest.ARGS) without the loopback ones: nothing here may use loopback.
LAN_ARGS = [a for a in ARGS if not a.startswith(("--allow-loopback", "--host-resolver-rules"))]


def ca_of(relay: Server) -> Path:
    """The relay's own certificate authority (made on its first `--lan` start)."""
    return relay.data / "tls" / "ca.pem"


def fetch_json(device: Device, url: str, ca: Path) -> dict[str, Any]:
    """GET `url` from inside `device`, trusting only the relay's CA (as a device on the LAN does)."""
    script = ("import json, ssl, sys, urllib.request;"
              "ctx = ssl.create_default_context(cafile=sys.argv[2]);"
              "print(urllib.request.urlopen(sys.argv[1], timeout=5, context=ctx).read().decode())")
    done = subprocess.run(device.command(sys.executable, "-c", script, url, str(ca)),
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def start_relay(lan: VirtualLan, tmp: Path) -> Server:
    relay = lan.devices["relay"]
    port = _free_port()  # the relay's namespace is new: any port is free there
    data = tmp / "relay-data"
    log = (tmp / "relay.log").open("ab")
    proc = subprocess.Popen(relay.command(
        str(RELAY), "serve", "--lan", "--host", relay.address, "--san", relay.address, "--port", str(port),
        "--data", str(data), "--web", str(WEB), "--rtc-address", relay.address, "--log-level", "info"),
        stdout=log, stderr=log)
    server = Server(f"https://{relay.address}:{port}/", proc, "relay", data, WEB, port)  # not restartable: no restart()
    deadline = time.monotonic() + 60
    while True:  # listening, over HTTPS a device that trusts the CA accepts, seen from Alice's device
        if proc.poll() is not None:
            raise RuntimeError(f"the relay exited with {proc.returncode}: {(tmp / 'relay.log').read_text()[-2000:]}")
        try:
            ca = ca_of(server)
            if ca.exists() and fetch_json(lan.devices["a"], f"{server.origin}/healthz", ca)["tls"]:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the relay is not reachable at {server.origin} from 10.77.0.2 after 60 s")
        time.sleep(0.2)


def device_chromium(device: Device, ca: Path, folder: Path) -> Path:
    """A script Playwright starts as "Chromium": Chromium inside `device`'s namespace, with a home
    directory whose certificate store (NSS, ~/.pki/nssdb, which Chromium reads on Linux) trusts `ca`."""
    home = folder / f"home-{device.name}"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "Openprod local CA", "-t", "C,,", "-i", str(ca)],
                   check=True, capture_output=True)
    script = folder / f"chromium-{device.name}"
    script.write_text(f'#!/bin/sh\nexport HOME="{home}"\nexec ip netns exec {device.netns} {CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def venue_lan(request: pytest.FixtureRequest) -> Iterator[VirtualLan]:
    why = netns_unavailable()
    if why:
        pytest.skip(why)
    if shutil.which("certutil") is None:  # not a reason to skip: scripts/bootstrap installs it
        pytest.fail("NSS's certutil is missing: run scripts/bootstrap (it installs Debian's libnss3-tools)")
    lan = VirtualLan()
    request.addfinalizer(lan.close)  # namespaces go even when the test fails
    lan.open()
    lan.add("relay", 1)
    lan.add("a", 2)
    lan.add("b", 3)
    yield lan


def selected_pair(app: AppPage) -> dict[str, Any]:
    """The ICE candidate pair the page's peer connection to the other browser uses (getStats)."""
    pair: dict[str, Any] = app.page.evaluate("""async () => {
        const conns = [...window.openprod.app.rtc.conns.values()];
        if (conns.length !== 1) throw new Error(`${conns.length} peer connections`);
        const stats = [...(await conns[0].pc.getStats()).values()];
        const byId = new Map(stats.map((s) => [s.id, s]));
        const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
        const chosen = byId.get(transport.selectedCandidatePairId);
        const side = (c) => ({ address: c.address, port: c.port, type: c.candidateType, protocol: c.protocol });
        return { state: chosen.state, local: side(byId.get(chosen.localCandidateId)),
                 remote: side(byId.get(chosen.remoteCandidateId)), bytesSent: chosen.bytesSent };
    }""")
    return pair


def local_sdp_candidates(app: AppPage) -> list[str]:
    """The ICE candidates the page offered the other browser (its local description)."""
    lines: list[str] = app.page.evaluate("""() => {
        const [conn] = [...window.openprod.app.rtc.conns.values()];
        return conn.pc.localDescription.sdp.split('\\r\\n').filter((l) => l.startsWith('a=candidate:'));
    }""")
    return lines


def wait_state(app: AppPage, state: str, timeout_s: float = 180) -> None:
    app.page.wait_for_function("s => window.openprod.app.syncStatus && window.openprod.app.syncStatus.state === s",
                               arg=state, timeout=timeout_s * 1000)


def links(app: AppPage) -> list[tuple[str, str]]:
    return [(link["kind"], link["transport"]) for link in app.stats()["workspace"]["sync"]["links"]]


def wait_direct_only(app: AppPage) -> None:
    """Until the device's only link is the direct one, over WebRTC. Waited for, not read once: at load 12 a
    full run saw the link the Sync screen had just shown gone a moment later (dropped and made again)."""
    deadline = time.monotonic() + 120
    while (now := links(app)) != [("peer", "webrtc")]:
        assert time.monotonic() < deadline, f"links: {now}"
        app.page.wait_for_timeout(200)


@pytest.mark.chromium_only(
    reason="direct browser-to-browser WebRTC between two network namespaces; this WebKit build has no WebRTC")
@pytest.mark.parametrize("addresses_shown", [False, True], ids=["local-names", "addresses"])
def test_two_devices_on_a_virtual_lan_sync_directly_and_keep_syncing_without_the_relay(
        addresses_shown: bool, venue_lan: VirtualLan, web_bundle: Path, playwright_instance: Any, tmp_path: Path,
        screenshot_dir: Path) -> None:
    relay = start_relay(venue_lan, tmp_path)
    try:
        browsers = {name: playwright_instance.chromium.launch(
            executable_path=str(device_chromium(venue_lan.devices[name], ca_of(relay), tmp_path)),
            headless=True, args=LAN_ARGS) for name in ("a", "b")}
        try:
            run_story(venue_lan, relay, browsers, screenshot_dir, addresses_shown)
        finally:
            for browser in browsers.values():
                browser.close()
    finally:
        relay.stop()


def open_person(browser: Any, relay: Server, name: str, addresses_shown: bool) -> AppPage:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    if addresses_shown:  # what a page that was allowed the camera or microphone gets: real addresses in ICE
        context.grant_permissions(["camera", "microphone"], origin=relay.origin)
    app = AppPage(context.new_page()).open(f"{relay.origin}/")
    app.ensure_identity(name)
    return app


def run_story(lan: VirtualLan, relay: Server, browsers: dict[str, Any], screenshot_dir: Path,
              addresses_shown: bool) -> None:
    url = f"{relay.origin}/"
    alice = open_person(browsers["a"], relay, "Alice Stage", addresses_shown)
    assert alice.page.evaluate("window.isSecureContext") is True  # HTTPS the device trusts, no flag
    ws = alice.create_workspace("Hamlet")
    jane = alice.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane Doe"})["id"]
    alice.call("sync:publish", relay=relay.origin, joinMode="open")
    bob = open_person(browsers["b"], relay, "Bob Sound", addresses_shown)
    bob.api("joinWorkspace", {"invite": f"{relay.origin}/#/join/{ws}", "code": ""})

    # both choose "Directly between browsers only": the relay only introduces them
    for app in (alice, bob):
        app.page.goto(f"{url}#/w/{ws}/sync")
        app.page.locator("details.sync-settings summary").click()
        app.page.get_by_label(re.compile("^Directly between browsers only")).check()
        app.page.get_by_role("button", name="Save connection settings").click()
    for app in (alice, bob):
        wait_state(app, "in-sync")
        expect(app.page.locator(".sync-links li[data-kind=peer]")).to_have_attribute("data-transport", "webrtc")
        wait_direct_only(app)
    expect(bob.page.locator(".sync-links")).to_have_text("Directly with Alice Stage’s browser — in sync")

    # an edit in Alice's browser reaches Bob's over the direct link
    for app in (alice, bob):
        app.page.goto(f"{url}#/w/{ws}/t/{CONTACTS}")
        app.wait_grid()
    alice.edit_cell("Jane Doe", "Role", "Director")
    expect(bob.cell("Jane Doe", "Role")).to_have_text("Director")

    # the pair ICE chose joins the two devices' LAN addresses: host candidates, across the switch
    pairs = {name: selected_pair(app) for name, app in (("a", alice), ("b", bob))}
    for pair in pairs.values():
        assert pair["state"] == "succeeded", pairs
        assert pair["local"]["type"] == "host" and pair["remote"]["type"] == "host", pairs
    assert pairs["a"]["remote"]["port"] == pairs["b"]["local"]["port"], pairs  # each other's, not the relay's
    assert pairs["b"]["remote"]["port"] == pairs["a"]["local"]["port"], pairs
    sdp = {name: local_sdp_candidates(app) for name, app in (("a", alice), ("b", bob))}
    if addresses_shown:  # the page may see addresses: the pair joins the two devices' LAN addresses
        assert pairs["a"]["local"]["address"] == pairs["b"]["remote"]["address"] == "10.77.0.2", pairs
        assert pairs["b"]["local"]["address"] == pairs["a"]["remote"]["address"] == "10.77.0.3", pairs
    else:  # Chromium's default: the page offered only random .local names, resolved across the LAN
        for lines in sdp.values():
            assert lines and all(re.search(r" [0-9a-f-]{36}\.local \d+ typ host", line) for line in lines), sdp
    print(f"\nselected ICE pairs: {pairs}\noffered: {sdp}")

    # the relay goes away: the direct link stays, and edits still cross both ways
    relay.stop()
    bob.new_record({"Name": "Kim Props"})
    expect(alice.page.locator("table.grid tbody tr[data-id]", has_text="Kim Props")).to_have_count(1)
    alice.edit_cell("Jane Doe", "Phone", "555-0199")
    expect(bob.cell("Jane Doe", "Phone")).to_have_text("555-0199")
    for app in (alice, bob):
        wait_state(app, "in-sync")
        wait_direct_only(app)
    assert alice.call("state_hash") == bob.call("state_hash")
    assert alice.call("record", record=jane)["values"][f"{CONTACTS}.phone"] == "555-0199"
    if not addresses_shown:
        alice.shot(screenshot_dir, "28-lan-direct-relay-gone")
    assert alice.errors == [] and bob.errors == []
