"""Safari's engine in a shared workspace: WebKitGTK has no WebRTC, so it syncs through the relay's
WebSocket, says so, and works with a Chromium peer as any browser does, conflicts included.

Alice uses Chromium (Playwright), Bob WebKit (MiniBrowser through WebKitWebDriver), each with their own
profile, against one real relay process that is stopped and restarted on the same port and data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect
from test_sync import CONTACTS, F, wait_state, wait_value

pytestmark = pytest.mark.browser


def test_webkit_without_webrtc_syncs_through_the_relay_and_its_conflict_resolution_reaches_chromium(
        rtc_context: Any, webkit_profile: Any, server_factory: Any, screenshot_dir: Path) -> None:
    relay = server_factory()
    alice = AppPage(rtc_context(relay).new_page()).open(relay.url)  # Chromium, with WebRTC
    alice.ensure_identity("Alice Stage")
    ws = alice.create_workspace("Hamlet")
    jane = alice.call("create_record", table=CONTACTS, values={F["name"]: "Jane Doe"})["id"]
    alice.call("sync:publish", relay=relay.origin, joinMode="open")
    wait_state(alice, "in-sync")

    # Bob opens the invitation link in WebKit and joins
    invite = f"{relay.origin}/#/join/{ws}"
    bob = AppPage(webkit_profile.new_page()).open(invite)
    # this WebKit build has no WebRTC, no JSPI, no cross-origin isolation (so no SharedArrayBuffer): the app runs anyway
    assert bob.page.evaluate("[typeof RTCPeerConnection, typeof WebAssembly.Suspending, self.crossOriginIsolated]") == [
        "undefined", "undefined", False]
    bob.ensure_identity("Bob Sound")
    form = bob.page.locator("form.join-form")
    expect(form.get_by_label("Invitation link or workspace ID")).to_have_value(invite)
    form.get_by_role("button", name="Join workspace").click()
    bob.page.wait_for_url(re.compile(rf"#/w/{ws}/sync$"))
    wait_state(bob, "in-sync", timeout_s=120)

    # ...and is told, in words, that it syncs through the relay only
    expect(bob.page.locator("#sync-status")).to_contain_text("In sync through the relay")
    expect(bob.page.locator(".sync-rtc-note")).to_contain_text(
        "This browser cannot connect directly to other browsers, so your changes travel through the relay")
    expect(bob.page.locator(".sync-links li")).to_have_count(1)
    expect(bob.page.locator(".sync-links li")).to_have_text(re.compile(r"^Through the relay at [\w.:-]+ — in sync$"))
    assert "WebSocket" not in bob.page.locator("#main").inner_text()  # an engineer's word: not on the screen
    assert [(link["kind"], link["transport"]) for link in bob.stats()["workspace"]["sync"]["links"]] == [
        ("relay", "websocket")]
    bob.page.locator("details.sync-settings summary").click()
    direct = bob.page.get_by_label(re.compile("^Directly between browsers only"))
    assert direct.evaluate("e => e.disabled") is True  # not offered where it cannot work

    def in_sync() -> None:
        wait_state(bob, "in-sync")
        expect(bob.page.locator(".sync-rtc-note")).to_be_visible()
        bob.page.locator("details.sync-settings summary").click()
        expect(bob.page.get_by_label(re.compile("^A browser-to-browser connection to the relay"))).to_be_visible()

    bob.tablet_shots(screenshot_dir, "40-sync-websocket-only", in_sync)
    assert relay.data.joinpath("workspaces", f"{ws}.db").exists()

    # edits both ways, through the relay
    for app in (alice, bob):
        app.page.goto(f"{relay.url}#/w/{ws}/t/{CONTACTS}")
        app.wait_grid()
    expect(bob.cell("Jane Doe", "Name")).to_be_visible()
    bob.edit_cell("Jane Doe", "Role", "Juliet")
    expect(alice.cell("Jane Doe", "Role")).to_have_text("Juliet")
    alice.edit_cell("Jane Doe", "Department", "Cast")
    expect(bob.cell("Jane Doe", "Department")).to_have_text("Cast")

    # the relay goes away; both change Jane's phone; it comes back: a conflict in both browsers
    relay.stop()
    for app in (alice, bob):
        wait_state(app, "offline")
    alice.call("set_cell", record=jane, field=F["phone"], value="555-0101")
    bob.edit_cell("Jane Doe", "Phone", "555-0199")
    relay.restart()
    for app in (alice, bob):
        wait_state(app, "in-sync", timeout_s=90)
        expect(app.page.locator("[data-count=conflicts]")).to_have_text("1")
    expect(bob.cell("Jane Doe", "Phone")).to_have_class(re.compile(r"\bconflict\b"))

    # Bob resolves it in WebKit with a new value; Alice's Chromium gets the resolution
    bob.page.get_by_role("link", name=re.compile("^Conflicts")).click()
    article = bob.page.locator("article.conflict").first
    expect(article).to_contain_text("Jane Doe › Phone")
    article.get_by_label("New value for Phone").fill("555-0300")
    article.get_by_role("button", name="Resolve").click()
    expect(bob.page.locator(".all-clear")).to_be_visible()
    expect(alice.page.locator("[data-count=conflicts]")).to_be_hidden(timeout=60_000)
    expect(alice.cell("Jane Doe", "Phone")).to_have_text("555-0300")
    for app in (alice, bob):
        wait_value(app, jane, F["phone"], "555-0300")
        wait_state(app, "in-sync")
    history = alice.call("history", record=jane, field=F["phone"])
    assert history[-1]["resolution"] and history[-1]["display_name"] == "Bob Sound"
    assert alice.call("state_hash") == bob.call("state_hash")
    assert alice.call("conflicts")["conflicts"] == [] == bob.call("conflicts")["conflicts"]
    assert alice.errors == [] and bob.errors == []
