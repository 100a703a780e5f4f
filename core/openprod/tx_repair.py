"""Local writes that settle things: merging and splitting records, resolving conflicts, rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import operations as o
from .errors import NotFoundError, ValidationError
from .ids import IdLike, as_id, to_str
from .modules import normalize_value, property_def
from .reads import (
    group_value,
    tables_of,
)
from .tx_records import RecordWrites

if TYPE_CHECKING:
    from .conflicts import Conflict

_UNSET: Any = object()


class RepairWrites(RecordWrites):
    """Merging and splitting records, resolving conflicts, creating and following rules."""

    def merge_records(self, first: IdLike, second: IdLike) -> str:
        """Merge two records that are the same real thing; returns the survivor's id.

        The survivor is the smaller id, so independent merges of the same pair agree. It keeps
        every table membership of both; fields where the two records disagree become conflicts.
        """
        a, b = self._live_entity(first), self._live_entity(second)
        if a == b:
            raise ValidationError("a record cannot be merged with itself")
        survivor, absorbed = min(a, b), max(a, b)
        from .identity_repair import unmerge

        # undone by a split that brings the absorbed record back, in its tables, with its values
        self.add(o.MergeEntities, {"new": self.ws.ids.new(), "unmerge": unmerge(self.ws, survivor, absorbed)},
                 survivor=survivor, absorbed=absorbed)
        return to_str(survivor)

    def split_record(self, record: IdLike, *, tables: list[str], move: list[str] | None = None,
                     copy: list[str] | None = None, also_in: list[str] | None = None) -> str:
        """Split a record: `tables` and the `move` fields go to a new record, `copy` fields to both.
        `also_in`: tables the new record joins while the original stays in them too (two records
        of one table that were merged by mistake).

        The pair is remembered as a merge exception so rules never propose merging them again.
        """
        entity = self._live_entity(record)
        current = set(tables_of(self.ws.conn, entity))
        tables = [self._table(t).id for t in tables]
        shared = [self._table(t).id for t in also_in or ()]
        for table in tables + shared:
            if table not in current:
                raise ValidationError(f"record is not in table {self._table(table).display_name!r}")
        if set(tables) & set(shared):
            raise ValidationError("a table either moves to the new record or is shared by both, not both")
        if not tables and not shared:
            raise ValidationError("a split gives the new record at least one table")
        if set(tables) == current:
            raise ValidationError("a split must leave at least one table with the original record")
        moved = [self._field(f, entity).id for f in move or []]
        copied = [self._field(f, entity).id for f in copy or []]
        values: dict[str, Any] = {}
        for field_id in moved + copied:
            current_value = group_value(self.ws.conn, self.ws.groups, entity, field_id, self.ws._show)
            if current_value is not None and current_value.value is not None:
                values[field_id] = current_value.value
        new = self.ws.ids.new()
        self.add(o.SplitEntity, source=entity, new_entity=new, facets=sorted(tables), moved_fields=sorted(moved),
                 copied_fields=sorted(copied), values=values)
        for table in sorted(shared):
            self.add(o.AddToTable, entity=new, table=table, defaults={}, source={"type": "user"})
        self.created.append(to_str(new))
        return to_str(new)

    # --- conflicts ----------------------------------------------------------------------------

    def resolve_conflict(self, conflict: Conflict, *, pick: IdLike | None = None, value: Any = _UNSET) -> None:
        """Settle an open conflict: `pick` one competitor's op id, or give a new `value` (None clears).

        The resolution is an operation that has seen every competing write, so the field has a
        single value again everywhere; a later edit from someone who had not seen it reopens it.
        Resolving a reopened conflict records that it overrides the earlier resolution.
        """
        from .conflicts import open_conflict_rows

        target = as_id(conflict.target, "conflict target")
        current = open_conflict_rows(self.ws.conn, target).get((target, conflict.key))
        if current is None or {to_str(t.op_id) for t in current} != {c.op_id for c in conflict.competitors}:
            raise ValidationError("this conflict has changed or is already resolved; reload it and try again")
        if (pick is None) == (value is _UNSET):
            raise ValidationError("resolve a conflict either by picking a competitor or by giving a value")
        field = conflict.competitors[-1].field
        picked: bytes | None = None
        if pick is not None:
            picked = as_id(pick, "picked value")
            chosen = next((c for c in conflict.competitors if as_id(c.op_id) == picked), None)
            if chosen is None:
                raise ValidationError("the picked value is not one of the competitors")
            new_value, field = chosen.value, chosen.field
        elif value is None:
            new_value = None
        elif conflict.is_edge:
            _id, edge_type = self._live_edge(target)
            new_value = normalize_value(property_def(self.schema.edge_type(edge_type), conflict.key), value)
        else:
            new_value = normalize_value(self._field(field), value)
        if new_value is None and not conflict.is_edge and self._field(field).required:
            raise ValidationError(f"field {conflict.field_name!r} is required and cannot be cleared")
        self.add(o.ResolveConflict, conflict=as_id(conflict.id, "conflict id"), target=target, field=field,
                 chosen=new_value, chosen_op=picked, tips=sorted(as_id(c.op_id) for c in conflict.competitors))

    def resolve_all(self, conflicts: list[Conflict], take: IdLike) -> int:
        """Take one person's side (their actor id) on every conflict in a group; returns how many."""
        person = take.hex() if isinstance(take, bytes) else take
        done = 0
        for item in conflicts:
            mine = [c for c in item.competitors if c.actor == person]
            if mine:
                self.resolve_conflict(item, pick=max(mine, key=lambda c: c.hlc).op_id)
                done += 1
        return done

    # --- rules --------------------------------------------------------------------------------

    def create_rule(self, name: str, *, when: str, kind: str = "membership", table: str | None = None,
                    defaults: dict[str, Any] | None = None, match_on: list[str] | None = None,
                    auto_accept: bool = False, on_condition_lost: str = "propose_remove",
                    acknowledge_cycle: bool = False, rule_id: IdLike | None = None, enabled: bool = True,
                    normalize: list[str] | None = None) -> str:
        """Create (or, with `rule_id`, replace) a rule. Refused with the cycle's path if it could
        trigger itself, directly or through other rules, unless `acknowledge_cycle`.

        `defaults`: {field id: {"value": literal or "$source.<field id>", "mode": fill_if_empty |
        always | preserve_on_restore}}. A match rule compares its `match_on` values exactly as
        typed ("Jane Doe" and "jane doe" differ; FUNCTIONALITY.md: the system never guesses at
        identity) unless `normalize` names what to ignore: "case", "spaces" (leading, trailing
        and repeated).
        """
        from .rules import plan_rule

        rule = plan_rule(self.ws, name, when=when, kind=kind, table=table, defaults=defaults, match_on=match_on,
                         auto_accept=auto_accept, on_condition_lost=on_condition_lost,
                         acknowledge_cycle=acknowledge_cycle, rule_id=rule_id, enabled=enabled, normalize=normalize)
        rid = rule.key
        self.add(o.CreateRule, rule=rid, name=rule.name, definition=rule.definition())
        return to_str(rid)

    def disable_rule(self, rule_id: IdLike) -> None:
        from .rules import load_rules

        rid = as_id(rule_id, "rule id")
        rule = next((r for r in load_rules(self.ws) if r.id == to_str(rid)), None)
        if rule is None:
            raise NotFoundError(f"no rule {to_str(rid)}")
        self.add(o.CreateRule, rule=rid, name=rule.name, definition={**rule.definition(), "enabled": False})

    # --- views (views.py) -------------------------------------------------------------------

    def save_view(self, name: str, definition: dict[str, Any], view_id: IdLike | None = None) -> str:
        """Save a named view (new, or replacing `view_id`): synced like any edit, staged while an
        overlay is active. Raises ViewError (names) or QueryError (the filter, with its position)."""
        from .views import save_view

        return save_view(self, name, definition, view_id)

    def delete_view(self, view_id: IdLike) -> None:
        """Remove a saved view (a module's own views stay; save a copy to change one)."""
        from .views import delete_view

        delete_view(self, view_id)

    def accept_proposal(self, proposal: Any) -> None:
        """Carry out a rule's suggestion, as your own change attributed to the rule."""
        self.ws.rules.accept(self, proposal)
