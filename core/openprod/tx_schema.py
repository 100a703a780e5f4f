"""Local writes to the workspace's shape: modules, table links and field mappings, settings."""

from __future__ import annotations

from typing import Any

from . import operations as o
from .errors import ValidationError
from .groups import FieldGroups
from .ids import to_str
from .modules import parse_manifest
from .reads import (
    group_value,
    table_members,
    tables_of,
)
from .tx_records import RecordWrites


class SchemaWrites(RecordWrites):
    """Modules, table links, field mappings and settings."""

    def adopt_module(self, manifest: str) -> str:
        """Adopt a module for the whole workspace. Returns the module name."""
        from .modules import check_compatible

        module = parse_manifest(manifest)
        existing = self.schema.modules.get(module.name)
        if existing is not None:
            check_compatible(existing, module)
        self.add(o.AdoptModule, module=module.name, version=module.version, manifest=manifest)
        return module.name

    def suggested_mappings(self, source_table: str, target_table: str) -> list[tuple[str, str, str]]:
        """(source field, target field, shared key) pairs whose modules declare the same shared key."""
        src, tgt = self._table(source_table), self._table(target_table)
        out = []
        for f in src.fields.values():
            for g in tgt.fields.values():
                if f.shared_key and f.shared_key == g.shared_key and (f.type, f.crdt) == (g.type, g.crdt):
                    out.append((f.id, g.id, f.shared_key))
        return out

    def link_tables(self, source_table: str, target_table: str, *, add_records: bool = False,
                    confirm: list[tuple[str, str]] | None = None) -> list[str]:
        """Link two tables; their shared keys become suggested mappings.

        `confirm`: mappings to confirm with it (each as `confirm_field_mapping`). `add_records`:
        every record of the source table also appears in the target (FUNCTIONALITY.md, "link the
        tables and all records flow through"), except one that would leave a required field of the
        target empty: those are returned, not added (`Workspace.mappings.link_preview` lists them first).
        """
        source_table, target_table = self._table(source_table).id, self._table(target_table).id
        if source_table == target_table:
            raise ValidationError("a table cannot be linked to itself")
        pairs = [(a, b) for a, b, _ in self.suggested_mappings(source_table, target_table)]
        self.add(o.LinkTables, source_table=source_table, target_table=target_table, field_mappings=pairs)
        for a, b in confirm or ():
            self.confirm_field_mapping(a, b)
        skipped: list[str] = []
        if add_records:
            inside = set(table_members(self.ws.conn, target_table))
            tdef = self.schema.tables[target_table]
            for entity in table_members(self.ws.conn, source_table):
                if entity in inside:
                    continue
                missing = [f for f in tdef.fields.values() if f.required and f.default is None and f.crdt is None
                           and getattr(group_value(self.ws.conn, self.ws.groups, entity, f.id), "value", None) is None]
                if missing:
                    skipped.append(to_str(entity))
                else:
                    self.add_to_table(entity, target_table)
        return skipped

    def confirm_field_mapping(self, source_field: str, target_field: str, shared_key: str | None = None) -> None:
        fa, fb = self._field(source_field), self._field(target_field)
        if fa.table == fb.table:
            raise ValidationError("mapped fields must belong to different tables")
        key = shared_key or fa.shared_key or fb.shared_key or fa.name
        self.add(o.ConfirmFieldMapping, source_table=fa.table, target_table=fb.table, source_field=fa.id,
                 target_field=fb.id, shared_key=key)

    def unlink_tables(self, source_table: str, target_table: str, *, data_handling: str = "copy") -> list[str]:
        """Unlink two tables (data-model.md: "detach facets, copy data to new standalone entities").

        Their confirmed field mappings end, and every record in both tables leaves the target
        table. With `copy` (the default) a new standalone record takes its place there, holding
        what it showed in that table, while it keeps in the source table what it showed there;
        with `discard` its target-table values are dropped. Returns the new records' ids. Undo
        brings the link, the mappings and the shared records back."""
        if data_handling not in ("copy", "discard"):
            raise ValidationError("data_handling is 'copy' (new standalone records) or 'discard'")
        src, tgt = self._table(source_table), self._table(target_table)
        if src.id == tgt.id:
            raise ValidationError("a table cannot be unlinked from itself")
        conn, groups, show = self.ws.conn, self.ws.groups, self.ws._show
        confirmed = self.ws.confirmed_mappings()
        mappings = []
        for a, b in confirmed:
            fa, fb = self.schema.fields.get(a), self.schema.fields.get(b)
            if fa and fb and {fa.table, fb.table} == {src.id, tgt.id}:
                mappings.append((a, b))
        remaining = FieldGroups([pair for pair in confirmed if pair not in mappings])
        copies: list[tuple[bytes, str, Any]] = []
        plans: list[tuple[bytes, dict[str, Any], list[str]]] = []
        for entity in sorted(set(table_members(conn, src.id)) & set(table_members(conn, tgt.id))):
            for a, b in mappings:  # the source side keeps showing the shared value, as its own
                mine = a if self.schema.fields[a].table == src.id else b
                current = group_value(conn, groups, entity, mine, show)
                if current is not None and current.value is not None:
                    copies.append((entity, mine, current.value))
            values = {}
            for fdef in tgt.fields.values():
                current = group_value(conn, groups, entity, fdef.id, show) if fdef.crdt is None else None
                if current is not None and current.value is not None:
                    values[fdef.id] = current.value
            # its own target-table registers are cleared, unless the field stays one semantic
            # field with a field of another table the record is still in
            kept = {f.id for t in tables_of(conn, entity) if t != tgt.id and t in self.schema.tables
                    for f in self.schema.tables[t].fields.values()}
            moved = sorted(f.id for f in tgt.fields.values()
                           if f.crdt is None and not set(remaining.members(f.id)) & kept)
            plans.append((entity, values, moved))
        self.add(o.UnlinkTables, source_table=src.id, target_table=tgt.id, data_handling=data_handling,
                 mappings=mappings, copies=copies)
        created = []
        for entity, values, moved in plans:
            if data_handling == "discard":
                self.remove_from_table(entity, tgt.id, discard=True)
                continue
            new = self.ws.ids.new()
            self.add(o.SplitEntity, source=entity, new_entity=new, facets=[tgt.id], moved_fields=moved,
                     copied_fields=[], values=values)
            created.append(to_str(new))
        self.created.extend(created)
        return created

    def set_setting(self, key: str, value: Any) -> None:
        """Change a workspace setting (owner only: every receiver refuses it from anyone else)."""
        from .settings import check_setter

        check_setter(self.ws.settings.owner, self.ws.actor_id)
        self.add(o.SetWorkspaceSetting, key=key, value=value)

    def recover_ownership(self, recovery_key: bytes, next_key: bytes, proof: bytes, *,
                          proof_verified: bool = False) -> None:
        """Become the owner with a proof from the recovery key in force (ownership.py): every peer
        checks it; the words behind `recovery_key` open nothing afterwards. `proof_verified`: the
        caller checked the proof already with an async-only verifier (WebCrypto, in the browser),
        as the web session does; every receiver checks it again regardless."""
        from . import ownership
        from .recovery import proof_message

        if self.staging:
            raise ValidationError("ownership cannot move in a draft")
        op_check = o.make_op(o.RecoverOwnership, bytes(16), bytes(12), recovery_key=recovery_key,
                             next_key=next_key, proof=proof)
        assert isinstance(op_check, o.RecoverOwnership)
        message = proof_message(self.ws.workspace_id, self.ws.actor_id, next_key)
        if not proof_verified and not self.ws.env.verifier.verify(recovery_key, message, proof):
            raise ValidationError("the recovery proof does not check: wrong recovery words, or a proof made "
                                  "for someone else")
        ownership.check_recovery(self.ws.conn, op_check, lambda _ord: True)
        if ownership.current_key(self.ws.conn) != recovery_key:
            raise ValidationError("these recovery words were replaced by newer ones; they open nothing now")
        self.add(o.RecoverOwnership, recovery_key=recovery_key, next_key=next_key, proof=proof)
