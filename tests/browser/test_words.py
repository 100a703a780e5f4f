"""Words on screen for stage managers (session 17, helper words17, from helper user16's pass): what a
paste that cannot be done counts, how a conflict names its row, what the Sync screen says before a
workspace was ever shared, and the plain words that replaced the engineers' ones ("staged", "match key",
"WebSocket"). Both engines."""

from __future__ import annotations

import re
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CUES = "lighting.LightingCues"
# A paste as the grid receives one (Ctrl+V), the same in both engines: WebDriver cannot fill the clipboard.
PASTE = """(text) => {
    const event = new Event('paste', { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'clipboardData', { value: { getData: () => text } });
    document.querySelector('table.grid').dispatchEvent(event);
}"""


def test_a_refused_paste_counts_each_row_once_and_lists_each_problem(profile: Any, server: Any) -> None:
    """A new row whose cue number cannot be read is one problem (not also "needs Cue #"), and a row with
    two bad cells is one row with two problems: the count says rows, and problems when there are more."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    ws = app.create_workspace("Paste count")
    page = app.page
    page.goto(f"{server.url}#/w/{ws}/t/{CUES}")
    app.wait_grid()
    first = [app.column_index(name) for name in ("Cue #", "Label", "Intensity")]
    assert first == sorted(first) and first[2] - first[0] == 2, first  # three columns side by side
    draft = page.locator("table.grid tr.draft-row td")
    dialog = page.get_by_role("dialog", name="Nothing was pasted")

    draft.nth(first[0] - 1).click()  # the + row's Cue # cell (the row header is column 0)
    page.evaluate(PASTE, "40,5\tBad comma\t60\n41\tGood\tlots")  # row 1: a bad cue number; row 2: a bad intensity
    expect(dialog).to_be_visible()
    expect(dialog.locator(".paste-problem-count")).to_contain_text("2 pasted rows cannot be pasted here, so nothing")
    expect(dialog.locator(".problem-list li")).to_have_count(2)
    assert "which needs Cue #" not in dialog.inner_text()  # the unreadable cue number, said once
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()

    draft.nth(first[0] - 1).click()
    page.evaluate(PASTE, "40,5\tBad comma\tlots")  # one row, two bad cells
    expect(dialog.locator(".paste-problem-count")).to_contain_text(
        "1 pasted row cannot be pasted here: it has 2 problems")
    expect(dialog.locator(".problem-list li")).to_have_count(2)
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()
    expect(app.records_shown()).to_have_count(0)  # nothing was pasted
    assert app.errors == []


def test_a_conflict_on_a_cue_label_names_the_cue_not_a_value_in_dispute(profile: Any, debug_server: Any) -> None:
    app = AppPage(profile.new_page()).open(debug_server.url)
    app.ensure_identity("Sam Manager")
    ws = app.create_workspace("Conflict names")
    page = app.page
    cue = app.call("create_record", table=CUES, values={f"{CUES}.cue_number": "18", f"{CUES}.label": "Blackout"})["id"]
    app.api("debugPeer", "create", {"display_name": "Bea Lighting"})
    app.call("set_cell", record=cue, field=f"{CUES}.label", value="Snap blackout (Sam)")
    app.api("debugPeer", "set_field", {"record": cue, "field": f"{CUES}.label", "value": "Slow blackout (Bea)"})
    app.api("debugPeer", "deliver", {})
    page.goto(f"{debug_server.url}#/w/{ws}/conflicts")
    conflict = page.locator("article.conflict")
    expect(conflict).to_have_count(1)
    expect(conflict.get_by_role("link", name="Cue 18 › Label")).to_be_visible()
    expect(conflict).to_contain_text("Cue 18's Label was edited by ")
    assert "(Sam) › Label" not in conflict.inner_text() and "(Bea) › Label" not in conflict.inner_text()
    assert app.errors == []


def test_the_screens_say_it_in_a_stage_managers_words(profile: Any, server: Any) -> None:
    """A workspace never shared says so and what to do (not "0 changes since you last synced"); Review
    before saving, not Staging; the import finds "records you already have", not by a "match key"."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    ws = app.create_workspace("Plain words")
    page = app.page

    page.goto(f"{server.url}#/w/{ws}/sync")
    since = page.locator(".sync-since")
    expect(since).to_contain_text(
        "Not shared yet: nobody else has this workspace. To work on it with others, publish it below.")
    assert "since you last synced" not in since.inner_text()

    page.goto(f"{server.url}#/w/{ws}/t/contacts.Contacts")
    app.wait_grid()
    app.new_record({"Name": "Jane Doe"})
    page.get_by_role("button", name="Review before saving", exact=True).click()
    banner = page.get_by_role("region", name="Review before saving", exact=True)
    expect(banner).to_contain_text("your edits are kept on this device only, not saved or shared until you save them")
    app.edit_cell("Jane Doe", "Role", "Stage Manager")
    expect(banner).to_contain_text("1 change to review")
    expect(banner.get_by_role("button", name="Save all")).to_be_visible()
    expect(page.locator("#save-status")).to_contain_text("Kept on this device for review, not saved yet")
    page.get_by_role("link", name=re.compile("^Review before saving")).click()
    expect(page.locator("h1#staging-title")).to_have_text("Review before saving")
    expect(page.get_by_role("heading", name=re.compile("^Now reviewing"))).to_be_visible()
    main = page.locator("#main").inner_text()
    assert not re.search(r"\b(stag(ed|ing)|stash|commit)", main, re.IGNORECASE), main
    banner.get_by_role("button", name="Save all").click()
    expect(banner).to_be_hidden()

    page.goto(f"{server.url}#/w/{ws}/t/contacts.Contacts")
    app.wait_grid()
    page.get_by_role("button", name=re.compile("^Import")).click()
    dialog = page.get_by_role("dialog", name=re.compile("^Import into"))
    pasted = dialog.get_by_label("or paste rows here, with the column names first")
    pasted.fill("Name\tRole\nJane Doe\tSM\nBo Ash\tASM\n")
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.locator(".preview-summary")).to_have_text(
        "1 new record, 1 row matches a record you already have.")
    expect(dialog.locator(".import-facts")).to_contain_text("Records you already have are found by Name.")
    words = dialog.inner_text()
    assert "match key" not in words and "match existing" not in words and "Commit" not in words, words
    expect(dialog.get_by_label("Find records you already have by")).to_be_visible()
    assert app.errors == []
