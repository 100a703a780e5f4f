"""Offline start, durable edits and snapshot start-up, in real browsers (both engines where marked)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

SODIUM_OFFLINE = """async () => {
    const { default: sodium } = await import('/vendor/libsodium-wrappers/sodium.mjs');
    await sodium.ready;
    return typeof sodium.crypto_sign_verify_detached;
}"""


def test_first_load_then_reload_with_the_server_gone(profile: Any, engine: str, server_factory: Any,
                                                     screenshot_dir: Path) -> None:
    server = server_factory()  # its own origin: a first visit, whatever the profile holds
    app = AppPage(profile.new_page()).open(server.url)
    app.shot(screenshot_dir, f"01-first-run-identity-{engine}")
    app.ensure_identity("Alice Stage")
    app.shot(screenshot_dir, f"02-workspaces-{engine}")
    ws = app.create_workspace("Hamlet")
    app.new_record({"Name": "Jane Doe", "Role": "Stage manager"})
    app.wait_offline_ready()
    boot = app.stats()["boot"]
    assert boot["bootMs"] > 0

    server.stop()
    app.page.reload()
    app.wait_ready()
    app.wait_grid()
    expect(app.cell("Jane Doe", "Role")).to_have_text("Stage manager")

    # A brand-new tab, server still gone: the service worker serves everything.
    fresh = AppPage(profile.new_page()).open(f"{server.url}#/w/{ws}/t/contacts.Contacts")
    fresh.wait_grid()
    expect(fresh.cell("Jane Doe", "Name")).to_be_visible()
    fresh.edit_cell("Jane Doe", "Phone", "555-0101")  # editing offline saves as usual
    expect(fresh.cell("Jane Doe", "Phone")).to_have_text("555-0101")
    # the verify worker's libsodium (vendored, loaded only when that worker starts) is precached too
    assert fresh.page.evaluate(SODIUM_OFFLINE) == "function"
    assert app.errors == [] and fresh.errors == []
    assert app.external == [] and fresh.external == [], "the app must never leave the machine"


def test_edit_survives_closing_the_tab_at_once(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Durability")
    app.new_record({"Name": "Sam Sound"})
    app.edit_cell("Sam Sound", "Email", "sam@example.org")  # returns once the header says saved
    app.page.close()  # no unload handlers, no grace period

    again = AppPage(profile.new_page()).open(f"{server.url}#/w/{ws}/t/contacts.Contacts")
    again.wait_grid()
    expect(again.cell("Sam Sound", "Email")).to_have_text("sam@example.org")
    history = again.call("history", record=_record_id(again, "Sam Sound"), field="contacts.Contacts.email")
    assert [c["new"] for c in history] == ["sam@example.org"]
    assert [c["display_name"] for c in history] == ["Alice Stage"]


def _record_id(app: AppPage, text: str) -> str:
    value: str = app.page.locator("table.grid tbody tr[data-id]", has_text=text).first.get_attribute("data-id")
    return value


@pytest.mark.chromium_only(
    reason=("the snapshot policy is worker JavaScript and Python, the same in both engines; durability itself "
            "runs in WebKit"))
def test_start_up_restores_the_snapshot_and_replays_only_the_tail(context: Any, server: Any) -> None:
    app = AppPage(context.new_page()).open(server.url)
    app.api("configure", {"snapshotEvery": 100_000, "snapshotIdleMs": 3_600_000})  # only explicit snapshots
    app.ensure_identity()
    ws = app.create_workspace("Long history")
    rid = app.call("create_record", table="contacts.Contacts", values={"contacts.Contacts.name": "Pat"})["id"]
    for n in range(60):
        app.call("set_cell", record=rid, field="contacts.Contacts.phone", value=f"555-{n:04d}")
    before = app.stats()["workspace"]
    assert before["logTail"] >= 61

    snap = app.api("snapshotNow")
    assert snap["seq"] == before["loggedSeq"]
    assert app.stats()["workspace"]["logTail"] == 0
    for n in range(3):
        app.call("set_cell", record=rid, field="contacts.Contacts.role", value=f"Actor {n}")
    writes = app.stats()["workspace"]["writeToDurableMs"]

    app.page.reload()
    app.wait_ready()
    assert f"#/w/{ws}/" in app.page.url
    app.wait_grid()
    expect(app.cell("Pat", "Phone")).to_have_text("555-0059")
    expect(app.cell("Pat", "Role")).to_have_text("Actor 2")
    startup = app.stats()["workspace"]["startup"]
    assert startup["snapshotSeq"] == snap["seq"]
    assert startup["replayed"] == 3, startup  # the tail, not the 60+ bundles of history
    assert startup["replayStatuses"] == {"applied": 3}
    print(f"\n[web] boot {app.stats()['boot']} startup {startup} write-to-durable {writes}")


@pytest.mark.chromium_only(
    reason=("the snapshot policy is worker JavaScript and Python, the same in both engines; durability itself "
            "runs in WebKit"))
def test_background_snapshot_trims_the_log(context: Any, server: Any) -> None:
    app = AppPage(context.new_page()).open(server.url)
    app.api("configure", {"snapshotEvery": 20, "snapshotSoonMs": 50})
    app.ensure_identity()
    app.create_workspace("Auto snapshot")
    rid = app.call("create_record", table="contacts.Contacts", values={"contacts.Contacts.name": "Lee"})["id"]
    for n in range(25):
        app.call("set_cell", record=rid, field="contacts.Contacts.status", value=f"s{n}")
    stats = app.stats()["workspace"]
    deadline = time.monotonic() + 60  # a failure bound only: the snapshot runs in the background, within
    while time.monotonic() < deadline:  # about 50 ms of the 20th record on an idle machine
        if stats["lastSnapshot"] and stats["lastSnapshot"]["seq"] >= 20:
            break
        app.page.wait_for_timeout(50)
        stats = app.stats()["workspace"]
    assert stats["lastSnapshot"]["seq"] >= 20, stats
    assert stats["logTail"] < 20, stats
