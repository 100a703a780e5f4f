"""The core's maintenance flows within a person's reach (issue 15, items 2-4): shared fields and
linked tables; rules and their suggestions; "these are the same person". Each is driven the way a
stage manager would (labels, buttons), each failure path is shown to change nothing, and each
screen is photographed at both tablet sizes, light and dark (test-artifacts/screenshots/flows/;
the copies in docs/screenshots/ come from here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect
from test_a11y import AXE, violations

pytestmark = pytest.mark.browser

CONTACTS, ATTENDEES = "contacts.Contacts", "schedule.Attendees"
SIZES = [(1180, 820), (820, 1180)]


def _record(app: AppPage, table: str, values: dict[str, Any]) -> str:
    rid: str = app.call("create_record", table=table, values={f"{table}.{k}": v for k, v in values.items()})["id"]
    return rid


def _cast(app: AppPage) -> dict[str, str]:
    """Three people in Contacts; Jane is also an attendee, with another email typed there."""
    ids = {name: _record(app, CONTACTS, {"name": name, "email": email, "role": role})
           for name, email, role in (("Jane Doe", "jane@hamlet.example", "Stage manager"),
                                     ("Kim Props", "kim@hamlet.example", "Props"),
                                     ("Lee Sound", "", "Sound designer"))}
    app.call("add_to_table", record=ids["Jane Doe"], table=ATTENDEES,
             values={f"{ATTENDEES}.name": "Jane Doe", f"{ATTENDEES}.email": "jane.doe@mail.example"})
    return ids


def _open_panel(app: AppPage, ws: str, panel: str, heading: str) -> None:
    app.page.goto(f"{app.page.url.split('#')[0]}#/w/{ws}/{panel}")
    expect(app.page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def _refusal(app: AppPage, method: str, **args: Any) -> str:
    """The message a refused call gives the page ('saved' if it was not refused)."""
    said: str = app.page.evaluate(
        "([m, a]) => window.openprod.api.call(m, a).then(() => 'saved', (e) => e.message)", [method, args])
    return said


def _cells(cells: Any, texts: list[str]) -> None:
    """The cells show these texts, in order (one check per cell: both engines' `expect`)."""
    expect(cells).to_have_count(len(texts))
    for i, text in enumerate(texts):
        expect(cells.nth(i)).to_have_text(text)


def _unchanged(app: AppPage) -> Callable[[], None]:
    """A check that nothing was written since: the same state, no new bundle."""
    before, seq = app.call("state_hash"), app.stats()["workspace"]["loggedSeq"]

    def check() -> None:
        assert app.call("state_hash") == before
        assert app.stats()["workspace"]["loggedSeq"] == seq
    return check


def test_a_mapping_is_suggested_previewed_and_confirmed_and_a_no_stays_no(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Hamlet")
    ids = _cast(app)
    page = app.page
    page.get_by_role("link", name="Shared fields").click()
    expect(page.get_by_role("heading", name="Shared fields", exact=True)).to_be_visible()
    card = page.locator(".flow-card", has_text="Contacts and Attendees both have Email: keep them as one field?")
    expect(card).to_be_visible()

    # the preview: both values side by side, and what both fields will show; nothing written yet
    unchanged = _unchanged(app)
    card.get_by_role("button", name="Review…").click()
    dialog = page.get_by_role("dialog", name="Contacts and Attendees both have Email: keep them as one field?")
    row = dialog.locator("tbody tr", has_text="Jane Doe")
    _cells(row.locator("td"), ["jane@hamlet.example", "jane.doe@mail.example", "jane.doe@mail.example"])
    expect(dialog).to_contain_text("1 record holds two different values now")
    dialog.get_by_role("button", name="Cancel").click()
    unchanged()

    card.get_by_role("button", name="Review…").click()
    dialog.get_by_role("button", name="Keep as one field").click()
    expect(page.locator(".flow-done")).to_have_text(re.compile("Email is now one field in Contacts and Attendees."))
    expect(card).to_have_count(0)
    assert app.call("record", record=ids["Jane Doe"])["values"][f"{CONTACTS}.email"] == "jane.doe@mail.example"
    # Undo, beside what happened: the two fields are separate again, each with its own value
    page.locator(".flow-done").get_by_role("button", name="Undo").click()
    expect(card).to_be_visible()
    assert app.call("record", record=ids["Jane Doe"])["values"][f"{CONTACTS}.email"] == "jane@hamlet.example"

    # "No, keep them separate" for Name: not asked again on this device, even after a reload
    name_card = page.locator(".flow-card", has_text="Contacts and Attendees both have Name")
    unchanged = _unchanged(app)
    name_card.get_by_role("button", name="Review…").click()
    page.get_by_role("dialog").get_by_role("button", name="No, keep them separate").click()
    expect(page.locator("#toast")).to_contain_text("You will not be asked again on this device")
    expect(name_card).to_have_count(0)
    unchanged()  # a decision on this device: no bundle
    page.reload()
    app.wait_ready()
    expect(page.get_by_role("heading", name="Shared fields", exact=True)).to_be_visible()
    expect(page.locator(".flow-card", has_text="both have Email")).to_be_visible()
    expect(page.locator(".flow-card", has_text="both have Name")).to_have_count(0)

    # a mapping that cannot be: refused in words, nothing changed
    unchanged = _unchanged(app)
    refused = _refusal(app, "confirm_mapping", field_a=f"{CONTACTS}.name", field_b=f"{ATTENDEES}.call_time")
    assert refused == ("Name in Contacts holds text and Call time in Attendees holds dates and times: "
                       "they cannot be one field.")
    unchanged()
    assert ws and app.errors == []


def test_linking_tables_is_previewed_done_and_undone_and_unlinking_too(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Hamlet")
    _cast(app)
    page = app.page
    _open_panel(app, ws, "fields", "Shared fields")
    link = page.locator(".flow-card", has_text="Contacts and Attendees are not linked.")
    unchanged = _unchanged(app)
    link.get_by_role("button", name="Link Contacts to Attendees…").click()
    dialog = page.get_by_role("dialog", name="Link Contacts to Attendees?")
    expect(dialog).to_contain_text("Every Contacts record will also appear in Attendees")
    expect(dialog).to_contain_text("Name and Email will be one field in both tables.")
    expect(dialog).to_contain_text("2 records join Attendees: Kim Props and Lee Sound.")
    expect(dialog).to_contain_text("1 record is in both already.")
    page.keyboard.press("Escape")
    unchanged()

    link.get_by_role("button", name="Link Contacts to Attendees…").click()
    dialog.get_by_role("button", name="Link tables").click()
    expect(page.locator(".flow-done")).to_have_text(
        re.compile("Contacts and Attendees are linked: 2 records added to Attendees."))
    assert len(app.call("rows", table=ATTENDEES)["rows"]) == 3
    page.locator(".flow-done").get_by_role("button", name="Undo").click()
    expect(link).to_be_visible()
    assert len(app.call("rows", table=ATTENDEES)["rows"]) == 1

    # link again, then unlink: what becomes two records is said first; Cancel changes nothing
    link.get_by_role("button", name="Link Contacts to Attendees…").click()
    dialog.get_by_role("button", name="Link tables").click()
    linked = page.locator(".flow-card", has_text="Contacts and Attendees are linked.")
    expect(linked).to_contain_text("One field in both: Name and Email. 3 records are in both tables.")
    unchanged = _unchanged(app)
    linked.get_by_role("button", name="Unlink…").click()
    confirm = page.get_by_role("dialog", name="Unlink Contacts and Attendees?")
    expect(confirm).to_contain_text(
        "3 records are in both tables (Jane Doe, Kim Props and Lee Sound). Each becomes two")
    confirm.get_by_role("button", name="Cancel").click()
    unchanged()
    linked.get_by_role("button", name="Unlink…").click()
    confirm.get_by_role("button", name="Unlink tables").click()
    expect(page.locator(".flow-done")).to_have_text(re.compile("no longer linked: 3 records separated"))
    contacts = {r["id"] for r in app.call("rows", table=CONTACTS)["rows"]}
    attendees = {r["id"] for r in app.call("rows", table=ATTENDEES)["rows"]}
    assert len(attendees) == 3 and not contacts & attendees
    assert app.errors == []


LX, SM = "lighting.LightingCues", "sm.SMCues"


def _cues(app: AppPage) -> list[str]:
    return [_record(app, LX, {"cue_number": n, "label": label, "is_called": called})
            for n, label, called in (("1", "Preset", "yes"), ("2", "Sunrise", "yes"), ("3", "Flicker", "no"))]


def _fill_called_rule(page: Any, name: str = "Called cues") -> Any:
    dialog = page.get_by_role("dialog", name="New rule")
    dialog.get_by_label("Rule name").fill(name)
    dialog.get_by_label("Look at records in").select_option(label="Lighting Cues")
    dialog.get_by_label("where").select_option(label="Called")
    dialog.get_by_label("Value").select_option(label="Yes")
    dialog.get_by_label("Put them in").select_option(label="SM Cues")
    return dialog


def test_a_rule_is_previewed_created_and_its_suggestions_accepted_and_a_cycle_refused(profile: Any,
                                                                                      server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Hamlet")
    cues = _cues(app)
    page = app.page
    page.get_by_role("link", name="Rules", exact=True).click()
    expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
    expect(page.locator(".all-clear")).to_have_text("No suggestions waiting.")

    unchanged = _unchanged(app)
    page.get_by_role("button", name="New rule…").click()
    dialog = _fill_called_rule(page)
    dialog.get_by_role("button", name="Preview").click()
    preview = dialog.locator(".rule-preview")
    expect(preview).to_contain_text("Looks at records in Lighting Cues where Called is Yes. Puts them in SM Cues.")
    expect(preview).to_contain_text("Right now it would suggest 2 things:")
    expect(preview.locator("li")).to_have_count(2)
    unchanged()  # a preview writes nothing

    dialog.get_by_role("button", name="Create rule").click()
    expect(page.locator(".flow-done")).to_have_text("Rule “Called cues” created.")
    expect(page.locator(".flow-card.rule")).to_contain_text("Asks before doing anything.")
    group = page.locator(".proposal-group", has_text="In SM Cues")
    expect(group.locator(".proposal")).to_have_count(2)

    # one by one: accept the first; the second stays
    first = group.locator(".proposal").first
    first.get_by_role("button", name=re.compile("^Accept: ")).click()
    expect(page.locator(".flow-done")).to_contain_text("Done: ")
    expect(group.locator(".proposal")).to_have_count(1)
    assert [r["id"] for r in app.call("rows", table=SM)["rows"]] == [cues[0]]
    # Undo beside it takes the change back; the suggestion returns
    page.locator(".flow-done").get_by_role("button", name="Undo").click()
    expect(group.locator(".proposal")).to_have_count(2)
    assert app.call("rows", table=SM)["rows"] == []

    # a suggestion that no longer applies: said, nothing done
    app.call("set_cell", record=cues[1], field=f"{LX}.is_called", value="no")
    unchanged = _unchanged(app)
    stale = [p["id"] for p in app.call("rules")["proposals"]]
    app.call("set_cell", record=cues[1], field=f"{LX}.is_called", value="yes")
    app.call("set_cell", record=cues[0], field=f"{LX}.is_called", value="no")
    unchanged = _unchanged(app)
    assert _refusal(app, "accept_proposals", ids=stale) == (
        "This suggestion no longer applies: the records changed since. Nothing was done; the list is up to date now.")
    unchanged()

    # listed where they apply too: on the cue's own form
    page.goto(f"{server.url}#/w/{ws}/t/{LX}/r/{cues[1]}")
    expect(page.locator(".record-proposals .proposal")).to_have_text(re.compile("add Sunrise to SM Cues"))

    # all together
    _open_panel(app, ws, "rules", "Rules")
    expect(page.locator(".proposal")).to_have_count(1)
    app.call("set_cell", record=cues[0], field=f"{LX}.is_called", value="yes")
    page.reload()
    app.wait_ready()
    page.get_by_role("button", name="Accept all 2").click()
    expect(page.locator(".flow-done")).to_contain_text("Done: 2 suggestions carried out.")
    assert {r["id"] for r in app.call("rows", table=SM)["rows"]} == set(cues[:2])

    # the condition stops holding: "Remove it?", dismissed, and it stays dismissed
    app.call("set_cell", record=cues[1], field=f"{LX}.is_called", value="no")
    page.reload()
    app.wait_ready()
    removal = page.locator(".proposal", has_text="no longer meets the criteria for SM Cues. Remove it?")
    expect(removal).to_have_count(1)
    removal.get_by_role("button", name=re.compile("^Dismiss: ")).click()
    expect(page.locator(".flow-done")).to_have_text("Dismissed on this device.")
    page.reload()
    app.wait_ready()
    expect(page.locator(".all-clear")).to_have_text("No suggestions waiting.")

    # a rule that would set itself off: refused in words, nothing saved
    _open_panel(app, ws, "rules", "Rules")
    unchanged = _unchanged(app)
    page.get_by_role("button", name="New rule…").click()
    dialog = page.get_by_role("dialog", name="New rule")
    dialog.get_by_label("Rule name").fill("SM into Lighting")
    dialog.get_by_label("Look at records in").select_option(label="SM Cues")
    dialog.get_by_label("Put them in").select_option(label="Lighting Cues")
    dialog.get_by_label("and fill in").select_option(label="Called")
    dialog.get_by_label("Fill in with").select_option(label="Yes")
    dialog.get_by_label("Do it without asking, for records changed from now on").check()
    dialog.get_by_role("button", name="Create rule").click()
    expect(dialog.locator(".form-status")).to_contain_text(
        "Not saved: this rule would set itself off again and again (")
    expect(dialog.locator(".form-status")).to_contain_text("puts records in SM Cues, which “SM into Lighting” watches")
    unchanged()
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(".flow-card.rule")).to_have_count(1)
    assert app.errors == []


def _twins(app: AppPage) -> tuple[str, str]:
    jane = _record(app, CONTACTS, {"name": "Jane Doe", "email": "jane@hamlet.example", "role": "Stage manager"})
    twin = _record(app, CONTACTS, {"name": "Jane Doe", "email": "jdoe@mail.example", "phone": "555-0101"})
    app.call("add_to_table", record=twin, table=ATTENDEES, values={f"{ATTENDEES}.name": "Jane Doe"})
    return jane, twin


def _open_record(app: AppPage, ws: str, record: str, name: str) -> None:
    app.page.goto(f"{app.page.url.split('#')[0]}#/w/{ws}/t/{CONTACTS}/r/{record}")
    expect(app.page.get_by_role("heading", name=f"Contacts: {name}")).to_be_visible()


def test_same_person_is_previewed_merged_undone_and_split(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Hamlet")
    jane, _twin = _twins(app)
    page = app.page
    _open_record(app, ws, jane, "Jane Doe")
    unchanged = _unchanged(app)
    page.get_by_role("button", name="Same person as…").click()
    dialog = page.get_by_role("dialog", name="Same person as…")
    dialog.get_by_label("Which record is the same person or thing?").fill("jane")
    dialog.locator("button.found", has_text="Attendees").click()  # the twin: in Contacts and Attendees
    expect(dialog).to_contain_text("The merged record will be in Contacts and Attendees.")
    expect(dialog).to_contain_text("One field holds two different values")
    rows = dialog.locator("tbody tr")
    email = rows.filter(has_text="Email")
    _cells(email.locator("td"), ["jane@hamlet.example", "jdoe@mail.example", "jdoe@mail.example ⚑ to choose"])
    _cells(rows.filter(has_text="Phone").locator("td"), ["empty", "555-0101", "555-0101"])
    _cells(rows.filter(has_text="Role").locator("td"), ["Stage manager", "empty", "Stage manager"])
    dialog.get_by_role("button", name="Cancel").first.click()
    unchanged()

    page.get_by_role("button", name="Same person as…").click()
    dialog.get_by_label("Which record is the same person or thing?").fill("jane")
    dialog.locator("button.found", has_text="Attendees").click()
    dialog.get_by_role("button", name="Merge them").click()
    done = page.locator(".identity-section .flow-done")
    expect(done).to_contain_text("Merged into one record: 1 field to choose in Conflicts.")
    assert len(app.call("rows", table=CONTACTS)["rows"]) == 1
    merged = app.call("record", record=jane)
    assert sorted(merged["tables"]) == [CONTACTS, ATTENDEES] and merged["values"][f"{CONTACTS}.phone"] == "555-0101"

    # Undo: the other record is back, as it was, and nothing is left to choose
    done.get_by_role("button", name="Undo").click()
    expect(page.locator("#toast")).to_contain_text("Undid")
    rows_now = app.call("rows", table=CONTACTS)["rows"]
    assert len(rows_now) == 2
    other = next(r for r in rows_now if r["id"] != jane)
    assert other["values"][f"{CONTACTS}.email"] == "jdoe@mail.example"
    assert app.call("record", record=jane)["values"][f"{CONTACTS}.email"] == "jane@hamlet.example"
    assert app.call("status")["conflicts"] == 0

    # merge again (by API), then split it in two from the form: both stay in Contacts
    app.call("merge_records", record=jane, other=other["id"])
    page.reload()
    app.wait_ready()
    unchanged = _unchanged(app)
    page.get_by_role("button", name="Split into two…").click()
    split = page.get_by_role("dialog", name="Split Jane Doe into two records")
    split.get_by_role("button", name="Split").click()  # nothing chosen for the new record
    expect(split.locator(".form-status")).to_have_text(
        "Nothing was changed: Choose at least one table for the new record.")
    unchanged()
    split.get_by_label("Contacts", exact=True).select_option(label="both records are in it")
    split.get_by_label("Attendees", exact=True).select_option(label="moves to the new record")
    split.get_by_role("button", name="Split").click()
    expect(page.locator(".identity-section .flow-done")).to_contain_text("Split: the new record is Jane Doe.")
    assert len(app.call("rows", table=CONTACTS)["rows"]) == 2
    assert app.call("record", record=jane)["tables"] == [CONTACTS]
    assert app.errors == []


@pytest.mark.chromium_only(
    reason=("WebKitGTK's driver failed once in three runs to read the picker's select ('Could not parse element "
            "enabled state'); kept out of the WebKit lane until that is understood"))
def test_a_reference_is_picked_shown_and_says_why_when_broken(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity()
    ws = app.create_workspace("Hamlet")
    agent = _record(app, CONTACTS, {"name": "Ada Agent", "phone": "555-0199"})
    jane = _record(app, CONTACTS, {"name": "Jane Doe"})
    page = app.page
    _open_record(app, ws, jane, "Jane Doe")
    page.get_by_role("button", name="Show another record's value…").click()
    dialog = page.get_by_role("dialog", name="Show another record's value")
    dialog.get_by_label("Field of this record").select_option(label="Phone")
    dialog.get_by_label("From which record?").fill("ada")
    expect(dialog.locator("button.found")).to_have_count(1)
    dialog.locator("button.found").click()
    dialog.get_by_label("Its field").select_option(label="Phone (Contacts): 555-0199")
    dialog.get_by_role("button", name="Show it").click()
    section = page.locator(".identity-section")
    expect(section.locator(".reference-list li")).to_have_text(re.compile("Phone shows Ada Agent's Phone: 555-0199"))
    assert app.call("record", record=jane)["values"][f"{CONTACTS}.phone"] == "555-0199"
    # the source is deleted: the field says why it shows nothing
    app.call("delete_record", record=agent)
    page.reload()
    app.wait_ready()
    expect(section.locator(".reference-list li.broken")).to_contain_text(
        "Phone cannot show Phone: the record it points to (Ada Agent) was deleted.")
    # a bad reference is refused in words and changes nothing
    unchanged = _unchanged(app)
    said = _refusal(app, "set_reference", record=jane, field=f"{CONTACTS}.role", source=agent,
                    source_field=f"{CONTACTS}.name")
    assert said == "The record you chose was deleted, or is not on this device: choose another one."
    unchanged()
    section.get_by_role("button", name="Stop showing it: Phone").click()
    expect(section.locator(".reference-list")).to_have_count(0)
    assert app.errors == []


def _shots(new_context: Any, server: Any, folder: Path, name: str, prepare: Callable[[AppPage, str], None],
           show: Callable[[AppPage, str], None]) -> None:
    """`name-<w>x<h>-<scheme>.png` for both tablet sizes, light and dark: one workspace made by
    `prepare`, the screen brought to the state to be seen by `show`; axe-core finds nothing to fix."""
    found: list[str] = []
    for scheme in ("light", "dark"):
        context = new_context(viewport={"width": 1180, "height": 820}, color_scheme=scheme, has_touch=True)
        app = AppPage(context.new_page()).open(server.url)
        app.ensure_identity()
        ws = app.create_workspace("Hamlet")
        prepare(app, ws)
        for width, height in SIZES:
            app.page.set_viewport_size({"width": width, "height": height})
            app.page.reload()
            app.wait_ready()
            show(app, ws)
            app.page.evaluate("document.getElementById('toast').hidden = true")
            app.shot(folder, f"{name}-{width}x{height}-{scheme}")
            if AXE.exists():  # contrast, names and roles, light and dark
                found += violations(app, f"{name} {width}x{height} {scheme}")
        assert app.errors == []
    assert found == []


@pytest.mark.chromium_only(reason="forced dark mode and touch (Playwright's color_scheme, has_touch)")
def test_screenshots_of_shared_fields(new_context: Any, server: Any, screenshot_dir: Path) -> None:
    folder = screenshot_dir / "flows"
    folder.mkdir(parents=True, exist_ok=True)

    def review(app: AppPage, ws: str) -> None:
        _open_panel(app, ws, "fields", "Shared fields")
        app.page.locator(".flow-card", has_text="both have Email").get_by_role("button", name="Review…").click()
        expect(app.page.get_by_role("dialog").locator("tbody tr")).to_have_count(1)

    def link(app: AppPage, ws: str) -> None:
        _open_panel(app, ws, "fields", "Shared fields")
        app.page.get_by_role("button", name="Link Contacts to Attendees…").click()
        expect(app.page.get_by_role("dialog")).to_contain_text("records join Attendees")

    _shots(new_context, server, folder, "mapping-review", lambda app, ws: _cast(app) and None, review)
    _shots(new_context, server, folder, "tables-link", lambda app, ws: _cast(app) and None, link)


@pytest.mark.chromium_only(reason="forced dark mode and touch (Playwright's color_scheme, has_touch)")
def test_screenshots_of_rules(new_context: Any, server: Any, screenshot_dir: Path) -> None:
    folder = screenshot_dir / "flows"
    folder.mkdir(parents=True, exist_ok=True)

    def form(app: AppPage, ws: str) -> None:
        _open_panel(app, ws, "rules", "Rules")
        app.page.get_by_role("button", name="New rule…").click()
        dialog = _fill_called_rule(app.page)
        dialog.get_by_role("button", name="Preview").click()
        expect(dialog.locator(".rule-preview li")).to_have_count(2)

    def with_rule(app: AppPage, ws: str) -> None:
        cues = _cues(app)
        app.call("save_rule", definition={"name": "Called cues", "source_table": LX, "field": f"{LX}.is_called",
                                          "op": "is", "value": "yes", "table": SM})
        app.call("accept_proposals", ids=[p["id"] for p in app.call("rules")["proposals"]][:1])
        app.call("set_cell", record=cues[0], field=f"{LX}.is_called", value="no")

    def suggestions(app: AppPage, ws: str) -> None:
        _open_panel(app, ws, "rules", "Rules")
        expect(app.page.locator(".proposal")).to_have_count(2)

    _shots(new_context, server, folder, "rule-preview", lambda app, ws: _cues(app) and None, form)
    _shots(new_context, server, folder, "rule-suggestions", with_rule, suggestions)


@pytest.mark.chromium_only(reason="forced dark mode and touch (Playwright's color_scheme, has_touch)")
def test_screenshots_of_same_person_and_references(new_context: Any, server: Any, screenshot_dir: Path) -> None:
    folder = screenshot_dir / "flows"
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}

    def twins(app: AppPage, ws: str) -> None:
        made["jane"], made["twin"] = _twins(app)
        agent = _record(app, CONTACTS, {"name": "Ada Agent", "phone": "555-0199"})
        app.call("set_reference", record=made["jane"], field=f"{CONTACTS}.phone", source=agent,
                 source_field=f"{CONTACTS}.phone")

    def merge(app: AppPage, ws: str) -> None:
        _open_record(app, ws, made["jane"], "Jane Doe")
        app.page.get_by_role("button", name="Same person as…").click()
        dialog = app.page.get_by_role("dialog", name="Same person as…")
        dialog.get_by_label("Which record is the same person or thing?").fill("jane")
        dialog.locator("button.found", has_text="Attendees").click()
        expect(dialog.get_by_role("button", name="Merge them")).to_be_visible()

    def split(app: AppPage, ws: str) -> None:
        _open_record(app, ws, made["jane"], "Jane Doe")
        if app.call("rows", table=CONTACTS)["rows"].__len__() > 2:
            app.call("merge_records", record=made["jane"], other=made["twin"])
            app.page.reload()
            app.wait_ready()
        app.page.get_by_role("button", name="Split into two…").click()
        dialog = app.page.get_by_role("dialog", name="Split Jane Doe into two records")
        dialog.get_by_label("Contacts", exact=True).select_option(label="both records are in it")
        dialog.get_by_label("Attendees", exact=True).select_option(label="moves to the new record")

    def reference(app: AppPage, ws: str) -> None:
        _open_record(app, ws, made["jane"], "Jane Doe")
        section = app.page.locator(".identity-section")
        expect(section.locator(".reference-list li")).to_have_count(1)
        section.scroll_into_view_if_needed()

    _shots(new_context, server, folder, "same-person-preview", twins, merge)
    _shots(new_context, server, folder, "same-person-split", twins, split)
    _shots(new_context, server, folder, "reference-shown", twins, reference)
