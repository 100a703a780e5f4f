"""Where scripts live: module scripts shipped with the app (read-only) and user scripts stored in
the workspace as records of the `scripts.Scripts` table (so they sync, have history and merge like
any record). Each script may declare its arguments in header comments, which the app's script
library turns into a form:

    --@arg first cue "First cue of the range"
    --@arg step number "Step" = 1

Kinds: text, number, cue, boolean, date (YYYY-MM-DD), json, csv (a CSV file's text). `= value`
gives a default; an argument without one is required.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ValidationError
from .session import Script

if TYPE_CHECKING:
    from ..workspace import Workspace

SCRIPTS_TABLE = "scripts.Scripts"
SCRIPTS_MODULE = """
[module]
name = "scripts"
version = "1.0.0"
display_name = "Scripts"
description = "Lua scripts kept in this workspace"

[table.Scripts]
display_name = "Scripts"
description = "Automation that stages its changes for review"

[table.Scripts.fields.name]
type = "string"
required = true
display_name = "Name"

[table.Scripts.fields.description]
type = "string"
display_name = "Description"

[table.Scripts.fields.source]
type = "string"
required = true
display_name = "Lua source"

[table.Scripts.fields.on_error]
type = "string"
display_name = "When a change fails"
default = "abort"

[table.Triggers]
display_name = "Triggers"
description = "Run a script when a field changes"

[table.Triggers.fields.name]
type = "string"
required = true
display_name = "Name"

[table.Triggers.fields.field]
type = "string"
required = true
display_name = "When this field changes"

[table.Triggers.fields.when]
type = "string"
display_name = "Only if"

[table.Triggers.fields.scope]
type = "string"
display_name = "Follow link"

[table.Triggers.fields.script]
type = "string"
required = true
display_name = "Run script"

[table.Triggers.fields.params]
type = "string"
display_name = "With arguments"

[table.Triggers.fields.mode]
type = "string"
display_name = "Review first or save at once"
default = "session"

[table.Triggers.fields.writes]
type = "string"
display_name = "Fields the script changes"

[table.Triggers.fields.enabled]
type = "boolean"
display_name = "On"
default = true
"""
ARG_KINDS = ("text", "number", "cue", "boolean", "date", "json", "csv")
_ARG = re.compile(r'^--@arg\s+([A-Za-z_]\w*)\s+(\w+)\s+"([^"]*)"(?:\s*=\s*(.+?))?\s*$')
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ScriptArg:
    name: str
    kind: str
    label: str
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class LibraryScript:
    """A script a person can run: `id` is 'module:NAME' for a shipped one, the record id otherwise."""

    id: str
    name: str
    description: str
    source: str
    read_only: bool
    on_error: str = "abort"
    args: list[ScriptArg] = field(default_factory=list)
    title: str = ""  # how a person sees it named (the name when none is given)

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)

    def script(self, mode: str = "session") -> Script:
        return Script(name=self.name, source=self.source, mode=mode, on_error=self.on_error)

    def check_args(self, given: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the script receives them: each declared one converted to its kind, defaults
        filled in. Raises ValidationError naming the argument for one that is missing or malformed."""
        out = dict(given)
        for arg in self.args:
            value = given.get(arg.name)
            if value is None or value == "":
                if arg.required:
                    raise ValidationError(f"{arg.label}: this is needed to run {self.name!r}")
                value = arg.default
            out[arg.name] = _convert(arg, value)
        return out


def _convert(arg: ScriptArg, value: Any) -> Any:
    where = arg.label
    if arg.kind == "number":
        if isinstance(value, bool):
            raise ValidationError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: expected a number, got {value!r}") from None
        return int(number) if number == int(number) else number
    if arg.kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1"):
            return True
        if str(value).lower() in ("false", "no", "0"):
            return False
        raise ValidationError(f"{where}: expected yes or no, got {value!r}")
    if arg.kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            raise ValidationError(f"{where}: expected a date as YYYY-MM-DD, got {value!r}")
        return value
    if arg.kind == "json":
        if isinstance(value, (dict, list)):
            return value
        try:
            return json.loads(str(value))
        except ValueError as exc:
            raise ValidationError(f"{where}: not valid JSON ({exc})") from None
    return str(value)


def parse_args(source: str) -> list[ScriptArg]:
    """The `--@arg` declarations at the top of a script."""
    out = []
    for number, line in enumerate(source.splitlines(), start=1):
        if not line.startswith("--@arg"):
            continue
        found = _ARG.match(line.strip())
        if found is None:
            raise ValidationError(f"line {number}: write an argument as --@arg name kind \"Label\" [= default]")
        name, kind, label, default = found.groups()
        if kind not in ARG_KINDS:
            raise ValidationError(f"line {number}: argument kind {kind!r} is not one of {', '.join(ARG_KINDS)}")
        out.append(ScriptArg(name, kind, label, None if default is None else default.strip().strip('"')))
    return out


def _description(source: str) -> str:
    lines = []
    for line in source.splitlines():
        if line.startswith("--@"):
            continue
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return " ".join(lines).strip()


def _shipped(name: str, source: str) -> LibraryScript:
    from .shipped import TITLES

    return LibraryScript(f"module:{name}", name, _description(source), source, True, "abort", parse_args(source),
                         TITLES.get(name, name))


def list_scripts(ws: Workspace) -> list[LibraryScript]:
    """Every script a person can run: the shipped ones, then the workspace's own by name."""
    from .shipped import SHIPPED

    out = [_shipped(name, source) for name, source in SHIPPED.items()]
    if SCRIPTS_TABLE in ws.schema.tables:
        stored = []
        for record in ws.records.all(SCRIPTS_TABLE):
            source = str(record.get("source") or "")
            try:
                args = parse_args(source)
            except ValidationError:
                args = []
            stored.append(LibraryScript(record.id, str(record.get("name")), str(record.get("description") or "")
                                        or _description(source), source, False,
                                        str(record.get("on_error") or "abort"), args))
        out.extend(sorted(stored, key=lambda s: s.name.lower()))
    return out


def find_script(ws: Workspace, script_id: str) -> LibraryScript:
    for item in list_scripts(ws):
        if item.id == script_id:
            return item
    raise NotFoundError(f"no script {script_id!r} in this workspace or the app")


def script_values(name: str, source: str, description: str = "", on_error: str = "abort") -> dict[str, Any]:
    """A user script's fields, checked (name, size, on_error, argument declarations; Lua syntax is
    checked when it runs). Raises ValidationError."""
    Script(name=name, source=source, on_error=on_error)
    parse_args(source)
    if not isinstance(description, str) or len(description) > 2000:
        raise ValidationError("a script's description is text of at most 2,000 characters")
    return {"name": name.strip(), "source": source, "description": description, "on_error": on_error}


def save_script(ws: Workspace, name: str, source: str, *, description: str = "", on_error: str = "abort",
                script_id: str | None = None) -> str:
    """Store a user script in the workspace (adopting the Scripts table the first time); returns its id.
    Needs the synchronous signer (the browser worker does the same with its async transactions)."""
    return store_record(ws, SCRIPTS_TABLE, script_values(name, source, description, on_error), script_id)


def store_record(ws: Workspace, table: str, values: dict[str, Any], record_id: str | None) -> str:
    """Create (or update) a record of one of the Scripts module's tables, adopting the module first
    if this workspace does not have it yet. One bundle each, with the synchronous signer."""
    if table not in ws.schema.tables:
        with ws.transaction(kind="module", staging=False) as tx:
            tx.adopt_module(SCRIPTS_MODULE)
    with ws.transaction(staging=False) as tx:
        if record_id is None:
            return tx.create_record(table, values)
        for key, value in values.items():
            tx.set_field(record_id, f"{table}.{key}", value)
    return record_id
