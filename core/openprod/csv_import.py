"""CSV import into a staging overlay, planned and shown in full before anything is staged.

`plan_import` reads nothing but the text it is given (csv_reader) and the workspace, and says
exactly what an import would do: which columns go to which fields (and which are not imported),
every row it cannot import and why (unreadable rows, values that do not fit the field, a row
whose key appears twice in the file, a key that matches several existing records, a new record
missing a required field), the new records, and for each row that matches an existing record
the field-by-field changes. `stage_import` refuses a plan with problems: nothing is imported
until the file is fixed, so no row is ever dropped or merged silently. A clean plan goes into a
new overlay in one staged batch; the person then commits all of it or discards all of it.

Matching: on the key fields `match_on` (full field ids, or short names as everywhere else;
default: the table's name field; [] matches nothing, so every row is a new record), compared
without case and surrounding spaces. Empty cells never clear a value of a matched record, and
leave a new record's field to its default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .bundle import MAX_OPS_PER_BUNDLE
from .csv_reader import CsvTable, Problem, Row, read_bytes, read_table, shown
from .cues import cue_text
from .errors import ValidationError
from .modules import FieldDef, TableDef, normalize_value

if TYPE_CHECKING:
    from .workspace import Workspace

MAX_ROWS = 100_000
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "✓", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Match:
    line: int
    record: str
    changes: list[Change]


@dataclass
class ImportPlan:
    table: str
    table_name: str
    source: CsvTable
    match_on: list[str]
    columns: dict[str, str] = field(default_factory=dict)  # column -> field id
    skipped_columns: dict[str, str] = field(default_factory=dict)  # column -> why it is not imported
    problems: list[Problem] = field(default_factory=list)
    new: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, values)
    matches: list[Match] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return sum(1 for m in self.matches if not m.changes)

    def describe(self) -> str:
        if self.problems:
            n = len(self.problems)
            return (f"{n} row{'s' if n != 1 else ''} cannot be imported as {'they are' if n != 1 else 'it is'}: "
                    "fix the file and check it again. Nothing has been imported.")
        parts = [f"This will create {len(self.new)} new {self.table_name}."]
        if self.matches:
            changing = len(self.matches) - self.unchanged
            n = len(self.matches)
            parts.append(f"{n} {'row matches a record' if n == 1 else 'rows match records'} you already have "
                         f"({changing} with changes).")
        return " ".join(parts)


@dataclass(frozen=True)
class ImportPreview:
    overlay_id: str
    plan: ImportPlan

    @property
    def new(self) -> int:
        return len(self.plan.new)

    @property
    def matched(self) -> int:
        return len(self.plan.matches)

    def describe(self) -> str:
        return self.plan.describe()


class ImportRefused(ValidationError):
    """The plan has problems; nothing was staged. `plan` says which rows and why."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__(plan.describe())
        self.plan = plan


def convert_cell(fdef: FieldDef, raw: str) -> Any:
    """Text from a spreadsheet cell -> the field's value (None for an empty cell); ValidationError says why not."""
    text = raw.strip()
    if text == "":
        return None
    if fdef.type == "number":
        clean = text.replace(",", "").replace("\u2212", "-")
        try:
            number = float(clean) if any(c in clean for c in ".eE") else int(clean)
        except ValueError:
            raise ValidationError(f"{fdef.display_name}: {text!r} is not a number") from None
        return normalize_value(fdef, number)
    if fdef.type == "boolean":
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ValidationError(f"{fdef.display_name}: {text!r} is not yes or no")
    try:
        return normalize_value(fdef, text if fdef.type != "string" else raw)
    except ValidationError as exc:
        raise ValidationError(f"{fdef.display_name}: {str(exc).split(': ', 1)[-1]}") from None


def map_columns(tdef: TableDef, header: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(column -> field id, column -> why not imported). Columns match a field's name or display name."""
    by_name: dict[str, FieldDef] = {}
    for fdef in tdef.fields.values():
        by_name.setdefault(fdef.name.lower(), fdef)
        by_name.setdefault(fdef.display_name.lower(), fdef)
    mapped: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for column in header:
        found = by_name.get(column.strip().lower())
        if not column.strip():
            skipped[column] = "the column has no name"
        elif found is None:
            skipped[column] = f"{tdef.display_name} has no field with that name"
        elif found.crdt is not None:
            skipped[column] = f"{found.display_name} is edited in the record form"
        elif found.id in mapped.values():
            skipped[column] = f"another column already goes to {found.display_name}"
        else:
            mapped[column] = found.id
    return mapped, skipped


def _key(values: dict[str, Any], match_on: list[str]) -> tuple[Any, ...] | None:
    if not match_on:
        return None
    parts = []
    for field_id in match_on:
        value = values.get(field_id)
        if value is None:
            return None  # an empty key never matches
        parts.append(value.strip().casefold() if isinstance(value, str) else value)
    return tuple(parts)


def plan_import(ws: Workspace, table: str, source: CsvTable | str | bytes, *, match_on: list[str] | None = None,
                progress: Progress | None = None) -> ImportPlan:
    """What importing `source` into `table` would do; changes nothing."""
    tdef = ws.schema.table(table)
    if isinstance(source, bytes):
        source = read_bytes(source)
    elif isinstance(source, str):
        source = read_table(source)
    if not source.header:
        raise ValidationError("the file is empty: there is no header row with column names")
    if len(source.rows) + len(source.problems) > MAX_ROWS:
        raise ValidationError(f"the file has {len(source.rows)} rows; at most {MAX_ROWS} can be imported at once")
    fields = {f.id: f for f in tdef.fields.values()}
    if match_on is None:
        match_on = [f.id for f in tdef.fields.values() if f.shared_key == "name" or f.name == "name"][:1]
    match_on = [_key_field(ws, tdef, name) for name in match_on]
    columns, skipped = map_columns(tdef, source.header)
    if not columns:
        known = ", ".join(f.display_name for f in tdef.fields.values())
        raise ValidationError(f"none of the columns ({', '.join(source.header)}) is a field of "
                              f"{tdef.display_name} ({known})")
    plan = ImportPlan(tdef.id, tdef.display_name, source, list(match_on), columns, skipped, list(source.problems))
    existing: dict[tuple[Any, ...], list[Any]] = {}
    if match_on:
        for record in ws.records.all(tdef.id):
            key = _key(record.values, match_on)
            if key is not None:
                existing.setdefault(key, []).append(record)
    seen: dict[tuple[Any, ...], int] = {}
    key_names = " and ".join(fields[f].display_name for f in match_on)
    required = [f for f in tdef.fields.values() if f.required and f.default is None]
    index = {column: i for i, column in enumerate(source.header)}
    total = len(source.rows)
    for done, row in enumerate(source.rows, start=1):
        if progress is not None and done % 200 == 0:
            progress(done, total)
        problem = _plan_row(plan, row, fields, index, existing, seen, key_names, required)
        if problem is not None:
            plan.problems.append(Problem(row.line, shown(row.text), problem))
    plan.problems.sort(key=lambda p: p.line)
    if progress is not None:
        progress(total, total)
    operations = sum(1 + len(values) for _line, values in plan.new) + sum(len(m.changes) for m in plan.matches)
    if operations > MAX_OPS_PER_BUNDLE:  # committed as one change, which every peer would refuse
        rows = max(1, len(plan.new) + len(plan.matches))
        part = max(1, int(MAX_OPS_PER_BUNDLE / (operations / rows)) // 100 * 100)
        raise ValidationError(f"this file makes {operations:,} changes, more than one import can hold "
                              f"({MAX_OPS_PER_BUNDLE:,}): split it into files of at most {part:,} rows")
    return plan


def _key_field(ws: Workspace, tdef: TableDef, name: str) -> str:
    """A match key as the full field id: named like any field (full id, 'Table.field' or 'field')."""
    try:
        found = ws.schema.field(name, [tdef.id])
    except ValidationError:
        found = None
    if found is None or found.id not in {f.id for f in tdef.fields.values()}:
        raise ValidationError(f"cannot match on {name!r}: not a field of {tdef.display_name}")
    return found.id


def _plan_row(plan: ImportPlan, row: Row, fields: dict[str, FieldDef], index: dict[str, int],
              existing: dict[tuple[Any, ...], list[Any]], seen: dict[tuple[Any, ...], int], key_names: str,
              required: list[FieldDef]) -> str | None:
    """Adds the row to the plan (new or match), or returns why it cannot be imported."""
    if not any(cell.strip() for cell in row.cells):
        return None  # a row of empty cells holds nothing to import
    values: dict[str, Any] = {}
    for column, field_id in plan.columns.items():
        try:
            values[field_id] = convert_cell(fields[field_id], row.cells[index[column]])
        except ValidationError as exc:
            return str(exc)
    key = _key(values, plan.match_on)
    if key is not None:
        if key in seen:
            return (f"the same {key_names} as line {seen[key]} ({', '.join(str(k) for k in key)}): "
                    f"fix one of them, or match on another column")
        seen[key] = row.line
        found = existing.get(key, [])
        if len(found) > 1:
            return (f"{len(found)} existing records have this {key_names}: it cannot tell which one to update; "
                    "match on another column")
        if found:
            current = found[0].values
            changes = [Change(fid, current.get(fid), value) for fid, value in values.items()
                       if value is not None and not _same(fields[fid], current.get(fid), value)
                       and not (fid in plan.match_on and _key({fid: current.get(fid)}, [fid]) == _key(values, [fid]))]
            plan.matches.append(Match(row.line, found[0].id, changes))
            return None
    missing = [f.display_name for f in required if values.get(f.id) is None]
    if missing:
        return f"a new record needs {', '.join(missing)}, and this row has none"
    plan.new.append((row.line, {k: v for k, v in values.items() if v is not None}))
    return None


def _same(fdef: FieldDef, current: Any, value: Any) -> bool:
    if fdef.type == "cue":
        return bool(cue_text(current) == value)  # a cue number written while the field was a number: 10.1 == "10.1"
    return bool(current == value and type(current) is type(value))


def stage_import(ws: Workspace, plan: ImportPlan, *, name: str | None = None,
                 progress: Progress | None = None) -> ImportPreview:
    """Stage a clean plan in a new active overlay (one staged batch). Refuses a plan with problems."""
    if plan.problems:
        raise ImportRefused(plan)
    overlay_id = ws.staging.create(name or f"Import into {plan.table_name}")
    total = len(plan.new) + len(plan.matches)
    done = 0
    with ws.transaction(kind="import") as tx:
        for _line, values in plan.new:
            tx.create_record(plan.table, values)
            done += 1
            if progress is not None and done % 50 == 0:
                progress(done, total)
        for match in plan.matches:
            for change in match.changes:
                tx.set_field(match.record, change.field, change.new)
            done += 1
            if progress is not None and done % 50 == 0:
                progress(done, total)
    if progress is not None:
        progress(total, total)
    return ImportPreview(overlay_id, plan)


def stage_csv(ws: Workspace, table: str, text: str | bytes, *, match_on: list[str] | None = None,
              name: str | None = None, progress: Progress | None = None) -> ImportPreview:
    """Plan and stage in one step; raises ImportRefused (nothing staged) if any row has a problem."""
    return stage_import(ws, plan_import(ws, table, text, match_on=match_on), name=name, progress=progress)
