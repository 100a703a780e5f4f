"""Local writes to edges: links between records, their properties, and ordered lists (cue lists)."""

from __future__ import annotations

from typing import Any

from . import operations as o
from . import positions
from .errors import NotFoundError, ValidationError
from .ids import IdLike, as_id, to_str
from .modules import property_def
from .reads import (
    edge_state,
    edges,
    tables_of,
)
from .tx_records import RecordWrites


class EdgeWrites(RecordWrites):
    """Links between records: create, delete, restore, properties, ordered positions."""

    def _edge_props(self, edge_type: str, props: dict[str, Any]) -> dict[str, Any]:
        etype = self.schema.edge_type(edge_type)
        return {k: self._normalized(property_def(etype, k), v) for k, v in props.items() if v is not None}

    def _check_ends(self, edge_type: str, source: bytes, target: bytes) -> None:
        etype = self.schema.edge_type(edge_type)
        for end, allowed, what in ((source, etype.source_tables, "source"), (target, etype.target_tables, "target")):
            if allowed and not set(tables_of(self.ws.conn, end)) & set(allowed):
                names = ", ".join(self.schema.tables[t].display_name for t in allowed)
                raise ValidationError(f"{etype.display_name}: the {what} must be a record in {names}")

    def create_edge(self, edge_type: str, source: IdLike, target: IdLike,
                    properties: dict[str, Any] | None = None) -> str:
        etype = self.schema.edge_type(edge_type)
        edge_type = etype.id
        if etype.ordered:
            raise ValidationError(f"edge type {etype.display_name!r} is ordered: use create_ordered_edge")
        src, tgt = self._live_entity(source), self._live_entity(target)
        self._check_ends(edge_type, src, tgt)
        edge = self.ws.ids.new()
        self.add(o.CreateEdge, edge=edge, edge_type=edge_type, source=src, target=tgt,
                 properties=self._edge_props(edge_type, properties or {}))
        return to_str(edge)

    def delete_edge(self, edge: IdLike) -> None:
        edge, _ = self._live_edge(edge)
        self.add(o.DeleteEdge, edge=edge)

    def restore_edge(self, edge: IdLike) -> None:
        edge = as_id(edge, "edge id")
        state = edge_state(self.ws.conn, edge)
        if state is None or state[0] is None:
            raise NotFoundError(f"edge {to_str(edge)} does not exist")
        if state[3]:
            raise ValidationError(f"edge {to_str(edge)} is not deleted")
        self.add(o.RestoreEdge, edge=edge)

    def set_edge_property(self, edge: IdLike, key: str, value: Any) -> None:
        edge, edge_type = self._live_edge(edge)
        if value is None:
            property_def(self.schema.edge_type(edge_type), key)
            self.add(o.ClearEdgeProperty, edge=edge, key=key)
            return
        pdef = property_def(self.schema.edge_type(edge_type), key)
        self.add(o.SetEdgeProperty, edge=edge, key=key, value=self._normalized(pdef, value))

    def _neighbours(self, edge_type: str, target: bytes, exclude: bytes | None) -> list[tuple[bytes, str]]:
        rows = edges(self.ws.conn, target=target, edge_type=edge_type)
        return [(e.edge_id, e.position or "") for e in rows if e.edge_id != exclude]

    def _position(self, edge_type: str, target: bytes, after: IdLike | None, before: IdLike | None,
                  exclude: bytes | None = None) -> tuple[str, bytes | None, bytes | None, list[tuple[bytes, str]]]:
        """Position between `after` and `before` (ids of edges in the same list).

        Returns (position, after id, before id, moves) where `moves` re-spaces a neighbour in the
        rare case two concurrent inserts left equal positions exactly where we insert.
        """
        order = self._neighbours(edge_type, target, exclude)
        index = {e: i for i, (e, _) in enumerate(order)}
        after_id = as_id(after, "after") if after is not None else None
        before_id = as_id(before, "before") if before is not None else None
        for ref in (after_id, before_id):
            if ref is not None and ref not in index:
                raise ValidationError(f"edge {to_str(ref)} is not in this list")
        if after_id is None and before_id is None:
            lo = order[-1][1] if order else None
            return positions.between(lo, None), (order[-1][0] if order else None), None, []
        if after_id is not None and before_id is None:
            i = index[after_id]
            before_id = order[i + 1][0] if i + 1 < len(order) else None
        elif before_id is not None and after_id is None:
            i = index[before_id]
            after_id = order[i - 1][0] if i > 0 else None
        lo = order[index[after_id]][1] if after_id is not None else None
        hi = order[index[before_id]][1] if before_id is not None else None
        if after_id is not None and before_id is not None and index[after_id] + 1 != index[before_id]:
            raise ValidationError("'after' and 'before' must be neighbours in the list")
        moves: list[tuple[bytes, str]] = []
        if lo is not None and hi is not None and lo >= hi:
            # Equal positions from concurrent inserts: move `before` up to make room.
            j = index[before_id]  # type: ignore[index]
            nxt = next((p for _, p in order[j + 1:] if p > hi), None)
            new_hi = positions.between(hi, nxt)
            moves.append((before_id, new_hi))  # type: ignore[arg-type]
            hi = new_hi
        return positions.between(lo, hi), after_id, before_id, moves

    def create_ordered_edge(self, edge_type: str, source: IdLike, target: IdLike, *,
                            after: IdLike | None = None, before: IdLike | None = None,
                            properties: dict[str, Any] | None = None) -> str:
        """Insert into the ordered list of `target`; default is at the end."""
        etype = self.schema.edge_type(edge_type)
        edge_type = etype.id
        if not etype.ordered:
            raise ValidationError(f"edge type {etype.display_name!r} is not ordered: use create_edge")
        src, tgt = self._live_entity(source), self._live_entity(target)
        self._check_ends(edge_type, src, tgt)
        position, after_id, before_id, moves = self._position(edge_type, tgt, after, before)
        for moved, new_position in moves:
            self.add(o.MoveOrderedEdge, edge=moved, after=None, before=None, position=new_position)
        edge = self.ws.ids.new()
        self.add(o.CreateOrderedEdge, edge=edge, edge_type=edge_type, source=src, target=tgt, after=after_id,
                 before=before_id, position=position, properties=self._edge_props(edge_type, properties or {}))
        return to_str(edge)

    def move_ordered_edge(self, edge: IdLike, *, after: IdLike | None = None,
                          before: IdLike | None = None) -> None:
        edge, edge_type = self._live_edge(edge)
        if not self.schema.edge_type(edge_type).ordered:
            raise ValidationError("only ordered edges can be moved")
        state = edge_state(self.ws.conn, edge)
        assert state is not None and state[2] is not None
        position, after_id, before_id, moves = self._position(edge_type, state[2], after, before, exclude=edge)
        for moved, new_position in moves:
            self.add(o.MoveOrderedEdge, edge=moved, after=None, before=None, position=new_position)
        self.add(o.MoveOrderedEdge, edge=edge, after=after_id, before=before_id, position=position)
