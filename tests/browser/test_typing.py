"""Typing into collaborative text: saved in bursts (one signed bundle per burst, never one per
keystroke), reaching a second browser through a real relay, and kept when the page is hidden in
the middle of a burst (web/js/ui/typing.js)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect
from test_sync import share, wait_value

pytestmark = pytest.mark.browser

REPORTS = "reports.Reports"
NOTES = f"{REPORTS}.notes"
TITLE = f"{REPORTS}.title"


def logged(app: AppPage) -> int:
    value: int = app.stats()["workspace"]["loggedSeq"]
    return value


def open_report(app: AppPage, url: str, ws: str, title: str) -> str:
    """A new report (made through the API), its record form open and its Notes focused."""
    record: str = app.call("create_record", table=REPORTS, values={TITLE: title})["id"]
    app.page.goto(f"{url}#/w/{ws}/t/{REPORTS}/r/{record}")
    notes = app.field("Notes")
    expect(notes).to_be_visible(timeout=60_000)
    notes.click()
    return record


def typed_mid_burst(profile: Any, server: Any, workspace: str, title: str,
                    text: str) -> tuple[AppPage, str, str, int]:
    """`text` typed into a new report's Notes with the burst held open (no pause or length ends it):
    nothing saved yet. Returns the page, workspace, record and the log position before the typing."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace(workspace)
    record = open_report(app, server.url, ws, title)
    app.page.evaluate("""async () => {
      const m = await import('/js/ui/typing.js');
      m.TYPING.pauseMs = 3600000;
      m.TYPING.burstMaxMs = 3600000;
    }""")
    before = logged(app)
    app.page.keyboard.type(text)
    assert logged(app) == before  # mid burst: nothing saved yet
    return app, ws, record, before


@pytest.mark.chromium_only(
    reason="two people syncing through the relay, with the sync tests' Chromium contexts; the typing itself is "
           "plain DOM input events, the same in WebKit")
def test_typing_is_saved_in_bursts_and_reaches_a_second_browser_through_the_relay(
        rtc_context: Any, server: Any) -> None:
    alice, bob, ws, _ = share(rtc_context, server, route="relay")
    record = open_report(alice, server.url, ws, "Performance 3")
    wait_value(bob, record, TITLE, "Performance 3")
    page = alice.page
    before = logged(alice)
    keys = 0
    for chunk in ("House opened at 7:25, ", "act 1 went up at 7:3", "4 after a late "):
        page.keyboard.type(chunk)
        keys += len(chunk)
    for _ in range(5):  # "late " rubbed out again
        page.keyboard.press("Backspace")
        keys += 1
    page.keyboard.type("cue 12 hold.")
    keys += len("cue 12 hold.")
    text = "House opened at 7:25, act 1 went up at 7:34 after a cue 12 hold."
    page.keyboard.press("Tab")  # leaving the field saves what is left of the burst
    wait_value(alice, record, NOTES, text)
    bundles = logged(alice) - before
    print(f"{bundles} bundles for {keys} keystrokes")
    assert 1 <= bundles <= keys // 6, f"{bundles} bundles for {keys} keystrokes"
    expect(alice.field("Notes")).to_have_value(text)
    wait_value(bob, record, NOTES, text)  # exactly the typed text, through the relay
    assert alice.errors == [] and bob.errors == []


def test_hiding_the_page_in_the_middle_of_a_burst_keeps_the_typing(profile: Any, server: Any) -> None:
    # no pause or burst length can end this burst by itself: only hiding the page can save it
    app, ws, record, before = typed_mid_burst(profile, server, "Hide mid burst", "Rehearsal 4", "Fight call at 6:45")
    page = app.page
    # the page is hidden, as when the tab is closed or the tablet locks: visibilitychange, then pagehide
    page.evaluate("""() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
      window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }));
    }""")
    deadline = time.monotonic() + 60
    while logged(app) == before:  # the burst being signed and stored
        assert time.monotonic() < deadline, "hiding the page did not save the burst"
        page.wait_for_timeout(50)
    page.close()  # no unload handlers, no grace period

    again = AppPage(profile.new_page()).open(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{record}")
    expect(again.field("Notes")).to_have_value("Fight call at 6:45", timeout=60_000)
    assert logged(again) == before + 1  # one bundle for the whole burst
    assert again.errors == []


def test_typing_after_accents_and_emoji_lands_where_it_was_typed(profile: Any, server: Any) -> None:
    """A second burst typed after "é" and "😀" goes exactly where the caret was: Yjs counts UTF-16
    units, and the saved edit counts characters, so an emoji used to shift it by one."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Accents")
    record = open_report(app, server.url, ws, "Tech 1")
    page = app.page
    page.keyboard.type("Café 😀 ok")
    page.keyboard.press("Tab")  # the first burst saved on leaving the field
    wait_value(app, record, NOTES, "Café 😀 ok")
    app.field("Notes").click()
    page.keyboard.press("End")
    page.keyboard.type(" — Noël")
    page.keyboard.press("Tab")
    wait_value(app, record, NOTES, "Café 😀 ok — Noël")
    page.reload()
    expect(AppPage(page).field("Notes")).to_have_value("Café 😀 ok — Noël", timeout=60_000)
    assert app.errors == []


def kept(app: AppPage, ws: str, record: str) -> Any:
    """The typing this device keeps for the report's Notes until its save is confirmed (ui/drafts.js)."""
    return app.page.evaluate("(k) => JSON.parse(localStorage.getItem(k))", f"openprod.typing.{ws}.{record}.{NOTES}")


@pytest.mark.chromium_only(
    reason="crashes the tab's renderer with the DevTools protocol (Page.crash), which WebKitWebDriver has no "
           "counterpart for; putting kept typing back runs in both engines "
           "(test_typing_kept_from_a_closed_tab_is_put_back_or_offered)")
def test_a_tab_that_crashes_in_the_middle_of_a_burst_loses_nothing(profile: Any, server: Any) -> None:
    app, ws, record, before = typed_mid_burst(profile, server, "Crash mid burst", "Rehearsal 5",
                                              "Blackout at 9:12, fly rail stuck")
    assert kept(app, ws, record)["value"] == "Blackout at 9:12, fly rail stuck"
    app.crash()  # no pagehide, no visibilitychange

    again = AppPage(profile.new_page()).open(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{record}")
    expect(again.field("Notes")).to_have_value("Blackout at 9:12, fly rail stuck", timeout=60_000)
    expect(again.page.get_by_text("the app closed before it was saved")).to_be_visible()
    assert logged(again) == before + 1  # put back as one bundle
    assert kept(again, ws, record) is None
    again.page.reload()
    expect(AppPage(again.page).field("Notes")).to_have_value("Blackout at 9:12, fly rail stuck", timeout=60_000)
    assert again.errors == []


def test_typing_kept_from_a_closed_tab_is_put_back_or_offered(
        profile: Any, server: Any, screenshot_dir: Any) -> None:
    """What a tab closed mid burst leaves on the device: put back at once while the text is still what
    it was typed over; offered with the typed text when someone changed it since, merged on "Put it
    back"; forgotten on "Discard it"."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Kept typing")
    page = app.page
    quiet = app.call("create_record", table=REPORTS, values={TITLE: "Quiet", NOTES: "Half hour called"})["id"]
    moved = app.call("create_record", table=REPORTS, values={TITLE: "Moved", NOTES: "Places at 7:25"})["id"]
    dropped = app.call("create_record", table=REPORTS, values={TITLE: "Dropped", NOTES: "Notes"})["id"]
    keep = """([k, base, value]) =>
      localStorage.setItem(k, JSON.stringify({base, value, at: Date.UTC(2026, 11, 6, 19, 2)}))"""
    key = f"openprod.typing.{ws}.%s.{NOTES}"
    page.evaluate(keep, [key % quiet, "Half hour called", "Half hour called at 6:55"])
    page.evaluate(keep, [key % moved, "Places", "Places, please"])  # typed over an older text
    page.evaluate(keep, [key % dropped, "Notes", "Notes and more"])
    before = logged(app)

    app.page.goto(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{quiet}")
    expect(app.field("Notes")).to_have_value("Half hour called at 6:55", timeout=60_000)
    expect(page.get_by_text("the app closed before it was saved")).to_be_visible()
    assert logged(app) == before + 1 and kept(app, ws, quiet) is None

    app.page.goto(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{moved}")
    expect(page.get_by_text("Notes has changed since")).to_be_visible(timeout=60_000)
    expect(app.field("Notes")).to_have_value("Places at 7:25")  # nothing changed before the person says so
    assert logged(app) == before + 1
    app.tablet_shots(screenshot_dir, "typing-kept", show=lambda: expect(
        page.get_by_text("Notes has changed since")).to_be_visible(timeout=60_000))
    page.get_by_role("button", name="Put it back").click()
    expect(page.get_by_text("Your typing is back.")).to_be_visible(timeout=30_000)
    expect(app.field("Notes")).to_have_value("Places, please at 7:25")  # ", please" merged where it was typed
    assert logged(app) == before + 2 and kept(app, ws, moved) is None

    app.page.goto(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{dropped}")
    expect(app.field("Notes")).to_have_value("Notes and more", timeout=60_000)  # base unchanged: put back
    page.evaluate(keep, [key % dropped, "Notes", "Notes, gone"])  # as if kept again and the text moved on
    app.page.goto(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{quiet}")
    expect(app.field("Notes")).to_have_value("Half hour called at 6:55", timeout=60_000)
    app.page.goto(f"{server.url}#/w/{ws}/t/{REPORTS}/r/{dropped}")
    page.get_by_role("button", name="Discard it").click()
    expect(page.get_by_text("Notes has changed since")).to_have_count(0)
    assert kept(app, ws, dropped) is None
    expect(app.field("Notes")).to_have_value("Notes and more")
    assert app.errors == []
