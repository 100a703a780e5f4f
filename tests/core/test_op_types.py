"""Every op type is declared once: which registers it writes (`registers.REGISTERS`) and how it
changes state (the applier's handler table). A new op type without both fails here, not in a
peer that silently ignores it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openprod import ValidationError
from openprod import operations as o
from openprod.registers import REGISTERS, register_writes, touches
from openprod.state import HANDLED_ELSEWHERE
from openprod.validation import check_op


def test_every_op_type_declares_its_registers() -> None:
    assert set(REGISTERS) == set(o.OP_TYPES.values())


def test_every_op_type_has_a_state_handler(peer_factory: Callable[..., object]) -> None:
    applier = peer_factory("Alice").ws._cx.applier  # type: ignore[attr-defined]
    unhandled = {name for name, cls in o.OP_TYPES.items() if not applier.supports(cls)}
    assert unhandled == {cls.TYPE for cls in HANDLED_ELSEWHERE}
    assert not any(applier.supports(cls) for cls in HANDLED_ELSEWHERE)
    clear = o.make_op(o.ClearAndAdd, bytes(16), bytes(12), entity=bytes(16), field="contacts.Contacts.name",
                      values=["a"], delta=b"\x00")
    with pytest.raises(ValidationError, match="not a list CRDT field"):  # accepted on list fields only
        check_op(clear, peer_factory("Bob").ws.schema)  # type: ignore[attr-defined]


def test_value_writes_are_among_the_registers_an_op_touches() -> None:
    """The two views of one declaration agree: every value written is to a register the oplog
    indexes for the op (so history and undo guards see it)."""
    entity, other, edge = bytes(range(16)), bytes(range(1, 17)), bytes(range(2, 18))
    hlc = bytes(12)
    samples = [
        o.make_op(o.SetField, entity, hlc, entity=entity, field="contacts.Contacts.name", value="Ann"),
        o.make_op(o.ClearField, entity, hlc, entity=entity, field="contacts.Contacts.name"),
        o.make_op(o.AddToTable, entity, hlc, entity=entity, table="contacts.Contacts",
                  defaults={"contacts.Contacts.role": "Crew"}, source={"type": "user"}),
        o.make_op(o.SplitEntity, entity, hlc, source=entity, new_entity=other, facets=["contacts.Contacts"],
                  moved_fields=["contacts.Contacts.role"], copied_fields=[], values={"contacts.Contacts.role": "Crew"}),
        o.make_op(o.CreateEdge, entity, hlc, edge=edge, edge_type="scenes.appears_in", source=entity, target=other,
                  properties={"character": "Juliet"}),
    ]
    for op in samples:
        main, others = touches(op)
        written = {(t, k) for t, k, _v in register_writes(op)}
        assert written <= ({main} if main else set()) | set(others), op.TYPE
