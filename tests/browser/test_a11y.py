"""axe-core (npm, pinned) on the states a page-load audit never sees: dialogs open, staging on with
drift, the resolve form, the CSV preview, a cue list. Lighthouse (scripts/lighthouse) covers loads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CONTACTS = "contacts.Contacts"


def violations(app: AppPage, what: str) -> list[str]:
    if not app.page.evaluate("typeof window.axe !== 'undefined'"):
        app.page.add_script_tag(path=str(AXE))
    found = app.page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        const where = (v) => v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ');
        return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${where(v)}`);
    }""")
    return [f"{what}: {v}" for v in found]


@pytest.mark.chromium_only(
    reason=("axe-core reads the DOM and CSS the same way in both engines; the screens it audits run in WebKit in "
            "the lane's own tests"))
def test_dialogs_staging_conflicts_and_lists_have_no_axe_violations(context: Any, debug_server: Any,
                                                                    tmp_path: Path) -> None:
    if not AXE.exists():
        pytest.skip("npm axe-core is not installed (npm ci)")
    app = AppPage(context.new_page()).open(debug_server.url)
    app.ensure_identity()
    ws = app.create_workspace("Access")
    page = app.page
    found: list[str] = []
    jane = app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane"})["id"]
    app.api("debugPeer", "create", {"display_name": "Jordan"})
    app.call("set_cell", record=jane, field=f"{CONTACTS}.phone", value="1")
    app.api("debugPeer", "set_field", {"record": jane, "field": f"{CONTACTS}.phone", "value": "2"})
    app.api("debugPeer", "deliver", {})

    page.goto(f"{debug_server.url}#/w/{ws}/t/{CONTACTS}")
    app.wait_grid()
    app.cell("Jane", "Phone").click()
    expect(page.locator(".cell-info .flag.conflict")).to_be_visible()
    found += violations(app, "grid with a conflict")
    page.locator(".cell-info").get_by_role("button", name="Resolve…").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Resolve: Jane › Phone"))
    expect(dialog).to_be_visible()
    expect(dialog.locator("input[type=radio]").first).to_be_focused()  # focus starts inside the dialog
    found += violations(app, "resolve dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".cell-info").get_by_role("button", name="Resolve…")).to_be_focused()  # and returns

    page.get_by_role("link", name=re.compile("^Conflicts")).click()
    expect(page.locator("article.conflict")).to_have_count(1)
    found += violations(app, "conflicts panel")

    page.get_by_role("button", name="Review before saving", exact=True).click()
    app.call("set_cell", record=jane, field=f"{CONTACTS}.role", value="Director")
    app.api("debugPeer", "set_field", {"record": jane, "field": f"{CONTACTS}.role", "value": "Actor"})
    app.api("debugPeer", "deliver", {})
    page.goto(f"{debug_server.url}#/w/{ws}/staging")
    expect(page.locator(".drift-item")).to_have_count(1)
    found += violations(app, "staging panel with drift")
    page.goto(f"{debug_server.url}#/w/{ws}/t/{CONTACTS}/r/{jane}")
    expect(page.locator(".field-flags .flag.drift")).to_be_visible()
    found += violations(app, "record form with drift and conflict")
    page.get_by_role("region", name="Review before saving", exact=True).get_by_role("button", name="Discard").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    found += violations(app, "discard confirmation")
    page.get_by_role("dialog").get_by_role("button", name="Discard these changes").click()

    csv_file = tmp_path / "people.csv"
    csv_file.write_text("Name,Role\nKim,Actor\nJane,Director\n")
    page.goto(f"{debug_server.url}#/w/{ws}/t/{CONTACTS}")
    app.wait_grid()
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import into Contacts")
    dialog.get_by_label("File (CSV or tab-separated)").set_input_files(str(csv_file))
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.locator(".preview-summary")).to_be_visible()
    found += violations(app, "CSV preview dialog")
    csv_file.write_text('Name,Role\nKim,"Actor\nJane,Director,extra\n')
    dialog.get_by_label("File (CSV or tab-separated)").set_input_files(str(csv_file))
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.locator(".import-problems")).to_be_visible()
    found += violations(app, "CSV check with problems")
    dialog.get_by_role("button", name="Close").click()

    # the grid with a block selected, and a paste refused with its reasons
    app.cell("Jane", "Role").click()
    page.keyboard.press("Shift+ArrowRight")
    found += violations(app, "grid with a block selected")
    app.cell("Jane", "Name").click()
    page.evaluate("""() => {
      const data = new DataTransfer();
      data.setData('text/plain', '\\tx');
      document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true}));
    }""")
    expect(page.get_by_role("dialog", name="Nothing was pasted")).to_be_visible()
    found += violations(app, "paste refused")
    page.get_by_role("dialog").get_by_role("button", name="OK").click()
    page.get_by_role("button", name="Columns…").click()
    found += violations(app, "columns dialog")
    page.get_by_role("dialog").get_by_role("button", name="Done").click()

    cue_list = app.call("create_record", table="lighting.CueLists", values={"lighting.CueLists.name": "Act 1"})["id"]
    for n in (1, 2):
        cue = app.call("create_record", table="lighting.LightingCues", values={"lighting.LightingCues.cue_number": n})
        app.call("link", edge_type="lighting.in_cue_list", source=cue["id"], target=cue_list)
    page.goto(f"{debug_server.url}#/w/{ws}/t/lighting.CueLists/r/{cue_list}")
    expect(page.locator(".reorder-list li")).to_have_count(2)
    found += violations(app, "cue list")
    assert found == [], "\n".join(found)
