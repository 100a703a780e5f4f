"""10,000 rows scroll without a frame over 50 ms, measured by the browser's own Performance trace.

What makes this deterministic on a shared, loaded machine (see frames.py): the assertion is on each
frame's main-thread **thread time** (CPU time this page's main thread ran), read from the trace's
own `AnimationFrame` spans, not on wall-clock time, which also counts the moments other processes
had the CPU. And it is backed by a structural fact that no load can change: the grid keeps a
bounded window of rows in the DOM however long the table is. Wall-clock frame lengths and the
browser's Long Animation Frame durations are printed for the record (bench/grid_bench.py reports
them), never asserted here.
"""

from __future__ import annotations

from typing import Any

import pytest
from appdriver import AppPage
from frames import CATEGORIES, frames, summary
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
ROWS = 10_000
BUDGET_MS = 50.0
MAX_ROWS_IN_DOM = 60  # the rows in view (about 15 here) plus a margin of 12 above and below


def fill(app: AppPage, rows: int) -> None:
    """`rows` contacts, imported in parts small enough for one change each, committed."""
    part = 5_000
    for first in range(0, rows, part):
        text = "Name,Role,Department,Email,Phone\n" + "\n".join(
            f"Person {i:05d},Crew {i % 7},Dept {i % 11},p{i}@show.org,555-{i:05d}" for i in range(first, first + part))
        staged = app.call("import_csv", table=CONTACTS, text=text, match_on=[])
        assert staged["new"] == part and staged["problem_count"] == 0
        assert app.call("stage_commit")["committed"]


@pytest.mark.chromium_only(
    reason="measures frames with Chromium's Performance trace (DevTools protocol), which WebKitGTK does not offer")
def test_ten_thousand_rows_scroll_without_a_frame_over_50_ms(browser: Any, context: Any, server: Any) -> None:
    app = AppPage(context.new_page())
    app.open(server.url)
    app.ensure_identity()
    app.create_workspace("Big show")
    fill(app, ROWS)
    page = app.page
    page.reload()
    app.wait_grid()
    expect(page.locator("table.grid")).to_have_attribute("aria-rowcount", str(ROWS + 2), timeout=120_000)
    page.get_by_role("button", name="Name (required): sort").click()  # rows in a known order
    expect(app.cell("Person 00000", "Name")).to_be_visible()
    # The sorted grid's scroll box: waited for as a state, since the sort draws a new grid (one full
    # run saw no box at the first look, not reproduced alone).
    scroller = page.locator(".grid-scroll")
    expect(scroller).to_be_visible()
    box = scroller.bounding_box()
    for _ in range(200):
        if box:
            break
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        box = scroller.bounding_box()
    assert box, "the grid's scroll box never had a size on screen"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    next_frame = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    in_dom = "document.querySelectorAll('table.grid tbody tr[data-id]').length"
    most = 0

    browser.start_tracing(page=page, categories=CATEGORIES)
    for _ in range(60):  # a person flicking down through the first 1,200 rows
        page.mouse.wheel(0, 900)
        page.evaluate(next_frame)
        most = max(most, page.evaluate(in_dom))
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # select a cell in view
    for key in ("Control+End", "PageUp", "PageUp", "PageUp", "Control+Home", "PageDown", "PageDown"):
        page.keyboard.press(key)  # jumps: each draws a fresh window of rows
        page.evaluate(next_frame)
        most = max(most, page.evaluate(in_dom))
    page.keyboard.press("Control+End")
    page.evaluate(next_frame)
    trace = browser.stop_tracing()

    expect(app.cell("Person 09999", "Name")).to_be_in_viewport()  # it really went all the way
    found, thread_time = frames(trace)
    print("frames while scrolling 10,000 rows:", summary(found), "rows in the DOM at most:", most)
    assert thread_time, "this Chromium's trace has no thread time (tdur): the measure this test relies on"
    assert len(found) >= 60, f"only {len(found)} frames traced: the measurement saw too little to judge"
    worst = max(found, key=lambda f: f.cpu_ms)
    assert worst.cpu_ms < BUDGET_MS, f"a frame held {worst.cpu_ms:.1f} ms of main-thread work (budget {BUDGET_MS})"
    assert most <= MAX_ROWS_IN_DOM, f"{most} rows were in the DOM at once: the grid is not drawing a window"
    assert app.errors == []
