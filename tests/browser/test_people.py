"""The owner's People section on the Sync screen (web/js/ui/members.js), in a real browser against a
real relay: a workspace published with "People ask to join", two requests made by people on the
command line's client (with their names), one let in and one declined, then a member removed; the
relay's answers to those people afterwards prove each click did what the screen says."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect

from helpers import seeded_identity
from openprod import Env, Workspace, connect
from openprod.signer_nacl import NaclSigner, NaclVerifier
from openprod_server.client import ClientError, RelayClient

pytestmark = pytest.mark.browser


def _asker(tmp_path: Path, name: str, seed: int, ws_id: str) -> Workspace:
    identity = seeded_identity(name, seed)
    env = Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=name)
    return Workspace.join(connect(str(tmp_path / f"{seed}.db")), env, uuid.UUID(ws_id).bytes)


def _join(server: Any, ws: Workspace, name: str) -> dict[str, Any]:
    """In its own thread: Playwright's sync API runs an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        result: dict[str, Any] = pool.submit(asyncio.run, RelayClient(server.origin, ws).join(None, name)).result()
    return result


@pytest.mark.chromium_only(reason="one engine is enough for a screen of buttons over signed requests")
def test_the_owner_lets_people_in_declines_and_removes(rtc_context: Any, server: Any, screenshot_dir: Path,
                                                       tmp_path: Path) -> None:
    alice = AppPage(rtc_context(server).new_page()).open(server.url)
    alice.ensure_identity("Alice Stage")
    ws = alice.create_workspace("Hamlet")
    alice.call("sync:publish", relay=server.origin, joinMode="request")
    bob, carol = _asker(tmp_path, "Bob", 2, ws), _asker(tmp_path, "Carol", 3, ws)
    assert _join(server, bob, "Bob Lighting")["pending"] is True
    assert _join(server, carol, "Carol Sound")["pending"] is True

    page = alice.page

    def show_people() -> None:
        page.goto(f"{server.url}#/w/{ws}/sync")
        expect(page.get_by_role("heading", name="People", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="Asking to join (2)")).to_be_visible(timeout=30_000)
        page.get_by_role("heading", name="People", exact=True).scroll_into_view_if_needed()

    show_people()
    expect(page.locator(".people-requests")).to_contain_text("Bob Lighting")
    expect(page.locator(".people-requests")).to_contain_text("Carol Sound")
    expect(page.get_by_label("People ask to join, and you let them in")).to_be_checked()
    alice.tablet_shots(screenshot_dir, "people-requests", show_people)

    page.get_by_role("button", name="Let Bob Lighting in").click()
    expect(page.locator(".people-members")).to_contain_text("Bob Lighting")
    page.get_by_role("button", name="Decline Carol Sound").click()
    expect(page.get_by_role("heading", name="Asking to join (0)")).to_be_visible()
    assert _join(server, bob, "Bob Lighting")["via"] == "member"
    with pytest.raises(ClientError, match="declined"):
        _join(server, carol, "Carol Sound")

    page.get_by_role("button", name="Remove Bob Lighting").click()
    expect(page.locator(".people-confirm")).to_have_text("Remove Bob Lighting? ")

    def show_confirm() -> None:
        page.goto(f"{server.url}#/w/{ws}/sync")
        expect(page.get_by_role("heading", name="In this workspace (2)")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Remove Bob Lighting").click()
        page.get_by_role("heading", name="People", exact=True).scroll_into_view_if_needed()

    alice.tablet_shots(screenshot_dir, "people-remove-confirm", show_confirm)
    page.goto(f"{server.url}#/w/{ws}/sync")
    page.get_by_role("button", name="Remove Bob Lighting").click()
    page.locator(".people-confirm + button", has_text="Remove").click()
    expect(page.locator(".people-removed")).to_contain_text("Bob Lighting")
    expect(page.get_by_role("heading", name="In this workspace (1)")).to_be_visible()
    with pytest.raises(ClientError, match="removed you"):
        _join(server, bob, "Bob Lighting")

    def show_removed() -> None:
        page.goto(f"{server.url}#/w/{ws}/sync")
        expect(page.get_by_role("heading", name="Removed", exact=True)).to_be_visible(timeout=30_000)
        page.get_by_role("heading", name="People", exact=True).scroll_into_view_if_needed()

    alice.tablet_shots(screenshot_dir, "people-removed", show_removed)

    # the owner lets Bob back in: he is a member again, and the relay's audit log says who did it
    page.goto(f"{server.url}#/w/{ws}/sync")
    page.get_by_role("button", name="Let Bob Lighting back in").click()
    expect(page.get_by_role("heading", name="In this workspace (2)")).to_be_visible(timeout=30_000)
    expect(page.locator(".people-members")).to_contain_text("Bob Lighting let back in")
    expect(page.get_by_role("heading", name="Removed", exact=True)).to_have_count(0)
    assert _join(server, bob, "Bob Lighting")["via"] == "member"
    audit = alice.call("sync:members")["audit"]
    assert (audit[-1]["action"], audit[-1]["subject"]) == ("readmitted", bob.actor_id.hex())

    def show_back() -> None:
        page.goto(f"{server.url}#/w/{ws}/sync")
        expect(page.get_by_role("heading", name="In this workspace (2)")).to_be_visible(timeout=30_000)
        page.locator(".people-members").scroll_into_view_if_needed()

    alice.tablet_shots(screenshot_dir, "people-let-back-in", show_back)
    assert alice.errors == [] and alice.external == []


@pytest.mark.chromium_only(reason="one engine is enough for the request flow; the join form is shared code")
def test_asking_to_join_from_the_browser_waits_for_the_owner(rtc_context: Any, server: Any,
                                                           screenshot_dir: Path) -> None:
    alice = AppPage(rtc_context(server).new_page()).open(server.url)
    alice.ensure_identity("Alice Stage")
    ws = alice.create_workspace("Hamlet")
    jane = alice.call("create_record", table="contacts.Contacts", values={"contacts.Contacts.name": "Jane Doe"})["id"]
    alice.call("sync:publish", relay=server.origin, joinMode="request")
    invite = f"{server.origin}/#/join/{ws}"
    bob = AppPage(rtc_context(server).new_page()).open(invite)
    bob.ensure_identity("Bob Lighting")
    form = bob.page.locator("form.join-form")
    expect(form.get_by_label("Invitation link or workspace ID")).to_have_value(invite)
    form.get_by_role("button", name="Join workspace").click()
    expect(form.locator(".form-status")).to_have_text(
        "Asked to join as Bob Lighting. The workspace's owner sees your request; once they let you in, press Join "
        "workspace again.")
    assert bob.api("listWorkspaces") == []  # nothing stored while waiting

    def show_asked() -> None:
        bob.page.goto(invite)
        bob.page.locator("form.join-form").get_by_role("button", name="Join workspace").click()
        expect(bob.page.locator("form.join-form .form-status")).to_contain_text("Asked to join as Bob Lighting")

    bob.tablet_shots(screenshot_dir, "people-asked-to-join", show_asked)
    alice.page.goto(f"{server.url}#/w/{ws}/sync")
    alice.page.get_by_role("button", name="Let Bob Lighting in").click()
    expect(alice.page.locator(".people-members")).to_contain_text("Bob Lighting")

    bob.page.goto(invite)
    bob.page.locator("form.join-form").get_by_role("button", name="Join workspace").click()
    bob.page.wait_for_url(re.compile(rf"#/w/{ws}/sync$"), timeout=60_000)
    deadline = time.monotonic() + 60
    while (bob.call("record", record=jane) or {}).get("values", {}).get("contacts.Contacts.name") != "Jane Doe":
        assert time.monotonic() < deadline, "Bob never received Jane"
        bob.page.wait_for_timeout(100)
    assert bob.errors == [] and alice.errors == []
