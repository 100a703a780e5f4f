"""After an edit the grid re-reads only the records the write touched (worker/host.js readRows,
openprod_web.session m_rows(since=...), `ws.records.changed_since`), not all 1,000 rows: that whole
read was a Python turn of 70-850 ms the next edit could queue behind (docs/benchmarks.md, sessions 11
and 12). What the person sees stays that of a whole read: a row whose sort key or filter match
changed moves, appears or disappears, and rows that rules changed are read too. Both engines."""

from __future__ import annotations

import re
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
NAME = f"{CONTACTS}.name"
LX, SM = "lighting.LightingCues", "sm.SMCues"


def shown(text: str) -> re.Pattern[str]:
    """The row count's words: WebKitGTK's toLocaleString writes 1000 where Chromium writes 1,000."""
    return re.compile("^" + re.sub(r"(\d)(\d{3})\b", r"\1,?\2", text) + "$")


def rows_read(app: AppPage) -> int:
    """Rows the worker's Python has read for grids so far (openprod_web.session `rows_read`)."""
    value: int = app.call("stats")["rows_read"]
    return value


def test_an_edit_on_a_1000_row_grid_rereads_its_row_and_the_sort_and_filter_follow(
        profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Patch")
    made = app.call("paste", table=CONTACTS, text="\n".join(f"Person {i:04d}" for i in range(1000)),
                    records=[], fields=[NAME])
    assert len(made["created"]) == 1000 and made["staged"]  # a large paste is staged first: commit it
    assert app.call("stage_commit")["committed"]
    page = app.page
    page.goto(f"{server.url}#/w/{ws}/t/{CONTACTS}")
    app.wait_grid()
    count = page.locator(".row-count")
    expect(count).to_have_text(shown("1000 records"))
    sort = page.get_by_role("button", name=re.compile(r"^Name \(required\): sort"))
    sort.click()
    sort.click()  # descending: the last names first
    expect(page.locator("table.grid tbody tr[data-id]").first).to_contain_text("Person 0999")

    before = rows_read(app)
    app.edit_cell("Person 0999", "Name", "Aaron")  # a one-field edit through the grid: it sorts last now
    expect(page.locator("table.grid tbody tr[data-id]").first).to_contain_text("Person 0998")
    app.edit_cell("Person 0998", "Name", "Zed")  # and this one stays first, with its new name
    expect(page.locator("table.grid tbody tr[data-id]").first).to_contain_text("Zed")
    after = rows_read(app)
    assert after - before <= 4, f"two one-field edits read {after - before} rows (a whole read is 1,000)"

    # a filter: an edit takes a row out of it, another brings one in
    page.get_by_label("Filter", exact=True).fill("Person 09")
    expect(count).to_have_text(shown("98 of 1000 records"))  # 0900-0997
    rows = {r["values"][NAME]: r["id"] for r in app.call("rows", table=CONTACTS)["rows"]}
    app.call("set_cell", record=rows["Person 0950"], field=NAME, value="Moved")
    expect(count).to_have_text(shown("97 of 1000 records"))
    app.call("set_cell", record=rows["Person 0100"], field=NAME, value="Person 0999")
    expect(count).to_have_text(shown("98 of 1000 records"))
    expect(page.locator("table.grid tbody tr[data-id]").first).to_contain_text("Person 0999")
    # a new record and a deleted one: the row set changes
    app.call("create_record", table=CONTACTS, values={NAME: "Person 0998b"})
    expect(count).to_have_text(shown("99 of 1001 records"))
    app.call("delete_record", record=rows["Person 0901"])
    expect(count).to_have_text(shown("98 of 1000 records"))
    assert rows_read(app) - after <= 12, "the edits after the filter were read whole"
    assert app.errors == []


def test_a_row_a_rule_puts_in_the_table_shows_after_the_edit_that_set_it_off(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Rule patch")
    app.call("save_rule", definition={"name": "Called cues", "source_table": LX, "field": f"{LX}.is_called",
                                      "op": "is", "value": "yes", "table": SM, "auto": True})
    cues = [app.call("create_record", table=LX, values={f"{LX}.cue_number": str(n), f"{LX}.label": f"Cue {n}",
                                                         f"{LX}.is_called": "no"})["id"] for n in range(1, 6)]
    made = app.call("paste", table=SM, text="\n".join(f"SM {i}" for i in range(40)), records=[],
                    fields=[f"{SM}.label"])
    if made.get("staged"):
        assert app.call("stage_commit")["committed"]
    page = app.page
    page.goto(f"{server.url}#/w/{ws}/t/{SM}")
    app.wait_grid()
    count = page.locator(".row-count")
    expect(count).to_have_text(shown("40 records"))
    before = rows_read(app)
    app.call("set_cell", record=cues[2], field=f"{LX}.is_called", value="yes")  # the rule adds it to SM Cues
    expect(count).to_have_text(shown("41 records"))
    # the cue is older than the 40 SM rows: first, as a whole read orders the table (oldest first)
    expect(page.locator("table.grid tbody tr[data-id]").first).to_have_attribute("data-id", cues[2])
    assert rows_read(app) - before <= 2, "the rule's row was found by a whole read, not by the patch"
    assert app.errors == []
