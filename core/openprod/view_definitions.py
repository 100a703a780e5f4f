"""View definitions: their shape, checked when a view is saved or a module ships one.

Kept apart from running views (`views.py`) so the module loader (`modules.py`, far down the
layers) can check a manifest's `[view.*]` sections without importing what runs queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import ValidationError

LAYOUTS = ("table", "chart", "report")
DEFINITION_KEYS = frozenset({"table", "columns", "sort", "group_by", "filter", "expand", "date_field", "layout",
                             "chart", "description", "deleted", "distribution", "new_record"})
MAX_COLUMNS = 60
MAX_PATH = 300
MAX_FILTER = 4_000
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_EDGE = rf"(?:{_NAME}\.)?{_NAME}"
_FIELD = rf"{_NAME}(?:\.{_NAME}){{0,2}}"
_OUT = re.compile(rf"^({_EDGE})->target\.({_FIELD})$")
_IN = re.compile(rf"^<-({_EDGE})\.source\.({_FIELD})$")
_IN_PROP = re.compile(rf"^<-({_EDGE})\.({_NAME})$")
_PLAIN = re.compile(rf"^{_FIELD}$")
_EXPAND = re.compile(rf"^(<-)?({_EDGE})$")


class ViewError(ValidationError):
    """A view definition that cannot be saved or run; the message says what to change."""


# --- definitions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewDef:
    """A view as saved or shipped. `id`: a saved view's UUID, or 'module.Name' for a module's view."""

    id: str
    name: str
    definition: dict[str, Any]
    module: str | None = None  # the module that ships it; None for a saved view
    author: str | None = None  # who saved it last (actor hex); None for a module's view

    @property
    def table(self) -> str:
        return str(self.definition["table"])


def _text(value: Any, what: str, limit: int = MAX_PATH) -> str:
    if not isinstance(value, str):
        raise ViewError(f"{what} must be text, got {value!r}")
    cleaned = value.strip()
    if len(cleaned) > limit:
        raise ViewError(f"{what} is longer than {limit} characters")
    return cleaned


def _column(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or set(raw) - {"path", "label"}:
        raise ViewError(f"a column is a field name, or {{path = ..., label = ...}}; got {raw!r}")
    path = _text(raw.get("path", ""), "a column's path")
    if not path:
        raise ViewError("a column needs a path (a field name such as 'phone')")
    return {"path": path, "label": _text(raw.get("label", ""), "a column's label", 80)}


def _sort(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        text = raw.strip()
        descending = text.lower().endswith(" desc")
        if descending or text.lower().endswith(" asc"):
            text = text.rsplit(" ", 1)[0].strip()
        raw = {"path": text, "descending": descending}
    if not isinstance(raw, dict) or set(raw) - {"path", "descending"}:
        raise ViewError(f"a sort entry is 'field', 'field desc', or {{path = ..., descending = true}}; got {raw!r}")
    descending = raw.get("descending", False)
    if not isinstance(descending, bool):
        raise ViewError("a sort entry's 'descending' is true or false")
    path = _text(raw.get("path", ""), "a sort entry's path")
    if not path:
        raise ViewError("a sort entry needs a path")
    return {"path": path, "descending": descending}


def _paths(raw: Any, what: str) -> list[str]:
    if raw is None or raw == "":
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise ViewError(f"{what} is a field name or a list of them")
    return [p for p in (_text(x, what) for x in items) if p]


def check_definition(raw: Any) -> dict[str, Any]:
    """A view definition in its one stored form (plain data), or ViewError saying what is wrong.

    Accepts the short forms a manifest uses: a column as a plain path, a sort entry as
    'path' or 'path desc', group_by as one path or several.
    """
    if not isinstance(raw, dict):
        raise ViewError("a view definition is a table of settings")
    unknown = sorted(set(raw) - DEFINITION_KEYS - {"name"})
    if unknown:
        raise ViewError(f"a view has no setting {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(sorted(DEFINITION_KEYS))}")
    if raw.get("deleted") is True:
        return {"deleted": True}
    table = _text(raw.get("table", ""), "a view's table")
    if not table:
        raise ViewError("a view names the table it shows (table = 'contacts.Contacts')")
    columns_raw = raw.get("columns", [])
    if not isinstance(columns_raw, list):
        raise ViewError("a view's columns are a list")
    if len(columns_raw) > MAX_COLUMNS:
        raise ViewError(f"a view shows at most {MAX_COLUMNS} columns")
    sort_raw = raw.get("sort", [])
    sort_items = [sort_raw] if isinstance(sort_raw, (str, dict)) else sort_raw
    if not isinstance(sort_items, list):
        raise ViewError("a view's sort is a list")
    layout = raw.get("layout", "table")
    if layout not in LAYOUTS:
        raise ViewError(f"a view's layout is one of {', '.join(LAYOUTS)}, got {layout!r}")
    out: dict[str, Any] = {
        "table": table,
        "columns": [_column(c) for c in columns_raw],
        "sort": [_sort(s) for s in sort_items],
        "group_by": [_column(g) for g in ([] if raw.get("group_by") in (None, "") else
                                          raw["group_by"] if isinstance(raw["group_by"], list) else
                                          [raw["group_by"]])],
        "filter": _text(raw.get("filter", ""), "a view's filter", MAX_FILTER),
        "expand": _text(raw.get("expand", ""), "a view's expand"),
        "date_field": _text(raw.get("date_field", ""), "a view's date_field"),
        "layout": layout,
        "description": _text(raw.get("description", ""), "a view's description", 1_000),
    }
    if layout == "report":  # one record at a time, its columns as sections; who receives it
        out["distribution"] = _text(raw.get("distribution", ""), "a report's distribution view")
        defaults = raw.get("new_record", {})
        if not isinstance(defaults, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in defaults.items()):
            raise ViewError("a report's new_record gives text values for a new report's fields")
        out["new_record"] = dict(defaults)
    elif "distribution" in raw or "new_record" in raw:
        raise ViewError("only a view with layout = 'report' has a distribution list or new_record values")
    if out["expand"] and not _EXPAND.match(out["expand"]):
        raise ViewError(f"expand names a link type, like '<-called_to' (links into the record) or 'appears_in' "
                        f"(links out of it); got {out['expand']!r}")
    if layout == "chart":
        chart = raw.get("chart")
        if not isinstance(chart, dict) or set(chart) - {"edge", "across", "across_sort", "across_label", "cell"}:
            raise ViewError("a chart names edge, across (the table whose records are the chart's columns), "
                            "across_sort, across_label and cell (the link property shown, or empty for a mark)")
        out["chart"] = {
            "edge": _text(chart.get("edge", ""), "a chart's edge"),
            "across": _text(chart.get("across", ""), "a chart's across table"),
            "across_sort": _paths(chart.get("across_sort"), "a chart's across_sort"),
            "across_label": _paths(chart.get("across_label"), "a chart's across_label"),
            "cell": _text(chart.get("cell", ""), "a chart's cell"),
        }
        if not out["chart"]["edge"] or not out["chart"]["across"]:
            raise ViewError("a chart names the link (edge) and the table across the top (across)")
    elif "chart" in raw:
        raise ViewError("only a view with layout = 'chart' has chart settings")
    if not out["columns"] and layout == "table":
        raise ViewError("a view shows at least one column")
    return out


def view_name(raw: Any) -> str:
    name = " ".join(str(raw if isinstance(raw, str) else "").split())
    if not name or len(name) > 120:
        raise ViewError("a view needs a name of 1 to 120 characters")
    return name


def module_views(module: str, section: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """A manifest's [view.*] section -> {view id: (name, definition)}; SchemaError-worthy problems
    are raised as ViewError naming the view."""
    if not isinstance(section, dict):
        raise ViewError("[view] must be a table of view definitions")
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, raw in section.items():
        if not re.match(rf"^{_NAME}$", key):
            raise ViewError(f"[view.{key}]: a view's key uses letters, digits or '_'")
        try:
            if not isinstance(raw, dict):
                raise ViewError("must be a table")
            definition = check_definition(raw)
            if "table" in definition and "." not in definition["table"]:
                definition["table"] = f"{module}.{definition['table']}"
            name = view_name(raw.get("name", key))
        except ViewError as exc:
            raise ViewError(f"[view.{key}]: {exc}") from None
        out[f"{module}.{key}"] = (name, definition)
    return out


# --- what a definition resolves to (views.py resolves; view_reads.py reads) ----------------------


@dataclass(frozen=True)
class Step:
    """One way a column reads a value: a field of the record, or across one link."""

    kind: str  # field | out | in | in_prop | out_prop | position
    field: str | None = None  # full field id
    edge: str | None = None  # edge type id
    prop: str | None = None
    type: str = "string"


@dataclass(frozen=True)
class Column:
    path: str
    label: str
    type: str  # the field type of the first alternative: how the page formats and sorts it
    steps: tuple[Step, ...]
