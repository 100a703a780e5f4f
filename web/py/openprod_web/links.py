"""Links between records (edges with properties) and ordered lists (ordered edges) for the page."""

from __future__ import annotations

from typing import Any

from openprod import ValidationError, Workspace
from openprod.modules import EdgeTypeDef, property_def
from openprod.results import Edge

from . import writes
from .fields import coerce_input, field_json

CANDIDATES_SHOWN = 500


def _ends(etype: EdgeTypeDef, direction: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tables this record must be in for the section to apply, tables the other end comes from)."""
    source = etype.source_tables or etype.source_tables_hint
    target = etype.target_tables or etype.target_tables_hint
    return (source, target) if direction == "out" else (target, source)


class LinksApi:
    """Mixed into Session."""

    ws: Workspace

    def _other(self, record: str) -> dict[str, Any]:
        found = self.ws.records.get(record)
        return {"id": record, "label": self.ws.records.label(record),
                "tables": found.tables if found is not None else []}

    def _edge_json(self, edge: Edge, direction: str) -> dict[str, Any]:
        other = edge.target if direction == "out" else edge.source
        return {"id": edge.id, "other": self._other(other), "properties": edge.properties,
                "position": edge.position}

    def _candidates(self, tables: tuple[str, ...], exclude: str, linked: set[str]) -> list[dict[str, Any]]:
        """Records that could be linked: not the record itself, nor those in `linked` (already linked)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set(linked)
        for table in tables:
            if table not in self.ws.schema.tables:
                continue
            tname = self.ws.schema.tables[table].display_name
            for rec in self.ws.records.all(table):
                if rec.id in seen or rec.id == exclude:
                    continue
                seen.add(rec.id)
                out.append({"id": rec.id, "label": self.ws.records.label(rec.id), "table": tname})
                if len(out) >= CANDIDATES_SHOWN:
                    return out
        return out

    async def m_links(self, record: str) -> dict[str, Any]:
        """Sections of the record form: for each edge type that fits the record's tables and each
        direction, the existing links (ordered lists in list order), and what could be linked."""
        ws = self.ws
        found = ws.records.get(record)
        if found is None:
            raise ValidationError(f"record {record} does not exist")
        entity = found.id
        mine = set(found.tables)
        sections = []
        for etype in ws.schema.edge_types.values():
            for direction in ("out", "in"):
                here, there = _ends(etype, direction)
                rows = (ws.records.edges_from(entity, etype.id) if direction == "out"
                        else ws.records.edges_to(entity, etype.id))
                if not (mine & set(here)) and not rows:
                    continue
                other_names = [ws.schema.tables[t].display_name for t in there if t in ws.schema.tables]
                # an ordered list holds a record once: a cue already in a list is not offered it again
                # (plain links may repeat, e.g. one performer playing two characters in a scene)
                linked = {r.target if direction == "out" else r.source for r in rows} if etype.ordered else set()
                props = [field_json(property_def(etype, k), False) for k in etype.properties]
                sections.append({
                    "edge_type": etype.id, "display_name": etype.display_name, "description": etype.description,
                    "direction": direction, "ordered": etype.ordered,
                    "heading": etype.display_name if direction == "out"
                    else f"{' / '.join(other_names) or 'Records'} — {etype.display_name}",
                    "other_tables": other_names, "properties": props,
                    "edges": [self._edge_json(r, direction) for r in rows],
                    "candidates": self._candidates(there, entity, linked) if mine & set(here) else [],
                })
        return {"record": found.id, "sections": sections}

    async def m_link(self, edge_type: str, source: str, target: str,
                     properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Link two records (an ordered edge goes to the end of the target's list)."""
        etype = self.ws.schema.edge_type(edge_type)
        clean = {}
        for key, raw in (properties or {}).items():
            value = coerce_input(property_def(etype, key), raw)
            if value is not None:
                clean[key] = value
        async with writes.transaction(self.ws) as tx:
            if etype.ordered:
                edge = tx.create_ordered_edge(etype.id, source, target, properties=clean)
            else:
                edge = tx.create_edge(etype.id, source, target, clean)
        return {"id": edge}

    async def m_unlink(self, edge: str) -> dict[str, Any]:
        async with writes.transaction(self.ws) as tx:
            tx.delete_edge(edge)
        return {"removed": edge}

    async def m_set_edge_property(self, edge: str, key: str, value: Any) -> dict[str, Any]:
        edge_type = self.ws.records.edge_type_of(edge)
        if edge_type is None:
            raise ValidationError(f"link {edge} does not exist")
        pdef = property_def(self.ws.schema.edge_type(edge_type), key)
        value = coerce_input(pdef, value)
        async with writes.transaction(self.ws) as tx:
            tx.set_edge_property(edge, key, value)
        return {"value": value}

    async def m_move_edge(self, edge: str, after: str | None = None, before: str | None = None) -> dict[str, Any]:
        """Move an item of an ordered list to just after `after` or just before `before`."""
        async with writes.transaction(self.ws) as tx:
            tx.move_ordered_edge(edge, after=after, before=before)
        return {"moved": edge}


LINK_METHODS: dict[str, bool] = {"links": False, "link": True, "unlink": True, "set_edge_property": True,
                                 "move_edge": True}
