"""Sync from the browser, against a real relay process (`openprod serve`): publish and join, conflicts
made while disconnected, a relay restart, offline editing and catch-up, and browser-to-browser WebRTC
with the relay only signalling.

Each person is a separate browser context (its own profile: storage, identity, WebCrypto key). What
a test asserts is what a person sees (the header's sync indicator, the Sync screen, the grid, the
conflicts panel), checked against the worker (`state_hash`, `sync:status`) and the relay itself
(/healthz, its SQLite replica).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect
from test_a11y import AXE, violations

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
F = {name: f"{CONTACTS}.{name}" for name in ("name", "phone", "role", "email", "department")}


def health(server: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.origin}/healthz", timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def relay_bundles(server: Any, ws: str) -> set[bytes]:
    """Bundle ids the relay's own replica of `ws` holds (its SQLite file, read from outside)."""
    path = server.data / "workspaces" / f"{ws}.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {row[0] for row in conn.execute("SELECT bundle_id FROM bundles")}


def person(rtc_context: Any, server: Any, name: str, url: str | None = None) -> AppPage:
    app = AppPage(rtc_context(server).new_page()).open(url or server.url)
    app.ensure_identity(name)
    return app


def status(app: AppPage) -> dict[str, Any]:
    result: dict[str, Any] = app.call("sync:status")
    return result


def wait_state(app: AppPage, state: str, timeout_s: float = 180) -> dict[str, Any]:
    """Until the page's sync indicator shows `state` (the worker's status, as the page received it)."""
    app.page.wait_for_function("s => window.openprod.app.syncStatus && window.openprod.app.syncStatus.state === s",
                               arg=state, timeout=timeout_s * 1000)
    result: dict[str, Any] = app.page.evaluate("window.openprod.app.syncStatus")
    return result


def wait_value(app: AppPage, record: str, field: str, value: Any, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = app.call("record", record=record)
        if found is not None and found["values"].get(field) == value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{field} of {record} is {found and found['values'].get(field)!r}, expected {value!r}")
        app.page.wait_for_timeout(100)


def share(rtc_context: Any, server: Any, names: tuple[str, str] = ("Alice Stage", "Bob Sound"),
          **config: str) -> tuple[AppPage, AppPage, str, str]:
    """Alice creates a workspace with Jane in it and publishes it (open); Bob joins. Both in sync,
    with `config` applied (route, relayTransport). Returns (alice, bob, workspace id, Jane's id)."""
    alice = person(rtc_context, server, names[0])
    ws = alice.create_workspace("Hamlet")
    jane = alice.call("create_record", table=CONTACTS, values={F["name"]: "Jane Doe"})["id"]
    alice.call("sync:publish", relay=server.origin, joinMode="open")
    bob = person(rtc_context, server, names[1])
    bob.api("joinWorkspace", {"invite": f"{server.origin}/#/join/{ws}", "code": ""})
    for app in (alice, bob):
        if config:
            app.call("sync:configure", **config)
        app.page.goto(f"{server.url}#/w/{ws}/t/{CONTACTS}")
        app.wait_grid()
    for app in (alice, bob):
        wait_state(app, "in-sync")
    wait_value(bob, jane, F["name"], "Jane Doe")
    return alice, bob, ws, jane


@pytest.mark.chromium_only(
    reason="ends syncing with the relay over a WebRTC data channel; this WebKit build has no WebRTC")
def test_publish_an_offline_workspace_then_join_with_an_access_key_typed_in(
        rtc_context: Any, server: Any, screenshot_dir: Path) -> None:
    alice = person(rtc_context, server, "Alice Stage")
    ws = alice.create_workspace("Hamlet")
    alice.new_record({"Name": "Jane Doe"})
    indicator = alice.page.locator("#sync-status")
    expect(indicator).to_contain_text("Only on this device")
    assert not (server.data / "workspaces" / f"{ws}.db").exists()  # made offline: the relay never heard of it

    indicator.click()
    page = alice.page
    expect(page.get_by_role("heading", name="Share this workspace")).to_be_visible()
    expect(page.get_by_label("Relay address")).to_have_value(server.origin)
    expect(page.get_by_label("Only people with an access key you give them")).to_be_checked()
    page.get_by_role("button", name="Publish to the relay").click()
    expect(page.get_by_role("heading", name="Invite people")).to_be_visible()
    wait_state(alice, "in-sync")
    expect(indicator).to_contain_text("In sync")
    expect(page.locator(".sync-unshared")).to_have_text("All shared")
    assert len(relay_bundles(server, ws)) >= 3  # workspace, modules, Jane: all on the relay now
    page.get_by_label("Can be used by").select_option(label="5 people")
    page.get_by_role("button", name="Create access key").click()
    code = page.locator(".key-created .key-code").inner_text()
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", code), code
    expect(page.locator(".key-table")).to_contain_text(code)
    invite = page.get_by_label("Invitation link", exact=True).input_value()
    assert invite == f"{server.origin}/#/join/{ws}"
    alice.shot(screenshot_dir, "20-sync-published-invite", full_page=True)
    page.locator("details.sync-settings summary").click()
    found = violations(alice, "sync screen: published, key created, settings open") if AXE.exists() else []

    # Bob opens the invitation link: the join form is filled in; a wrong key is refused, nothing stored
    bob = person(rtc_context, server, "Bob Sound", invite)
    form = bob.page.locator("form.join-form")
    expect(form.get_by_label("Invitation link or workspace ID")).to_have_value(invite)
    form.get_by_label("Access key (if you were given one)").fill("ZZZ ZZZ")
    form.get_by_role("button", name="Join workspace").click()
    expect(form.locator(".form-status")).to_contain_text("That access key is not valid for this workspace")
    assert bob.api("listWorkspaces") == []
    found += violations(bob, "join form with a refusal") if AXE.exists() else []
    form.get_by_label("Access key (if you were given one)").fill(f"{code[:3].lower()} {code[3:].lower()}")
    form.get_by_role("button", name="Join workspace").click()
    bob.page.wait_for_url(re.compile(rf"#/w/{ws}/sync$"))
    wait_state(bob, "in-sync")
    expect(bob.page.locator("#ws-title")).to_have_text("Hamlet")  # the name arrived with the workspace
    bob.page.get_by_role("link", name="Contacts", exact=True).click()
    bob.wait_grid()
    expect(bob.cell("Jane Doe", "Name")).to_be_visible()

    # live both ways: Bob's edit reaches Alice's grid, Alice's reaches Bob's
    bob.edit_cell("Jane Doe", "Phone", "555-0199")
    page.get_by_role("link", name="Contacts", exact=True).click()
    alice.wait_grid()
    expect(alice.cell("Jane Doe", "Phone")).to_have_text("555-0199")
    alice.edit_cell("Jane Doe", "Role", "Juliet")
    expect(bob.cell("Jane Doe", "Role")).to_have_text("Juliet")
    keys = alice.call("sync:list_keys")
    assert [(k["code"], k["uses"]) for k in keys["keys"]] == [(code, 1)]

    # Bob syncs with the relay over WebRTC (the relay's aiortc peer), and only with the relay
    bob.page.goto(f"{server.url}#/w/{ws}/sync")
    bob.page.locator("details.sync-settings summary").click()
    bob.page.get_by_label("Through the relay only").check()
    bob.page.get_by_label(re.compile("^A browser-to-browser connection to the relay")).check()
    bob.page.get_by_role("button", name="Save connection settings").click()
    expect(bob.page.locator(".sync-links li[data-kind=relay]")).to_have_attribute("data-transport", "webrtc",
                                                                                    timeout=30_000)
    wait_state(bob, "in-sync")
    assert health(server)["rtc_peers"] >= 1
    assert [(link["kind"], link["transport"]) for link in bob.stats()["workspace"]["sync"]["links"]] == [
        ("relay", "webrtc")]
    jane = bob.call("rows", table=CONTACTS)["rows"][0]["id"]
    alice.call("set_cell", record=jane, field=F["email"], value="jane@example.org")
    wait_value(bob, jane, F["email"], "jane@example.org")
    expect(bob.page.locator(".sync-links")).to_have_text(re.compile(r"^Through the relay at [\w.:-]+ — in sync$"))
    assert "WebRTC" not in bob.page.locator("#main").inner_text()  # an engineer's word: not on the screen
    bob.shot(screenshot_dir, "21-sync-joined-relay-webrtc", full_page=True)
    assert alice.call("state_hash") == bob.call("state_hash")
    found += violations(bob, "sync screen: joined, relay over WebRTC") if AXE.exists() else []
    assert found == [], "\n".join(found)
    assert alice.errors == [] and bob.errors == []


@pytest.mark.chromium_only(reason="two Chromium people; the same story with a WebKit person is test_webkit_sync.py")
def test_conflict_made_while_disconnected_shows_in_both_and_converges_after_a_relay_restart(
        rtc_context: Any, server_factory: Any, screenshot_dir: Path) -> None:
    relay = server_factory()
    alice, bob, ws, jane = share(rtc_context, relay, route="relay")

    relay.stop()  # both lose the relay (and no direct links: route "relay")
    for app in (alice, bob):
        wait_state(app, "offline")
        expect(app.page.locator("#sync-status")).to_contain_text(re.compile(r"Offline, retrying (in \d+ s|now)"))
    alice.page.goto(f"{relay.url}#/w/{ws}/sync")
    expect(alice.page.locator(".sync-state")).to_contain_text("Everything still works here")
    alice.shot(screenshot_dir, "22-sync-offline-retrying", full_page=True)
    found = violations(alice, "sync screen offline") if AXE.exists() else []
    assert found == [], "\n".join(found)

    # both edit Jane's phone while disconnected: saved locally, not shared
    alice.call("set_cell", record=jane, field=F["phone"], value="555-0101")
    bob.edit_cell("Jane Doe", "Phone", "555-0199")
    expect(alice.page.locator(".sync-unshared")).to_have_text("1 change made here is not shared yet")

    relay.restart()  # same port, same data: both come back by themselves (backoff, no reload)
    for app in (alice, bob):
        wait_state(app, "in-sync", timeout_s=60)
    expect(alice.page.locator(".sync-unshared")).to_have_text("All shared")
    for app in (alice, bob):
        expect(app.page.locator("[data-count=conflicts]")).to_have_text("1")
    expect(alice.page.locator(".sync-since")).to_contain_text("1 conflict needs resolution")
    alice.shot(screenshot_dir, "23-sync-back-with-conflict", full_page=True)
    expect(bob.cell("Jane Doe", "Phone")).to_have_class(re.compile(r"\bconflict\b"))

    # Bob resolves it in the conflicts panel (picks Alice's value); both converge
    bob.page.get_by_role("link", name=re.compile("^Conflicts")).click()
    article = bob.page.locator("article.conflict").first
    expect(article).to_contain_text("Jane Doe › Phone")
    article.get_by_label(re.compile("555-0101.*Alice Stage")).check()
    article.get_by_role("button", name="Resolve").click()
    expect(bob.page.locator(".all-clear")).to_be_visible()
    expect(alice.page.locator("[data-count=conflicts]")).to_be_hidden(timeout=30_000)
    for app in (alice, bob):
        wait_value(app, jane, F["phone"], "555-0101")
        wait_state(app, "in-sync")
    assert alice.call("state_hash") == bob.call("state_hash")
    assert alice.call("conflicts")["conflicts"] == [] == bob.call("conflicts")["conflicts"]
    assert alice.errors == [] and bob.errors == []


@pytest.mark.chromium_only(reason="direct browser-to-browser WebRTC; this WebKit build has no WebRTC")
def test_browsers_sync_directly_over_webrtc_with_the_relay_only_signalling_and_drift_shows(
        rtc_context: Any, server: Any, screenshot_dir: Path) -> None:
    alice, bob, ws, _jane = share(rtc_context, server)
    # both choose "directly between browsers only" in the settings
    for app in (alice, bob):
        app.page.goto(f"{server.url}#/w/{ws}/sync")
        app.page.locator("details.sync-settings summary").click()
        app.page.get_by_label(re.compile("^Directly between browsers only")).check()
        app.page.get_by_role("button", name="Save connection settings").click()
    for app in (alice, bob):
        wait_state(app, "in-sync")
        expect(app.page.locator(".sync-links li")).to_have_count(1)
        expect(app.page.locator(".sync-links li[data-kind=peer]")).to_have_attribute("data-transport", "webrtc")
    on_relay = relay_bundles(server, ws)
    sessions_before = health(server)["sessions"]

    # edits both ways reach the other browser; the relay stores none of them and serves no sync session
    for app in (alice, bob):
        app.page.goto(f"{server.url}#/w/{ws}/t/{CONTACTS}")
        app.wait_grid()
    alice.edit_cell("Jane Doe", "Department", "Lighting")
    expect(bob.cell("Jane Doe", "Department")).to_have_text("Lighting")
    bob.new_record({"Name": "Kim Props"})
    expect(alice.page.locator("table.grid tbody tr[data-id]", has_text="Kim Props")).to_have_count(1)
    wait_state(alice, "in-sync")
    assert relay_bundles(server, ws) == on_relay
    assert health(server)["sessions"] <= sessions_before  # no sync session of theirs on the relay
    assert [(link["kind"], link["transport"]) for link in alice.stats()["workspace"]["sync"]["links"]] == [
        ("peer", "webrtc")]

    # staging in Alice's browser: Bob changes the same field for real, the drift badge appears
    alice.page.get_by_role("button", name="Review before saving", exact=True).click()
    alice.edit_cell("Jane Doe", "Role", "Director")
    expect(alice.cell("Jane Doe", "Role")).to_have_class(re.compile(r"\bstaged\b"))
    bob.edit_cell("Jane Doe", "Role", "Stage manager")
    role = alice.cell("Jane Doe", "Role")
    expect(role).to_have_class(re.compile(r"\bdrift\b"))
    expect(role).to_contain_text("Director")
    banner = alice.page.get_by_role("region", name="Review before saving", exact=True)
    expect(banner).to_contain_text("1 field changed by someone else meanwhile")
    alice.cell("Jane Doe", "Name").click()
    alice.page.keyboard.press("ArrowRight")
    expect(alice.page.locator(".cell-info")).to_contain_text(
        "Role changed to 'Stage manager' while you were reviewing (by Bob Sound)")
    alice.shot(screenshot_dir, "24-sync-direct-drift")
    bob.page.goto(f"{server.url}#/w/{ws}/sync")
    expect(bob.page.locator(".sync-links")).to_have_text("Directly with Alice Stage’s browser — in sync")
    bob.shot(screenshot_dir, "27-sync-direct-only", full_page=True)
    assert relay_bundles(server, ws) == on_relay
    assert alice.call("state_hash") == bob.call("state_hash")  # staged edits never count
    assert alice.errors == [] and bob.errors == []


@pytest.mark.chromium_only(
    reason="takes the device offline with Playwright's network emulation (set_offline); WebDriver has none")
def test_offline_edits_then_reconnect_catches_up_with_progress_and_editing_never_waits(
        rtc_context: Any, server: Any, screenshot_dir: Path) -> None:
    alice, bob, ws, jane = share(rtc_context, server, route="relay")
    bob_context = bob.page.context
    bob_context.set_offline(True)  # the device loses its network
    wait_state(bob, "offline")
    expect(bob.page.locator("#sync-status")).to_have_text(re.compile("Offline"))
    for n in range(3):
        bob.call("set_cell", record=jane, field=F["email"], value=f"jane{n}@example.org")
    bob.page.goto(f"{server.url}#/w/{ws}/sync")
    expect(bob.page.locator(".sync-unshared")).to_have_text("3 changes made here are not shared yet")
    expect(bob.page.locator(".sync-state")).to_contain_text("This device is offline")

    # meanwhile Alice makes 1,000 changes (one bundle each), shared with the relay
    made = alice.page.evaluate("""async ([record, field]) => {
        for (let i = 0; i < 1000; i += 1) await window.openprod.api.call('set_cell', {record, field, value: `d${i}`});
        return 1000;
    }""", [jane, F["department"]])
    assert made == 1000
    wait_state(alice, "in-sync")

    # What Bob's page shows while it catches up, recorded as each status arrives (a catch-up can end
    # between two polls from here). The first "catching-up" status with plenty still to come also
    # starts an edit, which must be saved while the catch-up is still going: sync works between
    # calls, in slices, so the edit waits for one slice, not for the rest of the catch-up. (Asserted
    # by order, never by a duration: on a loaded machine everything is slower, the order is not.)
    bob.page.evaluate("""([record, field]) => {
        const app = window.openprod.app;
        const seen = { states: [], labels: [], headers: [], took: null, atEdit: null, stateAtSave: null };
        window.catchUpSeen = seen;
        const show = app.showSync.bind(app);
        app.showSync = (status) => {
            show(status);
            seen.states.push(status.state);
            seen.last = status;
            const label = document.querySelector('.sync-progress progress')
                && document.querySelector('.sync-progress label');
            if (label) seen.labels.push(label.textContent);
            seen.headers.push(document.getElementById('sync-status').textContent);
            if (status.state === 'catching-up' && seen.took === null && status.progress
                    && status.progress.remaining >= 200) {
                seen.took = -1;
                seen.atEdit = status.progress;
                const t0 = performance.now();
                app.write('set_cell', {record, field, value: 'during catch-up'}).then(() => {
                    seen.took = performance.now() - t0;
                    seen.stateAtSave = seen.last.state;
                });
            }
        };
    }""", [jane, F["role"]])
    # Every status the sync engine computes reaches the page at once (no 250 ms throttle), so the
    # progress shown during the catch-up is observed however fast or slow this machine is.
    bob.api("configure", {"statusEveryMs": 0})
    bob_context.set_offline(False)  # back: it reconnects by itself and catches up, showing progress
    # The screenshot only when the catch-up lasts long enough to be caught from here; what it
    # showed is asserted below from the recorded statuses either way.
    with contextlib.suppress(AssertionError):
        expect(bob.page.locator(".sync-progress progress")).to_be_visible(timeout=10_000)
        bob.shot(screenshot_dir, "25-sync-catching-up", full_page=True)
    wait_state(bob, "in-sync", timeout_s=120)
    seen = bob.page.evaluate("window.catchUpSeen")
    assert seen["atEdit"] is not None, f"no catching-up status with 200 or more bundles to come: {seen['states']}"
    bob.page.wait_for_function("window.catchUpSeen.took !== null && window.catchUpSeen.took >= 0", timeout=60_000)
    seen = bob.page.evaluate("window.catchUpSeen")
    assert "catching-up" in seen["states"], seen["states"]
    receiving = re.compile(r"Receiving changes: [\d,]+ of 1,0\d\d")
    assert any(receiving.search(text) for text in seen["labels"]), seen["labels"]
    assert any(re.search(r"Syncing [\d,]+ of 1,0\d\d", text) for text in seen["headers"]), seen["headers"]
    took, still = seen["took"], seen["stateAtSave"]
    assert still == "catching-up", f"the edit made with {seen['atEdit']} to come was saved only when {still}"
    wait_state(bob, "in-sync", timeout_s=120)
    expect(bob.page.locator(".sync-unshared")).to_have_text("All shared")
    expect(bob.page.locator(".sync-since")).to_contain_text(re.compile(r"1,00\d changes since you last synced"))
    expect(bob.page.locator(".sync-people")).to_contain_text("Alice Stage: 1,00")
    bob.shot(screenshot_dir, "26-sync-caught-up", full_page=True)
    bob.page.get_by_role("button", name="Mark as seen").click()
    expect(bob.page.locator(".sync-since")).to_contain_text("0 changes since you last synced")
    wait_value(alice, jane, F["role"], "during catch-up")
    wait_value(alice, jane, F["email"], "jane2@example.org")
    wait_value(bob, jane, F["department"], "d999")
    wait_state(alice, "in-sync")
    assert alice.call("state_hash") == bob.call("state_hash")
    print(f"\nedit during catch-up (made at {seen['atEdit']}, saved while {still}): {took:.0f} ms")
    assert alice.errors == [] and bob.errors == []
