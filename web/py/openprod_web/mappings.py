"""Shared fields for the page: mapping suggestions in words, previews, confirming or turning
them down, and linking / unlinking tables (the core's `Workspace.mapping_*`, `link_preview`)."""

from __future__ import annotations

from typing import Any

from openprod import ValidationError, Workspace

from . import writes


def _table(ws: Workspace, table: str) -> str:
    tdef = ws.schema.tables.get(table)
    return tdef.display_name if tdef is not None else table


def _field(ws: Workspace, field_id: str) -> dict[str, Any]:
    fdef = ws.schema.fields[field_id]
    return {"id": fdef.id, "name": fdef.display_name, "table": fdef.table, "table_name": _table(ws, fdef.table)}


def suggestion_json(ws: Workspace, s: Any) -> dict[str, Any]:
    a, b = s.fields
    return {"fields": [_field(ws, a), _field(ws, b)], "description": s.description, "key": f"{a}|{b}"}


class MappingsApi:
    """Mixed into Session."""

    ws: Workspace

    def _linkable_pairs(self) -> list[tuple[str, str]]:
        """Table pairs worth offering: declared compatible by their modules, or linked already."""
        ws = self.ws
        pairs: set[tuple[str, str]] = set()
        for tdef in ws.schema.tables.values():
            for other in tdef.compatible_tables:
                if other in ws.schema.tables:
                    pairs.add((tdef.id, other) if tdef.id < other else (other, tdef.id))
        pairs.update((a, b) for a, b in ws.mappings.linked_tables() if a in ws.schema.tables and b in ws.schema.tables)
        return sorted(pairs)

    async def m_shared_fields(self) -> dict[str, Any]:
        """The open questions ("Contacts and Attendees both have Email: keep them as one field?"),
        and each pair of tables that could be linked: linked or not, which fields are one."""
        ws = self.ws
        groups = ws.groups
        links = []
        for a, b in self._linkable_pairs():
            state = ws.mappings.unlink_preview(a, b)
            one = []
            for fa in ws.schema.tables[a].fields.values():
                for fb in ws.schema.tables[b].fields.values():
                    if groups.key(fa.id) == groups.key(fb.id):
                        one.append({"fields": [_field(ws, fa.id), _field(ws, fb.id)]})
            links.append({"tables": [a, b], "names": [_table(ws, a), _table(ws, b)], "linked": state.linked,
                          "in_both": len(state.shared), "one_field": one})
        return {"suggestions": [suggestion_json(ws, s) for s in ws.mappings.suggestions()], "links": links}

    async def m_mapping_preview(self, field_a: str, field_b: str) -> dict[str, Any]:
        p = self.ws.mappings.preview(field_a, field_b)
        return {"fields": [_field(self.ws, p.fields[0]), _field(self.ws, p.fields[1])], "description": p.description,
                "rows": [{"record": r.record, "label": r.label, "values": list(r.values), "after": r.after,
                          "differ": r.differ} for r in p.rows],
                "in_both": p.in_both, "differing": p.differing, "problem": p.problem}

    async def m_confirm_mapping(self, field_a: str, field_b: str) -> dict[str, Any]:
        preview = self.ws.mappings.preview(field_a, field_b)
        if preview.problem is not None:
            raise ValidationError(preview.problem)
        async with writes.transaction(self.ws, kind="edit", staging=False) as tx:
            tx.confirm_field_mapping(field_a, field_b)
        return {"confirmed": [field_a, field_b], "description": preview.description}

    async def m_dismiss_mapping(self, field_a: str, field_b: str) -> dict[str, Any]:
        self.ws.mappings.dismiss(field_a, field_b)
        return {"dismissed": [field_a, field_b]}

    async def m_link_preview(self, source: str, target: str) -> dict[str, Any]:
        p = self.ws.mappings.link_preview(source, target)
        return {"tables": list(p.tables), "names": [_table(self.ws, t) for t in p.tables], "linked": p.linked,
                "mappings": [suggestion_json(self.ws, m) for m in p.mappings],
                "to_add": [{"record": r, "label": label} for r, label in p.to_add],
                "cannot_add": [{"record": r, "label": label, "why": why} for r, label, why in p.cannot_add],
                "already": p.already}

    async def m_link_tables(self, source: str, target: str) -> dict[str, Any]:
        """Link two tables: their shared fields become one and every record of `source` also
        appears in `target` (the preview listed any that cannot, and why)."""
        preview = self.ws.mappings.link_preview(source, target)
        if preview.linked:
            raise ValidationError(f"{_table(self.ws, source)} and {_table(self.ws, target)} are already linked.")
        async with writes.transaction(self.ws, kind="edit", staging=False) as tx:
            skipped = tx.link_tables(source, target, add_records=True, confirm=[m.fields for m in preview.mappings])
        return {"added": len(preview.to_add), "skipped": len(skipped)}

    async def m_unlink_preview(self, source: str, target: str) -> dict[str, Any]:
        p = self.ws.mappings.unlink_preview(source, target)
        return {"tables": list(p.tables), "names": [_table(self.ws, t) for t in p.tables], "linked": p.linked,
                "shared": [{"record": r, "label": label} for r, label in p.shared],
                "mappings": [{"fields": [_field(self.ws, a), _field(self.ws, b)]} for a, b in p.mappings]}

    async def m_unlink_tables(self, source: str, target: str) -> dict[str, Any]:
        preview = self.ws.mappings.unlink_preview(source, target)
        if not preview.linked and not preview.mappings:
            raise ValidationError(f"{_table(self.ws, source)} and {_table(self.ws, target)} are not linked.")
        async with writes.transaction(self.ws, kind="edit", staging=False) as tx:
            created = tx.unlink_tables(source, target)
        return {"separated": len(created)}


# name -> writes? ("local": a decision kept on this device only, not a bundle: the worker
# snapshots the database so it lasts)
MAPPING_METHODS: dict[str, bool | str] = {
    "shared_fields": False, "mapping_preview": False, "confirm_mapping": True, "dismiss_mapping": "local",
    "link_preview": False, "link_tables": True, "unlink_preview": False, "unlink_tables": True,
}
