"""Forks and templates: a workspace's current state without its history, planted into a new workspace.

Why one idea for both (spec/workspace.md, "Forks"; "created optionally from a template"): a fork for the
tour and a template for the next show are the same thing, the state as it is now (modules, confirmed
mappings, saved views, records and their links), with none of the operations that made it. Planting it
writes fresh operations, signed by the new owner, under new record ids, into a new workspace: the fork
shares no bundle, no record id and no workspace id with the original, so nothing of it can ever sync
with the original (every bundle names its workspace, and receivers refuse another workspace's).

Provenance on both sides: the fork's founding bundle carries the `forked_from` setting (the original's id
and state hash); the original gets a signed bundle (kind `workspace`) whose meta names the fork
(`fork_provenance` lists them). A template is the same state in a file (`encode_template`), with or
without its records. What a copy does not carry: history, conflicts (the shown value is copied),
staged drafts, rules, scripts, a field's reference to another record (its current value is copied).

This is a tool on the public API (like csv_import and backup); it writes through `Workspace.transaction`,
so it needs a synchronous signer (the relay, the CLI, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import operations as o
from .bundle import decode_bundle
from .encoding import decode, encode
from .errors import DecodeError, LocalError, OpenprodError
from .ids import to_str

if TYPE_CHECKING:
    from .transaction import Transaction
    from .workspace import Workspace

TEMPLATE_FORMAT = "openprod-template"
TEMPLATE_VERSION = 1
TEMPLATE_SUFFIX = ".openprod-template"
FORKED_FROM = "forked_from"
RECORDS_PER_BUNDLE = 200


class TemplateError(LocalError):
    """A template file that cannot be used; the message says why in plain words."""


@dataclass
class StateCopy:
    """The state without history. Records and links name records by their ids in the source; planting
    gives every record a new id."""

    name: str
    modules: list[str]                              # manifests, in the order they were adopted
    mappings: list[tuple[str, str]]                 # confirmed field mappings
    views: list[tuple[str, dict[str, Any]]]         # saved views: (name, definition)
    records: list[dict[str, Any]] = field(default_factory=list)  # {"id", "tables", "values", "lists"}
    links: list[dict[str, Any]] = field(default_factory=list)    # {"type", "source", "target", "properties", "ordered"}

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "modules": self.modules, "mappings": [list(m) for m in self.mappings],
                "views": [[n, d] for n, d in self.views], "records": self.records, "links": self.links}


def read_state(ws: Workspace, *, with_records: bool = True) -> StateCopy:
    """The state as it is now (through no overlay: staged drafts are not copied)."""
    schema = ws.schema
    copy = StateCopy(name=ws.name, modules=[m.manifest for m in schema.modules.values()],
                     mappings=ws.mappings.confirmed(),
                     views=[(v.name, v.definition) for v in ws.views.list() if v.module is None])
    if not with_records:
        return copy
    seen: dict[str, dict[str, Any]] = {}
    for table_id in schema.tables:
        for record in ws.records.all(table_id):
            entry = seen.get(record.id)
            if entry is None:
                entry = seen[record.id] = {"id": record.id, "tables": list(record.tables), "values": {}, "lists": {}}
                copy.records.append(entry)
            for fdef in schema.tables[table_id].fields.values():
                value = record.values.get(fdef.id)
                if value is None or fdef.id in entry["values"] or fdef.id in entry["lists"]:
                    continue
                if fdef.crdt == "list":
                    entry["lists"][fdef.id] = list(value)
                else:
                    entry["values"][fdef.id] = value
    ordered_types = {e.id for e in schema.edge_types.values() if e.ordered}
    for entry in copy.records:
        for edge in ws.records.edges_from(entry["id"]):
            if edge.target in seen:
                copy.links.append({"type": edge.edge_type, "source": edge.source, "target": edge.target,
                                   "properties": dict(edge.properties), "ordered": edge.edge_type in ordered_types,
                                   "position": edge.position or ""})
    copy.links.sort(key=lambda link: (link["type"], link["target"], link["position"]))
    return copy


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _schema_steps(copy: StateCopy, tx: Transaction) -> None:
    for manifest in copy.modules:
        tx.adopt_module(manifest)
    for a, b in copy.mappings:
        tx.confirm_field_mapping(a, b)
    for name, definition in copy.views:
        tx.save_view(name, definition)


Step = tuple[str, dict[str, Any], Callable[["Transaction"], None]]


def plant_steps(copy: StateCopy, new_ids: dict[str, str], *, schema: bool = True) -> Iterator[Step]:
    """The transactions that plant `copy`, in order, as (kind, meta, write): the caller runs each
    `write(tx)` in a transaction of that kind and signs it however its runtime signs (`plant` with a
    synchronous signer; the browser prepares, signs with WebCrypto, commits). `new_ids` fills with
    old record id -> new id as records are written (links read it)."""
    if schema:
        yield "module", {}, lambda tx: _schema_steps(copy, tx)
    meta = {"copied": "fork or template"}
    for batch in _chunks(copy.records, RECORDS_PER_BUNDLE):
        yield "import", meta, _records_step(batch, new_ids)
    for batch in _chunks(copy.links, RECORDS_PER_BUNDLE):
        yield "import", meta, _links_step(batch, new_ids)


def _records_step(batch: list[dict[str, Any]], new_ids: dict[str, str]) -> Callable[[Transaction], None]:
    def write(tx: Transaction) -> None:
        for entry in batch:
                tables: list[str] = list(entry["tables"])
                if not tables:
                    continue
                by_table = {t: {f: v for f, v in entry["values"].items() if f.startswith(t + ".")} for t in tables}
                new = tx.create_record(tables[0], by_table[tables[0]])
                for table in tables[1:]:
                    tx.add_to_table(new, table, by_table[table])
                for fid, values in entry["lists"].items():
                    tx.set_list(new, fid, values)
                new_ids[str(entry["id"])] = new
    return write


def _links_step(batch: list[dict[str, Any]], new_ids: dict[str, str]) -> Callable[[Transaction], None]:
    def write(tx: Transaction) -> None:
        for link in batch:
            source, target = new_ids.get(link["source"]), new_ids.get(link["target"])
            if source is None or target is None:
                continue
            if link["ordered"]:
                tx.create_ordered_edge(link["type"], source, target, properties=link["properties"])
            else:
                tx.create_edge(link["type"], source, target, properties=link["properties"])
    return write


def plant(copy: StateCopy, ws: Workspace, *, schema: bool = True) -> dict[str, str]:
    """Write `copy` into `ws` (a new workspace) as fresh operations; returns old record id -> new id.

    Raises LocalError if the copy does not fit; nothing of the failing transaction is written."""
    new_ids: dict[str, str] = {}
    for kind, meta, write in plant_steps(copy, new_ids, schema=schema):
        with ws.transaction(kind=kind, meta=meta) as tx:
            write(tx)
    return new_ids


@dataclass(frozen=True)
class ForkReport:
    source: str
    fork: str
    source_hash: str
    records: int
    links: int


def fork(source: Workspace, make: Callable[[str], tuple[Workspace, Transaction]], name: str | None = None
         ) -> tuple[Workspace, ForkReport]:
    """Fork `source`: `make(name)` founds the new workspace (e.g. `lambda n: Workspace.founding(conn, env, n)`)
    and returns it with its open founding transaction, which gets the schema and the `forked_from` setting.
    The original gets a signed bundle naming the fork."""
    copy = read_state(source)
    source_hash = source.state_hash()
    source_id = to_str(source.workspace_id)
    ws, tx = make(name or f"{copy.name} (fork)")
    try:
        found_fork(copy, source_id, source_hash, tx)
    except BaseException:
        ws.abort()
        raise
    ws.last_receipt = ws.finish(tx)
    ids = plant(copy, ws, schema=False)
    meta = fork_note_meta(to_str(ws.workspace_id), source_hash)
    with source.transaction(kind="workspace", meta=meta) as stx:
        note_fork(source, stx)
    return ws, ForkReport(source=source_id, fork=to_str(ws.workspace_id), source_hash=source_hash,
                          records=len(ids), links=len(copy.links))


def found_fork(copy: StateCopy, source_id: str, source_hash: str, tx: Transaction) -> None:
    """The fork's founding transaction: where it came from, and the structure."""
    tx.set_setting(FORKED_FROM, f"{source_id} {source_hash}")
    _schema_steps(copy, tx)


def fork_note_meta(fork_id: str, source_hash: str) -> dict[str, Any]:
    """The meta of the original's note naming a fork (a transaction of kind `workspace`)."""
    return {"forked_to": fork_id, "state_hash": source_hash}


def note_fork(source: Workspace, tx: Transaction) -> None:
    """The note's one op in the original: who forked it (the fork is named in the bundle's meta)."""
    tx.add(o.IdentifyActor, display_name=source.display_name)


def fork_provenance(ws: Workspace) -> dict[str, Any]:
    """Where this workspace came from (the `forked_from` setting), and the forks made of it (`forked_to` in
    a bundle's meta)."""
    made = []
    for stored in ws.oplog.bundles():
        if stored.kind == "workspace":
            meta = decode_bundle(stored.wire).header.meta
            if "forked_to" in meta:
                made.append({"fork": str(meta["forked_to"]), "state_hash": str(meta.get("state_hash", "")),
                             "by": ws.actor_name(stored.actor)})
    origin = ws.settings.forked_from
    source, _, source_hash = origin.partition(" ")
    return {"forked_from": {"workspace": source, "state_hash": source_hash} if origin else None, "forks": made}


def encode_template(copy: StateCopy) -> bytes:
    return encode({"format": TEMPLATE_FORMAT, "version": TEMPLATE_VERSION, **copy.to_wire()})


def decode_template(data: bytes) -> StateCopy:
    """Read a template file; raises TemplateError saying what is wrong with it."""
    not_one = "This file is not an Openprod template"
    try:
        doc = decode(data, what="template")
    except (DecodeError, OpenprodError):
        raise TemplateError(f"{not_one} (it could not be read as one).") from None
    if not isinstance(doc, dict) or doc.get("format") != TEMPLATE_FORMAT:
        raise TemplateError(f"{not_one}.")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TemplateError(f"{not_one} (it has no valid format version).")
    if version > TEMPLATE_VERSION:
        raise TemplateError(f"This template was made by a newer version of Openprod (format {version}).")
    try:
        modules = [str(m) for m in doc["modules"]]
        mappings = [(str(a), str(b)) for a, b in doc["mappings"]]
        views = [(str(n), dict(d)) for n, d in doc["views"]]
        records = [dict(r) for r in doc["records"]]
        links = [dict(x) for x in doc["links"]]
        for record in records:
            if not isinstance(record.get("tables"), list) or not isinstance(record.get("values"), dict):
                raise ValueError
            record.setdefault("lists", {})
    except (KeyError, TypeError, ValueError):
        raise TemplateError("This template is damaged: its parts are not where they should be.") from None
    if not modules:
        raise TemplateError("This template is damaged: it adopts no modules.")
    return StateCopy(str(doc.get("name") or ""), modules, mappings, views, records, links)


def stage_management_template() -> StateCopy:
    """The "Stage Management" template: contacts, schedule, the calling script and lighting cues adopted;
    people and cues mapped across tables; a few example records, links and a saved view to start from.

    The example cues are in a cue list (a Cue Lists record, the cues put in order in it, the words to
    call on each link), because the calling view calls a cue list: without one it has nothing to call."""
    from .starter import starter_manifests

    manifests = starter_manifests()
    c, a, sm, lx = "contacts.Contacts", "schedule.Attendees", "sm.SMCues", "lighting.LightingCues"
    mappings = [(f"{c}.name", f"{a}.name"), (f"{c}.email", f"{a}.email"),
                (f"{sm}.cue_number", f"{lx}.cue_number"), (f"{sm}.label", f"{lx}.label"), (f"{sm}.page", f"{lx}.page")]

    def person(key: str, name: str, role: str, department: str, email: str) -> dict[str, Any]:
        return {"id": key, "tables": [c, a], "lists": {},
                "values": {f"{c}.name": name, f"{c}.role": role, f"{c}.department": department, f"{c}.email": email,
                           f"{a}.name": name, f"{a}.email": email}}

    def cue(key: str, number: str, label: str, page: int, standby: str, call: str) -> dict[str, Any]:
        return {"id": key, "tables": [sm, lx], "lists": {},
                "values": {f"{sm}.cue_number": number, f"{sm}.label": label, f"{sm}.page": page,
                           f"{sm}.department": "Lighting", f"{sm}.standby": standby, f"{sm}.call_text": call,
                           f"{lx}.cue_number": number, f"{lx}.label": label, f"{lx}.page": page}}

    records = [
        person("sm", "Stage Manager (example)", "Production Stage Manager", "Stage Management", "sm@example.org"),
        person("asm", "Assistant Stage Manager (example)", "ASM", "Stage Management", "asm@example.org"),
        person("ld", "Lighting Designer (example)", "Lighting Designer", "Lighting", "lx@example.org"),
        {"id": "rehearsal", "tables": ["schedule.Events"], "lists": {},
         "values": {"schedule.Events.title": "First rehearsal (example)", "schedule.Events.room": "Rehearsal room",
                    "schedule.Events.kind": "Rehearsal"}},
        cue("q1", "1", "House to half", 1, "Standby lights 1", "Lights 1 go"),
        cue("q2", "2", "Preset out, stage up", 1, "Standby lights 2", "Lights 2 go"),
        {"id": "cues", "tables": ["lighting.CueLists"], "lists": {},
         "values": {"lighting.CueLists.name": "Main cue list (example)"}},
    ]
    links: list[dict[str, Any]] = [
        {"type": "schedule.called_to", "source": key, "target": "rehearsal", "properties": {}, "ordered": False,
         "position": ""} for key in ("sm", "asm", "ld")]
    # in list order: an ordered link is planted at the end of its list
    links += [{"type": "lighting.in_cue_list", "source": key, "target": "cues", "properties": {"call_text": call},
               "ordered": True, "position": ""} for key, call in (("q1", "Lights 1 go"), ("q2", "Lights 2 go"))]
    views = [("Crew contacts", {"table": c, "columns": ["name", "role", "department", "email", "phone"],
                                "sort": ["department", "name"]})]
    modules = [manifests[m] for m in ("contacts", "schedule", "sm", "lighting")]
    return StateCopy(name="Stage Management", modules=modules, mappings=mappings, views=views, records=records,
                     links=links)
