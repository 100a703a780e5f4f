"""Views: saved and module-shipped views, run through the active overlay; the documents of the
starter modules; CSV and .xlsx export that the CSV import reads back unchanged."""

from __future__ import annotations

import io
import random

import pytest

from helpers import NOTEBOOK, ManualClock, make_peer, sync
from openprod import NotFoundError, QueryError, SchemaError, ValidationError, ViewError, parse_manifest
from openprod.csv_import import plan_import
from openprod.export import to_csv, to_xlsx
from openprod.views import day_filter


@pytest.fixture
def show(tmp_path):  # type: ignore[no-untyped-def]
    clock = ManualClock()
    peer = make_peer("Jane", str(tmp_path / "jane.db"), clock, seed=1)
    ws = peer.ws
    ids: dict[str, str] = {}
    with ws.transaction() as tx:
        ids["ana"] = tx.create_record("Contacts", {"name": "Ana García", "department": "Cast", "role": "Juliet",
                                                   "phone": "+1 555 0101 2222"})
        ids["bo"] = tx.create_record("Contacts", {"name": "Bo Lights", "department": "Lighting", "role": "LD"})
        ids["cy"] = tx.create_record("Contacts", {"name": "Cy Romeo", "department": "Cast", "role": "Romeo"})
        ids["old"] = tx.create_record("Contacts", {"name": "Old Hand", "department": "Crew", "status": "archived"})
        ids["balcony"] = tx.create_record("scenes.Scenes", {"title": "Balcony", "act": 2, "number": 2})
        ids["ball"] = tx.create_record("scenes.Scenes", {"title": "Ball", "act": 1, "number": 5})
        tx.create_edge("appears_in", ids["ana"], ids["balcony"], {"character": "Juliet"})
        tx.create_edge("appears_in", ids["cy"], ids["balcony"], {"character": "Romeo"})
        tx.create_edge("appears_in", ids["cy"], ids["ball"], {"character": "Romeo"})
        ids["work"] = tx.create_record("schedule.Events", {"title": "Act 1 work", "room": "Studio A",
                                                          "starts_at": "2026-03-02T10:00:00Z"})
        ids["fit"] = tx.create_record("schedule.Events", {"title": "Fitting", "room": "Wardrobe",
                                                         "starts_at": "2026-03-03T09:00:00Z"})
        for who in ("ana", "cy"):
            tx.add_to_table(ids[who], "schedule.Attendees", {"name": ws.records.get(ids[who]).get("name")})
        tx.create_edge("called_to", ids["ana"], ids["work"], {"call_time": "2026-03-02T09:30:00Z"})
        tx.create_edge("called_to", ids["cy"], ids["work"], {})
        tx.create_edge("called_to", ids["ana"], ids["fit"], {})
        ids["act1"] = tx.create_record("lighting.CueLists", {"name": "Act 1"})
        for number, page in (("1", 3), ("2", 4), ("2A", 4), ("10.10", 9)):
            cue = tx.create_record("lighting.LightingCues", {"cue_number": number, "page": page})
            ids[f"q{number}"] = cue
            tx.create_ordered_edge("lighting.in_cue_list", cue, ids["act1"])
        tx.create_edge("lighting.in_scene", ids["q2"], ids["ball"])
    return peer, ids


def test_starter_modules_ship_the_documents(show) -> None:  # type: ignore[no-untyped-def]
    peer, _ids = show
    names = {v.id: v.name for v in peer.ws.views.list()}
    assert names == {
        "contacts.ContactSheet": "Contact sheet", "contacts.Distribution": "Report distribution list",
        "schedule.CallSheet": "Daily call sheet",
        "schedule.Schedule": "Schedule", "scenes.SceneBreakdown": "Scene breakdown",
        "scenes.CharacterChart": "Scene-by-character chart", "lighting.CueSheet": "Lighting cue sheet",
        "sm.CallingCueSheet": "Calling cue sheet", "sound.CueSheet": "Sound cue sheet"}


def test_contact_sheet_groups_by_department_and_leaves_out_archived(show) -> None:  # type: ignore[no-untyped-def]
    peer, _ids = show
    result = peer.ws.views.run("contacts.ContactSheet")
    assert [c.label for c in result.columns] == ["Name", "Role", "Pronouns", "Phone", "Email"]
    assert [(g.values, [r.cells[0] for r in g.rows]) for g in result.groups] == [
        (["Cast"], ["Ana García", "Cy Romeo"]), (["Lighting"], ["Bo Lights"])]


def test_call_sheet_one_call_time_per_person(show) -> None:  # type: ignore[no-untyped-def]
    peer, _ids = show
    result = peer.ws.views.run("schedule.CallSheet", also=day_filter("starts_at", "2026-03-02"))
    [group] = result.groups
    assert group.values == ["2026-03-02T10:00:00Z", "Act 1 work", "Studio A"]
    # Ana's call is on her link to the event; Cy has none, so his call is the event's start
    assert [r.cells[:2] for r in group.rows] == [["2026-03-02T09:30:00Z", "Ana García"],
                                                 ["2026-03-02T10:00:00Z", "Cy Romeo"]]
    whole = peer.ws.views.run("schedule.CallSheet")
    assert [g.values[1] for g in whole.groups] == ["Act 1 work", "Fitting"]
    # the day is the viewer's: at UTC-11, 10:00 UTC on the 2nd is still the 1st, 09:00 UTC on the 3rd the 2nd
    late = peer.ws.views.run("schedule.CallSheet", also=day_filter("starts_at", "2026-03-02", -660))
    assert [g.values[1] for g in late.groups] == ["Fitting"]
    with pytest.raises(ViewError, match="2026-03-02"):
        day_filter("starts_at", "2 March")


def test_cue_sheet_in_cue_list_order_with_scenes(show) -> None:  # type: ignore[no-untyped-def]
    peer, ids = show
    ws = peer.ws
    with ws.transaction() as tx:  # move 10.10 to the top of the list: cue-list order, not number order
        [first] = [e for e in ws.records.edges_from(ids["q1"], "lighting.in_cue_list")]
        [moved] = [e for e in ws.records.edges_from(ids["q10.10"], "lighting.in_cue_list")]
        tx.move_ordered_edge(moved.id, before=first.id)
    result = ws.views.run("lighting.CueSheet")
    [group] = result.groups
    assert group.values == ["Act 1"] and result.group_columns[0].label == "Cue list"
    assert [r.cells[:3] for r in group.rows] == [["10.10", 9, None], ["1", 3, None], ["2", 4, "Ball"],
                                                 ["2A", 4, None]]


def test_scene_breakdown_and_character_chart(show) -> None:  # type: ignore[no-untyped-def]
    peer, _ids = show
    breakdown = peer.ws.views.run("scenes.SceneBreakdown")
    assert [r.cells for r in breakdown.rows] == [
        [1, 5, "Ball", None, None, "Romeo", "Cy Romeo"],
        [2, 2, "Balcony", None, None, ["Juliet", "Romeo"], ["Ana García", "Cy Romeo"]]]
    chart = peer.ws.views.run("scenes.CharacterChart")
    assert [c.label for c in chart.chart_columns] == [[1, 5, "Ball"], [2, 2, "Balcony"]]
    assert [r.cells for r in chart.rows] == [["Ana García", None, "Juliet"], ["Cy Romeo", "Romeo", "Romeo"]]


def test_saved_view_with_edge_hop_filter_syncs(tmp_path, show) -> None:  # type: ignore[no-untyped-def]
    peer, ids = show
    ws = peer.ws
    with ws.transaction() as tx:
        view = tx.save_view("People in Act 2", {
            "table": "contacts.Contacts", "columns": ["name", {"path": "appears_in.character", "label": "As"}],
            "filter": "appears_in->target.act == 2", "sort": ["name desc"]})
    result = ws.views.run(view)
    assert [r.cells for r in result.rows] == [["Cy Romeo", "Romeo"], ["Ana García", "Juliet"]]
    bob = make_peer("Bob", str(tmp_path / "bob.db"), ManualClock(), seed=2, workspace_from=peer)
    sync(peer, bob)
    assert [v.name for v in bob.ws.views.list() if v.module is None] == ["People in Act 2"]
    assert [r.record for r in bob.ws.views.run(view).rows] == [ids["cy"], ids["ana"]]
    with bob.ws.transaction() as tx:  # replaced by id: last writer wins on the whole view
        tx.save_view("People in Act 2", {"table": "Contacts", "columns": ["name"], "sort": ["name"],
                                         "filter": "appears_in->target.act == 2"}, view_id=view)
    sync(peer, bob)
    assert [r.cells for r in ws.views.run(view).rows] == [["Ana García"], ["Cy Romeo"]]
    with ws.transaction() as tx:
        tx.delete_view(view)
    sync(peer, bob)
    assert [v.id for v in bob.ws.views.list() if v.module is None] == []
    assert ws.state_hash() == bob.ws.state_hash()
    before = ws.state_hash()
    ws.rebuild()
    assert ws.state_hash() == before


def test_bad_filter_is_the_query_languages_error_and_saves_nothing(show) -> None:  # type: ignore[no-untyped-def]
    peer, _ids = show
    ws = peer.ws
    size = ws.oplog.size()
    with pytest.raises(QueryError) as refused, ws.transaction() as tx:
        tx.save_view("Cast", {"table": "Contacts", "columns": ["name"], "filter": 'department = "Cast"'})
    assert (refused.value.line, refused.value.column) == (1, 12)
    assert "use == to compare" in str(refused.value) and "^" in str(refused.value)
    for definition, words in [
        ({"table": "Contacts", "columns": ["nmae"]}, "unknown field 'nmae'"),
        ({"table": "Nowhere", "columns": ["name"]}, "unknown table 'Nowhere'"),
        ({"table": "Contacts", "columns": []}, "at least one column"),
        ({"table": "Contacts", "columns": ["appears_in->title"]}, "write 'target.'"),
        ({"table": "Contacts", "columns": ["name"], "colour": "red"}, "no setting 'colour'"),
        ({"table": "Contacts", "columns": ["name"], "sort": ["name sideways"]}, "not a column path"),
        ({"table": "Contacts", "columns": ["name"], "distribution": "contacts.Distribution"}, "layout = 'report'"),
        ({"table": "Contacts", "columns": ["name"], "layout": "chart"}, "a chart names"),
    ]:
        with pytest.raises(ValidationError, match=words), ws.transaction() as tx:
            tx.save_view("Broken", definition)
    with pytest.raises(ValidationError, match="name of 1 to 120"), ws.transaction() as tx:
        tx.save_view("  ", {"table": "Contacts", "columns": ["name"]})
    with pytest.raises(NotFoundError, match="cannot be deleted"), ws.transaction() as tx:
        tx.delete_view("contacts.ContactSheet")
    assert ws.oplog.size() == size


def test_module_view_errors_are_schema_errors() -> None:
    base = '[module]\nname = "m"\nversion = "1.0.0"\n[table.T.fields.a]\ntype = "string"\n'
    assert parse_manifest(base + '[view.V]\ntable = "T"\ncolumns = ["a"]\n').views["m.V"][1]["table"] == "m.T"
    with pytest.raises(SchemaError, match=r"\[view.V\]: a view's layout"):
        parse_manifest(base + '[view.V]\ntable = "T"\ncolumns = ["a"]\nlayout = "poster"\n')


def test_views_see_the_active_overlay_and_can_be_staged(show) -> None:  # type: ignore[no-untyped-def]
    peer, ids = show
    ws = peer.ws
    overlay = ws.staging.create("Try a new phone")
    ws.set_field(ids["bo"], "phone", "555 0199")
    with ws.transaction() as tx:
        staged_view = tx.save_view("Phones", {"table": "Contacts", "columns": ["name", "phone"], "sort": ["name"]})
    assert ws.views.run(staged_view).rows[1].cells == ["Bo Lights", "555 0199"]
    ws.staging.stash(overlay)
    assert staged_view not in [v.id for v in ws.views.list()]  # staged, not real yet
    assert ws.views.run("contacts.ContactSheet").groups[1].rows[0].cells[3] is None
    ws.staging.activate(overlay)
    ws.commit_overlay(overlay)
    assert [r.cells for r in ws.views.run(staged_view).rows][1] == ["Bo Lights", "555 0199"]


def test_csv_export_reimports_with_identical_values(tmp_path, show) -> None:  # type: ignore[no-untyped-def]
    peer, _ids = show
    ws = peer.ws
    rng = random.Random(7)
    with ws.transaction() as tx:
        for i in range(40):  # awkward values: commas, quotes, new lines, leading zeros, cue points
            tx.create_record("lighting.LightingCues", {
                "cue_number": rng.choice(["0.5", "17A", "10.10", "100", "LX 5", "B", "007", "3.250"]),
                "label": rng.choice(['Dawn, slow', 'He said "go"', "two\nlines", "007", "  spaced "]),
                "intensity": rng.choice([0, 55, 99.5, -3]), "page": i,
                "is_called": rng.choice([True, False]), "fade_time": rng.choice([1.25, 3])})
    exported = to_csv(ws.views.run(ws.views.table("LightingCues")))
    fresh = make_peer("Fresh", str(tmp_path / "fresh.db"), ManualClock(), seed=3)
    plan = plan_import(fresh.ws, "LightingCues", exported, match_on=[])
    assert plan.problems == []
    assert "lighting.LightingCues.description" not in plan.columns.values()  # written together: not imported
    plain = [f.id for f in ws.schema.table("LightingCues").fields.values() if f.crdt is None]
    original = [{f: r.values.get(f) for f in plain if r.values.get(f) is not None}
                for r in ws.records.all("LightingCues")]
    assert [values for _line, values in plan.new] == original


def test_xlsx_opens_with_openpyxl_and_shows_the_same_cells(show) -> None:  # type: ignore[no-untyped-def]
    openpyxl = pytest.importorskip("openpyxl")
    peer, _ids = show
    ws = peer.ws
    with ws.transaction() as tx:
        tx.create_record("Contacts", {"name": "=HYPERLINK(\"x\")", "department": "Cast", "phone": "007"})
    result = ws.views.run("contacts.ContactSheet")
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(result)))
    sheet = book.active
    assert sheet.title == "Contact sheet"
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == ["Department", "Name", "Role", "Pronouns", "Phone", "Email"]
    assert cells[1:] == [
        ["Cast", "=HYPERLINK(\"x\")", None, None, "007", None],
        ["Cast", "Ana García", "Juliet", None, "+1 555 0101 2222", None],
        ["Cast", "Cy Romeo", "Romeo", None, None, None],
        ["Lighting", "Bo Lights", "LD", None, None, None]]
    assert sheet["B2"].data_type == "s"  # text, never a formula
    cues = openpyxl.load_workbook(io.BytesIO(to_xlsx(ws.views.run("lighting.CueSheet")))).active
    assert [[c.value for c in row] for row in cues.iter_rows(max_col=3)][1:] == [
        ["Act 1", "1", 3], ["Act 1", "2", 4], ["Act 1", "2A", 4], ["Act 1", "10.10", 9]]



def test_a_cue_sheet_opens_in_a_show_without_scenes_whatever_else_has_a_title(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Lighting cue sheet's Scene column reads a linked scene's title. In a show without the
    Scenes module, where Events and another table both have a "title", the document failed to open
    ("'title' is ambiguous"); now it opens and the Scene column is empty."""
    alice = make_peer("Alice", str(tmp_path / "a.db"), ManualClock(), seed=1, modules=("schedule", "lighting"))
    with alice.ws.transaction(kind="module") as tx:
        tx.adopt_module(NOTEBOOK)
    with alice.ws.transaction() as tx:
        event = tx.create_record("schedule.Events", {"title": "Tech"})
        cue = tx.create_record("lighting.LightingCues", {"cue_number": "1", "label": "House to half"})
        tx.create_edge("lighting.in_scene", cue, event)  # an odd link: still not a scene
    sheet = next(v for v in alice.ws.views.list() if v.name == "Lighting cue sheet")
    result = alice.ws.views.run(sheet)
    scene = [c.label for c in result.columns].index("Scene")
    assert [row.cells[scene] for group in result.groups for row in group.rows] == [None]
