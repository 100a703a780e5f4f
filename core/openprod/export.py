"""Export a view (or a whole table) as CSV text or an .xlsx workbook.

Cells are written so the CSV import reads them back unchanged (csv_import.convert_cell): cue
numbers exactly as typed ("10.10"), numbers in plain digits with a point, yes/no as true/false,
dates and times as ISO 8601 as stored (UTC, 'Z'), several linked values joined with "; ". A
grouped view's group columns come first on every row, so nothing a printed page shows in a
heading is lost in a spreadsheet. The workbook keeps numbers and yes/no as typed cells and
everything else as text (so "10.10" and "007" stay as they are); openpyxl is imported only here.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from .cues import cue_text
from .view_definitions import Column
from .views import ViewResult

LIST_SEPARATOR = "; "
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _header_and_columns(result: ViewResult) -> tuple[list[str], list[Column], list[int]]:
    """Labels, the columns behind them, and for each group column its index in the group values."""
    shown = {c.path for c in result.columns}
    leading = [(i, c) for i, c in enumerate(result.group_columns) if c.path not in shown]
    labels = [c.label for _i, c in leading] + [c.label for c in result.columns]
    labels += [" ".join(text(v, "string") for v in c.label if v is not None) for c in result.chart_columns]
    return labels, [c for _i, c in leading] + list(result.columns), [i for i, _c in leading]


def text(value: Any, ftype: str) -> str:
    """One cell as text, the way the CSV import reads it back."""
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(text(v, ftype) for v in value if v is not None)
    if ftype == "cue":
        return cue_text(value) or str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def table_rows(result: ViewResult) -> tuple[list[str], list[list[Any]], list[str]]:
    """(header, rows of raw values, the type of each column): the flat form both formats write."""
    labels, columns, leading = _header_and_columns(result)
    types = [c.type for c in columns] + ["string"] * len(result.chart_columns)
    rows = []
    for group in result.groups:
        heads = [group.values[i] if i < len(group.values) else None for i in leading]
        for row in group.rows:
            rows.append(heads + list(row.cells))
    return labels, rows, types


def to_csv(result: ViewResult) -> str:
    """CSV text (comma separated, quoted where needed, lines ending CRLF as RFC 4180 asks)."""
    labels, rows, types = table_rows(result)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(labels)
    for row in rows:
        writer.writerow([text(v, t) for v, t in zip(row, types, strict=True)])
    return out.getvalue()


def sheet_title(name: str) -> str:
    """Excel's limits on a sheet's name: 31 characters, none of []:*?/\\."""
    cleaned = _SHEET_BAD.sub(" ", name).strip().strip("'") or "Sheet"
    return cleaned[:31]


def to_xlsx(result: ViewResult, *, title: str = "") -> bytes:
    """An .xlsx workbook: one sheet named after the view, a bold header row kept in view."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    labels, rows, types = table_rows(result)
    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title(title or result.view.name)
    sheet.append(labels)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        values: list[Any] = []
        for value, ftype in zip(row, types, strict=True):
            if isinstance(value, bool) or (isinstance(value, (int, float)) and ftype == "number"):
                values.append(value)
            else:
                shown = text(value, ftype)
                values.append(shown if shown != "" else None)
        sheet.append(values)
    for cell in (c for r in sheet.iter_rows(min_row=2) for c in r):
        if isinstance(cell.value, str):
            cell.number_format = "@"  # text stays text: "007", "10.10", "+1 555 0101"
            cell.data_type = "s"
    sheet.freeze_panes = "A2"
    for index, label in enumerate(labels, start=1):
        widest = max([len(label), *(len(text(r[index - 1], types[index - 1])) for r in rows[:200])])
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = min(max(8, widest + 2), 60)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
