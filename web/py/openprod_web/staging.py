"""Staging overlays in the browser: the page's staging API (CSV import and paste are in imports.py).

Staged edits are made durable by the core's overlay journal (`Workspace.staging.journal`); which
cells are staged comes from `Workspace.staging.staged_ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openprod import Drift, OverlayInfo, Workspace

from . import writes

CHANGES_SHOWN = 200
ProgressSink = Callable[[str, int, int], Any]


# --- reading what is staged -------------------------------------------------------------------


def staged_cells(ws: Workspace) -> tuple[set[str], set[tuple[str, str]]]:
    """(records created in the active overlay, (record, semantic field key) pairs staged in it)."""
    new: set[str] = set()
    cells: set[tuple[str, str]] = set()
    for op in ws.staging.staged_ops():
        if op.target is None or not op.target_is_id:
            continue
        if op.op_type == "CreateEntity":
            new.add(op.target)
        elif op.field is not None and op.field.count(".") == 2:
            cells.add((op.target, ws.groups.key(op.field)))
    return new, cells


def drift_json(ws: Workspace, d: Drift) -> dict[str, Any]:
    return {"record": d.target, "field": d.field, "key": ws.groups.key(d.field) if d.field.count(".") == 2 else d.field,
            "field_name": d.field_name, "record_label": d.record_label, "mine": d.mine, "canonical": d.canonical,
            "author": d.author, "when": d.when, "description": d.describe()}


def overlay_json(info: OverlayInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "source": info.source, "status": info.status,
            "op_count": info.op_count, "created_at": info.created_at}


def _tables(ws: Workspace, record: str) -> list[str]:
    found = ws.records.get(record)
    return found.tables if found is not None else []


def staged_changes(ws: Workspace, limit: int = CHANGES_SHOWN) -> tuple[list[dict[str, Any]], int]:
    """What the active overlay changes, one entry per new record / field / other op, first `limit`."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    new_records: set[str] = set()
    total = 0
    for op in ws.staging.staged_ops():
        op_type, target, field = op.op_type, op.target, op.field
        if op_type == "CreateEntity" and target is not None:
            key: tuple[Any, ...] = ("new", target)
            new_records.add(target)
        elif target in new_records:
            continue  # the values of a staged new record are part of "new record"
        elif field is not None and target is not None:
            key = ("field", target, field)
        else:
            key = ("op", op_type)
        if key in seen:
            continue
        seen.add(key)
        total += 1
        if len(out) >= limit:
            continue
        if key[0] == "new":
            rid = key[1]
            out.append({"kind": "new", "record": rid, "label": ws.records.label(rid), "tables": _tables(ws, rid)})
        elif key[0] == "field" and field is not None and field.count(".") == 2:
            rid = key[1]
            fdef = ws.schema.fields.get(field)
            out.append({"kind": "field", "record": rid, "label": ws.records.label(rid), "field": field,
                        "field_name": fdef.display_name if fdef else field, "tables": _tables(ws, rid),
                        "value": _current(ws, rid, field), "was": op.was})
        elif key[0] == "field":
            out.append({"kind": "edge_property", "edge": key[1], "field": field, "field_name": field})
        else:
            out.append({"kind": "op", "op_type": op_type})
    return out, total


def _current(ws: Workspace, record: str, field: str) -> Any:
    found = ws.records.get(record)
    return None if found is None else found.values.get(field)


# --- the page's staging methods ----------------------------------------------------------------


class StagingApi:
    """Mixed into Session: `ws` and `progress` are the session's."""

    ws: Workspace
    progress: ProgressSink | None

    def drift_list(self) -> list[Drift]:
        """The active overlay's drift (the session caches it)."""
        active = self.ws.staging.active
        return [] if active is None else self.ws.staging.drift(active)

    def _active(self) -> str:
        active = self.ws.staging.active
        if active is None:
            from openprod import LocalError

            raise LocalError("no overlay is active")
        return active

    async def m_staging(self) -> dict[str, Any]:
        """The active overlay (with its staged changes and drift) and every other overlay."""
        ws = self.ws
        active = ws.staging.active
        overlays = [overlay_json(o) for o in ws.staging.list()]
        if active is None:
            return {"active": None, "overlays": overlays, "drift": [], "changes": [], "change_count": 0}
        drift = [drift_json(ws, d) for d in self.drift_list()]  # first: drift closes the overlay's read view
        changes, total = staged_changes(ws)
        return {"active": next((o for o in overlays if o["id"] == active), None), "overlays": overlays,
                "drift": drift, "changes": changes, "change_count": total}

    async def m_stage_start(self, name: str | None = None) -> dict[str, Any]:
        """Enter staging mode: a new overlay, active at once (any active one is stashed)."""
        label = name or "Changes to review"
        overlay = self.ws.staging.create(label)
        return {"overlay": overlay}

    async def m_stage_activate(self, overlay: str) -> dict[str, Any]:
        """Recall a stashed (or pending script) overlay; the active one is stashed."""
        self.ws.staging.activate(overlay)
        return {"overlay": overlay}

    async def m_stage_stash(self) -> dict[str, Any]:
        """Leave staging mode and keep the overlay for later."""
        active = self.ws.staging.active
        if active is not None:
            self.ws.staging.stash(active)
        return {"overlay": None}

    async def m_stage_discard(self, overlay: str | None = None) -> dict[str, Any]:
        """Throw an overlay away (default: the active one). Canonical data is untouched."""
        target = overlay or self._active()
        self.ws.staging.discard(target)
        return {"discarded": target}

    async def m_stage_commit(self) -> dict[str, Any]:
        """All staged changes as one signed bundle; refused while drift is unacknowledged."""
        receipt = await writes.commit_overlay(self.ws, self._active())
        return {"committed": receipt is not None, "bundle_id": receipt.bundle_id if receipt else None}

    async def m_stage_keep_mine(self, record: str, field: str) -> dict[str, Any]:
        self.ws.staging.keep_mine(self._active(), record, field)
        return {"kept": True}

    async def m_stage_use_canonical(self, record: str, field: str) -> dict[str, Any]:
        """Knock one field's staged edits out of the overlay (it shows the canonical value again)."""
        return {"removed": self.ws.staging.use_canonical(self._active(), record, field)}


# name -> True if the method writes (the worker then waits until its records are durable)
STAGING_METHODS: dict[str, bool] = {
    "staging": False, "stage_start": True, "stage_activate": True, "stage_stash": True, "stage_discard": True,
    "stage_commit": True, "stage_keep_mine": True, "stage_use_canonical": True,
}
