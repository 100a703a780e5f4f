"""Recovering ownership in the app, with the recovery words (a lost laptop), against a real relay.

Alice creates Hamlet in one browser profile, writes its words down, publishes it (access keys only)
and loses that device. On a new device (a new profile, a new signing key) she types the invitation
link and the words into "Recover ownership with your recovery words" on the start screen: wrong words
are refused in words with nothing stored; the right ones make this device the owner (the relay's
records and the workspace's own signed change of owner), show new words once, and the old words open
nothing afterwards, while the new ones do. When the relay's yes is lost on the way back, asking
again with the same words gets the same yes (and the same new words) instead of "used already".
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect

from openprod_server.recovery import new_secret, words_for

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
TABLET = ((1180, 820), (820, 1180))


def new_device(new_context: Any, server: Any, name: str) -> AppPage:
    app = AppPage(new_context(viewport={"width": 1280, "height": 800}).new_page()).open(server.url)
    app.ensure_identity(name)
    return app


def recover(app: AppPage, invite: str, words: str) -> Any:
    form = app.page.locator("form.recover-form")
    form.get_by_label("Invitation link or workspace ID").fill(invite)
    form.get_by_label("Your 12 recovery words").fill(words)
    form.get_by_role("button", name="Recover ownership").click()
    return form


def shots(app: AppPage, name: str, screenshot_dir: Path) -> None:
    """Both tablet sizes without reloading (a reload would take the words off the screen, as it should).
    The copies in docs/screenshots/recover-ownership-*.png come from here."""
    for width, height in TABLET:
        app.page.set_viewport_size({"width": width, "height": height})
        app.page.evaluate("window.scrollTo(0, 0)")
        app.shot(screenshot_dir, f"{name}-{width}x{height}", full_page=True)
    app.page.set_viewport_size({"width": 1280, "height": 800})


def in_sync(app: AppPage) -> None:
    app.page.wait_for_function(
        "() => window.openprod.app.syncStatus && window.openprod.app.syncStatus.state === 'in-sync'", timeout=120_000)


def wait_info(app: AppPage, key: str, value: Any, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = app.call("info").get(key)
        if found == value:
            return
        if time.monotonic() > deadline:
            config = app.call("sync:status")["config"]
            raise AssertionError(f"info[{key!r}] is {found!r}, expected {value!r} (sync config: {config})")
        app.page.wait_for_timeout(200)


@pytest.mark.chromium_only(reason="three devices (browser profiles) in one story; the WebKit lane has one profile "
                                  "per module")
def test_recover_ownership_in_the_app_with_the_words_then_old_words_open_nothing(
        new_context: Any, server_factory: Any, screenshot_dir: Path) -> None:
    server = server_factory()
    laptop = new_device(new_context, server, "Alice Stage")
    ws = laptop.create_workspace("Hamlet")
    old_words = laptop.last_recovery_words
    laptop.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane Doe"})
    laptop.call("sync:publish", relay=server.origin, joinMode="access_key")
    old_owner = laptop.call("info")["actor"]
    in_sync(laptop)  # everything it made is at the relay (closing at once lost the tables once)
    laptop.page.context.close()  # the laptop is lost
    invite = f"{server.origin}/#/join/{ws}"

    # the new laptop: wrong words are refused in words, and nothing is stored here
    ipad = new_device(new_context, server, "Alice Stage")
    form = recover(ipad, invite, old_words.replace(old_words.split()[3], "xyzzy", 1))
    expect(form.locator(".form-status")).to_have_text(
        "Not recovered: 'xyzzy' is not one of the recovery words: check the spelling. Nothing was changed.")
    other = words_for(new_secret())  # real recovery words, of no workspace here
    form = recover(ipad, invite, other)
    expect(form.locator(".form-status")).to_have_text(re.compile(
        r"^Not recovered: These recovery words do not open this workspace\. .* Nothing was changed\.$"))
    assert ipad.api("listWorkspaces") == []
    shots(ipad, "recover-ownership-refused", screenshot_dir)

    # the right words (typed with capitals and numbers, as written on paper): this device owns it now
    typed = " ".join(f"{i}. {w.capitalize()}" for i, w in enumerate(old_words.split(), 1))
    # ...but the first time, the relay takes them and its answer is lost on the way back
    lost: list[str] = []

    def lose_the_answer(route: Any) -> None:
        lost.append(route.fetch().text())  # the relay answered...
        route.abort("connectionreset")  # ...and the page never hears it

    ipad.page.context.route(re.compile(r"/api/recover$"), lose_the_answer, times=1)
    form = recover(ipad, invite, typed)
    expect(form.locator(".form-status")).to_contain_text(
        "Not recovered yet: The relay did not answer, so this device cannot tell whether it took the words.")
    assert len(lost) == 1 and '"owner"' in lost[0], lost  # it did take them
    assert ipad.api("listWorkspaces") == []
    recover(ipad, invite, typed)  # asked again, as the message says: the same recovery, not "used already"
    page = ipad.page
    heading = page.get_by_role("heading", name="You own the workspace again: write down your new recovery words")
    expect(heading).to_be_visible(timeout=60_000)
    new_words = " ".join(page.locator(".recovery-word").all_inner_texts())
    assert len(new_words.split()) == 12 and new_words != old_words
    assert page.locator("form.recover-form").count() == 0
    shots(ipad, "recover-ownership-new-words", screenshot_dir)
    page.get_by_label("I have written them down").check()
    page.get_by_role("button", name="Open the workspace").click()
    page.wait_for_url(re.compile(rf"#/w/{ws}/sync$"))
    me = ipad.call("info")["actor"]
    assert me != old_owner
    wait_info(ipad, "owner", me)  # the workspace itself says so (its signed change of owner, written once synced)
    assert ipad.call("info")["name"] == "Hamlet"
    assert [r["values"][f"{CONTACTS}.name"] for r in ipad.call("rows", table=CONTACTS)["rows"]] == ["Jane Doe"]
    in_sync(ipad)
    log = (server.data.parent / f"{server.data.name}.log").read_text()
    assert log.count('"workspace_recovered"') == 1 and log.count('"workspace_recovery_repeated"') == 1
    members = ipad.call("sync:members")  # an owner-only request: the relay agrees

    assert any(m["actor"] == me and m["via"] == "recovery" for m in members["members"]), members

    # the old words open nothing now, for anyone; the new words do (once)
    spare = new_device(new_context, server, "Alice Stage (spare)")
    form = recover(spare, invite, old_words)
    expect(form.locator(".form-status")).to_contain_text("These recovery words do not open this workspace")
    assert spare.api("listWorkspaces") == []
    recover(spare, invite, new_words)
    expect(spare.page.get_by_role("heading", name=re.compile("^You own the workspace again"))).to_be_visible(
        timeout=60_000)
    assert ipad.errors == [] and spare.errors == []
