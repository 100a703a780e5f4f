"""Views and documents for the page: list, run (a saved view or a draft from the builder), save,
delete, and export as CSV or an Excel workbook. The core does the work (openprod.views,
openprod.export); this module turns it into JSON and into files to download."""

from __future__ import annotations

import base64
import datetime
import re
from typing import Any

from openprod import ValidationError, ViewDef, Workspace
from openprod.export import to_csv, to_xlsx
from openprod.modules import EdgeTypeDef
from openprod.views import check_definition, day_filter, result_json, views_json

from . import writes

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _tables_of(etype: EdgeTypeDef, end: str) -> list[str]:
    if end == "target":
        return [*etype.target_tables, *etype.target_tables_hint]
    return [*etype.source_tables, *etype.source_tables_hint]


def _safe(part: str) -> str:
    """A name part any file system keeps: no path separators, colons or other reserved characters
    (Windows, macOS, USB sticks), no control characters, no leading or trailing dots and spaces."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', " ", part)
    return re.sub(r"\s+", " ", cleaned).strip(" .")[:80].strip(" .")


def filename(show: str, sheet: str, extension: str, day: str | None = None, offset: int | None = None) -> str:
    """Named after the show and the sheet ("Hamlet - LX Cues - 2026-12-07.csv"), so a download folder
    full of exports says which show each came from, and the day it shows (a dated document) or was made.
    `offset`: the device's minutes east of UTC (Python in the browser runs on UTC: at 8 PM in New York
    "today" would be tomorrow)."""
    if day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        when = day
    else:
        now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=offset or 0)
        when = now.date().isoformat()
    parts = [p for p in (_safe(show), _safe(sheet)) if p] or ["Export"]
    return f"{' - '.join(parts)} - {when}.{extension}"


class ViewsApi:
    """Mixed into Session."""

    ws: Workspace

    def _view(self, view: str | None, definition: dict[str, Any] | None, name: str = "Draft") -> ViewDef:
        if definition is not None:
            clean = check_definition(definition)
            clean["table"] = self.ws.schema.table(clean["table"]).id
            return ViewDef(view or "draft", name or "Draft", clean)
        if view is None:
            raise ValidationError("choose a view")
        if view.startswith("table:"):
            return self.ws.views.table(view[len("table:"):])
        return self.ws.views.find(view)

    def _also(self, view: ViewDef, day: str | None, offset: int | None) -> str | None:
        field = view.definition.get("date_field")
        if not field or not day:
            return None
        return day_filter(field, day, int(offset or 0))

    async def m_views(self) -> list[dict[str, Any]]:
        """Every view and document, module ones first."""
        out = views_json(self.ws.views.list())
        for item in out:
            tdef = self.ws.schema.tables.get(item["table"])
            item["table_name"] = tdef.display_name if tdef is not None else item["table"]
        return out

    async def m_view_fields(self, table: str) -> list[dict[str, Any]]:
        """What the builder offers for a table: its fields, and fields one link away (both ways)."""
        schema = self.ws.schema
        tdef = schema.table(table)
        out = [{"path": f.id, "label": f.display_name, "type": f.type, "group": tdef.display_name}
               for f in tdef.fields.values()]
        for etype in schema.edge_types.values():
            for direction, here, there in (("out", "source", "target"), ("in", "target", "source")):
                if tdef.id not in _tables_of(etype, here):
                    continue
                group = etype.display_name if direction == "out" else f"{etype.display_name} (from)"
                for other in _tables_of(etype, there):
                    odef = schema.tables.get(other)
                    if odef is None:
                        continue
                    for f in odef.fields.values():
                        path = (f"{etype.id}->target.{f.id}" if direction == "out" else f"<-{etype.id}.source.{f.id}")
                        out.append({"path": path, "label": f"{odef.display_name} › {f.display_name}", "type": f.type,
                                    "group": group})
                for prop, ptype in etype.properties.items():
                    path = f"{etype.id}.{prop}" if direction == "out" else f"<-{etype.id}.{prop}"
                    out.append({"path": path, "label": f"{etype.display_name} › {prop.replace('_', ' ')}",
                                "type": ptype, "group": group})
        return out

    async def m_view_run(self, view: str | None = None, definition: dict[str, Any] | None = None,
                         name: str = "", day: str | None = None, offset: int | None = None) -> dict[str, Any]:
        """A view's rows (through the active overlay); `definition`: a draft from the builder."""
        found = self._view(view, definition, name)
        result = self.ws.views.run(found, also=self._also(found, day, offset))
        out = result_json(result)
        out["table_name"] = self.ws.schema.table(found.table).display_name
        if found.definition.get("layout") == "report":  # the page lists reports by their titles
            for group in out["groups"]:
                for row in group["rows"]:
                    row["title"] = self.ws.records.label(row["id"])
        for column in out["columns"]:  # a phone number is never broken across lines on paper
            fdef = self.ws.schema.fields.get(column["field"] or "")
            column["nowrap"] = fdef is not None and (fdef.shared_key == "phone" or "phone" in fdef.name)
            column["section"] = fdef is not None and fdef.crdt == "text"  # a report's written section
        return out

    async def m_view_save(self, name: str, definition: dict[str, Any], view: str | None = None) -> dict[str, Any]:
        """Save a view (new, or replacing a saved one): synced like any edit, staged while staging."""
        if view is not None and "." in view:
            view = None  # a module's view is changed by saving a copy
        async with writes.transaction(self.ws) as tx:
            saved = tx.save_view(name, definition, view)
        return {"id": saved}

    async def m_view_delete(self, view: str) -> dict[str, Any]:
        async with writes.transaction(self.ws) as tx:
            tx.delete_view(view)
        return {"deleted": view}

    async def m_view_export(self, format: str, view: str | None = None, definition: dict[str, Any] | None = None,
                            name: str = "", day: str | None = None, offset: int | None = None) -> dict[str, Any]:
        """A file to download: {filename, mime, text} for CSV, {filename, mime, base64} for Excel."""
        found = self._view(view, definition, name)
        result = self.ws.views.run(found, also=self._also(found, day, offset))
        shown_day = day if found.definition.get("date_field") else None
        if format == "csv":
            return {"filename": filename(self.ws.name, found.name, "csv", shown_day, offset), "mime": "text/csv",
                    "text": to_csv(result)}
        if format == "xlsx":
            data = to_xlsx(result)
            return {"filename": filename(self.ws.name, found.name, "xlsx", shown_day, offset), "mime": XLSX_MIME,
                    "base64": base64.b64encode(data).decode("ascii")}
        raise ValidationError(f"export as csv or xlsx, not {format!r}")


VIEW_METHODS: dict[str, bool] = {"views": False, "view_fields": False, "view_run": False, "view_export": False,
                                 "view_save": True, "view_delete": True}
