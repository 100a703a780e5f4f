"""Copies and templates in the app (openprod.fork through the worker: prepare, sign with WebCrypto,
commit): a workspace started from the Stage Management template on the opening screen, a copy made
for the tour with its origin shown on both sides, the workspace saved as a template file, and the
refusals, each leaving everything as it was."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import BOOT_MS, AppPage
from playwright.sync_api import expect

from openprod.fork import decode_template

pytestmark = pytest.mark.browser

READ_LINK = """async (selector) => {
    const a = document.querySelector(selector);
    const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return [a.getAttribute('download'), btoa(text)];
}"""


def _words_then_open(app: AppPage) -> str:
    page = app.page
    expect(page.get_by_role("list", name="Recovery words, in order")).to_be_visible(timeout=BOOT_MS)
    page.get_by_label("I have written them down").check()
    page.get_by_role("button", name="Open the workspace").click()
    app.wait_grid()
    match = re.search(r"#/w/([0-9a-f-]{36})", page.url)
    assert match, page.url
    return match.group(1)


def _names(app: AppPage) -> list[str]:
    return sorted(w["name"] for w in app.api("listWorkspaces"))


@pytest.mark.chromium_only(reason="one engine is enough for screens over the same signed writes")
def test_template_copy_for_the_tour_and_save_as_template(profile: Any, server_factory: Any,
                                                          screenshot_dir: Path) -> None:
    device = server_factory()
    app = AppPage(profile.new_page()).open(device.url)
    app.ensure_identity("Alice Stage")
    page = app.page

    # the opening screen: a name is needed first, and nothing is made without one
    template_button = page.get_by_role("button", name="Start from the Stage Management template")
    template_button.click()
    expect(page.get_by_text("Give the workspace a name.")).to_be_visible()
    assert _names(app) == []
    page.get_by_label("Workspace name").fill("Macbeth")
    template_button.click()
    original = _words_then_open(app)
    info = app.call("info")
    assert {m["name"] for m in info["modules"]} == {"contacts", "schedule", "sm", "lighting", "reports"}
    people = app.call("rows", table="contacts.Contacts")
    assert "Stage Manager (example)" in str(people)

    # the Sync screen's section, before any copy
    def show_copies(ws: str) -> Any:
        page.goto(f"{device.url}#/w/{ws}/sync")
        section = page.get_by_role("region", name="Copies and templates")
        expect(section).to_be_visible(timeout=60_000)
        return section

    section = show_copies(original)
    expect(section).to_contain_text("No copies have been made of this workspace.")

    # a copy needs a name; refusing it changes nothing
    section.get_by_label("Name of the copy").fill("  ")
    section.get_by_role("button", name="Make a copy").click()
    expect(section.get_by_text("Give the copy a name.")).to_be_visible()
    assert _names(app) == ["Macbeth"]

    section.get_by_label("Name of the copy").fill("Macbeth tour")
    section.get_by_role("button", name="Make a copy").click()
    copy = _words_then_open(app)
    assert copy != original
    assert app.call("info")["name"] == "Macbeth tour"
    assert str(app.call("rows", table="contacts.Contacts")).count("(example)") == str(people).count("(example)")
    provenance = app.call("provenance")
    assert provenance["forked_from"]["workspace"] == original and provenance["forks"] == []
    section = show_copies(copy)
    expect(section).to_contain_text("This workspace is a copy of “Macbeth”, made without its history.")
    app.tablet_shots(screenshot_dir, "46-copy-of", lambda: show_copies(copy).scroll_into_view_if_needed())

    # the original says so too
    section = show_copies(original)
    expect(section).to_contain_text("Copies made of this workspace:")
    expect(section).to_contain_text("“Macbeth tour”, made by Alice Stage")
    app.tablet_shots(screenshot_dir, "46-copies-made", lambda: show_copies(original).scroll_into_view_if_needed())

    # save as template, without the records
    section = show_copies(original)
    section.get_by_label("Include the records (people, cues, events)").uncheck()
    section.get_by_role("button", name="Save as template").click()
    expect(section.locator("a.template-file")).to_be_visible(timeout=30_000)
    file_name, data = page.evaluate(READ_LINK, "a.template-file")
    assert file_name == "Macbeth.openprod-template"
    template = decode_template(base64.b64decode(data))
    assert template.records == [] and len(template.modules) == 5 and template.mappings

    # an unknown template is refused, and nothing is made
    with pytest.raises(Exception, match="unknown template"):
        app.api("createWorkspace", "Other", [], "no-such-template")
    assert _names(app) == ["Macbeth", "Macbeth tour"]
