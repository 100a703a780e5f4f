"""A stage manager preparing a show on a tablet (session 16, helper user16): the words the app says and
what a tablet shows, where a walk through the app found them wrong. Both engines.

- the start screen's module checkboxes keep their size when a label wraps (portrait tablet);
- joining without an access key says one is needed, not that "that access key" (none was typed) is wrong;
- the header's sync state ends in an ellipsis when the header is full, instead of being cut mid-word;
- Commit import says the rows are imported, not that "staged changes" (a step the person never chose) were.
"""

from __future__ import annotations

from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

UNKNOWN_WS = "01a251dd-4244-76cf-9948-000000000000"  # a workspace this relay does not host


def test_start_screen_checkboxes_and_joining_without_a_key(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    page = app.page
    page.set_viewport_size({"width": 820, "height": 1180})
    app.ensure_identity("Sam Manager")
    sizes = page.evaluate("""() => [...document.querySelectorAll('.module-list input[type=checkbox]')]
        .map((box) => [box.parentElement.textContent.trim().split(' ')[0],
                       Math.round(box.getBoundingClientRect().width)])""")
    assert len(sizes) >= 8, sizes
    # "Reports" and "Plots & files" wrap at this width: their boxes were squeezed to 19-22 px (24 px wanted)
    assert {width for _, width in sizes} == {24}, sizes

    form = page.locator("form.join-form")
    form.get_by_label("Invitation link or workspace ID").fill(f"{server.origin}/#/join/{UNKNOWN_WS}")
    form.get_by_role("button", name="Join workspace").click()
    said = form.locator(".form-status")
    expect(said).to_contain_text("Joining this workspace needs an access key")
    assert "That access key is not valid" not in said.inner_text()
    assert app.api("listWorkspaces") == []
    assert app.errors == []


def test_a_full_header_and_an_import_committed_at_once(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    page = app.page
    page.set_viewport_size({"width": 1180, "height": 820})
    app.ensure_identity("Sam Manager")
    app.create_workspace("Hamlet — Spring 2027")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import into Contacts")
    dialog.get_by_label("or paste rows here, with the column names first").fill(
        "Name\tRole\tPhone\nGertrude Hall\tGertrude\t555-0120\nPolonius Reed\tPolonius\t555-0121")
    dialog.get_by_role("button", name="Check").click()
    dialog.get_by_role("button", name="Import now").click()
    expect(dialog).to_be_hidden()
    toast = page.locator("#toast")
    expect(toast).to_contain_text("Imported")
    assert "staged" not in toast.inner_text().lower()
    expect(app.cell("Polonius Reed", "Phone")).to_have_text("555-0121")
    expect(page.locator("#sync-status")).to_contain_text("Only on this device")
    # the chip shows once there is something to share; the header is full at 1180 px with this title and
    # name: the state's text must end inside its chip (it ran 24 px past it, cut mid-word)
    fit = page.evaluate("""() => {
        const chip = document.getElementById('sync-status'), text = chip.querySelector('.sync-text');
        const pad = parseFloat(getComputedStyle(chip).paddingRight);
        return {chip: chip.getBoundingClientRect().right - pad, text: text.getBoundingClientRect().right,
                clipped: text.scrollWidth > text.clientWidth, overflow: getComputedStyle(text).textOverflow};
    }""")
    assert fit["text"] <= fit["chip"] + 0.5, fit
    if fit["clipped"]:
        assert fit["overflow"] == "ellipsis", fit
    assert app.errors == []
