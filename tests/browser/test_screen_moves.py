"""Moving between screens on a tablet, in both engines: a screen opened starts at its top, a rotation
to portrait closes the sidebar, the header says the sync state from the start and fits at both tablet
sizes, the Sync screen's Backup section follows publishing, its links and buttons are 44 px targets,
and exports are named after the show and the sheet (user pass 16's findings)."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect
from test_grid_tablet import SMALL

pytestmark = pytest.mark.browser

SHOW = "Hamlet — Spring 2027"
LANDSCAPE = {"width": 1180, "height": 820}
PORTRAIT = {"width": 820, "height": 1180}


def _open(profile: Any, server: Any, name: str = SHOW) -> tuple[AppPage, str]:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    return app, app.create_workspace(name)


def _sidebar_open(app: AppPage) -> bool:
    return bool(app.page.evaluate("!document.body.classList.contains('sidebar-collapsed')"))


def test_a_screen_opened_starts_at_its_top(profile: Any, server: Any) -> None:
    app, ws = _open(profile, server)
    app.page.set_viewport_size(LANDSCAPE)
    app.page.locator("#sidebar a", has_text="Sync").click()
    expect(app.page.get_by_role("heading", name="Backup")).to_be_visible()
    app.page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    app.page.wait_for_function("window.scrollY > 200")  # far down the Sync screen
    app.page.locator("#sidebar a", has_text="Rules").click()
    app.page.wait_for_url(re.compile(f"#/w/{ws}/rules$"))
    expect(app.page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
    app.page.wait_for_function("window.scrollY === 0", timeout=10_000)


def test_rotating_to_portrait_closes_the_sidebar(profile: Any, server: Any, screenshot_dir: Path) -> None:
    app, _ = _open(profile, server)
    app.page.set_viewport_size(LANDSCAPE)
    app.page.wait_for_function("!document.body.classList.contains('sidebar-collapsed')")
    app.page.set_viewport_size(PORTRAIT)  # turned upright: the sidebar would cover the grid
    app.page.wait_for_function("document.body.classList.contains('sidebar-collapsed')", timeout=10_000)
    expect(app.page.locator("#sidebar")).to_be_hidden()
    assert app.page.locator("#sidebar-toggle").get_attribute("aria-expanded") == "false"
    app.shot(screenshot_dir, f"screens17-rotated-portrait-{app.engine}-820x1180")
    app.page.set_viewport_size(LANDSCAPE)  # and back: beside the screen again, as this device chose
    app.page.wait_for_function("!document.body.classList.contains('sidebar-collapsed')", timeout=10_000)
    assert _sidebar_open(app)


def test_the_header_says_the_sync_state_from_the_start(profile: Any, server: Any) -> None:
    app, _ = _open(profile, server)
    indicator = app.page.locator("#sync-status")
    expect(indicator).to_be_visible()  # before any edit
    expect(indicator).to_contain_text("Only on this device")


HEADER_BOXES = """() => {
  const header = document.querySelector('.app-header').getBoundingClientRect();
  const items = [...document.querySelectorAll('.app-header > *')].filter((el) => el.offsetParent !== null
    && getComputedStyle(el).visibility !== 'hidden' && el.getBoundingClientRect().width > 0);
  return {header: {top: header.top, bottom: header.bottom, left: header.left, right: header.right},
    items: items.map((el) => {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
      return {id: el.id || el.className, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
        // its text runs past its box (an ellipsis, or cut): the width it needs against the width it has
        cut: [el, ...el.querySelectorAll(':not(.visually-hidden)')].some((e) => e.scrollWidth > e.clientWidth + 1
          || (e.clientHeight > 0 && e.scrollHeight > e.clientHeight + 1)),
        lines: el.id === 'ws-title' ? Math.round(el.getBoundingClientRect().height / line) : 1};
    })};
}"""


def _header_problems(app: AppPage) -> list[str]:
    got = app.page.evaluate(HEADER_BOXES)
    problems = []
    items = got["items"]
    for item in items:
        if item["left"] < got["header"]["left"] - 0.5 or item["right"] > got["header"]["right"] + 0.5:
            problems.append(f"{item['id']} runs out of the header")
        if item["lines"] > 1:
            problems.append(f"{item['id']} takes {item['lines']} lines")
        if item["cut"] and item["id"] != "ws-title":  # only the show's name may end in "…" (its tooltip)
            problems.append(f"{item['id']} is cut")
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if a["left"] < b["right"] - 0.5 and b["left"] < a["right"] - 0.5 \
                    and a["top"] < b["bottom"] - 0.5 and b["top"] < a["bottom"] - 0.5:
                problems.append(f"{a['id']} overlaps {b['id']}")
    return problems


def test_the_header_fits_at_both_tablet_sizes(profile: Any, server: Any, screenshot_dir: Path) -> None:
    app, _ = _open(profile, server)
    app.new_record({"Name": "Jane Doe"})  # "All changes saved on this device · <time>"
    expect(app.page.locator("#save-status")).to_have_attribute("data-state", "saved")
    for size in (LANDSCAPE, PORTRAIT):
        app.page.set_viewport_size(size)
        app.page.wait_for_function(f"innerWidth === {size['width']}")
        problems = _header_problems(app)
        assert not problems, f"{size}: {problems}"
        assert app.page.locator("#ws-title").get_attribute("title") == SHOW  # the whole name, if it is shortened
        app.shot(screenshot_dir, f"screens17-header-{app.engine}-{size['width']}x{size['height']}")


def test_the_sync_screen_backup_follows_publishing_and_its_targets_are_44px(
        profile: Any, debug_server: Any, screenshot_dir: Path) -> None:
    app, ws = _open(profile, debug_server)
    page = app.page
    page.set_viewport_size(LANDSCAPE)
    # a conflict (another person changed the same phone number): the Sync screen links to it
    app.new_record({"Name": "Jane Doe"})
    app.api("debugPeer", "create", {"display_name": "Jordan"})
    app.edit_cell("Jane Doe", "Phone", "555-0101")
    jane = page.locator("table.grid tbody tr[data-id]", has_text="Jane Doe").first.get_attribute("data-id")
    app.api("debugPeer", "set_field", {"record": jane, "field": "contacts.Contacts.phone", "value": "555-0199"})
    app.api("debugPeer", "deliver", {})
    expect(app.cell("Jane Doe", "Phone")).to_have_class(re.compile(r"\bconflict\b"))
    page.locator("#sync-status").click()
    backup = page.locator(".sync-backup")
    expect(backup.get_by_role("heading", name="Backup")).to_be_visible()
    risky = backup.locator(".storage-risk").count() > 0  # said unless the browser keeps this site's storage
    if risky:
        expect(backup).to_contain_text("This workspace is only on this device")
    page.get_by_role("button", name="Publish to the relay").click()
    expect(page.get_by_role("heading", name="Invite people")).to_be_visible()
    if risky:  # no reload: the section says at once that the synced changes are safe on the relay
        expect(backup).to_contain_text("safe on the relay", timeout=20_000)
        expect(backup).not_to_contain_text("This workspace is only on this device")
    link = page.locator(".sync-since a", has_text="1 conflict needs resolution")
    expect(link).to_be_visible()
    for size in (LANDSCAPE, PORTRAIT):
        page.set_viewport_size(size)
        page.wait_for_function(f"innerWidth === {size['width']}")
        small = page.evaluate(SMALL, "main a, main button, main summary, main select")
        assert not small, f"{size}: {small}"
        # measured in the page in one step: the summary is drawn again on each status tick, which can
        # replace the link between a locator's lookup and its measure
        height = link.evaluate("(el) => el.getBoundingClientRect().height")
        assert height >= 44, height
        problems = _header_problems(app)  # published: the sync state is longer (WebKit: "through the relay")
        assert not problems, f"{size}: {problems}"
        link.evaluate("(el) => el.scrollIntoView({block: 'center'})")
        app.shot(screenshot_dir, f"screens17-sync-{app.engine}-{size['width']}x{size['height']}")
    assert ws


def test_exports_are_named_after_the_show_and_the_sheet(profile: Any, server: Any) -> None:
    app, _ = _open(profile, server, "Hamlet: Spring/Summer 2027")
    file = app.call("view_export", view="table:contacts.Contacts", format="csv")
    day = r"\d{4}-\d{2}-\d{2}"
    # no slash, colon or other character a file system refuses
    assert re.fullmatch(rf"Hamlet Spring Summer 2027 - Contacts - {day}\.csv", file["filename"]), file["filename"]
    sheet = next(v for v in app.call("views") if v["name"] == "Contact sheet")
    excel = app.call("view_export", view=sheet["id"], format="xlsx")
    assert re.fullmatch(rf"Hamlet Spring Summer 2027 - Contact sheet - {day}\.xlsx", excel["filename"])
    # the day is the device's, not UTC's (Python in the browser runs on UTC): 26 hours apart, always
    # a different date whatever the time now
    east, west = (app.call("view_export", view="table:contacts.Contacts", format="csv", offset=minutes)["filename"]
                  for minutes in (14 * 60, -12 * 60))
    gap = datetime.date.fromisoformat(east[-14:-4]) - datetime.date.fromisoformat(west[-14:-4])
    assert gap.days in (1, 2), (east, west)
    if app.engine == "webkit":
        return  # MiniBrowser asks where to save a download: the names above are what it would be offered
    # and as a person exports it: the print view's button, the notice names the file
    app.page.get_by_role("link", name="Print view").click()
    app.page.get_by_role("button", name="Export CSV").click()
    expect(app.page.locator("#toast")).to_contain_text("Exported Hamlet Spring Summer 2027 - Contacts - ")
