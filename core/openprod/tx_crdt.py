"""Local writes to collaborative (CRDT) text and list fields: element edits, never rewrites.

A text edit inserts and deletes characters; a list edit inserts and deletes elements. Either
travels as a Yjs update in one ApplyCrdt op, so two people editing the same list or text at the
same time both keep their changes: nothing is replaced wholesale and nothing is duplicated.
`set_text` / `set_list` turn "make it this" into the smallest such edit. `clear_and_add` is the
spec's ClearAndAdd: it clears every element added before it (by the clock stamp each element
carries, so the same elements are cleared on every peer whatever order the ops arrive in) and
keeps elements added concurrently after it. Undo restores the field as it was, by the same kind
of smallest edit. If someone else changed the field since, a text edit is taken back alone (what
others typed stays, `text_edits`); a list edit is not undone, and undo says so, like any undo.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from . import operations as o
from .crdt import KeptText, ListEdit, element
from .errors import ValidationError
from .ids import IdLike
from .modules import FieldDef, normalize_value
from .text_edits import text_edits
from .tx_records import RecordWrites
from .undo import Step

TextEdit = tuple[int, int, str]
ItemEdit = tuple[int, int, list[Any]]  # (index, how many items to delete there, items to insert there)


class CrdtWrites(RecordWrites):
    """Edits to collaborative text and list fields, and their undo."""

    def _crdt_field(self, record: IdLike, field: str, kind: str) -> tuple[bytes, FieldDef]:
        entity = self._live_entity(record)
        fdef = self._field(field, entity)
        if fdef.crdt != kind:
            raise ValidationError(f"field {fdef.display_name!r} is not a collaborative {kind} field")
        self._require_member(entity, fdef)
        return entity, fdef

    def _undo_step(self, entity: bytes, fdef: FieldDef, kind: str, before: Any, after: str | KeptText | None) -> Step:
        payload = {"entity": entity, "field": fdef.id, "_restore": before, "_kind": kind}
        if kind == "text":  # what the edit made: undo takes back only that, wherever others typed since
            payload["_after"] = self.ws.crdt.render(entity, fdef.id, "text") if after is None else after
        return Step(o.ApplyCrdt, payload, entity, self.ws.groups.members(fdef.id), lambda: f"{fdef.display_name!r}")

    def _add_crdt(self, cls: type[o.Op], entity: bytes, fdef: FieldDef, kind: str, before: Any, hlc: bytes,
                  after: str | KeptText | None = None, **payload: Any) -> None:
        """`after`: a text edit's resulting text, when the caller has it (a keystroke renders nothing;
        a text's `before` and `after` may be `KeptText`s, spliced only if undo reads them)."""
        steps = self.steps
        self.steps = None  # capture() has no inverse for a CRDT op: the step is built here
        try:
            self.add(cls, _hlc=hlc, entity=entity, field=fdef.id, **payload)
        finally:
            self.steps = steps
        if self.steps is not None:
            self.steps.append(self._undo_step(entity, fdef, kind, before, after))

    def apply_step(self, step: Step) -> None:
        if step.op_cls is o.ApplyCrdt and "_restore" in step.payload:
            entity, field, before = step.payload["entity"], step.payload["field"], step.payload["_restore"]
            if step.payload["_kind"] == "text":
                before, after = str(before), str(step.payload["_after"])  # a KeptText is spliced here
                current = self.ws.crdt.render(entity, field, "text")
                if current == after:
                    self.set_text(entity, field, before)
                elif edits := text_edits(after, before, current):  # others typed since: keep theirs
                    self.edit_text(entity, field, edits)
            else:
                self.set_list(entity, field, before)
            return
        super().apply_step(step)

    # --- text ------------------------------------------------------------------------------

    def edit_text(self, record: IdLike, field: str, edits: list[TextEdit]) -> None:
        """Apply (index, delete count, insert text) edits to a text CRDT field, in order.

        Concurrent edits by others merge character by character; they never conflict.
        """
        entity, fdef = self._crdt_field(record, field, "text")
        store = self.ws.crdt
        length = store.text_length(entity, fdef.id)
        checked = []
        for edit in edits:
            if not (isinstance(edit, (tuple, list)) and len(edit) == 3):
                raise ValidationError("each text edit is (index, delete count, insert text)")
            index, delete, insert = edit
            if isinstance(index, bool) or not isinstance(index, int) or not isinstance(delete, int) \
                    or isinstance(delete, bool) or not isinstance(insert, str):
                raise ValidationError("each text edit is (index, delete count, insert text)")
            if index < 0 or delete < 0 or index + delete > length:
                raise ValidationError(f"text edit ({index}, {delete}) is outside the text (length {length})")
            length += len(insert) - delete
            checked.append((index, delete, insert))
        if not checked:
            return
        before, after, delta = store.edit_text(entity, fdef.id, checked)
        self._add_crdt(o.ApplyCrdt, entity, fdef, "text", before, self._next_hlc(), after, crdt_type="text",
                       delta=delta)

    def set_text(self, record: IdLike, field: str, text: str) -> None:
        """Replace a text CRDT field's content, as the smallest edit (keeps concurrent edits)."""
        if not isinstance(text, str):
            raise ValidationError("text must be a string")
        entity, fdef = self._crdt_field(record, field, "text")
        current = self.ws.crdt.render(entity, fdef.id, "text")
        start = 0
        while start < min(len(current), len(text)) and current[start] == text[start]:
            start += 1
        end = 0
        while end < min(len(current), len(text)) - start and current[-1 - end] == text[-1 - end]:
            end += 1
        if current != text:
            self.edit_text(entity, fdef.id, [(start, len(current) - start - end, text[start:len(text) - end])])

    # --- lists -----------------------------------------------------------------------------

    def _items(self, fdef: FieldDef, values: Any) -> list[Any]:
        if not isinstance(values, (list, tuple)):
            raise ValidationError(f"{fdef.display_name!r} takes a list of values")
        item = FieldDef(id=fdef.id, table=fdef.table, name=fdef.name, type=fdef.item_type or "string",
                        display_name=fdef.display_name)
        return [normalize_value(item, v) for v in values]

    def edit_list(self, record: IdLike, field: str, edits: list[ItemEdit]) -> None:
        """Apply (index, delete count, items to insert) edits to a list CRDT field, in order, by the
        positions a person sees. Concurrent additions and removals by others are all kept."""
        entity, fdef = self._crdt_field(record, field, "list")
        store = self.ws.crdt
        shown = store.list_view(entity, fdef.id)
        raw_len = len(store.require().elements(store.doc(entity, fdef.id, "list")))
        hlc = self._next_hlc()
        positions = [index for index, _ in shown]  # raw index of each element shown, kept up to date
        raw: list[ListEdit] = []
        for edit in edits:
            if not (isinstance(edit, (tuple, list)) and len(edit) == 3):
                raise ValidationError("each list edit is (index, delete count, items to insert)")
            index, delete, insert = edit
            if isinstance(index, bool) or not isinstance(index, int) or isinstance(delete, bool) \
                    or not isinstance(delete, int):
                raise ValidationError("each list edit is (index, delete count, items to insert)")
            if index < 0 or delete < 0 or index + delete > len(positions):
                raise ValidationError(f"list edit ({index}, {delete}) is outside the list (length {len(positions)})")
            items = self._items(fdef, insert)
            for at in reversed(positions[index:index + delete]):  # one raw delete per element, last first
                raw.append((at, 1, []))
                positions = [p - 1 if p > at else p for p in positions]
                raw_len -= 1
            del positions[index:index + delete]
            if items:
                at = positions[index] if index < len(positions) else raw_len
                raw.append((at, 0, [element(v, hlc) for v in items]))
                positions = [p + len(items) if p >= at else p for p in positions]
                positions[index:index] = list(range(at, at + len(items)))
                raw_len += len(items)
        if not raw:
            return
        before = [value for _, value in shown]
        delta = store.require().edit_list(store.doc(entity, fdef.id, "list"), raw)
        self._add_crdt(o.ApplyCrdt, entity, fdef, "list", before, hlc, crdt_type="list", delta=delta)

    def set_list(self, record: IdLike, field: str, values: list[Any]) -> None:
        """Make a list CRDT field show `values`, as the smallest element edit: items others add or
        remove concurrently keep their change (two people adding a tag both keep theirs)."""
        entity, fdef = self._crdt_field(record, field, "list")
        target = self._items(fdef, values)
        current = [value for _, value in self.ws.crdt.list_view(entity, fdef.id)]
        edits: list[ItemEdit] = []
        shift = 0
        for tag, i1, i2, j1, j2 in SequenceMatcher(a=current, b=target, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            edits.append((i1 + shift, i2 - i1, target[j1:j2]))
            shift += (j2 - j1) - (i2 - i1)
        if edits:
            self.edit_list(entity, fdef.id, edits)

    def add_to_list(self, record: IdLike, field: str, value: Any, index: int | None = None) -> None:
        """Insert one item (at the end unless `index` is given)."""
        entity, fdef = self._crdt_field(record, field, "list")
        length = len(self.ws.crdt.list_view(entity, fdef.id))
        self.edit_list(entity, fdef.id, [(length if index is None else index, 0, [value])])

    def remove_from_list(self, record: IdLike, field: str, index: int) -> None:
        self.edit_list(record, field, [(index, 1, [])])

    def move_in_list(self, record: IdLike, field: str, source: int, destination: int) -> None:
        """Move one item: the spec's list has no move, so it is a removal and an insertion in one op."""
        entity, fdef = self._crdt_field(record, field, "list")
        shown = [value for _, value in self.ws.crdt.list_view(entity, fdef.id)]
        if not (0 <= source < len(shown) and 0 <= destination < len(shown)):
            raise ValidationError(f"cannot move item {source} to {destination} in a list of {len(shown)}")
        if source != destination:
            self.edit_list(entity, fdef.id, [(source, 1, []), (destination, 0, [shown[source]])])

    def clear_and_add(self, record: IdLike, field: str, values: list[Any]) -> None:
        """Reset a list to exactly `values`: every item added before this change is cleared on every
        peer, items others add concurrently after it are kept (spec: ClearAndAdd)."""
        entity, fdef = self._crdt_field(record, field, "list")
        items = self._items(fdef, values)
        store = self.ws.crdt
        doc = store.doc(entity, fdef.id, "list")
        before = [value for _, value in store.list_view(entity, fdef.id)]
        held = len(store.require().elements(doc))
        hlc = self._next_hlc()
        delta = store.require().edit_list(doc, [(0, held, [element(v, hlc) for v in items])])
        self._add_crdt(o.ClearAndAdd, entity, fdef, "list", before, hlc, values=items, delta=delta)
