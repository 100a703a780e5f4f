"""Identity for the record form: fields that show another record's value (references), picked
with a search and shown with their source, or with why they are broken; "these are the same
person" (a merge previewed field by field, then done) and splitting a record in two. Every
write is one bundle, undoable (a merge is undone by a split that brings the other record back)."""

from __future__ import annotations

from typing import Any

from openprod import ValidationError, Workspace

from . import writes

FOUND_SHOWN = 50  # records a search lists


class IdentityApi:
    """Mixed into Session."""

    ws: Workspace

    def _id_table(self, table: str) -> str:
        tdef = self.ws.schema.tables.get(table)
        return tdef.display_name if tdef is not None else table

    def _record_fields(self, record: str) -> list[Any]:
        found = self.ws.records.get(record)
        if found is None:
            raise ValidationError("This record no longer exists.")
        return [f for t in found.tables if t in self.ws.schema.tables for f in self.ws.schema.tables[t].fields.values()
                if f.crdt is None]

    async def m_references(self, record: str) -> dict[str, Any]:
        """The record's fields that show another record's value: where from, or why not."""
        out = []
        for fdef in self._record_fields(record):
            ref = self.ws.records.reference_of(record, fdef.id)
            if ref is None:
                continue
            source, source_field, broken = ref
            found = self.ws.records.get(source)
            sdef = self.ws.schema.fields.get(source_field)
            out.append({"field": fdef.id, "field_name": fdef.display_name, "source": source,
                        "source_label": self.ws.records.label(source) if found else None,
                        "source_tables": found.tables if found else [],
                        "source_field_name": sdef.display_name if sdef else source_field,
                        "value": self.ws.records.value(record, fdef.id), "broken": broken})
        return {"references": out}

    async def m_find_records(self, search: str = "", exclude: str | None = None,
                             type: str | None = None) -> dict[str, Any]:
        """Records whose label contains `search` (any case), with their fields of `type` if given."""
        ws = self.ws
        needle = search.casefold().strip()
        out: list[dict[str, Any]] = []
        for rec, label, folded in self._named_records():
            if rec.id == exclude or (needle and needle not in folded):
                continue
            fields = [{"id": f.id, "name": f.display_name, "table_name": self._id_table(f.table),
                       "value": rec.values.get(f.id)}
                      for t in rec.tables if t in ws.schema.tables for f in ws.schema.tables[t].fields.values()
                      if f.crdt is None and (type is None or f.type == type)]
            if type is not None and not fields:
                continue
            out.append({"id": rec.id, "label": label, "tables": rec.tables,
                        "table_names": [self._id_table(t) for t in rec.tables], "fields": fields})
            if len(out) >= FOUND_SHOWN:
                return {"records": out, "more": True}
        return {"records": out, "more": False}

    def _named_records(self) -> list[tuple[Any, str, str]]:
        """Every record with its name, read once per change: a picker searches on each keystroke,
        and reading thousands of records each time made typing wait (issue 19)."""
        ws = self.ws
        key = (ws.change_stamp(), ws.staging.active)
        cached: tuple[Any, list[tuple[Any, str, str]]] | None = getattr(self, "_names_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        named: list[tuple[Any, str, str]] = []
        seen: set[str] = set()
        for tdef in ws.schema.tables.values():
            for rec in ws.records.all(tdef.id):
                if rec.id not in seen:
                    seen.add(rec.id)
                    label = _name(ws, rec)
                    named.append((rec, label, label.casefold()))
        self._names_cache = (key, named)
        return named

    async def m_set_reference(self, record: str, field: str, source: str, source_field: str) -> dict[str, Any]:
        if self.ws.records.get(source) is None:
            raise ValidationError("The record you chose was deleted, or is not on this device: choose another one.")
        fdef, sdef = self.ws.schema.fields.get(field), self.ws.schema.fields.get(source_field)
        if fdef is not None and sdef is not None and fdef.type != sdef.type:
            raise ValidationError(f"{fdef.display_name} cannot show {sdef.display_name}: they hold different kinds of "
                                  "values. Choose a field like it.")
        async with writes.transaction(self.ws) as tx:
            tx.set_reference(record, field, source, source_field)
        return {"value": self.ws.records.value(record, field)}

    async def m_clear_reference(self, record: str, field: str) -> dict[str, Any]:
        async with writes.transaction(self.ws) as tx:
            tx.clear_reference(record, field)
        return {"value": self.ws.records.value(record, field)}

    async def m_merge_preview(self, record: str, other: str) -> dict[str, Any]:
        p = self.ws.merges.preview(record, other)
        return {"records": list(p.records), "labels": list(p.labels), "survivor": p.survivor,
                "tables": [[self._id_table(t) for t in side] for side in p.tables],
                "fields": [{"field": f.field, "name": f.name, "table": f.table, "values": list(f.values),
                            "result": f.result, "conflict": f.conflict} for f in p.fields],
                "conflicts": p.conflicts}

    async def m_merge_records(self, record: str, other: str) -> dict[str, Any]:
        self.ws.merges.preview(record, other)  # every refusal before the transaction opens
        async with writes.transaction(self.ws, staging=False) as tx:
            survivor = tx.merge_records(record, other)
        found = self.ws.records.get(survivor)
        return {"survivor": survivor, "tables": found.tables if found else [],
                "conflicts": len(self.ws.conflicts.open(survivor))}

    async def m_split_record(self, record: str, moves: list[str], shares: list[str],
                             copy: list[str]) -> dict[str, Any]:
        """A new record in the `moves` tables (which this one leaves) and the `shares` tables (which
        both are in), with the `copy` fields' values."""
        if not moves and not shares:
            raise ValidationError("Choose at least one table for the new record.")
        found = self.ws.records.get(record)
        if found is not None and set(moves) == set(found.tables):
            raise ValidationError("This record must stay in at least one table: share a table instead of moving "
                                  "them all.")
        async with writes.transaction(self.ws, staging=False) as tx:
            new = tx.split_record(record, tables=moves, also_in=shares, copy=copy)
        created = self.ws.records.get(new)
        return {"record": new, "label": self.ws.records.label(new), "tables": created.tables if created else []}


IDENTITY_METHODS: dict[str, bool | str] = {
    "references": False, "find_records": False, "set_reference": True, "clear_reference": True,
    "merge_preview": False, "merge_records": True, "split_record": True,
}


def _name(ws: Any, rec: Any) -> str:
    """records.label from the values already read (a picker names thousands per keystroke)."""
    for table in rec.tables:
        tdef = ws.schema.tables.get(table)
        name = tdef.name_from(rec.values) if tdef is not None else None
        if name is not None:
            return str(name)
    return str(ws.records.label(rec.id))
