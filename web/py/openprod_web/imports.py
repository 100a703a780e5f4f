"""Bringing many values in at once: CSV/TSV import, paste of a block of cells, fill down.

The rule for all three: nothing is dropped or merged silently. An import is checked first
(`import_check`, which writes nothing) and staged only when every row can be imported; a paste
is written all or nothing, any cell that cannot be written is reported and nothing is; a large
paste is staged for review instead of saved at once.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from openprod import ValidationError, Workspace
from openprod.csv_import import ImportPlan, convert_cell, plan_import, stage_import
from openprod.csv_reader import Problem, read_bytes, read_table, shown
from openprod.modules import FieldDef

from . import writes

ProgressSink = Callable[[str, int, int], Any]
SHOWN_PROBLEMS = 200
SHOWN_MATCHES = 200
STAGE_PASTE_ROWS = 20  # a paste touching more rows than this is staged for review (docs/web.md)
MATCH_TYPES = frozenset({"string", "number", "cue", "timestamp"})


def problem_json(p: Problem) -> dict[str, Any]:
    return {"line": p.line, "content": p.content, "message": p.message}


class ImportApi:
    """Mixed into Session: `ws` and `progress` are the session's."""

    ws: Workspace
    progress: ProgressSink | None

    def _sink(self, kind: str) -> Callable[[int, int], None]:
        sink = self.progress

        def report(done: int, total: int) -> None:
            if sink is not None:
                sink(kind, done, total)

        return report

    def _plan(self, table: str, data: str | None, text: str | None, match_on: list[str] | None) -> ImportPlan:
        if data is not None:
            source = read_bytes(base64.b64decode(data))
        elif text is not None:
            source = read_table(text)
        else:
            raise ValidationError("choose a file or paste the rows first")
        return plan_import(self.ws, table, source, match_on=match_on, progress=self._sink("check"))

    def _plan_json(self, plan: ImportPlan) -> dict[str, Any]:
        ws = self.ws
        tdef = ws.schema.table(plan.table)

        def name(fid: str) -> str:
            return ws.schema.field(fid).display_name

        label_field = next((f.id for f in tdef.fields.values() if f.id in plan.match_on), None)
        matches = []
        for m in plan.matches[:SHOWN_MATCHES]:
            record = ws.records.get(m.record)
            matched = record.values.get(label_field) if record and label_field else None
            label = str(matched) if matched not in (None, "") else ws.records.label(m.record)
            matches.append({"line": m.line, "record": m.record, "label": label,
                            "changes": [{"field": c.field, "field_name": name(c.field), "old": c.old, "new": c.new}
                                        for c in m.changes]})
        source = plan.source
        return {
            "table": plan.table, "table_name": plan.table_name, "description": plan.describe(),
            "encoding": source.encoding, "delimiter": source.delimiter_name, "rows": len(source.rows),
            "columns": [{"column": c, "field": f, "field_name": name(f)} for c, f in plan.columns.items()],
            "skipped_columns": [{"column": c, "reason": r} for c, r in plan.skipped_columns.items()],
            "problems": [problem_json(p) for p in plan.problems[:SHOWN_PROBLEMS]],
            "problem_count": len(plan.problems),
            "new": len(plan.new), "matched": len(plan.matches), "unchanged": plan.unchanged,
            "matches": matches,
            "match_on": plan.match_on, "match_names": [name(f) for f in plan.match_on],
            "match_options": [{"field": f.id, "field_name": f.display_name} for f in tdef.fields.values()
                              if f.type in MATCH_TYPES and f.crdt is None],
        }

    async def m_import_check(self, table: str, data: str | None = None, text: str | None = None,
                             match_on: list[str] | None = None) -> dict[str, Any]:
        """What importing the file (base64 `data`) or pasted `text` would do. Writes nothing."""
        return self._plan_json(self._plan(table, data, text, match_on))

    async def m_import_csv(self, table: str, data: str | None = None, text: str | None = None,
                           match_on: list[str] | None = None, name: str | None = None) -> dict[str, Any]:
        """Stage the import in a new active overlay; refused (nothing staged) if any row has a problem."""
        plan = self._plan(table, data, text, match_on)
        preview = stage_import(self.ws, plan, name=name, progress=self._sink("import"))
        return {"overlay": preview.overlay_id, **self._plan_json(plan)}

    # --- paste and fill down -------------------------------------------------------------

    async def m_paste(self, table: str, text: str, records: list[str], fields: list[str],
                      name: str | None = None) -> dict[str, Any]:
        """Paste a TSV block with its top left at (records[0], fields[0]).

        `records`: the rows shown from the anchor down (the block may run past them: the rest become
        new records); `fields`: the columns shown from the anchor rightwards. All or nothing: if any
        cell cannot be written, the answer lists every such cell and nothing is written."""
        tdef = self.ws.schema.table(table)
        block = read_table(text, "\t", header=False)
        problems = [problem_json(p) for p in block.problems]
        width = max((len(r.cells) for r in block.rows), default=0)
        if not block.rows:
            raise ValidationError("there is nothing to paste")
        if width > len(fields):
            problems.append({"line": 1, "content": shown(block.rows[0].text),
                             "message": f"the pasted block is {width} columns wide, but there are only {len(fields)} "
                                        "columns from here to the right"})
            return {"problems": problems}
        fdefs = [self.ws.schema.field(f) for f in fields[:width]]
        updates: list[tuple[str, dict[str, Any]]] = []
        creates: list[dict[str, Any]] = []
        for index, row in enumerate(block.rows):
            values: dict[str, Any] = {}
            bad: set[str] = set()
            for fdef, cell in zip(fdefs, row.cells, strict=False):
                problem = self._paste_problem(fdef, cell, values, creating=index >= len(records))
                if problem is not None:
                    bad.add(fdef.id)
                    problems.append({"line": row.line, "content": shown(row.text), "message": problem})
            if index < len(records):
                updates.append((records[index], values))
            else:  # a required cell already listed as unreadable is not missing as well (one problem, not two)
                missing = [f.display_name for f in tdef.fields.values()
                           if f.required and f.default is None and values.get(f.id) is None and f.id not in bad]
                if missing:
                    problems.append({"line": row.line, "content": shown(row.text),
                                     "message": f"this row would be a new record, which needs {', '.join(missing)}"})
                creates.append({k: v for k, v in values.items() if v is not None})
        if problems:
            return {"problems": problems}
        changed = [(rid, fid, v) for rid, values in updates for fid, v in values.items()
                   if not _same(self.ws.records.value(rid, fid), v)]
        touched = len({rid for rid, _f, _v in changed}) + len(creates)
        staged = touched > STAGE_PASTE_ROWS and self.ws.staging.active is None
        if staged:
            self.ws.staging.create(name or f"Paste of {len(block.rows)} rows into {tdef.display_name}")
        created = []
        if changed or creates:
            async with writes.transaction(self.ws) as tx:
                if touched > 1:  # one cell or one row: undo words it from the change ("Ann's Role, back to …")
                    tx.description = f"{touched} pasted rows in {tdef.display_name}"
                for rid, fid, value in changed:
                    if value is None:
                        tx.clear_field(rid, fid)
                    else:
                        tx.set_field(rid, fid, value)
                created = [tx.create_record(tdef.id, values) for values in creates]
        return {"problems": [], "changed": len(changed), "created": created, "rows": len(block.rows),
                "records": len({rid for rid, _f, _v in changed}), "staged": staged,
                "overlay": self.ws.staging.active if staged else None}

    def _paste_problem(self, fdef: FieldDef, cell: str, values: dict[str, Any], creating: bool) -> str | None:
        if fdef.crdt is not None:
            return f"{fdef.display_name} is edited in the record form; it cannot be pasted into"
        try:
            value = convert_cell(fdef, cell)
        except ValidationError as exc:
            return str(exc)
        if value is None and fdef.required and not creating:
            return f"{fdef.display_name} is required: it cannot be emptied"
        values[fdef.id] = value
        return None

    async def m_fill_down(self, records: list[str], fields: list[str]) -> dict[str, Any]:
        """Copy the first record's values of `fields` into the other `records` (one bundle)."""
        if len(records) < 2:
            raise ValidationError("select at least two rows to fill down")
        top = records[0]
        changed = 0
        async with writes.transaction(self.ws) as tx:
            names = " and ".join(self.ws.schema.field(f).display_name for f in fields[:2])
            tx.description = f"filling down {names if len(fields) <= 2 else f'{len(fields)} columns'}"
            for fid in fields:
                fdef = self.ws.schema.field(fid)
                if fdef.crdt is not None:
                    raise ValidationError(f"{fdef.display_name} is edited in the record form; it cannot be filled")
                value = self.ws.records.value(top, fid)
                for rid in records[1:]:
                    if _same(self.ws.records.value(rid, fid), value):
                        continue
                    if value is None:
                        tx.clear_field(rid, fid)
                    else:
                        tx.set_field(rid, fid, value)
                    changed += 1
        return {"changed": changed}


    async def m_clear_cells(self, records: list[str], fields: list[str]) -> dict[str, Any]:
        """Empty a block of cells (one bundle). All or nothing: a required field is never emptied."""
        problems = []
        for fid in fields:
            fdef = self.ws.schema.field(fid)
            if fdef.crdt is not None:
                problems.append(f"{fdef.display_name} is edited in the record form")
            elif fdef.required:
                problems.append(f"{fdef.display_name} is required: it cannot be emptied")
        if problems:
            raise ValidationError("nothing was cleared: " + "; ".join(problems))
        targets = [(rid, fid) for rid in records for fid in fields if self.ws.records.value(rid, fid) is not None]
        if targets:
            async with writes.transaction(self.ws) as tx:
                if len(targets) > 1:
                    tx.description = f"clearing {len(targets)} cells"
                for rid, fid in targets:
                    tx.clear_field(rid, fid)
        return {"cleared": len(targets)}


def _same(current: Any, new: Any) -> bool:
    return bool(current == new and type(current) is type(new))


IMPORT_METHODS: dict[str, bool] = {"import_check": False, "import_csv": True, "paste": True, "fill_down": True,
                                   "clear_cells": True}
