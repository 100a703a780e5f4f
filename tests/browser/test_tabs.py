"""Two tabs on one workspace: one owner (Web Lock), the other a client; nothing lost, both see both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.chromium_only(
    reason=("not one of the WebKit lane's flows (kept short for time); Web Locks and BroadcastChannel run in "
            "every WebKit test"))
def test_two_tabs_share_one_workspace_and_take_over(context: Any, server: Any, screenshot_dir: Path) -> None:
    a = AppPage(context.new_page()).open(server.url)
    a.ensure_identity("Alice Stage")
    ws = a.create_workspace("Two tabs")
    a.new_record({"Name": "Jo Lights"})
    url = f"{server.url}#/w/{ws}/t/contacts.Contacts"

    b = AppPage(context.new_page()).open(url)
    b.wait_grid()
    expect(b.page.locator("#role-status")).to_contain_text("another tab")
    assert a.stats()["workspace"]["role"] == "owner"
    assert b.stats()["workspace"]["role"] == "client"

    a.edit_cell("Jo Lights", "Department", "Lighting")  # owner's edit appears in the client
    expect(b.cell("Jo Lights", "Department")).to_have_text("Lighting")
    b.edit_cell("Jo Lights", "Phone", "555-0199")  # client's edit goes through the owner...
    expect(a.cell("Jo Lights", "Phone")).to_have_text("555-0199")  # ...and appears there
    b.new_record({"Name": "Kim Props"})
    expect(a.page.locator("table.grid tbody tr[data-id]", has_text="Kim Props")).to_have_count(1)
    b.shot(screenshot_dir, "07-second-tab-client")

    # Edits from both tabs at the same time: all saved, none lost.
    for n in range(5):
        a.page.evaluate(f"window.openprod.app.write('set_cell', {{record: '{_rid(a, 'Jo Lights')}', "
                        f"field: 'contacts.Contacts.status', value: 'a{n}'}})")
        b.page.evaluate(f"window.openprod.app.write('set_cell', {{record: '{_rid(b, 'Kim Props')}', "
                        f"field: 'contacts.Contacts.status', value: 'b{n}'}})")
    a.wait_saved()
    b.page.wait_for_function("document.querySelector('#save-status').dataset.state === 'saved'")
    expect(a.cell("Kim Props", "Status")).to_have_text("b4")
    expect(b.cell("Jo Lights", "Status")).to_have_text("a4")

    # The owner's tab closes: the client takes the lock, restores from IndexedDB and goes on.
    a.page.close()
    b.wait_role("owner")
    b.page.wait_for_function("window.openprod.app.ws.role === 'owner'", timeout=60_000)
    b.edit_cell("Kim Props", "Email", "kim@example.org")
    b.page.close()

    c = AppPage(context.new_page()).open(url)
    c.wait_grid()
    expect(c.cell("Jo Lights", "Department")).to_have_text("Lighting")
    expect(c.cell("Jo Lights", "Phone")).to_have_text("555-0199")
    expect(c.cell("Jo Lights", "Status")).to_have_text("a4")
    expect(c.cell("Kim Props", "Status")).to_have_text("b4")
    expect(c.cell("Kim Props", "Email")).to_have_text("kim@example.org")
    assert c.stats()["workspace"]["role"] == "owner"
    assert a.errors == [] and b.errors == [] and c.errors == []


def _rid(app: AppPage, text: str) -> str:
    value: str = app.page.locator("table.grid tbody tr[data-id]", has_text=text).first.get_attribute("data-id")
    return value
