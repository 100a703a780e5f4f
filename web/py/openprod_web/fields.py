"""How values typed into the page become field values, and how fields are described to the page."""

from __future__ import annotations

from typing import Any

from openprod import ValidationError
from openprod.cues import normalize_cue
from openprod.modules import FieldDef

EDITABLE_TYPES = frozenset({"string", "number", "cue", "boolean", "timestamp"})
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


def _number(name: str, raw: Any) -> int | float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    text = str(raw).strip().replace("\u2212", "-")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{name}: {raw!r} is not a number") from None


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValidationError(f"{name}: {raw!r} is not yes or no")


def coerce_input(fdef: FieldDef, raw: Any) -> Any:
    """A value typed into a cell or form -> the field's type; None clears. ValidationError says why not."""
    name = fdef.display_name
    if fdef.crdt is not None or fdef.type not in EDITABLE_TYPES:
        raise ValidationError(f"{name} ({fdef.type}) cannot be edited here yet")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = fdef.type
    if kind == "string":
        return str(raw)
    if kind == "number":
        return _number(name, raw)
    if kind == "boolean":
        return _boolean(name, raw)
    if kind == "cue":
        return normalize_cue(raw, name)
    return str(raw).strip()  # timestamp: the core normalises and validates ISO 8601


def coerce_crdt(fdef: FieldDef, raw: Any) -> str | list[Any]:
    """Text for a collaborative text field; a list (from a list or comma/line separated text) for a list field."""
    if fdef.crdt == "text":
        return "" if raw is None else str(raw)
    if fdef.crdt != "list":
        raise ValidationError(f"{fdef.display_name} is not a collaborative field")
    if raw is None:
        items: list[Any] = []
    elif isinstance(raw, list):
        items = raw
    else:
        items = [part for line in str(raw).splitlines() for part in line.split(",")]
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
        if fdef.item_type == "number":
            out.append(_number(fdef.display_name, item))
        elif fdef.item_type == "boolean":
            out.append(_boolean(fdef.display_name, item))
        else:
            out.append(str(item))
    return out


def is_editable(fdef: FieldDef, crdt_available: bool) -> bool:
    if fdef.crdt is not None:
        return crdt_available
    return fdef.type in EDITABLE_TYPES


def field_json(fdef: FieldDef, crdt_available: bool) -> dict[str, Any]:
    return {
        "id": fdef.id, "name": fdef.name, "display_name": fdef.display_name, "type": fdef.type,
        "description": fdef.description, "required": fdef.required, "crdt": fdef.crdt,
        "item_type": fdef.item_type, "editable": is_editable(fdef, crdt_available), "default": fdef.default,
    }


def same_value(current: Any, new: Any) -> bool:
    return bool(current == new and type(current) is type(new))
