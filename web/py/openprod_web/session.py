"""One open workspace in the browser worker, and the JSON methods the page may call on it.

Persistence contract with the JavaScript side (docs/web.md, "Persistence"):

* every bundle the workspace stores (local commit or received) gets the next log sequence
  number, synchronously, in commit order, and waits in a queue until `take_log()`;
* `snapshot()` returns `(seq, conn.serialize())`: the database holds exactly the bundles with
  sequence numbers up to `seq` (never taken while a SQLite transaction is open);
* `Session.open()` restores the latest snapshot and ingests only the log records after it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from openprod import (
    BundleEvent,
    Env,
    Identity,
    OpenprodError,
    ValidationError,
    Workspace,
    connect,
    starter_manifests,
)
from openprod.identity import clean_display_name
from openprod.ids import from_str, to_str
from openprod.modules import FieldDef

EnvFactory = Callable[[Identity], Awaitable[Env]]
EDITABLE_TYPES = frozenset({"string", "number", "boolean", "timestamp"})
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


async def webcrypto_env(identity: Identity) -> Env:
    """The browser's signer: Ed25519 through WebCrypto (only importable under Pyodide)."""
    from openprod.signer_webcrypto import WebCryptoSigner, WebCryptoVerifier

    signer = await WebCryptoSigner.create(identity)
    return Env(signer=signer, verifier=WebCryptoVerifier(), display_name=identity.display_name)


async def new_identity(display_name: str) -> str:
    """A fresh Ed25519 identity from WebCrypto, as the JSON the worker stores."""
    from openprod.signer_webcrypto import generate_identity

    return (await generate_identity(display_name)).to_json()


def rename_identity(identity_json: str, display_name: str) -> str:
    return Identity.from_json(identity_json).renamed(display_name).to_json()


def _is_null(value: Any) -> bool:
    """None, or JavaScript's null/undefined as Pyodide hands them over."""
    return value is None or type(value).__name__ == "JsNull"


def _as_bytes(value: Any) -> bytes:
    """bytes from CPython, or a JS Uint8Array/ArrayBuffer proxy under Pyodide."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    to_bytes = getattr(value, "to_bytes", None)
    if to_bytes is not None:
        return bytes(to_bytes())
    raise TypeError(f"expected bytes, got {type(value).__name__}")


@dataclass
class ReplayStats:
    snapshot_seq: int = 0
    snapshot_bytes: int = 0
    replayed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    restore_ms: float = 0.0
    replay_ms: float = 0.0


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
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValidationError(f"{name}: {raw!r} is not yes or no")
    return str(raw).strip()  # timestamp: the core normalises and validates ISO 8601


def _field_json(fdef: FieldDef) -> dict[str, Any]:
    return {
        "id": fdef.id, "name": fdef.name, "display_name": fdef.display_name, "type": fdef.type,
        "description": fdef.description, "required": fdef.required,
        "editable": fdef.crdt is None and fdef.type in EDITABLE_TYPES,
    }


class Session:
    """Create with `await Session.create(...)` or `await Session.open(...)`."""

    def __init__(self, ws: Workspace, identity: Identity, seq: int, replay: ReplayStats) -> None:
        self.ws = ws
        self.identity = identity
        self.seq = seq
        self.replay = replay
        self._queue: list[tuple[int, bytes]] = []
        ws.listeners.append(self._on_bundle)

    # --- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def create(cls, identity_json: str, name: str, modules: Iterable[str],
                     env_factory: EnvFactory = webcrypto_env) -> Session:
        """A new workspace; its first bundles wait in the queue like any other."""
        identity = Identity.from_json(identity_json)
        env = await env_factory(identity)
        manifests = starter_manifests()
        chosen = list(modules)
        unknown = [m for m in chosen if m not in manifests]
        if unknown:
            raise ValidationError(f"unknown starter module(s): {', '.join(unknown)}")
        ws = await Workspace.create_async(connect(":memory:"), env, name)
        session = cls(ws, identity, 0, ReplayStats())
        assert ws.last_receipt is not None
        session._enqueue(ws.last_receipt.wire)  # stored before the listener existed
        if chosen:
            async with ws.transaction_async(kind="module") as tx:
                for module in chosen:
                    tx.adopt_module(manifests[module])
        return session

    @classmethod
    async def open(cls, identity_json: str, workspace_id: str, snapshot: Any, snapshot_seq: int,
                   log: Iterable[Any], env_factory: EnvFactory = webcrypto_env) -> Session:
        """Latest snapshot (or none) + the log records after it; `log` items are (seq, wire)."""
        identity = Identity.from_json(identity_json)
        env = await env_factory(identity)
        stats = ReplayStats(snapshot_seq=int(snapshot_seq))
        started = time.perf_counter()
        conn = connect(":memory:")
        if not _is_null(snapshot):
            data = _as_bytes(snapshot)
            stats.snapshot_bytes = len(data)
            conn.deserialize(data)
            ws = Workspace.open(conn, env, from_str(workspace_id))
        else:
            ws = Workspace.join(conn, env, from_str(workspace_id))
        stats.restore_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        seq = stats.snapshot_seq
        for item in log:
            record_seq = int(item[0])
            if record_seq <= stats.snapshot_seq:
                continue  # already inside the snapshot (a trim that did not happen)
            result = await ws.ingest_async(_as_bytes(item[1]), source="local-log")
            stats.replayed += 1
            stats.statuses[result.status] = stats.statuses.get(result.status, 0) + 1
            seq = max(seq, record_seq)
        stats.replay_ms = (time.perf_counter() - started) * 1000
        return cls(ws, identity, seq, stats)

    def _on_bundle(self, event: BundleEvent) -> None:
        self._enqueue(event.wire)

    def _enqueue(self, wire: bytes) -> None:
        self.seq += 1
        self._queue.append((self.seq, wire))

    def take_log(self) -> list[tuple[int, bytes]]:
        """Bundles stored since the last call, with their log sequence numbers, in commit order."""
        queued, self._queue = self._queue, []
        return queued

    def snapshot(self) -> tuple[int, bytes] | None:
        """(last log seq included, database bytes), or None while a transaction is open."""
        conn: sqlite3.Connection = self.ws.conn
        if conn.in_transaction:
            return None
        return self.seq, conn.serialize()

    def set_display_name(self, display_name: str) -> str:
        """Rename the local actor; the next bundle carries the new name. Returns the identity JSON."""
        self.identity = self.identity.renamed(display_name)
        self.ws.display_name = clean_display_name(display_name)
        return self.identity.to_json()

    # --- the JSON API -----------------------------------------------------------------------

    async def call(self, method: str, args_json: str) -> str:
        """Run one API method. Returns JSON: {"ok": result} or {"error": {"type", "message"}}."""
        spec = METHODS.get(method)
        if spec is None:
            return json.dumps({"error": {"type": "LocalError", "message": f"unknown method {method!r}"}})
        args = json.loads(args_json) if args_json else {}
        try:
            result = await getattr(self, f"m_{method}")(**args)
        except (OpenprodError, ValueError) as exc:
            return json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}})
        return json.dumps({"ok": result})

    def _fdef(self, field_id: str) -> FieldDef:
        return self.ws.schema.field(field_id)

    # reads

    async def m_info(self) -> dict[str, Any]:
        ws = self.ws
        tables = [{
            "id": t.id, "module": t.module, "display_name": t.display_name, "description": t.description,
            "fields": [_field_json(f) for f in t.fields.values()],
        } for t in ws.schema.tables.values()]
        modules = [{"name": m.name, "display_name": m.display_name, "version": m.version}
                   for m in ws.schema.modules.values()]
        return {"workspace_id": to_str(ws.workspace_id), "name": ws.name, "actor": ws.actor_id.hex(),
                "display_name": ws.display_name, "tables": tables, "modules": modules}

    async def m_rows(self, table: str) -> dict[str, Any]:
        tdef = self.ws.schema.table(table)
        return {"table": tdef.id, "fields": [_field_json(f) for f in tdef.fields.values()],
                "rows": [{"id": r.id, "tables": r.tables, "values": r.values} for r in self.ws.records(table)]}

    async def m_record(self, record: str) -> dict[str, Any] | None:
        found = self.ws.record(record)
        if found is None:
            return None
        return {"id": found.id, "tables": found.tables, "values": found.values,
                "label": self.ws.record_label(from_str(found.id))}

    async def m_history(self, record: str, field: str) -> list[dict[str, Any]]:
        return [{"actor": c.actor[:8], "display_name": c.display_name, "when": c.when, "old": c.old, "new": c.new,
                 "bundle_id": c.bundle_id, "op_type": c.op_type}
                for c in self.ws.history(record, field)]

    async def m_membership(self, record: str) -> list[dict[str, Any]]:
        """Every table, whether the record is in it, and the required fields it would still need."""
        found = self.ws.record(record)
        if found is None:
            raise ValidationError(f"record {record} does not exist")
        out = []
        for tdef in self.ws.schema.tables.values():
            member = tdef.id in found.tables
            needs = [] if member else [
                _field_json(f) for f in tdef.fields.values()
                if f.required and f.default is None and self.ws.get(record, f.id) is None]
            out.append({"table": tdef.id, "display_name": tdef.display_name, "member": member, "needs": needs})
        return out

    async def m_stats(self) -> dict[str, Any]:
        r = self.replay
        bundles = self.ws.conn.execute("SELECT count(*) FROM bundles").fetchone()[0]
        return {"seq": self.seq, "queued": len(self._queue), "bundles": bundles,
                "snapshot_seq": r.snapshot_seq, "snapshot_bytes": r.snapshot_bytes, "replayed": r.replayed,
                "replay_statuses": r.statuses, "restore_ms": round(r.restore_ms, 1),
                "replay_ms": round(r.replay_ms, 1)}

    # writes: each is one transaction, so one signed bundle (or none if nothing changed)

    async def m_set_cell(self, record: str, field: str, value: Any) -> dict[str, Any]:
        fdef = self._fdef(field)
        coerced = coerce_input(fdef, value)
        current = self.ws.get(record, fdef.id)
        if current == coerced and type(current) is type(coerced):
            return {"changed": False, "value": current}
        async with self.ws.transaction_async() as tx:
            tx.set_field(record, fdef.id, coerced)
        return {"changed": True, "value": self.ws.get(record, fdef.id)}

    async def m_create_record(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        tdef = self.ws.schema.table(table)
        clean = {}
        for key, raw in values.items():
            coerced = coerce_input(tdef.field(key.rsplit(".", 1)[-1]), raw)
            if coerced is not None:
                clean[key] = coerced
        async with self.ws.transaction_async() as tx:
            record = tx.create_record(tdef.id, clean)
        return {"id": record}

    async def m_update_record(self, record: str, values: dict[str, Any]) -> dict[str, Any]:
        """All changed fields of a form in one bundle; unchanged ones write nothing."""
        changes = {}
        for field_id, raw in values.items():
            fdef = self._fdef(field_id)
            coerced = coerce_input(fdef, raw)
            current = self.ws.get(record, fdef.id)
            if not (current == coerced and type(current) is type(coerced)):
                changes[fdef.id] = coerced
        if changes:
            async with self.ws.transaction_async() as tx:
                for field_id, value in changes.items():
                    tx.set_field(record, field_id, value)
        return {"changed": sorted(changes)}

    async def m_add_to_table(self, record: str, table: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        tdef = self.ws.schema.table(table)
        clean = {}
        for key, raw in (values or {}).items():
            coerced = coerce_input(tdef.field(key.rsplit(".", 1)[-1]), raw)
            if coerced is not None:
                clean[key] = coerced
        async with self.ws.transaction_async() as tx:
            tx.add_to_table(record, tdef.id, clean)
        return {"tables": self.ws.record(record).tables}  # type: ignore[union-attr]

    async def m_remove_from_table(self, record: str, table: str) -> dict[str, Any]:
        found = self.ws.record(record)
        if found is not None and found.tables == [table]:
            raise ValidationError("this is the record's only table; delete the record instead")
        async with self.ws.transaction_async() as tx:
            tx.remove_from_table(record, table)
        return {"tables": self.ws.record(record).tables}  # type: ignore[union-attr]

    async def m_delete_record(self, record: str) -> dict[str, Any]:
        async with self.ws.transaction_async() as tx:
            tx.delete_record(record)
        return {"deleted": record}


    async def m_undo(self) -> dict[str, Any]:
        """Reverse this person's latest change in this session (skipped, with a reason, if others built on it)."""
        result = await self.ws.undo_async()
        return {"done": result.done, "message": result.message}

    async def m_redo(self) -> dict[str, Any]:
        result = await self.ws.redo_async()
        return {"done": result.done, "message": result.message}


# name -> True if the method writes (the worker then waits for the log to be durable)
METHODS: dict[str, bool] = {
    "info": False, "rows": False, "record": False, "history": False, "membership": False, "stats": False,
    "set_cell": True, "create_record": True, "update_record": True, "add_to_table": True,
    "remove_from_table": True, "delete_record": True, "undo": True, "redo": True,
}
