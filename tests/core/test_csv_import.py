"""CSV import never loses a row: every row it cannot import exactly is reported with its line and
content, and nothing is staged until the file is fixed; matches show what they would change."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openprod import ValidationError
from openprod.csv_import import ImportRefused, plan_import, stage_csv, stage_import
from openprod.csv_reader import read_bytes, read_table

CONTACTS = "contacts.Contacts"
HEADER = "Name,Role,Phone,Email,Department"


def contacts_csv(n: int) -> list[str]:
    return [f"Person {i},Crew,555-{i:04d},p{i}@show.org,Stage" for i in range(n)]


def test_unclosed_quote_is_reported_where_it_opens_and_swallows_nothing() -> None:
    lines = [HEADER, *contacts_csv(50)]
    lines[21] = 'Person 20,"Crew,555-0020,p20@show.org,Stage'  # the quote never closes
    table = read_table("\n".join(lines) + "\n")
    [problem] = table.problems
    assert problem.line == 22 and "never closed" in problem.message and "lines 22-51" in problem.message
    assert problem.content.startswith('Person 20,"Crew')
    assert len(table.rows) == 20  # the rows before it; nothing after it is guessed at


def test_text_after_a_closing_quote_and_wrong_cell_counts() -> None:
    text = HEADER + '\nAnn,SM,1,a@x,SM,extra,more\nBen,"Lead" actor,2,b@x,LX\nCas,Actor,3\nDan,A,4,d@x,Cast,,\n'
    table = read_table(text)
    assert [(p.line, p.message) for p in table.problems] == [
        (2, "this row has 7 cells but the header has 5: the extra cells would be lost"),
        (3, "text after a closing quote (line 3): a cell that starts with a quote must end with one just "
            "before the next separator"),
        (4, "this row has 3 cells but the header has 5"),
    ]
    assert [r.cells for r in table.rows] == [["Dan", "A", "4", "d@x", "Cast"]]  # empty extra cells lose nothing


def test_quoted_cells_hold_separators_quotes_and_line_breaks() -> None:
    text = 'Name,Notes\r\n"Doe, Jane","She said ""hi""\r\nthen left"\r\nBo,5\'10" tall\r\n'
    table = read_table(text)
    assert table.problems == []
    assert [(r.line, r.cells) for r in table.rows] == [(2, ["Doe, Jane", 'She said "hi"\r\nthen left']),
                                                       (4, ["Bo", "5'10\" tall"])]


@pytest.mark.parametrize(("text", "delimiter"), [
    ("Name\tRole\nAnn\tSM, deputy\n", "\t"),
    ("Name;Role;Phone\nAnn;SM;1,5\n", ";"),
    ("Name|Role\nAnn|SM\n", "|"),
    ("Name,Role\nAnn,SM\n", ","),
])
def test_delimiter_is_detected(text: str, delimiter: str) -> None:
    table = read_table(text)
    assert table.delimiter == delimiter and table.problems == [] and len(table.rows[0].cells) == len(table.header)


@pytest.mark.parametrize(("data", "encoding"), [
    ("Name\nJosé\n".encode(), "UTF-8"),
    (codecs.BOM_UTF8 + "Name\nJosé\n".encode(), "UTF-8 (with BOM)"),
    ("Name\nJosé\n".encode("cp1252"), "Windows-1252"),
    ("Name\tRole\nJosé\tSM\n".encode("utf-16"), "UTF-16"),
])
def test_encodings(data: bytes, encoding: str) -> None:
    table = read_bytes(data)
    assert table.encoding == encoding and table.header[0] == "Name" and table.rows[0].cells[0] == "José"


def test_bytes_that_are_not_text_are_reported_per_line() -> None:
    table = read_bytes(b"Name\nAnn\nB\x81n\nCas\n")
    assert [(p.line, "0x81" in p.message) for p in table.problems] == [(3, True)]
    assert [r.cells[0] for r in table.rows] == ["Ann", "Cas"]


@given(st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                 max_size=8), min_size=3, max_size=3), min_size=1, max_size=12))
def test_anything_a_spreadsheet_writes_reads_back_exactly(rows: list[list[str]]) -> None:
    for delimiter in (",", "\t"):
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows([["A", "B", "C"], *rows])
        table = read_table(out.getvalue(), delimiter)
        assert table.problems == []
        assert [r.cells for r in table.rows] == rows


def test_nothing_is_staged_while_any_row_has_a_problem(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    text = "\n".join([HEADER, *contacts_csv(5), "Eve,Crew,555,e@x,Stage,oops,more"]) + "\n"
    with pytest.raises(ImportRefused) as refused:
        stage_csv(ws, CONTACTS, text)
    assert [p.line for p in refused.value.plan.problems] == [7]
    assert "Nothing has been imported" in refused.value.plan.describe()
    assert ws.records.all(CONTACTS) == [] and ws.staging.list() == []


def test_duplicates_in_the_file_and_ambiguous_matches_are_problems(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    ws.create_record(CONTACTS, {"name": "Kim"})
    ws.create_record(CONTACTS, {"name": "kim "})
    text = f"{HEADER}\nJane,SM,1,j@x,SM\nBo,LX,2,b@x,LX\njane ,ASM,3,j2@x,SM\nKim,Props,4,k@x,Props\n"
    plan = plan_import(ws, CONTACTS, text)
    assert [(p.line, p.message.split(":")[0]) for p in plan.problems] == [
        (4, "the same Name as line 2 (jane)"),
        (5, "2 existing records have this Name"),
    ]
    # matching on nothing: every row is a new record, nothing can be merged
    plan = plan_import(ws, CONTACTS, text, match_on=[])
    assert plan.problems == [] and len(plan.new) == 4 and plan.matches == []


def test_matches_show_field_by_field_changes_and_empty_cells_clear_nothing(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "phone": "555-0101", "role": "SM"})
    text = f"{HEADER},Shoe size\njane doe,SM,555-0199,,,42\nNew Person,Crew,,,,\n"
    plan = plan_import(ws, CONTACTS, text)
    assert plan.skipped_columns == {"Shoe size": "Contacts has no field with that name"}
    [match] = plan.matches
    assert match.record == jane and match.line == 2
    assert [(c.field, c.old, c.new) for c in match.changes] == [("contacts.Contacts.phone", "555-0101", "555-0199")]
    assert plan.new == [(3, {"contacts.Contacts.name": "New Person", "contacts.Contacts.role": "Crew"})]
    preview = stage_import(ws, plan)
    assert ws.staging.active == preview.overlay_id
    assert ws.records.get(jane).get("phone") == "555-0199" and ws.records.get(jane).get("role") == "SM"
    ws.staging.discard(preview.overlay_id)
    assert ws.records.get(jane).get("phone") == "555-0101"


def test_the_match_key_can_be_chosen(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    jane = ws.create_record(CONTACTS, {"name": "Jane Doe", "email": "jane@show.org"})
    text = f"{HEADER}\nJane Smith,SM,,JANE@show.org,\n"
    by_name = plan_import(ws, CONTACTS, text)
    assert len(by_name.new) == 1 and by_name.matches == []
    by_email = plan_import(ws, CONTACTS, text, match_on=["contacts.Contacts.email"])
    [match] = by_email.matches
    assert match.record == jane and [(c.field, c.new) for c in match.changes] == [
        ("contacts.Contacts.name", "Jane Smith"), ("contacts.Contacts.role", "SM")]  # the key matched: kept
    for short in ("email", "Contacts.email"):  # named like a field anywhere else in the API
        assert plan_import(ws, CONTACTS, text, match_on=[short]).match_on == ["contacts.Contacts.email"]
    for wrong in ("contacts.Contacts.nope", "nope", "scenes.Scenes.title"):
        with pytest.raises(ValidationError, match="cannot match on"):
            plan_import(ws, CONTACTS, text, match_on=[wrong])


def test_new_records_take_defaults_and_need_required_fields(peer_factory) -> None:
    ws = peer_factory("Alice").ws
    plan = plan_import(ws, "lighting.LightingCues", "Cue #,Label,Called\n17A,Sunrise,\n10.10,Dusk,no\n,Nothing,yes\n")
    assert [(p.line, p.message) for p in plan.problems] == [
        (4, "a new record needs Cue #, and this row has none")]
    plan = plan_import(ws, "lighting.LightingCues", "Cue #,Label,Called\n17A,Sunrise,\n10.10,Dusk,no\n")
    stage_import(ws, plan)
    assert {r.get("cue_number"): r.get("is_called") for r in ws.records.all("lighting.LightingCues")} == {
        "17A": True, "10.10": False}


def test_an_import_too_large_for_one_change_is_refused_before_anything_is_staged(peer_factory) -> None:
    ws = peer_factory("Alice", on_disk=False).ws
    text = "Name,Role,Department,Email,Phone\n" + "\n".join(f"P{i},R,D,e{i}@x,{i}" for i in range(9000))
    with pytest.raises(ValidationError, match="split it into files of at most 8,300 rows"):
        plan_import(ws, CONTACTS, text, match_on=[])
    assert ws.staging.list() == []
    # and a change that large is never signed: every receiver, this device included, would refuse it
    from openprod.bundle import MAX_OPS_PER_BUNDLE

    big = ws.staging.create("big")
    with ws.transaction() as tx:
        for i in range(MAX_OPS_PER_BUNDLE // 2 + 1):
            tx.create_record(CONTACTS, {"name": f"P{i}"})
    before = ws.oplog.size().bundles
    with pytest.raises(ValidationError, match="too large to save as one"):
        ws.commit_overlay(big)
    assert ws.oplog.size().bundles == before
    assert len(ws.records.all(CONTACTS)) == MAX_OPS_PER_BUNDLE // 2 + 1  # still staged, nothing lost
