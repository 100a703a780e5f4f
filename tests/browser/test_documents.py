"""Documents and views in the browser, in both engines: the starter modules' documents (contact sheet,
daily call sheet, cue sheets, scene breakdown, scene-by-character chart) drawn from data typed in the
app, printed (print styles; in Chromium a real PDF read back: title and page numbers on every page,
the column headings repeated, no phone number broken), exported as CSV and Excel (the files the page
offers, read back: CSV through the app's own import check, Excel with openpyxl), and a view made with
the builder, including a link hop, and a bad query refused with its position."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

ROOT = Path(__file__).resolve().parents[2]
DOC_SHOTS = ROOT / "test-artifacts" / "screenshots" / "documents"

# Capture what the page offers for download (both engines): the Blob handed to URL.createObjectURL.
CAPTURE_JS = """() => {
  if (window.__exports) return;
  window.__exports = [];
  const original = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (blob) => { window.__exports.push(blob); return original(blob); };
}"""
LAST_EXPORT_JS = """async (n) => {
  const blob = window.__exports[n];
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""

DEPARTMENTS = ["Cast", "Lighting", "Sound", "Stage management", "Wardrobe"]


def _populate(app: AppPage, people: int = 12) -> dict[str, str]:
    """A small show typed in through the worker's API (the same calls the screens make)."""
    ids: dict[str, str] = {}

    def create(table: str, values: dict[str, Any]) -> str:
        created: str = app.call("create_record", table=table, values=values)["id"]
        return created

    for i in range(people):
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        ids[f"p{i}"] = create("contacts.Contacts", {
            "contacts.Contacts.name": f"Person {i:02d} {'García' if i % 3 == 0 else 'Okafor'}",
            "contacts.Contacts.department": dept, "contacts.Contacts.role": "Ensemble" if dept == "Cast" else "Crew",
            "contacts.Contacts.phone": f"+44 7700 900{i:03d}", "contacts.Contacts.email": f"person{i}@show.example"})
    ids["balcony"] = create("scenes.Scenes", {"scenes.Scenes.title": "Balcony", "scenes.Scenes.act": "2",
                                              "scenes.Scenes.number": "2", "scenes.Scenes.location": "Orchard"})
    ids["ball"] = create("scenes.Scenes", {"scenes.Scenes.title": "Ball", "scenes.Scenes.act": "1",
                                           "scenes.Scenes.number": "5", "scenes.Scenes.location": "Capulet hall"})
    app.call("link", edge_type="scenes.appears_in", source=ids["p0"], target=ids["balcony"],
             properties={"character": "Juliet"})
    app.call("link", edge_type="scenes.appears_in", source=ids["p5"], target=ids["balcony"],
             properties={"character": "Romeo"})
    app.call("link", edge_type="scenes.appears_in", source=ids["p5"], target=ids["ball"],
             properties={"character": "Romeo"})
    ids["work"] = create("schedule.Events", {"schedule.Events.title": "Act 1 work-through",
                                             "schedule.Events.room": "Studio A",
                                             "schedule.Events.starts_at": "2026-03-02T10:00"})
    for who, call_time in (("p0", "2026-03-02T09:30"), ("p5", None)):
        name = app.call("record", record=ids[who])["values"]["contacts.Contacts.name"]
        app.call("add_to_table", record=ids[who], table="schedule.Attendees", values={"schedule.Attendees.name": name})
        app.call("link", edge_type="schedule.called_to", source=ids[who], target=ids["work"],
                 properties={"call_time": call_time} if call_time else {})
    ids["act1"] = create("lighting.CueLists", {"lighting.CueLists.name": "Act 1"})
    for number, page in (("1", "3"), ("2", "4"), ("2A", "4"), ("10.10", "9")):
        cue = create("lighting.LightingCues", {"lighting.LightingCues.cue_number": number,
                                               "lighting.LightingCues.page": page,
                                               "lighting.LightingCues.label": f"State {number}"})
        ids[f"q{number}"] = cue
        app.call("link", edge_type="lighting.in_cue_list", source=cue, target=ids["act1"])
    app.call("link", edge_type="lighting.in_scene", source=ids["q2"], target=ids["ball"])
    return ids


def _open_doc(app: AppPage, name: str) -> None:
    link = app.page.locator(".doc-links").get_by_role("link", name=name, exact=True)
    view_id = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()
    expect(app.page.locator(f'.document[data-view="{view_id}"]')).to_be_visible()


def _export(app: AppPage, button: str) -> bytes:
    app.page.evaluate(CAPTURE_JS)
    before = app.page.evaluate("window.__exports.length")
    app.page.get_by_role("button", name=button).click()
    app.page.wait_for_function("(n) => window.__exports.length > n", arg=before, timeout=60_000)
    return base64.b64decode(app.page.evaluate(LAST_EXPORT_JS, before))


def test_documents_print_and_export(profile: Any, engine: str, server: Any) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Hamlet")
    _populate(app)

    # Contact sheet: grouped by department, people sorted by name, phone numbers on one line.
    _open_doc(app, "Contact sheet")
    groups = app.page.locator(".doc-group h2")
    expect(groups).to_have_count(5)
    assert groups.all_inner_texts() == sorted(DEPARTMENTS)
    first_cast = app.page.locator(".doc-group").first.locator("tbody tr").first
    expect(first_cast).to_contain_text("Person 00 García")
    expect(first_cast.locator("td.keep", has_text="+44 7700 900000")).to_have_count(1)
    csv_text = _export(app, "Export CSV").decode("utf-8-sig")
    lines = csv_text.splitlines()
    assert lines[0] == "Department,Name,Role,Pronouns,Phone,Email"
    assert lines[1] == "Cast,Person 00 García,Ensemble,,+44 7700 900000,person0@show.example"
    assert len(lines) == 13
    book = openpyxl.load_workbook(io.BytesIO(_export(app, "Export Excel")))
    cells = [[c.value for c in row] for row in book.active.iter_rows()]
    assert book.active.title == "Contact sheet"
    assert cells[0] == lines[0].split(",") and cells[1] == ["Cast", "Person 00 García", "Ensemble", None,
                                                            "+44 7700 900000", "person0@show.example"]
    assert len(cells) == 13

    # Print: the app's chrome is hidden, the document stays.
    app.page.emulate_media(media="print")
    expect(app.page.locator(".app-header")).to_be_hidden()
    expect(app.page.locator(".doc-actions")).to_be_hidden()
    expect(app.page.locator(".document")).to_be_visible()
    app.page.emulate_media(media="screen")

    # Daily call sheet: one call time per person (their own, else the event's start), for the day chosen.
    _open_doc(app, "Daily call sheet")
    app.page.get_by_label("Day").fill("2026-03-02")
    expect(app.page.locator(".doc-group h2")).to_have_text("10:00 · Act 1 work-through · Studio A")
    rows = app.page.locator(".doc-group tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("09:30")
    expect(rows.nth(0)).to_contain_text("Person 00 García")
    expect(rows.nth(1)).to_contain_text("10:00")
    expect(app.page.locator(".doc-meta")).to_contain_text("2026")

    # Cue sheet in cue-list order with the scene; scene breakdown; the chart.
    _open_doc(app, "Lighting cue sheet")
    expect(app.page.locator(".doc-group h2")).to_have_text("Act 1")
    cue_cells = app.page.locator(".doc-group tbody tr td:first-child")
    expect(cue_cells).to_have_count(4)
    assert cue_cells.all_inner_texts() == ["1", "2", "2A", "10.10"]
    expect(app.page.locator(".doc-group tbody tr", has_text="State 2A")).to_have_count(1)
    expect(app.page.locator(".doc-group tbody tr").nth(1)).to_contain_text("Ball")
    _open_doc(app, "Scene breakdown")
    expect(app.page.locator(".doc-table tbody tr").first).to_contain_text("Capulet hall")
    expect(app.page.locator(".doc-table tbody tr").last).to_contain_text("Juliet, Romeo")
    _open_doc(app, "Scene-by-character chart")
    expect(app.page.locator(".doc-table thead th")).to_have_count(3)
    romeo = app.page.locator(".doc-table tbody tr", has_text="Person 05")
    expect(romeo.locator("td.chart-cell")).to_have_count(2)
    assert romeo.locator("td.chart-cell").all_inner_texts() == ["Romeo", "Romeo"]
    assert app.errors == []


def _report(app: AppPage, ids: dict[str, str]) -> None:
    for who in ("p1", "p3"):
        app.call("set_cell", record=ids[who], field="contacts.Contacts.gets_reports", value="yes")


def test_rehearsal_report_written_together_with_its_distribution_list(profile: Any, engine: str,
                                                                      server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Reports")
    ids = _populate(app, people=6)
    _report(app, ids)
    _open_doc(app, "Rehearsal report")
    expect(app.page.locator(".doc-empty")).to_contain_text("No report yet")
    app.page.get_by_role("button", name="New rehearsal report").click()
    expect(app.page.get_by_role("heading", name=re.compile(r"^Reports: Rehearsal report \d{4}-"))).to_be_visible()
    app.field("Lighting").fill("Cue 12 moved to page 40.\n\nPlease check the LX 5 focus.")
    app.field("Sound").fill("Preshow at 80 dB.")
    app.page.get_by_role("button", name="Save", exact=True).click()
    expect(app.page.locator(".form-status")).to_contain_text("Saved")
    _open_doc(app, "Rehearsal report")
    lighting = app.page.locator(".report-section", has=app.page.get_by_role("heading", name="Lighting"))
    expect(lighting.locator("p")).to_have_count(2)
    expect(lighting.locator("p").first).to_have_text("Cue 12 moved to page 40.")
    expect(app.page.locator(".report-section", has=app.page.get_by_role("heading", name="Props"))).to_contain_text(
        "No notes.")
    distribution = app.page.locator(".report-distribution li")
    expect(distribution).to_have_count(2)
    assert distribution.all_inner_texts() == ["Person 01 Okafor <person1@show.example>",
                                              "Person 03 García <person3@show.example>"]
    _open_doc(app, "Performance report")  # the other template: its own reports only
    expect(app.page.locator(".doc-empty")).to_contain_text("No report yet")
    assert app.errors == []


def test_view_builder_with_a_link_hop_and_a_bad_query(profile: Any, engine: str, server: Any) -> None:
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Builder")
    _populate(app, people=6)
    app.page.get_by_role("button", name="New view…").click()
    dialog = app.page.get_by_role("dialog")
    expect(dialog).to_contain_text("New view")
    dialog.get_by_label("View name").fill("People in Act 2")
    dialog.get_by_label("Table").select_option(label="Contacts")
    dialog.get_by_label("Phone").check()
    dialog.get_by_role("button", name="Add condition").click()
    dialog.get_by_label("Condition 1: field").select_option(label="Scenes › Act")
    dialog.get_by_label("Condition 1: test").select_option(label="is")
    dialog.get_by_label("Condition 1: value").fill("2")
    expect(dialog.get_by_label("Filter as a query")).to_have_value("scenes.appears_in->target.scenes.Scenes.act == 2")
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.locator(".vb-ok")).to_have_text("2 records match.")
    app.shot(DOC_SHOTS, f"view-builder-{engine}")

    # A query typed by hand with a mistake: refused, with where it is.
    dialog.get_by_label("Filter as a query").fill('department = "Cast"')
    dialog.get_by_role("button", name="Save as new view").click()
    expect(dialog.locator(".query-error")).to_contain_text("Line 1, column 12")
    expect(dialog.locator(".query-error pre")).to_contain_text("^")
    app.shot(DOC_SHOTS, f"view-builder-error-{engine}")
    dialog.get_by_label("Filter as a query").fill('appears_in->target.act == 2')
    dialog.get_by_role("button", name="Save as new view").click()
    expect(app.page.locator(".document h1")).to_have_text("People in Act 2")  # a table view: its name
    expect(app.page.locator(".doc-table tbody tr")).to_have_count(2)
    expect(app.page.locator(".doc-links").get_by_role("link", name="People in Act 2")).to_be_visible()
    assert any(v["name"] == "People in Act 2" and v["module"] is None for v in app.call("views"))
    assert app.errors == []


@pytest.mark.chromium_only(reason="prints to PDF with Playwright's page.pdf (Chromium's printing); the print "
                                  "styles themselves are checked in both engines by test_documents_print_and_export")
def test_printed_pdf_has_title_page_numbers_headings_and_whole_phone_numbers(context: Any, server: Any) -> None:
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.fail("poppler-utils is missing: scripts/bootstrap installs it")
    app = AppPage(context.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    app.create_workspace("Hamlet")
    _populate(app, people=70)
    _open_doc(app, "Contact sheet")
    app.page.emulate_media(media="print")
    pdf = app.page.pdf(format="A4", prefer_css_page_size=True)
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SHOTS / "contact-sheet.pdf"
    path.write_bytes(pdf)
    pages = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                           text=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert "Hamlet · Contact sheet" in page, page[:300]
        assert f"Page {number} of {len(pages)}" in page
        assert "Phone" in page and "Email" in page  # the column headings, repeated on every page
    text = "\n".join(pages)
    for i in range(70):
        assert f"+44 7700 900{i:03d}" in text  # each phone number on one line
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(path), str(DOC_SHOTS / "contact-sheet-page")], check=True)
    assert sorted(p.name for p in DOC_SHOTS.glob("contact-sheet-page-*.png"))[:1] == ["contact-sheet-page-1.png"]


def test_document_screenshots_at_tablet_sizes(profile: Any, engine: str, server: Any) -> None:
    """Every document at 1180 x 820 and 820 x 1180 (test-artifacts/screenshots/documents; the committed
    copies in docs/screenshots/ come from here)."""
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Sam Manager")
    ws = app.create_workspace("Hamlet")
    ids = _populate(app)
    _report(app, ids)
    app.call("create_record", table="reports.Reports", values={
        "reports.Reports.title": "Rehearsal report 2 March", "reports.Reports.kind": "Rehearsal",
        "reports.Reports.date": "2026-03-02T18:00", "reports.Reports.started_at": "2026-03-02T10:00",
        "reports.Reports.ended_at": "2026-03-02T17:30",
        "reports.Reports.notes": "Worked Act 1 scenes 1-5. Good progress on the ball.",
        "reports.Reports.lighting": "Cue 12 moved to page 40. Please check the LX 5 focus.",
        "reports.Reports.wardrobe": "Juliet's quick change needs a dresser stage left."})
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    for view, name, ready in (("contacts.ContactSheet", "contact-sheet", ".doc-group h2"),
                              ("schedule.CallSheet", "call-sheet", ".doc-group h2"),
                              ("lighting.CueSheet", "cue-sheet", ".doc-group h2"),
                              ("scenes.SceneBreakdown", "scene-breakdown", ".doc-table tbody tr"),
                              ("scenes.CharacterChart", "character-chart", ".doc-table tbody tr"),
                              ("reports.RehearsalReport", "rehearsal-report", ".report-distribution li")):
        app.page.goto(f"{server.url}#/w/{ws}/v/{view}")

        def show(view: str = view, ready: str = ready) -> None:
            app.wait_ready()
            if view == "schedule.CallSheet":
                app.page.get_by_label("Day").fill("2026-03-02")
            app.page.wait_for_selector(ready)

        # each view's shots are taken after a reload at each size: the page need not start again at 1280 x 800
        app.tablet_shots(DOC_SHOTS, name, show, restore=False)
    assert app.errors == []
