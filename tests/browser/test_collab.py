"""Conflicts, staging (overlays), CSV import, links and cue lists, collaborative text: in a real browser.

Concurrent edits come from the TEST-ONLY debug peer (build/web-debug, `build.py --debug-peer`): a
second person's replica inside the worker with its own WebCrypto Ed25519 identity. Its bundles are
real signed bundles, delivered through `WorkspaceHost.receive` -> `writes.ingest`, the path
sync will use; the normal bundle has no debug peer at all (last test).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"


def peer(app: AppPage, action: str, **args: Any) -> Any:
    return app.api("debugPeer", action, args)


def rid(app: AppPage, text: str) -> str:
    value: str = app.page.locator("table.grid tbody tr[data-id]", has_text=text).first.get_attribute("data-id")
    return value


def start(app: AppPage, url: str, name: str) -> str:
    app.open(url)
    app.ensure_identity()
    return app.create_workspace(name)


def logged(app: AppPage) -> int:
    value: int = app.stats()["workspace"]["loggedSeq"]
    return value


def test_conflicts_panel_pick_enter_new_value_and_take_all(profile: Any, engine: str, debug_server: Any,
                                                            screenshot_dir: Path) -> None:
    app = AppPage(profile.new_page())
    ws = start(app, debug_server.url, "Conflicts")
    page = app.page
    for name in ("Jane", "Kim"):
        app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": name})
    page.reload()
    app.wait_grid()
    jane, kim = rid(app, "Jane"), rid(app, "Kim")
    assert peer(app, "create", display_name="Jordan")["display_name"] == "Jordan"

    # Alice (this page) and Jordan (the peer) change Jane's phone without seeing each other's edit
    app.edit_cell("Jane", "Phone", "555-0101")
    peer(app, "set_field", record=jane, field=f"{CONTACTS}.phone", value="555-0199")
    assert [r["status"] for r in peer(app, "deliver")] == ["applied"]
    phone = app.cell("Jane", "Phone")
    expect(phone).to_have_class(re.compile(r"\bconflict\b"))
    expect(phone).to_contain_text("555-0199")  # the latest write shows, flagged
    expect(page.locator("[data-count=conflicts]")).to_have_text("1")
    phone.click()
    expect(page.locator(".cell-info")).to_contain_text("Jane's Phone was edited by Alice Stage (555-0101) and Jordan "
                                                       "(555-0199)")

    # the record form flags the field too
    page.get_by_role("link", name="Open Jane").click()
    expect(page.locator(".field-flags .flag.conflict")).to_contain_text("In conflict")
    app.shot(screenshot_dir, f"10-record-form-conflict-{engine}", full_page=True)

    # the conflicts panel: pick Jordan's value
    page.get_by_role("link", name=re.compile("^Conflicts")).click()
    article = page.locator("article.conflict").first
    expect(article).to_contain_text("Jane › Phone")
    app.shot(screenshot_dir, f"11-conflicts-{engine}", full_page=True)
    article.get_by_label(re.compile("555-0199.*Jordan")).check()
    article.get_by_role("button", name="Resolve").click()
    expect(page.locator(".all-clear")).to_have_text("No conflicts: everything merged cleanly.")
    expect(page.locator("[data-count=conflicts]")).to_be_hidden()
    history = app.call("history", record=jane, field=f"{CONTACTS}.phone")
    last = history[-1]
    assert last["resolution"] and last["new"] == "555-0199" and last["display_name"] == "Alice Stage"

    # "Who changed Phone?" tells the truth: the two edits made at once, and what the decision chose over
    page.goto(f"{debug_server.url}#/w/{ws}/t/{CONTACTS}/r/{jane}")
    page.get_by_role("button", name="Who changed Phone?").click()
    dialog = page.get_by_role("dialog")
    decision, theirs, mine = (dialog.locator("li.change").nth(i) for i in range(3))  # newest first
    expect(decision).to_contain_text("chose Jordan's 555-0199 over Alice Stage's 555-0101")  # values are <q>uoted
    expect(theirs).to_contain_text("At the same time as Alice Stage's 555-0101: neither had seen the other's change.")
    expect(mine).to_contain_text("At the same time as Jordan's 555-0199")
    expect(dialog).not_to_contain_text("from 555-0199 to 555-0199")
    for width, height in ((1180, 820), (820, 1180)):  # tablet sizes, landscape and portrait
        page.set_viewport_size({"width": width, "height": height})
        app.shot(screenshot_dir, f"12-history-of-a-conflict-{width}x{height}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("link", name=re.compile("^Conflicts")).click()
    expect(page.locator(".all-clear")).to_be_visible()

    # a second conflict, settled with a new value typed in
    peer(app, "pull")
    app.call("set_cell", record=kim, field=f"{CONTACTS}.role", value="Director")
    peer(app, "set_field", record=kim, field=f"{CONTACTS}.role", value="Actor")
    peer(app, "deliver")
    article = page.locator("article.conflict").first
    expect(article).to_contain_text("Kim › Role")
    article.get_by_label("New value for Role").fill("Designer")  # typing picks "Enter a new value"
    article.get_by_role("button", name="Resolve").click()
    expect(page.locator(".all-clear")).to_be_visible()
    assert app.call("record", record=kim)["values"][f"{CONTACTS}.role"] == "Designer"

    # Jordan edits another of Kim's fields at the same moment as Alice: a short notice, no conflict
    peer(app, "pull")
    app.call("set_cell", record=kim, field=f"{CONTACTS}.phone", value="555-0300")
    peer(app, "set_field", record=kim, field=f"{CONTACTS}.email", value="kim@example.org")
    peer(app, "deliver")
    expect(page.locator("#toast")).to_contain_text(re.compile(
        r"Jordan edited Email of Kim just as you changed .*Phone.*\. Both changes are kept\."))
    expect(page.locator(".all-clear")).to_be_visible()

    # many conflicts between the same two people: take Jordan's side for all of them at once
    extra = [app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"Crew {i}"})["id"]
             for i in range(4)]
    peer(app, "pull")
    for i, record in enumerate(extra):
        app.call("set_cell", record=record, field=f"{CONTACTS}.department", value=f"Lights {i}")
        peer(app, "set_field", record=record, field=f"{CONTACTS}.department", value=f"Sound {i}")
    peer(app, "deliver")
    take = page.get_by_role("button", name="Take Jordan's side for all 4")
    expect(take).to_be_visible()
    expect(page.locator("article.conflict")).to_have_count(4)
    take.click()
    dialog = page.get_by_role("dialog", name="Take Jordan's side for all 4?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # Escape cancels: nothing happens
    expect(dialog).to_be_hidden()
    expect(page.locator("article.conflict")).to_have_count(4)
    take.click()
    page.get_by_role("button", name="Take Jordan's side", exact=True).click()
    expect(page.locator(".all-clear")).to_be_visible()
    rows = {r["id"]: r["values"] for r in app.call("rows", table=CONTACTS)["rows"]}
    assert [rows[r][f"{CONTACTS}.department"] for r in extra] == [f"Sound {i}" for i in range(4)]
    page.goto(f"{debug_server.url}#/w/{ws}/t/{CONTACTS}")
    app.wait_grid()
    expect(app.cell("Crew 0", "Department")).to_have_text("Sound 0")
    assert app.errors == []


def test_staging_drift_badge_keep_mine_commit_and_reload(profile: Any, engine: str, debug_server: Any,
                                                          screenshot_dir: Path) -> None:
    app = AppPage(profile.new_page())
    ws = start(app, debug_server.url, "Staging")
    page = app.page
    jane = app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane"})["id"]
    page.reload()
    app.wait_grid()
    peer(app, "create", display_name="Jordan")
    seq = logged(app)

    toggle = page.get_by_role("button", name="Review before saving", exact=True)
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    banner = page.get_by_role("region", name="Review before saving", exact=True)
    expect(banner).to_contain_text("your edits are kept on this device only, not saved or shared until you save them")
    app.edit_cell("Jane", "Role", "Director")
    expect(page.locator("#save-status")).to_contain_text("Kept on this device for review, not saved yet")
    expect(app.cell("Jane", "Role")).to_have_class(re.compile(r"\bstaged\b"))
    expect(banner).to_contain_text("1 change to review")
    assert logged(app) == seq  # staged: nothing in the shared log

    # Jordan changes the same field for real; it arrives as a signed bundle
    peer(app, "set_field", record=jane, field=f"{CONTACTS}.role", value="Stage manager")
    peer(app, "deliver")
    role = app.cell("Jane", "Role")
    expect(role).to_have_class(re.compile(r"\bdrift\b"))
    expect(role).to_contain_text("Director")  # my staged value still shows
    expect(banner).to_contain_text("1 field changed by someone else meanwhile")
    app.cell("Jane", "Name").click()
    page.keyboard.press("ArrowRight")  # select (not edit) the drifted cell
    expect(page.locator(".cell-info")).to_contain_text(
        "Role changed to 'Stage manager' while you were reviewing (by Jordan)")
    app.shot(screenshot_dir, f"12-staging-grid-drift-{engine}")
    banner.get_by_role("button", name="Save all").click()
    expect(page.locator("#toast")).to_contain_text("Not saved: someone else changed some of these fields meanwhile")
    assert logged(app) == seq + 1  # only Jordan's bundle

    # staged edits survive a reload; overlays come back stashed, never re-activated by themselves
    page.reload()
    app.wait_grid()
    expect(page.get_by_role("region", name="Review before saving", exact=True)).to_be_hidden()
    expect(app.cell("Jane", "Role")).to_have_text("Stage manager")
    page.get_by_role("link", name=re.compile("^Review before saving")).click()
    page.get_by_role("button", name=re.compile("^Bring back")).click()
    expect(page.get_by_role("heading", name=re.compile("Now reviewing"))).to_be_visible()
    drift = page.locator(".drift-item")
    expect(drift).to_contain_text("Role changed to 'Stage manager' while you were reviewing (by Jordan)")
    app.shot(screenshot_dir, f"13-staging-panel-{engine}", full_page=True)
    drift.get_by_role("button", name=re.compile("^Keep mine")).click()
    expect(page.locator(".drift-item")).to_have_count(0)
    page.locator("main").get_by_role("button", name="Save all", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("Saved: your changes are saved")
    expect(page.get_by_role("region", name="Review before saving", exact=True)).to_be_hidden()
    assert logged(app) == seq + 2  # the overlay became exactly one bundle
    assert app.call("record", record=jane)["values"][f"{CONTACTS}.role"] == "Director"
    assert app.call("staging")["overlays"] == []

    # knockout of one field, then discard
    page.get_by_role("button", name="Review before saving", exact=True).click()
    toggle = page.get_by_role("button", name="Review before saving", exact=True)
    expect(toggle).to_have_attribute("aria-pressed", "true")
    app.call("set_cell", record=jane, field=f"{CONTACTS}.email", value="jane@example.org")
    app.call("set_cell", record=jane, field=f"{CONTACTS}.phone", value="555-0101")
    page.goto(f"{debug_server.url}#/w/{ws}/staging")
    expect(page.locator(".change-list li")).to_have_count(2)
    page.get_by_role("button", name="Drop my change to Jane › Email").click()
    expect(page.locator(".change-list li")).to_have_count(1)
    page.locator("main").get_by_role("button", name="Discard", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Discard these changes").click()
    expect(page.get_by_role("region", name="Review before saving", exact=True)).to_be_hidden()
    values = app.call("record", record=jane)["values"]
    assert f"{CONTACTS}.email" not in values and f"{CONTACTS}.phone" not in values
    assert logged(app) == seq + 2
    assert app.errors == []


def test_staged_edit_survives_closing_the_tab_at_once(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page())
    ws = start(app, server.url, "Staged durability")
    app.new_record({"Name": "Sam Sound"})
    app.page.get_by_role("button", name="Review before saving", exact=True).click()
    expect(app.page.get_by_role("region", name="Review before saving", exact=True)).to_be_visible()
    app.edit_cell("Sam Sound", "Email", "sam@example.org")  # returns once the header says staged
    app.page.close()  # no unload handlers, no grace period

    again = AppPage(profile.new_page()).open(f"{server.url}#/w/{ws}/staging")
    again.page.get_by_role("button", name=re.compile("^Bring back")).click()
    again.page.goto(f"{server.url}#/w/{ws}/t/{CONTACTS}")
    again.wait_grid()
    expect(again.cell("Sam Sound", "Email")).to_contain_text("sam@example.org")
    expect(again.cell("Sam Sound", "Email")).to_have_class(re.compile(r"\bstaged\b"))
    assert again.stats()["workspace"]["startup"]["overlaysRestored"] == 1


@pytest.mark.chromium_only(
    reason=("the strict import dialog runs in WebKit in test_grid.py; this older preview flow stays in Chromium "
            "for time"))
def test_csv_import_preview_then_commit(context: Any, server: Any, tmp_path: Path, screenshot_dir: Path) -> None:
    app = AppPage(context.new_page())
    start(app, server.url, "Import")
    page = app.page
    for name in ("Ann Lee", "Ben Park", "Cas Ruiz"):
        app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": name})
    page.reload()
    app.wait_grid()
    seq = logged(app)
    lines = ["Name,Role,Email"] + [f"Person {i:02d},Crew,p{i}@example.org" for i in range(47)]
    lines += ["Ann Lee,Director,", "ben park,Actor,ben@example.org", "Cas Ruiz,,"]
    csv_file = tmp_path / "company.csv"
    csv_file.write_text("\n".join(lines) + "\n")

    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import into Contacts")
    expect(dialog).to_be_visible()
    dialog.get_by_label("File (CSV or tab-separated)").set_input_files(str(csv_file))
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.locator(".preview-summary")).to_have_text(
        "47 new records, 3 rows match records you already have (1 of them has nothing to change).")
    expect(dialog.get_by_role("status").first).to_have_text(
        "This will create 47 new Contacts. 3 rows match records you already have (2 with changes).")
    bar = dialog.locator("progress")
    assert bar.evaluate("b => [b.value, b.max]") == [50, 50]  # driven by plan_import's progress callback
    app.shot(screenshot_dir, "14-csv-preview")
    assert logged(app) == seq  # a check saves nothing, and stages nothing
    expect(page.get_by_role("region", name="Review before saving", exact=True)).to_be_hidden()
    dialog.get_by_role("button", name="Import now").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toast")).to_contain_text("Imported: the rows are saved and will be shared.")
    expect(page.locator(".row-count")).to_have_text("50 records")
    assert logged(app) == seq + 1  # the whole import is one signed bundle
    expect(app.cell("Ann Lee", "Role")).to_have_text("Director")
    expect(app.cell("Ben Park", "Email")).to_have_text("ben@example.org")

    # a file with no usable column: said plainly, nothing staged
    bad = tmp_path / "bad.csv"
    bad.write_text("Colour,Size\nred,large\n")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import into Contacts")
    dialog.get_by_label("File (CSV or tab-separated)").set_input_files(str(bad))
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.get_by_role("status").first).to_contain_text("Not imported: none of the columns")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("region", name="Review before saving", exact=True)).to_be_hidden()
    assert app.errors == []


def _order(app: AppPage) -> list[str]:
    return [t.strip() for t in app.page.locator(".reorder-list li a").all_inner_texts()]


@pytest.mark.chromium_only(
    reason=("touch drag through Chromium's DevTools protocol (Input.dispatchTouchEvent), which WebDriver has no "
            "way to send"))
def test_links_and_cue_list_reorder_by_drag_touch_and_keyboard(new_context: Any, server: Any,
                                                                screenshot_dir: Path) -> None:
    context = new_context(viewport={"width": 1000, "height": 900}, has_touch=True)
    app = AppPage(context.new_page())
    ws = start(app, server.url, "Cues")
    page = app.page
    # a performer appears in a scene, as a character: linked from the contact's form
    jane = app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Jane"})["id"]
    scene = app.call("create_record", table="scenes.Scenes", values={"scenes.Scenes.title": "Balcony"})["id"]
    page.goto(f"{server.url}#/w/{ws}/t/{CONTACTS}/r/{jane}")
    section = page.locator("section.link-section", has=page.get_by_role("heading", name="Appears in", exact=True))
    section.get_by_label("Appears in:").select_option(label="Balcony (Scenes)")
    section.get_by_label("character").fill("Juliet")
    section.get_by_role("button", name="Add link").click()
    expect(section.locator(".link-item")).to_contain_text("Balcony")
    expect(section.get_by_label("character (Balcony)")).to_have_value("Juliet")
    section.get_by_label("entrance (Balcony)").fill("SL")
    section.get_by_label("entrance (Balcony)").press("Tab")  # saved on change
    app.wait_saved()
    page.goto(f"{server.url}#/w/{ws}/t/scenes.Scenes/r/{scene}")
    incoming = page.locator("section.link-section", has_text="Contacts — Appears in")
    expect(incoming.get_by_label("character (Jane)")).to_have_value("Juliet")
    expect(incoming.get_by_label("entrance (Jane)")).to_have_value("SL")

    # a cue list in order; reorder it by mouse drag, by finger, and by keyboard
    cue_list = app.call("create_record", table="lighting.CueLists",
                        values={"lighting.CueLists.name": "Act 1"})["id"]
    for n in (1, 2, 3, 4):
        cue = app.call("create_record", table="lighting.LightingCues",
                       values={"lighting.LightingCues.cue_number": n, "lighting.LightingCues.label": f"Q{n}"})["id"]
        app.call("link", edge_type="lighting.in_cue_list", source=cue, target=cue_list)
    page.goto(f"{server.url}#/w/{ws}/t/lighting.CueLists/r/{cue_list}")
    expect(page.locator(".reorder-list li")).to_have_count(4)
    assert _order(app) == ["Q1", "Q2", "Q3", "Q4"]
    seq = logged(app)

    handle = page.locator(".reorder-list li", has_text="Q4").locator(".drag-handle")
    first = page.locator(".reorder-list li").first.bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, first["y"] + 4, steps=12)
    page.mouse.up()
    expect(page.locator(".reorder-list li").first).to_contain_text("Q4")
    assert _order(app) == ["Q4", "Q1", "Q2", "Q3"]
    assert logged(app) == seq + 1  # one move, one bundle

    # a finger: real touch events (Chromium turns them into pointer events)
    cdp = context.new_cdp_session(page)
    box = page.locator(".reorder-list li", has_text="Q1").locator(".drag-handle").bounding_box()
    last = page.locator(".reorder-list li").last.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 11):
        target = y + (last["y"] + last["height"] - 4 - y) * step / 10
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": target}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.locator(".reorder-list li").last).to_contain_text("Q1")
    assert _order(app) == ["Q4", "Q2", "Q3", "Q1"]

    # keyboard: Alt+Up / Alt+Down on a focused item; focus follows the item
    page.locator(".reorder-list li", has_text="Q3").focus()
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator(".reorder-list li").nth(1)).to_contain_text("Q3")
    expect(page.locator(".reorder-list li").nth(1)).to_be_focused()
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator(".reorder-list li").first).to_contain_text("Q3")
    assert _order(app) == ["Q3", "Q4", "Q2", "Q1"]
    app.shot(screenshot_dir, "15-cue-list", full_page=True)

    page.reload()
    app.wait_ready()
    expect(page.locator(".reorder-list li")).to_have_count(4)
    assert _order(app) == ["Q3", "Q4", "Q2", "Q1"]  # the order is data, not page state
    assert app.errors == []


@pytest.mark.chromium_only(
    reason=("not one of the WebKit lane's flows (kept short for time); Yjs runs in every WebKit test that opens a"
            " workspace"))
def test_crdt_text_edit_survives_reload_and_merges(context: Any, debug_server: Any) -> None:
    app = AppPage(context.new_page())
    ws = start(app, debug_server.url, "Reports")
    page = app.page
    page.goto(f"{debug_server.url}#/w/{ws}/t/reports.Reports/new")
    app.field("Title").fill("Rehearsal 12")
    app.field("Notes").fill("Started 10 minutes late.")
    app.field("Tags").fill("act 1, tech")
    page.get_by_role("button", name="Create record").click()
    app.wait_grid()
    app.wait_saved()
    record = rid(app, "Rehearsal 12")
    expect(app.cell("Rehearsal 12", "Tags")).to_have_text("act 1, tech")

    page.reload()
    app.wait_grid()
    expect(app.cell("Rehearsal 12", "Notes")).to_have_text("Started 10 minutes late.")
    # Jordan types into the same notes while this person edits them: both edits are kept
    peer(app, "create", display_name="Jordan")
    app.cell("Rehearsal 12", "Notes").click()
    page.keyboard.press("Enter")  # collaborative text opens the record form
    notes = app.field("Notes")
    expect(notes).to_have_value("Started 10 minutes late.")
    notes.fill("Started 10 minutes late. Good run of act 1.")
    peer(app, "set_text", record=record, field="reports.Reports.notes", text="Props: Started 10 minutes late.")
    peer(app, "deliver")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".form-status")).to_have_text("Saved 1 change.")
    merged = "Props: Started 10 minutes late. Good run of act 1."
    expect(notes).to_have_value(merged)
    assert app.call("conflicts")["conflicts"] == []  # CRDT text never conflicts

    page.reload()
    app.wait_ready()
    expect(app.field("Notes")).to_have_value(merged)
    assert app.errors == []


@pytest.mark.chromium_only(reason="checks the files of the normal build, which are the same whatever engine loads them")
def test_normal_build_has_no_debug_peer(context: Any, server: Any) -> None:
    app = AppPage(context.new_page())
    start(app, server.url, "Plain")
    refused = app.page.evaluate("openprod.api.debugPeer('create', {}).then(() => 'ran', (e) => e.message)")
    assert refused == "the debug peer exists only in test builds (build.py --debug-peer)"
    info = app.page.evaluate("fetch('build-info.json').then((r) => r.json())")
    assert info["debug_peer"] is False and "openprod_web_debug" not in info["wheels"]
    status = app.page.evaluate("fetch('js/worker/debug.js').then((r) => r.status)")
    assert status == 404
