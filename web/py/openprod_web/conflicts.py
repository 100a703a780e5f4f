"""Conflicts for the page: open conflicts in plain words, and resolving them (one, or a group)."""

from __future__ import annotations

from typing import Any

from openprod import Conflict, ValidationError, Workspace
from openprod.modules import FieldDef, property_def

from . import writes
from .fields import coerce_input, field_json

GROUP_THRESHOLD = 3  # groups with more conflicts than this offer "take one person's side for all"


def _field(ws: Workspace, c: Conflict) -> FieldDef | None:
    """The field (or edge property, as a field) a new value for this conflict must fit."""
    if c.is_edge:
        etype = ws.schema.edge_types.get(ws.records.edge_type_of(c.target) or "")
        return property_def(etype, c.key) if etype is not None else None
    return ws.schema.fields.get(c.competitors[-1].field)


def conflict_json(ws: Workspace, c: Conflict) -> dict[str, Any]:
    fdef = _field(ws, c)
    record = None if c.is_edge else ws.records.get(c.target)
    tables = record.tables if record is not None else []
    return {
        "id": c.id, "record": None if c.is_edge else c.target, "key": c.key, "is_edge": c.is_edge,
        "table": c.table, "tables": tables, "record_label": c.record_label, "field_name": c.field_name,
        "current": c.current, "description": c.describe(),
        "field": field_json(fdef, False) if fdef is not None else None,
        "competitors": [{"op_id": k.op_id, "value": k.value, "actor": k.actor,
                         "display_name": k.display_name, "when": k.when, "field": k.field} for k in c.competitors],
    }


def conflict_keys(ws: Workspace) -> dict[tuple[str, str], tuple[str, str]]:
    """(record id, semantic field key) -> (conflict id, description), for flagging cells."""
    return {(c.target, c.key): (c.id, c.describe()) for c in ws.conflicts.open() if not c.is_edge}


class ConflictsApi:
    """Mixed into Session."""

    ws: Workspace

    def _find(self, conflict: str) -> Conflict:
        found = next((c for c in self.ws.conflicts.open() if c.id == conflict), None)
        if found is None:
            raise ValidationError("this conflict has changed or is already resolved; the list has been refreshed")
        return found

    async def m_conflicts(self, threshold: int = GROUP_THRESHOLD) -> dict[str, Any]:
        """Every open conflict, oldest first, and the groups large enough to settle in one go."""
        ws = self.ws
        conflicts = ws.conflicts.open()
        groups = []
        for names, items in ws.conflicts.groups(threshold=threshold):
            actors = items[0].actors
            people: dict[str, str] = {}
            for c in items:
                for k in c.competitors:
                    people.setdefault(k.actor, k.display_name)
            groups.append({"names": list(names), "count": len(items), "actors": list(actors),
                           "people": [{"actor": a, "display_name": people.get(a, a[:8])} for a in actors],
                           "conflicts": [c.id for c in items]})
        return {"conflicts": [conflict_json(ws, c) for c in conflicts], "groups": groups}

    async def m_resolve_conflict(self, conflict: str, pick: str | None = None, value: Any = None) -> dict[str, Any]:
        """Pick one competitor (`pick` = its op id), or enter a new `value` (empty clears)."""
        found = self._find(conflict)
        if pick is not None:
            async with writes.transaction(self.ws, kind="resolution") as tx:
                tx.resolve_conflict(found, pick=pick)
        else:
            fdef = _field(self.ws, found)
            coerced = coerce_input(fdef, value) if fdef is not None else value
            async with writes.transaction(self.ws, kind="resolution") as tx:
                tx.resolve_conflict(found, value=coerced)
        return {"resolved": conflict}

    async def m_resolve_all(self, actors: list[str], take: str) -> dict[str, Any]:
        """Settle every conflict between exactly these people by taking `take`'s side."""
        wanted = tuple(sorted(actors))
        if take not in wanted:
            raise ValidationError("the person whose side to take is not part of this group")
        items = [c for c in self.ws.conflicts.open() if c.actors == wanted]
        if not items:
            raise ValidationError("these conflicts are already resolved; the list has been refreshed")
        async with writes.transaction(self.ws, kind="resolution") as tx:
            count = tx.resolve_all(items, take=take)
        return {"resolved": count}


CONFLICT_METHODS: dict[str, bool] = {"conflicts": False, "resolve_conflict": True, "resolve_all": True}
