"""The host API of spec/scripts.md: what a script's `core`, `json`, `log`, `context`, `args` and
`ui` call, as plain Python functions over the public Workspace and one open Transaction.

Every function takes and returns plain values (None, bool, int, float, str, list, dict); the
engine converts at the Lua boundary. Each returns (status, value) as `runtime` describes:
a LocalError (bad id, unknown field, bad query) is a catchable Lua error with its message; under
on_error = "skip" a write that fails before changing anything is skipped with a warning; a write
that failed half-way, or a bug, stops the run (nothing is kept).

Reads go through the workspace while the run's transaction is open, so a script sees its own
writes (in session mode, on top of its overlay).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LocalError, ValidationError
from ..hlc import to_display
from ..ids import as_id
from ..results import Edge, Record
from .params import bind
from .runtime import FAILED, OK, REFUSED, STOPPED, HostFunction, ScriptFiles

if TYPE_CHECKING:
    from ..transaction import Transaction
    from ..workspace import Workspace

MAX_JSON = 10 * 2**20
STREAM_EVERY = 500  # ops staged at once while a session-mode run writes without reporting


@dataclass(frozen=True)
class ScriptEvent:
    """What a running script tells the person who ran it: a toast, progress, or a log line.

    kind 'toast' (level info|warn|error, message), 'progress' (level start|update|complete,
    message = title, current, total), 'log' (level debug|info|warn|error, message)."""

    kind: str
    level: str
    message: str = ""
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class Trigger:
    """Why a triggered run runs: the record and field that changed, and the values around it."""

    record: str
    field: str
    old_value: Any = None
    new_value: Any = None
    scope_record: str | None = None


def plain(value: Any) -> Any:
    """A stored value as a script sees it (lists and maps of plain values; anything else as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def record_table(record: Record) -> dict[str, Any]:
    """{id, tables, fields = {full id: value}, and each field by its last name when that is unambiguous}."""
    values = {k: plain(v) for k, v in record.values.items()}
    out: dict[str, Any] = {"id": record.id, "tables": list(record.tables), "fields": values}
    short: dict[str, list[Any]] = {}
    for key, value in values.items():
        short.setdefault(key.rsplit(".", 1)[-1], []).append(value)
    for name, found in short.items():
        if name not in ("id", "tables", "fields") and all(repr(v) == repr(found[0]) for v in found):
            out[name] = found[0]
    return out


def edge_table(edge: Edge) -> dict[str, Any]:
    return {"id": edge.id, "type": edge.edge_type, "source_id": edge.source, "target_id": edge.target,
            "properties": plain(edge.properties), "position": edge.position}


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty string")
    return value


def _map(value: Any, what: str) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a table of name = value")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValidationError(f"{what} must be a whole number")
    return int(value)


def _index(value: Any, size: int) -> int:
    """A 0-based index into a list of `size` (as text and list positions are, in the spec)."""
    index = _int(value, "index")
    if not 0 <= index < size:
        raise ValidationError(f"index {index} is outside the list (0 to {size - 1})")
    return index


@dataclass
class Host:
    """The host functions for one run. `emit` delivers each event to the caller as it happens."""

    ws: Workspace
    tx: Transaction
    script: str
    args: dict[str, Any]
    on_error: str
    emit: Callable[[ScriptEvent], None]
    trigger: Trigger | None = None
    skipped: list[str] = field(default_factory=list)
    crashed: BaseException | None = None
    progress_total: int | None = None
    progress_title: str = ""
    files: ScriptFiles | None = None
    file_writes: list[tuple[str, str]] = field(default_factory=list)  # written only once the run succeeds
    # Session mode: stage what the run wrote so far into its overlay and hand back a fresh
    # transaction, so a caller watching the overlay sees the work grow. None in autoCommit mode
    # (one bundle at the end). See `_stage_so_far` for when.
    flush: Callable[[Transaction], Transaction] | None = None
    staged: int = 0  # ops staged by earlier flushes

    # --- the calling convention -------------------------------------------------------------

    def _read(self, fn: Callable[..., Any]) -> HostFunction:
        def call(*args: Any) -> tuple[int, Any]:
            try:
                return OK, fn(*args)
            except LocalError as exc:
                return FAILED, str(exc)
            except TypeError as exc:
                return FAILED, f"wrong arguments: {exc}"
            except Exception as exc:  # a bug: stop the run and hand it to the caller
                self.crashed = self.crashed or exc
                return STOPPED, f"internal error ({type(exc).__name__}); nothing was kept"
        return call

    def _write(self, fn: Callable[..., Any]) -> HostFunction:
        def call(*args: Any) -> tuple[int, Any]:
            before = len(self.tx.ops)
            try:
                value = fn(*args)
                if self.flush is not None and len(self.tx.ops) >= max(STREAM_EVERY, self.staged):
                    self._stage_so_far()
                return OK, value
            except (LocalError, TypeError) as exc:
                message = str(exc) if isinstance(exc, LocalError) else f"wrong arguments: {exc}"
                if len(self.tx.ops) != before:
                    return STOPPED, f"{message} (the change was partly made, so the run stops and nothing is kept)"
                if self.on_error == "skip":
                    self.skipped.append(message)
                    self.emit(ScriptEvent("log", "warn", f"skipped: {message}"))
                    return OK, None
                return FAILED, message
            except Exception as exc:
                self.crashed = self.crashed or exc
                return STOPPED, f"internal error ({type(exc).__name__}); nothing was kept"
        return call

    def _stage_so_far(self) -> None:
        """Stage the writes so far (session mode). A failure here is never a catchable Lua error:
        it is kept as the crash, and the run stops with nothing kept.

        When: before an event once the unstaged writes are at least as many as those staged
        already, and during silent stretches every max(STREAM_EVERY, staged) writes. Batches
        at least double because staging re-reads the whole overlay (its read view is replayed),
        so a run of n writes stages O(log n) times, never once per write: the overlay always holds
        at least half of what the script has done, and all of it before its first event."""
        if self.flush is None or not self.tx.ops:
            return
        try:
            count = len(self.tx.ops)
            self.tx = self.flush(self.tx)
            self.staged += count
        except Exception as exc:
            self.crashed = exc
            raise RuntimeError("staging the run's writes failed") from exc

    def _event(self, event: ScriptEvent) -> None:
        """Deliver an event, staging first when enough was written since the last time."""
        if len(self.tx.ops) >= self.staged:
            self._stage_so_far()
        self.emit(event)

    def functions(self) -> dict[str, HostFunction]:
        r = self._read
        out = self._api()
        if self.files is not None:
            for capability, fn in (("fs.read", self._file_read), ("fs.write", self._file_write)):
                out[capability] = r(fn) if self.files.can(capability) else self._refused(capability)
        return out

    @staticmethod
    def _refused(capability: str) -> HostFunction:
        def call(*_args: Any) -> tuple[int, Any]:
            return REFUSED, f"{capability} was not granted to this script (whoever runs it can allow {capability}:GLOB)"
        return call

    def _file_read(self, path: Any) -> str:
        assert self.files is not None
        return self.files.read(_text(path, "path"))

    def _file_write(self, path: Any, text: Any) -> None:
        assert self.files is not None
        path = _text(path, "path")
        if not isinstance(text, str):
            raise ValidationError("fs.write writes text (a string)")
        self.files.check_write(path)
        self.file_writes.append((path, text))

    def _api(self) -> dict[str, HostFunction]:
        r, w = self._read, self._write
        return {
            "core.await": r(lambda value=None: value),
            "args": r(lambda: dict(self.args)),
            "core.query": r(self.query),
            "core.query_one": r(self.query_one),
            "core.get_field": r(lambda rid, name: plain(self.ws.records.value(_text(rid, "record id"),
                                                                               _text(name, "field")))),
            "core.get_record": r(self.get_record),
            "core.table_members": r(lambda table: self.ws.records.ids(_text(table, "table"))),
            "core.create_entity": w(self.create_entity),
            "core.create_record": w(lambda table, values=None: self.tx.create_record(_text(table, "table"),
                                                                                    _map(values, "fields"))),
            "core.set_field": w(self.set_field),
            "core.clear_field": w(lambda rid, name: self.tx.clear_field(_text(rid, "record id"), _text(name, "field"))),
            "core.delete_entity": w(lambda rid: self.tx.delete_record(_text(rid, "record id"))),
            "core.delete_record": w(lambda rid: self.tx.delete_record(_text(rid, "record id"))),
            "core.add_to_table": w(lambda rid, table, values=None: self.tx.add_to_table(
                _text(rid, "record id"), _text(table, "table"), _map(values, "fields"))),
            "core.remove_from_table": w(lambda rid, table: self.tx.remove_from_table(
                _text(rid, "record id"), _text(table, "table"))),
            "core.create_edge": w(lambda etype, src, tgt, props=None: self.tx.create_edge(
                _text(etype, "edge type"), _text(src, "source id"), _text(tgt, "target id"),
                _map(props, "properties"))),
            "core.delete_edge": w(lambda eid: self.tx.delete_edge(_text(eid, "edge id"))),
            "core.set_edge_property": w(lambda eid, key, value: self.tx.set_edge_property(
                _text(eid, "edge id"), _text(key, "property"), value)),
            "core.edges_from": r(lambda rid, etype=None: [edge_table(e) for e in self.ws.records.edges_from(
                _text(rid, "record id"), etype)]),
            "core.edges_to": r(lambda rid, etype=None: [edge_table(e) for e in self.ws.records.edges_to(
                _text(rid, "record id"), etype)]),
            "core.create_ordered_edge": w(self.create_ordered_edge),
            "core.move_ordered_edge": w(self.move_ordered_edge),
            "core.query_ordered_edges": r(lambda target, etype: [edge_table(e) for e in self.ws.records.ordered_list(
                _text(target, "list record id"), _text(etype, "edge type"))]),
            "core.text.insert_at": w(lambda rid, name, index, text: self.tx.edit_text(
                _text(rid, "record id"), _text(name, "field"), [(_int(index, "index"), 0, text)])),
            "core.text.delete_range": w(lambda rid, name, start, end: self.tx.edit_text(
                _text(rid, "record id"), _text(name, "field"),
                [(_int(start, "start"), _int(end, "end") - _int(start, "start"), "")])),
            "core.text.replace_range": w(lambda rid, name, start, end, text: self.tx.edit_text(
                _text(rid, "record id"), _text(name, "field"),
                [(_int(start, "start"), _int(end, "end") - _int(start, "start"), text)])),
            "core.list.append": w(lambda rid, name, value: self._list(rid, name, lambda items: [*items, value])),
            "core.list.insert": w(lambda rid, name, index, value: self._list(rid, name, lambda items: [
                *items[:_index(index, len(items) + 1)], value, *items[_index(index, len(items) + 1):]])),
            "core.list.remove": w(lambda rid, name, value: self._list(
                rid, name, lambda items: [v for v in items if v != value])),
            "core.list.remove_at": w(lambda rid, name, index: self._list(
                rid, name, lambda items: items[:_index(index, len(items))] + items[_index(index, len(items)) + 1:])),
            "core.get_conflicts": r(self.get_conflicts),
            "core.schema.list_tables": r(lambda: sorted(self.ws.schema.tables)),
            "core.schema.get_fields": r(lambda table: [
                {"id": f.id, "name": f.name, "type": f.type, "display_name": f.display_name}
                for f in self.ws.schema.table(_text(table, "table")).fields.values()]),
            "json.encode": r(self.json_encode),
            "json.decode": r(self.json_decode),
            **{f"log.{level}": r(self._logger(level)) for level in ("debug", "info", "warn", "error")},
            "context.user": r(lambda: {"id": self.ws.actor_id.hex(), "name": self.ws.display_name}),
            "context.hlc_time": r(lambda: to_display(self.ws.clock.last)),
            "context.script": r(lambda: self.script),
            "context.cancelled": r(lambda: False),
            "context.trigger_entity": r(lambda: self.trigger.record if self.trigger else None),
            "context.trigger_field": r(lambda: self.trigger.field if self.trigger else None),
            "context.old_value": r(lambda: plain(self.trigger.old_value) if self.trigger else None),
            "context.new_value": r(lambda: plain(self.trigger.new_value) if self.trigger else None),
            "context.scope_entity": r(lambda: self.trigger.scope_record if self.trigger else None),
            "ui.toast": r(self._toast("info")),
            "ui.toast.warn": r(self._toast("warn")),
            "ui.toast.error": r(self._toast("error")),
            "ui.progress.start": r(self.progress_start),
            "ui.progress.update": r(self.progress_update),
            "ui.progress.complete": r(self.progress_complete),
        }

    # --- reads --------------------------------------------------------------------------------

    def query(self, text: Any, *values: Any) -> list[dict[str, Any]]:
        bound, order = bind(text, list(values))
        found = [self.ws.records.get(rid) for rid in self.ws.views.query(bound)]
        rows = [record_table(r) for r in found if r is not None]
        if order is not None:
            name, descending = order
            keyed = [(self._sort_value(r, name), r) for r in rows]
            present = [(k, r) for k, r in keyed if k is not None]
            present.sort(key=lambda kr: kr[0], reverse=descending)
            rows = [r for _, r in present] + [r for k, r in keyed if k is None]
        return rows

    def _sort_value(self, row: dict[str, Any], name: str) -> tuple[int, Any, str] | None:
        """Numbers before text; a cue number field as theatres read it (9 before 10, 10.5 after 10)."""
        fields = row["fields"]
        key = name if name in fields else next((k for k in fields if k.rsplit(".", 1)[-1] == name), None)
        value = None if key is None else fields[key]
        if value is None:
            return None
        if isinstance(value, bool):
            return (0, int(value), "")
        if isinstance(value, (int, float)):
            return (1, value, "")
        fdef = self.ws.schema.fields.get(key or "")
        if fdef is not None and fdef.type == "cue":
            from ..cues import cue_key

            order = cue_key(value)
            if order is not None:
                return (2, order, str(value))
        return (3, "", str(value))

    def query_one(self, text: Any, *values: Any) -> dict[str, Any] | None:
        rows = self.query(text, *values)
        return rows[0] if rows else None

    def get_record(self, rid: Any) -> dict[str, Any] | None:
        found = self.ws.records.get(_text(rid, "record id"))
        return None if found is None else record_table(found)

    def get_conflicts(self, rid: Any = None) -> list[dict[str, Any]]:
        return [{"id": c.id, "record": c.target, "field": c.key, "field_name": c.field_name,
                 "current": plain(c.current), "description": c.describe(),
                 "values": [{"value": plain(p.value), "by": p.display_name, "when": p.when} for p in c.competitors]}
                for c in self.ws.conflicts.open(None if rid is None else _text(rid, "record id"))]

    # --- writes -------------------------------------------------------------------------------

    def create_entity(self, spec: Any) -> dict[str, Any]:
        spec = _map(spec, "create_entity's argument")
        unknown = set(spec) - {"table", "fields"}
        if unknown:
            raise ValidationError(f"create_entity takes {{table = ..., fields = {{...}}}}; unknown: {sorted(unknown)}")
        rid = self.tx.create_record(_text(spec.get("table"), "table"), _map(spec.get("fields"), "fields"))
        return {"id": rid}

    def set_field(self, rid: Any, name: Any, value: Any) -> None:
        rid, name = _text(rid, "record id"), _text(name, "field")
        if value == {}:
            value = []  # an empty Lua table: an empty list
        fdef = self.tx._field(name, as_id(rid, "record id"))  # the record's tables decide a short name
        if fdef.crdt == "text" and value is not None:
            self.tx.set_text(rid, fdef.id, value)  # the spec: set_field replaces a text field's content
        elif fdef.crdt == "list" and value is not None:
            self.tx.set_list(rid, fdef.id, value)
        else:
            self.tx.set_field(rid, name, value)

    def _list(self, rid: Any, name: Any, change: Callable[[list[Any]], list[Any]]) -> None:
        rid, name = _text(rid, "record id"), _text(name, "field")
        current = self.ws.records.value(rid, name)
        self.tx.set_list(rid, name, change(list(current or [])))

    def _position(self, options: Any) -> tuple[Any, Any, dict[str, Any]]:
        options = _map(options, "options")
        unknown = set(options) - {"after", "before", "properties"}
        if unknown:
            raise ValidationError(f"ordered edge options are after, before, properties; unknown: {sorted(unknown)}")
        return options.get("after"), options.get("before"), _map(options.get("properties"), "properties")

    def create_ordered_edge(self, etype: Any, src: Any, tgt: Any, options: Any = None) -> str:
        after, before, props = self._position(options)
        return self.tx.create_ordered_edge(_text(etype, "edge type"), _text(src, "source id"),
                                           _text(tgt, "target id"), after=after, before=before, properties=props)

    def move_ordered_edge(self, eid: Any, options: Any = None) -> None:
        after, before, props = self._position(options)
        if props:
            raise ValidationError("move_ordered_edge takes after or before, not properties")
        self.tx.move_ordered_edge(_text(eid, "edge id"), after=after, before=before)

    # --- json, log, ui ------------------------------------------------------------------------

    def json_encode(self, value: Any) -> str:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
        except ValueError as exc:
            raise ValidationError(f"json.encode: {exc}") from None
        return text

    def json_decode(self, text: Any) -> Any:
        if not isinstance(text, str):
            raise ValidationError("json.decode takes a string")
        if len(text) > MAX_JSON:
            raise ValidationError(f"json.decode: text over {MAX_JSON // 2**20} MiB")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(f"json.decode: not valid JSON ({exc})") from None

    def _logger(self, level: str) -> Callable[..., None]:
        def log(*parts: Any) -> None:
            self._event(ScriptEvent("log", level, " ".join("nil" if p is None else str(p) for p in parts)[:4000]))
        return log

    def _toast(self, level: str) -> Callable[[Any], None]:
        def toast(message: Any) -> None:
            self._event(ScriptEvent("toast", level, str(message)[:500]))
        return toast

    def progress_start(self, title: Any, options: Any = None) -> None:
        total = _map(options, "progress options").get("total")
        self.progress_total = None if total is None else _int(total, "total")
        self.progress_title = str(title)[:200]
        self._event(ScriptEvent("progress", "start", self.progress_title, 0, self.progress_total))

    def progress_update(self, current: Any) -> None:
        self._event(ScriptEvent("progress", "update", self.progress_title, _int(current, "progress"),
                              self.progress_total))

    def progress_complete(self) -> None:
        self._event(ScriptEvent("progress", "complete", self.progress_title, self.progress_total, self.progress_total))
