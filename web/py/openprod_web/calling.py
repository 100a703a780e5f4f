"""Calling a show, for the page: the cue lists, one list as a calling script (current cue, standby,
next, with warnings in a stage manager's words), GO, and show notes that land in the day's
performance report. The core reads the list and keeps the shared position (openprod.calling);
this module decides what the caller sees and says it in words."""

from __future__ import annotations

from typing import Any

from openprod import CallingCue, CallingSheet, ValidationError, Workspace
from openprod.views import day_filter

from . import writes

REPORTS = "reports.Reports"
NOTES_FIELD = "reports.Reports.stage_management"  # the report's "Stage management" section
MAX_NOTE = 2_000


def _page(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def cue_json(cue: CallingCue | None) -> dict[str, Any] | None:
    if cue is None:
        return None
    return {"id": cue.id, "number": cue.number or "?", "label": cue.label, "description": cue.description,
            "page": _page(cue.page), "scene": cue.scene, "called": cue.called, "fade": cue.fade,
            "call_text": cue.call_text}


def _next_called(sheet: CallingSheet, after: int) -> int:
    """The index of the next cue someone calls after `after` (-1: none left)."""
    for index in range(after + 1, len(sheet.cues)):
        if sheet.cues[index].called:
            return index
    return -1


def _name(cue: CallingCue) -> str:
    return f"cue {cue.number}" if cue.number else "the next cue"


def warnings(sheet: CallingSheet, current: int, standby: int) -> list[dict[str, str]]:
    """What a stage manager wants to be told about the standby, most urgent first.

    {"level": "now" | "soon" | "info", "text": ...}: "now" when the standby should be given at once
    (the cue is on the page already open, or follows straight after), "info" for what needs no GO."""
    out: list[dict[str, str]] = []
    now = sheet.at(current)
    nxt = sheet.at(standby)
    if nxt is None:
        if sheet.cues and current >= 0:
            out.append({"level": "info", "text": "That was the last cue in this list."})
        return out
    between = [c for c in sheet.cues[current + 1:standby] if not c.called]
    for cue in between:
        out.append({"level": "info", "text": f"{_name(cue).capitalize()} follows on its own: no GO."})
    if now is None:
        out.append({"level": "now", "text": f"Top of the show: stand by {_name(nxt)}."})
    elif nxt.page is not None and now.page is not None and _page(nxt.page) == _page(now.page):
        out.append({"level": "now", "text": f"{_name(nxt).capitalize()} is on this page: give the standby now."})
    elif nxt.page is not None and now.page is not None:
        out.append({"level": "soon", "text": f"{_name(nxt).capitalize()} is on page {_page(nxt.page)}."})
    if nxt.scene and (now is None or nxt.scene != now.scene):
        out.append({"level": "info", "text": f"New scene: {nxt.scene}."})
    return out


def sheet_json(sheet: CallingSheet) -> dict[str, Any]:
    current = sheet.index
    standby = _next_called(sheet, current)
    after = _next_called(sheet, standby) if standby >= 0 else -1
    position = sheet.position
    return {
        "cue_list": sheet.cue_list, "name": sheet.name, "count": len(sheet.cues),
        "current": cue_json(sheet.at(current)), "standby": cue_json(sheet.at(standby)),
        "next": cue_json(sheet.at(after)),
        "index": current, "standby_index": standby,
        "called": None if position is None else {
            "by": position.by, "by_name": position.by_name, "at_ms": position.at_ms, "cue": position.cue,
            "missing": position.cue is not None and position.index < 0},
        "warnings": warnings(sheet, current, standby),
        "cues": [cue_json(c) for c in sheet.cues],
    }


class CallingApi:
    """Mixed into Session."""

    ws: Workspace

    async def m_cue_lists(self) -> list[dict[str, Any]]:
        return [{"id": c.id, "name": c.name, "count": c.count,
                 "edge_type": self.ws.schema.edge_type(c.edge_type).display_name} for c in self.ws.calling.cue_lists()]

    async def m_calling_sheet(self, cue_list: str) -> dict[str, Any]:
        out = sheet_json(self.ws.calling.sheet(cue_list))
        out["notes_to"] = REPORTS in self.ws.schema.tables
        return out

    async def m_calling_go(self, cue_list: str, cue: str | None, expect: str | None = None) -> dict[str, Any]:
        """GO: `cue` was just called (None: back to the top). `expect`: the cue the page showed as
        current; if someone else called since, nothing is written and the page is told."""
        sheet = self.ws.calling.sheet(cue_list)
        shown = sheet.position.cue if sheet.position is not None else None
        if expect != shown:
            return {"moved": False, **sheet_json(sheet)}
        async with writes.transaction(self.ws, kind="calling", staging=False) as tx:
            tx.set_calling_position(cue_list, cue)
        return {"moved": True, **sheet_json(self.ws.calling.sheet(cue_list))}

    def _todays_report(self, day: str, offset: int) -> str | None:
        found = self.ws.views.query(f'kind == "Performance" AND ({day_filter("date", day, offset)})', table=REPORTS)
        return found[-1] if found else None

    async def m_calling_note(self, cue_list: str, text: str, day: str, clock: str, offset: int = 0,
                             now_iso: str | None = None) -> dict[str, Any]:
        """Add a show note to today's performance report (its Stage management section), stamped
        with the time and the cue called last; the report is started if there is none for today."""
        text = " ".join(str(text).split())
        if not text:
            raise ValidationError("type the note first")
        if len(text) > MAX_NOTE:
            raise ValidationError(f"a note is at most {MAX_NOTE} characters; this one has {len(text)}")
        if REPORTS not in self.ws.schema.tables:
            raise ValidationError("this workspace has no reports: add the Reports module to keep show notes")
        sheet = self.ws.calling.sheet(cue_list)
        current = sheet.at(sheet.index)
        where = f"after {_name(current)}" if current is not None else "before the first cue"
        line = f"{clock} ({sheet.name}, {where}): {text}"
        record = self._todays_report(day, int(offset))
        started = record is None
        async with writes.transaction(self.ws, staging=False) as tx:
            if record is None:
                record = tx.create_record(REPORTS, {"title": f"Performance report {day}", "kind": "Performance",
                                                    "date": now_iso or f"{day}T12:00:00Z"})
                existing = ""
            else:
                existing = self.ws.records.value(record, NOTES_FIELD) or ""
            tx.set_text(record, NOTES_FIELD, existing + ("\n" if existing else "") + line)  # an append: the
            # smallest edit, so notes others type in the same section at the same time are kept
        return {"report": record, "line": line, "started": started,
                "title": self.ws.records.label(record)}


CALLING_METHODS: dict[str, bool] = {"cue_lists": False, "calling_sheet": False, "calling_go": True,
                                    "calling_note": True}
