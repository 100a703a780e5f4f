"""CSV import into a staging overlay, with a preview before anything is real.

The text is parsed here (no file I/O: the caller hands in the text). Rows whose key fields
match an existing record update it; the others create records. Everything goes into a new
overlay in one staged batch, so the user reviews "47 new, 3 match existing", fixes typos in
place, then commits all or discards all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .modules import FieldDef, TableDef, normalize_value

if TYPE_CHECKING:
    from .workspace import Workspace

MAX_ROWS = 100_000
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "✓"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", ""})


@dataclass(frozen=True)
class ImportPreview:
    overlay_id: str
    table: str
    table_name: str
    new: int
    matched: int  # rows that match an existing record (and update it)
    unchanged: int  # matched rows with nothing to change
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number, why it was skipped)
    columns: list[str] = field(default_factory=list)  # field ids the CSV columns mapped to

    def describe(self) -> str:
        parts = [f"This will create {self.new} new {self.table_name}."]
        if self.matched:
            parts.append(f"{self.matched} match existing records.")
        if self.errors:
            parts.append(f"{len(self.errors)} rows could not be read.")
        return " ".join(parts)


def _columns(tdef: TableDef, header: list[str]) -> dict[str, FieldDef]:
    by_name = {}
    for fdef in tdef.fields.values():
        by_name[fdef.name.lower()] = fdef
        by_name[fdef.display_name.lower()] = fdef
    mapped: dict[str, FieldDef] = {}
    for column in header:
        fdef = by_name.get(column.strip().lower())
        if fdef is not None and fdef.crdt is None:
            mapped[column] = fdef
    if not mapped:
        known = ", ".join(f.display_name for f in tdef.fields.values())
        raise ValidationError(f"none of the CSV columns {header} match a field of {tdef.display_name} ({known})")
    return mapped


def _cell(fdef: FieldDef, raw: str) -> Any:
    text = raw.strip()
    if text == "":
        return None
    if fdef.type == "number":
        try:
            number = float(text.replace(",", "")) if any(c in text for c in ".eE,") else int(text)
        except ValueError:
            raise ValidationError(f"{fdef.display_name}: {text!r} is not a number") from None
        return normalize_value(fdef, number)
    if fdef.type == "boolean":
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ValidationError(f"{fdef.display_name}: {text!r} is not yes/no")
    return normalize_value(fdef, text)


def _key(values: dict[str, Any], match_on: list[str]) -> tuple[Any, ...] | None:
    parts = []
    for field_id in match_on:
        value = values.get(field_id)
        if value is None:
            return None  # an empty key never matches
        parts.append(value.strip().casefold() if isinstance(value, str) else value)
    return tuple(parts)


def stage_csv(ws: Workspace, table: str, text: str, *, match_on: list[str] | None = None, name: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> ImportPreview:
    """Stage a CSV's rows in a new active overlay and return what it would do."""
    tdef = ws.schema.table(table)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("the CSV is empty") from None
    except csv.Error as exc:
        raise ValidationError(f"the CSV could not be read: {exc}") from None
    columns = _columns(tdef, header)
    if match_on is None:
        match_on = [f.id for f in tdef.fields.values() if f.shared_key == "name" or f.name == "name"][:1]
    for field_id in match_on:
        if field_id not in {f.id for f in tdef.fields.values()}:
            raise ValidationError(f"cannot match on {field_id!r}: not a field of {tdef.display_name}")
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ValidationError(f"the CSV could not be read: {exc}") from None
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"the CSV has {len(rows)} rows; at most {MAX_ROWS} can be imported at once")
    existing: dict[tuple[Any, ...], str] = {}
    for record in ws.records(tdef.id):
        key = _key(record.values, match_on)
        if key is not None:
            existing.setdefault(key, record.id)
    overlay_id = ws.create_overlay(name or f"Import into {tdef.display_name}")
    new = matched = unchanged = 0
    errors: list[tuple[int, str]] = []
    with ws.transaction(kind="import") as tx:
        for number, row in enumerate(rows, start=2):
            if progress is not None and number % 50 == 0:
                progress(number - 1, len(rows))
            if not any(cell.strip() for cell in row):
                continue
            try:
                values = {columns[col].id: _cell(columns[col], cell)
                          for col, cell in zip(header, row, strict=False) if col in columns}
            except ValidationError as exc:
                errors.append((number, str(exc)))
                continue
            key = _key(values, match_on)
            target = existing.get(key) if key is not None else None
            if target is None:
                try:
                    rid = tx.create_record(tdef.id, {k: v for k, v in values.items() if v is not None})
                except ValidationError as exc:
                    errors.append((number, str(exc)))
                    continue
                if key is not None:
                    existing[key] = rid
                new += 1
                continue
            matched += 1
            current = ws.record(target, tdef.id)
            changes = {k: v for k, v in values.items() if v is not None and current is not None
                       and current.values.get(k) != v}
            if not changes:
                unchanged += 1
            for field_id, value in changes.items():
                tx.set_field(target, field_id, value)
    if progress is not None:
        progress(len(rows), len(rows))
    return ImportPreview(overlay_id, tdef.id, tdef.display_name, new, matched, unchanged, errors,
                         [f.id for f in columns.values()])
