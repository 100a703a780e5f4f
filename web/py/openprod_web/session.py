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
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from openprod import (
    BundleEvent,
    Drift,
    Env,
    Identity,
    OpenprodError,
    Signer,
    UndoResult,
    ValidationError,
    Workspace,
    connect,
)
from openprod.identity import clean_display_name
from openprod.ids import from_str, to_str
from openprod.modules import FieldDef, normalize_value
from openprod.text_edits import text_edits

from . import writes
from .backup import BackupError, decode_backup, encode_backup_v1, restore_into
from .blobs import ATTACHMENT_METHODS, AttachmentsApi
from .calling import CALLING_METHODS, CallingApi
from .conflicts import CONFLICT_METHODS, ConflictsApi, conflict_keys
from .fields import EDITABLE_TYPES, coerce_crdt, coerce_input, field_json, same_value
from .identity import IDENTITY_METHODS, IdentityApi
from .imports import IMPORT_METHODS, ImportApi
from .links import LINK_METHODS, LinksApi
from .mappings import MAPPING_METHODS, MappingsApi
from .modules import available_manifests, module_upgrades
from .rules import RULE_METHODS, RulesApi
from .scripts import SCRIPT_METHODS, ScriptsApi, use_lua
from .staging import STAGING_METHODS, ProgressSink, StagingApi, drift_json, staged_cells
from .views import VIEW_METHODS, ViewsApi

__all__ = ["EDITABLE_TYPES", "METHODS", "Session", "coerce_input", "new_identity", "read_backup", "rename_identity",
           "use_ed25519", "use_lua", "use_yjs"]

EnvFactory = Callable[[Identity], Awaitable[Env]]
_yjs: Any = None  # the Yjs module object, handed in by the worker (see use_yjs)
_ed25519: Any = None  # the worker's synchronous Ed25519 module (see use_ed25519)


def use_yjs(y_module: Any) -> None:
    """The worker hands in Yjs (`import * as Y from 'yjs'`): CRDT text and list fields become editable."""
    global _yjs
    _yjs = y_module


def use_ed25519(module: Any) -> None:
    """The worker hands in its synchronous Ed25519 (worker/ed25519.js): local writes are signed on the
    worker's thread rather than through WebCrypto's (signing.py says why). Verifying stays on WebCrypto."""
    global _ed25519
    _ed25519 = module


async def webcrypto_env(identity: Identity) -> Env:
    """The browser's signer: Ed25519 through WebCrypto (only importable under Pyodide), and Yjs for CRDT fields."""
    from openprod.signer_webcrypto import WebCryptoSigner, WebCryptoVerifier

    crdt = None
    if _yjs is not None:
        from openprod.crdt_yjs import YjsBackend

        crdt = YjsBackend(_yjs, os.urandom)
    signer: Signer
    if _ed25519 is not None:
        from .signing import WorkerSigner

        signer = WorkerSigner.create(identity, _ed25519)
    else:
        signer = await WebCryptoSigner.create(identity)
    return Env(signer=signer, verifier=WebCryptoVerifier(), display_name=identity.display_name, crdt=crdt)


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


def read_backup(data: Any) -> str:
    """Check a backup file before anything is created: JSON {"ok": summary} or {"error": {type, message}}."""
    try:
        return json.dumps({"ok": decode_backup(_as_bytes(data)).summary()})
    except BackupError as exc:
        return json.dumps({"error": {"type": "BackupError", "message": str(exc)}})


def _undone(result: UndoResult) -> dict[str, Any]:
    """What undo or redo did, and where: the app takes the person there (app.js showChange)."""
    return {"done": result.done, "message": result.message, "table": result.table, "record": result.record,
            "field": result.field}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


@dataclass
class ReplayStats:
    snapshot_seq: int = 0
    snapshot_bytes: int = 0
    replayed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    restore_ms: float = 0.0
    replay_ms: float = 0.0
    overlays: int = 0


class Session(ConflictsApi, StagingApi, ImportApi, LinksApi, ViewsApi, CallingApi, ScriptsApi, MappingsApi, RulesApi,
              IdentityApi, AttachmentsApi):
    """Create with `await Session.create(...)` or `await Session.open(...)`."""

    def __init__(self, ws: Workspace, identity: Identity, seq: int, replay: ReplayStats) -> None:
        self.ws = ws
        self.identity = identity
        self.seq = seq
        self.replay = replay
        self._queue: list[tuple[int, bytes]] = []
        self.journal = ws.staging.journal()
        self.progress: ProgressSink | None = None
        self._writes = 0  # write calls so far: with `seq`, what the drift cache is valid for
        self._drift_cache: tuple[tuple[Any, ...], list[Drift]] | None = None
        self._fresh: list[bytes] = []
        self._firing = False
        self._trigger_log: list[dict[str, Any]] = []
        self._recovery_words: str | None = None  # held only until the page takes them (once)
        # grid reads since a mark (`m_rows(since=...)`): this session's marks only; `_epoch` moves
        # when something outside the oplog may have changed rows (staging, a device-only decision)
        self._marks = f"{id(self):x}.{time.monotonic_ns():x}"
        self._epoch = 0
        self.rows_read = 0  # rows `m_rows` read, in total (the stats say it: tests check a patch is small)
        ws.listeners.append(self._on_bundle)

    def take_recovery_words(self) -> str | None:
        """The new workspace's recovery words, once: after this call nothing here holds them."""
        words, self._recovery_words = self._recovery_words, None
        return words

    # --- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def create_with_recovery(cls, identity_json: str, name: str, modules: Iterable[str],
                                   template: str = "") -> Session:
        """A new workspace with recovery words (docs/lifecycle.md): only the public half of the key
        they stand for goes into the workspace; `take_recovery_words` hands the words out once.
        `template`: "stage-management" starts from the built-in template instead of `modules`."""
        from openprod.signer_webcrypto import public_key_of

        return await cls.create(identity_json, name, modules, recovery_public=public_key_of, template=template)

    @classmethod
    async def fork_of(cls, source: Session, name: str, env_factory: EnvFactory = webcrypto_env,
                      recovery_public: Callable[[bytes], Awaitable[bytes]] | None = None) -> Session:
        """A copy of `source`'s workspace as it is now, without its history (openprod.fork): a new
        workspace owned by the same person, with its own recovery words. The original's note naming
        the copy is written by `m_note_fork` on the original's session (so its host stores it)."""
        from openprod.fork import found_fork, read_state

        if recovery_public is None:
            from openprod.signer_webcrypto import public_key_of as recovery_public
        copy = read_state(source.ws)
        source_hash = source.ws.state_hash()
        source_id = to_str(source.ws.workspace_id)
        session = await cls._new(source.identity.to_json(), name.strip() or f"{copy.name} (copy)", env_factory,
                                 recovery_public, lambda tx: found_fork(copy, source_id, source_hash, tx))
        await session._plant(copy, schema=False)
        return session

    @classmethod
    async def _new(cls, identity_json: str, name: str, env_factory: EnvFactory,
                   recovery_public: Callable[[bytes], Awaitable[bytes]] | None,
                   founding: Callable[[Any], None] | None = None) -> Session:
        identity = Identity.from_json(identity_json)
        env = await env_factory(identity)
        words = None
        key_for = None
        if recovery_public is not None:
            from .recovery import new_secret, public_key_for, words_for

            secret = new_secret()
            words = words_for(secret)

            async def key_for(workspace_id: bytes) -> bytes:
                return await public_key_for(workspace_id, secret, recovery_public)

        ws = await writes.create(connect(":memory:"), env, name, key_for, founding)
        session = cls(ws, identity, 0, ReplayStats())
        session._recovery_words = words
        assert ws.last_receipt is not None
        session._enqueue(ws.last_receipt.wire)  # stored before the listener existed
        return session

    async def _plant(self, copy: Any, *, schema: bool) -> None:
        from openprod.fork import plant_steps

        new_ids: dict[str, str] = {}
        for kind, meta, write in plant_steps(copy, new_ids, schema=schema):
            async with writes.transaction(self.ws, kind=kind, meta=meta, staging=False) as tx:
                write(tx)

    @classmethod
    async def create(cls, identity_json: str, name: str, modules: Iterable[str],
                     env_factory: EnvFactory = webcrypto_env,
                     recovery_public: Callable[[bytes], Awaitable[bytes]] | None = None,
                     template: str = "") -> Session:
        """A new workspace; its first bundles wait in the queue like any other. With
        `recovery_public` (seed -> public key), it gets a recovery key and its words."""
        manifests = available_manifests()
        chosen = list(modules)
        unknown = [m for m in chosen if m not in manifests]
        if unknown:
            raise ValidationError(f"unknown starter module(s): {', '.join(unknown)}")
        if template not in ("", "stage-management"):
            raise ValidationError(f"unknown template {template!r}; the built-in one is 'stage-management'")
        session = await cls._new(identity_json, name, env_factory, recovery_public)
        ws = session.ws
        if template:
            from openprod.fork import stage_management_template

            await session._plant(stage_management_template(), schema=True)
            # a stage manager's show keeps reports (the calling view's notes go to one): the core's
            # template cannot carry the web app's own module, and the app has no screen to add it later
            async with writes.transaction(ws, kind="module") as tx:
                tx.adopt_module(manifests["reports"])
            return session
        if chosen:
            async with writes.transaction(ws, kind="module") as tx:
                for module in chosen:
                    tx.adopt_module(manifests[module])
        return session

    @classmethod
    async def join(cls, identity_json: str, workspace_id: str, env_factory: EnvFactory = webcrypto_env) -> Session:
        """An empty replica of a workspace this person has just joined on a relay; sync fills it."""
        identity = Identity.from_json(identity_json)
        env = await env_factory(identity)
        ws = Workspace.join(connect(":memory:"), env, from_str(workspace_id))
        return cls(ws, identity, 0, ReplayStats())

    @classmethod
    async def open(cls, identity_json: str, workspace_id: str, snapshot: Any, snapshot_seq: int,
                   log: Iterable[Any], env_factory: EnvFactory = webcrypto_env, *,
                   overlays: Iterable[Any] = (), overlay_ops: Iterable[Any] = ()) -> Session:
        """Latest snapshot (or none) + the log records after it; `log` items are (seq, wire).

        `overlays`, `overlay_ops`: the overlay journal's head and op records (openprod.overlay_journal); they
        replace whatever overlays the snapshot held, so staged edits are exactly what was last
        made durable.
        """
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
            result = await writes.ingest(ws, _as_bytes(item[1]), source="local-log")
            stats.replayed += 1
            stats.statuses[result.status] = stats.statuses.get(result.status, 0) + 1
            seq = max(seq, record_seq)
        stats.overlays = ws.staging.restore([_as_bytes(r) for r in overlays], [_as_bytes(r) for r in overlay_ops])
        stats.replay_ms = (time.perf_counter() - started) * 1000
        return cls(ws, identity, seq, stats)

    def _on_bundle(self, event: BundleEvent) -> None:
        self._enqueue(event.wire)
        if event.origin == "local":
            self.note_local_bundle(event.wire)

    def _enqueue(self, wire: bytes) -> None:
        self.seq += 1
        self._queue.append((self.seq, wire))

    def take_log(self) -> list[tuple[int, bytes]]:
        """Bundles stored since the last call, with their log sequence numbers, in commit order."""
        queued, self._queue = self._queue, []
        return queued

    def take_overlays(self) -> list[tuple[str, str, int | None, bytes | None]]:
        """Overlay journal changes since the last call: (kind, overlay id, seq, record); see overlay_journal."""
        changes: list[tuple[str, str, int | None, bytes | None]] = self.journal.take()
        return changes

    def drift_list(self) -> list[Drift]:
        """The active overlay's drift, cached until a bundle is stored or a write call runs: computing
        it closes the overlay's read view, which costs a replay of every staged op to reopen."""
        active = self.ws.staging.active
        key = (self.seq, self._writes, active)
        if self._drift_cache is None or self._drift_cache[0] != key:
            self._drift_cache = (key, self.ws.staging.drift(active) if active is not None else [])
        return self._drift_cache[1]

    def snapshot(self) -> tuple[int, bytes] | None:
        """(last log seq included, database bytes), or None while a transaction is open.

        An active overlay keeps a read view (a SQLite transaction) open between calls; it is
        closed first, so the snapshot holds canonical state only (calls never overlap this)."""
        conn: sqlite3.Connection = self.ws.conn
        self.ws.staging.close_views()
        if conn.in_transaction:
            return None
        return self.seq, conn.serialize()

    def export_backup(self, now_ms: int) -> bytes:
        """The whole workspace as a backup file (backup.py: format v1). Staged edits are not in it."""
        self.ws.staging.close_views()
        return encode_backup_v1(self.ws, int(now_ms), self.identity.display_name)

    async def restore_backup(self, data: Any) -> str:
        """Fill this empty replica (made by `join`) from a backup: JSON {"ok": summary} or {"error": ...}.
        On error the session must be thrown away: nothing of it has been taken for the log yet."""
        try:
            summary = await restore_into(self.ws, decode_backup(_as_bytes(data)))
        except BackupError as exc:
            return json.dumps({"error": {"type": "BackupError", "message": str(exc)}})
        return json.dumps({"ok": summary})

    def set_display_name(self, display_name: str) -> str:
        """Rename the local actor; the next bundle carries the new name. Returns the identity JSON."""
        self.identity = self.identity.renamed(display_name)
        self.ws.display_name = clean_display_name(display_name)
        return self.identity.to_json()

    def set_progress(self, sink: ProgressSink | None) -> None:
        """Where long calls (CSV import) report progress: sink(kind, done, total)."""
        self.progress = None if _is_null(sink) else sink

    async def receive(self, wires: Iterable[Any], source: str) -> str:
        """Bundles from another peer (sync, or the test-only debug peer): verified and applied one by
        one through `writes.ingest`; each stored one is queued for the log like a local one.
        Returns JSON: [{status, reason, detail}] in order. Bad bundles are quarantined, never raised."""
        results = []
        for wire in wires:
            result = await writes.ingest(self.ws, _as_bytes(wire), source=source)
            results.append({"status": result.status, "reason": result.reason, "detail": result.detail,
                            "stale": result.stale})
        return json.dumps(results)

    # --- the JSON API -----------------------------------------------------------------------

    async def call(self, method: str, args_json: str) -> str:
        """Run one API method. Returns JSON: {"ok": result} or {"error": {"type", "message"}}."""
        spec = METHODS.get(method)
        if spec is None:
            return json.dumps({"error": {"type": "LocalError", "message": f"unknown method {method!r}"}})
        args = json.loads(args_json) if args_json else {}
        before = self.ws.staging.active
        try:
            result = await getattr(self, f"m_{method}")(**args)
            if spec:  # what this write committed sets off triggers (their runs: `trigger_runs`)
                await self.fire_triggers()
        except (OpenprodError, ValueError) as exc:
            error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
            if isinstance(getattr(exc, "line", None), int):  # a query's error: where it is, for the caret
                error.update(line=getattr(exc, "line"), column=getattr(exc, "column"),  # noqa: B009
                             detail=getattr(exc, "detail"), context=getattr(exc, "context"))  # noqa: B009
            return json.dumps({"error": error})
        finally:
            if spec:  # a write may have staged into, or changed, the overlay active before or after it
                self._writes += 1
                if spec == "local" or before is not None or self.ws.staging.active is not None:
                    self._epoch += 1  # rows may have changed outside the oplog: marks given so far are void
                self.journal.touch(before, self.ws.staging.active)
                if method == "stage_activate" or method == "stage_discard":
                    self.journal.touch(args.get("overlay") or None)
        return json.dumps({"ok": result}, default=_json_default)

    def _fdef(self, field_id: str) -> FieldDef:
        return self.ws.schema.field(field_id)

    def _crdt_ok(self) -> bool:
        return self.ws.crdt_available

    def _fields(self, fdefs: Iterable[FieldDef]) -> list[dict[str, Any]]:
        ok = self._crdt_ok()
        return [field_json(f, ok) for f in fdefs]

    def _drift(self) -> dict[tuple[str, str], str]:
        """(record, semantic field) -> what changed underneath a staged edit. Read before the rows:
        drift compares with canonical state, so it closes the overlay's read view."""
        ws = self.ws
        if ws.staging.active is None:
            return {}
        return {(d.target, ws.groups.key(d.field)): drift_json(ws, d)["description"]
                for d in self.drift_list() if d.field.count(".") == 2}

    def _flags(self, record_ids: list[str], field_ids: list[str],
               drift: dict[tuple[str, str], str]) -> dict[str, Any]:
        """Per record: {"new": staged new record, "fields": {field: {conflict, staged, drift}}}."""
        ws = self.ws
        conflicts = conflict_keys(ws)
        new, staged = staged_cells(ws)
        keys = {f: ws.groups.key(f) for f in field_ids}
        out: dict[str, Any] = {}
        for rid in record_ids:
            per: dict[str, Any] = {}
            for fid, key in keys.items():
                flag: dict[str, Any] = {}
                if (rid, key) in conflicts:
                    flag["conflict"], flag["conflict_text"] = conflicts[(rid, key)]
                if (rid, key) in staged:
                    flag["staged"] = True
                if (rid, key) in drift:
                    flag["drift"] = drift[(rid, key)]
                if flag:
                    per[fid] = flag
            if per or rid in new:
                out[rid] = {"new": rid in new, "fields": per}
        return out

    # reads

    async def m_info(self) -> dict[str, Any]:
        ws = self.ws
        tables = [{
            "id": t.id, "module": t.module, "display_name": t.display_name, "description": t.description,
            "fields": self._fields(t.fields.values()),
        } for t in ws.schema.tables.values()]
        modules = [{"name": m.name, "display_name": m.display_name, "version": m.version}
                   for m in ws.schema.modules.values()]
        return {"workspace_id": to_str(ws.workspace_id), "name": ws.name, "actor": ws.actor_id.hex(),
                "display_name": ws.display_name, "tables": tables, "modules": modules, "crdt": self._crdt_ok(),
                "upgrades": module_upgrades(ws), "recovery_key": ws.settings.recovery_key,
                "owner": ws.settings.owner.hex() if ws.settings.owner else None}

    async def m_status(self) -> dict[str, Any]:
        """What the header and banners show: staging mode, open conflicts, unacknowledged drift."""
        ws = self.ws
        active = ws.staging.active
        overlay = None
        drift = 0
        if active is not None:
            drift = len(self.drift_list())  # first: drift closes the overlay's read view
            info = next((o for o in ws.staging.list() if o.id == active), None)
            overlay = {"id": active, "name": info.name if info else "", "op_count": info.op_count if info else 0}
        waiting = sum(1 for o in ws.staging.list() if o.status != "active")
        return {"overlay": overlay, "drift": drift, "conflicts": len(ws.conflicts.open()), "overlays_waiting": waiting,
                "awareness": self._awareness()}

    def _field_name(self, field_id: str) -> str:
        fdef = self.ws.schema.fields.get(field_id)
        return fdef.display_name if fdef is not None else field_id.rsplit(".", 1)[-1]

    def _awareness(self) -> list[dict[str, Any]]:
        """Short-lived notices that someone edited a record's field just as someone else changed
        others: one sentence per arriving edit (the page shows each once)."""
        me = self.ws.actor_id.hex()
        grouped: dict[tuple[str, str, str, str], list[Any]] = {}
        for n in self.ws.history.awareness_notices():
            grouped.setdefault((n.record, n.field, n.actor, n.other_actor), []).append(n)
        out = []
        for (record, field_id, actor, other_actor), notices in grouped.items():
            others = sorted({self._field_name(n.other_field) for n in notices})
            listed = others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1]
            who = "you" if other_actor == me else self.ws.actor_name(other_actor)
            out.append({
                "key": f"{record}|{field_id}|{actor}|{other_actor}|{max(n.at_ms for n in notices)}",
                "record": record,
                "text": f"{self.ws.actor_name(actor)} edited {self._field_name(field_id)} of "
                        f"{self.ws.records.label(record)} just as {who} changed {listed}. Both changes are kept.",
            })
        return out

    async def m_rows(self, table: str, since: str | None = None) -> dict[str, Any]:
        """The table's fields, rows and flags, with a `mark`. Given the `mark` of an earlier read
        (`since`), only the records written since (here, by rules and triggers, or by peers) are
        read when the oplog can say which: then the answer is a patch, {"patch": True, "rows" (those
        records still in the table), "gone" (those no longer in it), "flags" (theirs), "ids" (all
        the table's ids in order, when a record may have entered or left it)}. A 1,000-row grid was
        re-read whole after every edit: a Python turn of 70-850 ms an edit could queue behind."""
        tdef = self.ws.schema.table(table)
        field_ids = [f.id for f in tdef.fields.values()]
        patch = self._rows_patch(tdef.id, field_ids, since) if since else None
        if patch is not None:
            return patch
        drift = self._drift()
        mark = self._rows_mark()
        rows = self.ws.records.all(table)
        self.rows_read += len(rows)
        flags = self._flags([r.id for r in rows], field_ids, drift)
        return {"table": tdef.id, "fields": self._fields(tdef.fields.values()),
                "rows": [{"id": r.id, "tables": r.tables, "values": r.values} for r in rows], "flags": flags,
                "mark": mark}

    def _rows_mark(self, at: int | None = None) -> str | None:
        """What a later `m_rows(since=...)` starts from; None while staging (staged edits are not
        in the oplog, and drift can change any row)."""
        if self.ws.staging.active is not None:
            return None
        return f"{self._marks}:{self._epoch}:{self.ws.records.mark() if at is None else at}"

    def _rows_patch(self, table: str, field_ids: list[str], since: str) -> dict[str, Any] | None:
        """The rows written since the mark `since`, or None when a whole read is needed."""
        parts = since.split(":")
        if len(parts) != 3 or parts[0] != self._marks or parts[1] != str(self._epoch) or not parts[2].isdigit():
            return None  # another session's mark, or rows changed outside the oplog since
        if self.ws.staging.active is not None:
            return None
        changes = self.ws.records.changed_since(int(parts[2]), limit=200)
        if changes is None:
            return None
        found = [r for r in (self.ws.records.get(i, table) for i in changes.records) if r is not None]
        self.rows_read += len(found)
        kept = {r.id for r in found}
        return {"table": table, "patch": True, "mark": self._rows_mark(changes.mark),
                "rows": [{"id": r.id, "tables": r.tables, "values": r.values} for r in found],
                "gone": [i for i in changes.records if i not in kept],
                "flags": self._flags(sorted(kept), field_ids, {}),
                "ids": self.ws.records.ids(table) if changes.membership else None}

    async def m_record(self, record: str) -> dict[str, Any] | None:
        drift = self._drift()
        found = self.ws.records.get(record)
        if found is None:
            return None
        field_ids = [f.id for t in found.tables if t in self.ws.schema.tables
                     for f in self.ws.schema.tables[t].fields.values()]
        flags = self._flags([found.id], field_ids, drift).get(found.id, {"new": False, "fields": {}})
        return {"id": found.id, "tables": found.tables, "values": found.values,
                "label": self.ws.records.label(found.id), "flags": flags}

    async def m_history(self, record: str, field: str) -> list[dict[str, Any]]:
        def others(alternatives: tuple[Any, ...]) -> list[dict[str, Any]]:
            return [{"display_name": a.display_name, "value": a.value, "resolution": a.resolution}
                    for a in alternatives]

        return [{"actor": c.actor[:8], "display_name": c.display_name, "when": c.when, "old": c.old, "new": c.new,
                 "bundle_id": c.bundle_id, "op_type": c.op_type, "concurrent": c.concurrent,
                 "concurrent_with": others(c.concurrent_with), "resolution": c.resolution,
                 "chosen_over": others(c.chosen_over), "supersedes": c.supersedes is not None,
                 "picked_from": c.picked.display_name if c.picked and c.picked.actor != c.actor else None,
                 "accepted": c.accepted, "stale": c.stale, "staged": c.staged, "collaborative": c.collaborative,
                 "text_change": c.text_change(), "description": c.describe()}
                for c in self.ws.history.field(record, field)]

    async def m_membership(self, record: str) -> list[dict[str, Any]]:
        """Every table, whether the record is in it, and the required fields it would still need."""
        found = self.ws.records.get(record)
        if found is None:
            raise ValidationError(f"record {record} does not exist")
        out = []
        for tdef in self.ws.schema.tables.values():
            member = tdef.id in found.tables
            needs = [] if member else self._fields(
                f for f in tdef.fields.values()
                if f.required and f.default is None and self.ws.records.value(record, f.id) is None)
            out.append({"table": tdef.id, "display_name": tdef.display_name, "member": member, "needs": needs})
        return out

    async def m_state_hash(self) -> str:
        """The state hash (equal on every peer holding the same bundles): for diagnostics and tests."""
        return self.ws.state_hash()

    async def m_stats(self) -> dict[str, Any]:
        r = self.replay
        bundles = self.ws.oplog.size().bundles
        return {"seq": self.seq, "queued": len(self._queue), "bundles": bundles, "rows_read": self.rows_read,
                "snapshot_seq": r.snapshot_seq, "snapshot_bytes": r.snapshot_bytes, "replayed": r.replayed,
                "replay_statuses": r.statuses, "restore_ms": round(r.restore_ms, 1),
                "replay_ms": round(r.replay_ms, 1), "overlays_restored": r.overlays}

    # writes: each is one transaction, so one signed bundle (or none if nothing changed); while an
    # overlay is active the same transaction is staged in it instead (unsigned, local-only)

    def _changes(self, record: str, values: dict[str, Any], bases: dict[str, str] | None = None) -> dict[str, Any]:
        """Field id -> new value (coerced) for the fields whose value differs.

        A collaborative text field becomes a list of edits: from `bases[field]` (the text the person
        started from; default: the current text) to the new text, placed on the current text."""
        changes: dict[str, Any] = {}
        for field_id, raw in values.items():
            fdef = self._fdef(field_id)
            coerced = coerce_crdt(fdef, raw) if fdef.crdt is not None else coerce_input(fdef, raw)
            current = self.ws.records.value(record, fdef.id)
            if fdef.crdt == "text":
                now = current or ""
                base = (bases or {}).get(fdef.id, now)
                edits = text_edits(base, str(coerced), now)
                if edits:
                    changes[fdef.id] = edits
                continue
            if fdef.crdt == "list" and list(current or []) == coerced:
                continue
            if fdef.crdt is None and same_value(current, coerced):
                continue
            changes[fdef.id] = coerced
        return changes

    def _write(self, tx: Any, record: str, field_id: str, value: Any) -> None:
        fdef = self._fdef(field_id)
        if fdef.crdt == "text" and isinstance(value, list):
            tx.edit_text(record, fdef.id, value)
        elif fdef.crdt == "text":
            tx.set_text(record, fdef.id, value)
        elif fdef.crdt == "list":
            tx.set_list(record, fdef.id, value)
        else:
            tx.set_field(record, fdef.id, value)

    async def m_set_cell(self, record: str, field: str, value: Any, base: str | None = None) -> dict[str, Any]:
        fdef = self._fdef(field)
        changes = self._changes(record, {fdef.id: value}, {fdef.id: base} if base is not None else None)
        if not changes:
            return {"changed": False, "value": self.ws.records.value(record, fdef.id)}
        async with writes.transaction(self.ws) as tx:
            self._write(tx, record, fdef.id, changes[fdef.id])
        if fdef.crdt is None and self.ws.staging.active is not None:
            # staged: reading it back would reopen the overlay's view (a replay of every staged op)
            return {"changed": True, "value": normalize_value(fdef, changes[fdef.id])}
        return {"changed": True, "value": self.ws.records.value(record, fdef.id)}

    async def m_create_record(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        tdef = self.ws.schema.table(table)
        clean: dict[str, Any] = {}
        collaborative: dict[str, Any] = {}
        for key, raw in values.items():
            fdef = tdef.field(key.rsplit(".", 1)[-1])
            if fdef.crdt is not None:
                value = coerce_crdt(fdef, raw)
                if value:
                    collaborative[fdef.id] = value
                continue
            coerced = coerce_input(fdef, raw)
            if coerced is not None:
                clean[key] = coerced
        async with writes.transaction(self.ws) as tx:
            record = tx.create_record(tdef.id, clean)
            for field_id, value in collaborative.items():
                self._write(tx, record, field_id, value)
        return {"id": record}

    async def m_update_record(self, record: str, values: dict[str, Any],
                              bases: dict[str, str] | None = None) -> dict[str, Any]:
        """All changed fields of a form in one bundle; unchanged ones write nothing. `bases`: for
        collaborative text fields, the text the form showed (others' typing since then is kept)."""
        changes = self._changes(record, values, bases)
        if changes:
            async with writes.transaction(self.ws) as tx:
                for field_id, value in changes.items():
                    self._write(tx, record, field_id, value)
        return {"changed": sorted(changes)}

    async def m_add_to_table(self, record: str, table: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        tdef = self.ws.schema.table(table)
        clean = {}
        for key, raw in (values or {}).items():
            coerced = coerce_input(tdef.field(key.rsplit(".", 1)[-1]), raw)
            if coerced is not None:
                clean[key] = coerced
        async with writes.transaction(self.ws) as tx:
            tx.add_to_table(record, tdef.id, clean)
        return {"tables": self.ws.records.get(record).tables}  # type: ignore[union-attr]

    async def m_remove_from_table(self, record: str, table: str) -> dict[str, Any]:
        found = self.ws.records.get(record)
        if found is not None and found.tables == [table]:
            raise ValidationError("this is the record's only table; delete the record instead")
        async with writes.transaction(self.ws) as tx:
            tx.remove_from_table(record, table)
        return {"tables": self.ws.records.get(record).tables}  # type: ignore[union-attr]

    async def m_delete_record(self, record: str) -> dict[str, Any]:
        async with writes.transaction(self.ws) as tx:
            tx.delete_record(record)
        return {"deleted": record}

    async def m_upgrade_modules(self) -> dict[str, Any]:
        """Adopt the newer compatible versions this app ships (one bundle, never staged): cue number
        fields that were numbers become cue numbers, every value kept (docs/design.md)."""
        names = module_upgrades(self.ws)
        if names:
            manifests = available_manifests()
            async with writes.transaction(self.ws, kind="module", staging=False) as tx:
                for name in names:
                    tx.adopt_module(manifests[name])
        return {"upgraded": [self.ws.schema.modules[n].display_name for n in names]}

    async def m_undo(self) -> dict[str, Any]:
        """Reverse this person's latest change in this session (skipped, with a reason, if others built on it).
        While staging, steps back through the staged edits instead."""
        return _undone(await writes.undo(self.ws))

    async def m_redo(self) -> dict[str, Any]:
        return _undone(await writes.undo(self.ws, redo=True))

    # --- copies and templates (openprod.fork) -----------------------------------------------

    async def m_note_fork(self, fork: str, state_hash: str) -> dict[str, Any]:
        """The original's signed note naming a copy made of it (provenance on both sides)."""
        from openprod.fork import fork_note_meta, note_fork

        from_str(fork)  # a workspace id, or a clear error
        async with writes.transaction(self.ws, kind="workspace", meta=fork_note_meta(fork, state_hash),
                                      staging=False) as tx:
            note_fork(self.ws, tx)
        return {"noted": fork}

    async def m_recover_ownership(self, recovery_key: str, next_key: str, proof: str) -> dict[str, Any]:
        """Move ownership to this person in the workspace itself, with the proof the relay accepted
        (docs/lifecycle.md, "Recovery words"): one signed RecoverOwnership op every peer checks."""
        try:
            keys = bytes.fromhex(recovery_key), bytes.fromhex(next_key), bytes.fromhex(proof)
        except ValueError:
            raise ValidationError("the recovery proof is not hex") from None
        from openprod.recovery import proof_message

        message = proof_message(self.ws.workspace_id, self.ws.actor_id, keys[1])
        if not await self.ws.env.verifier.verify_async(keys[0], message, keys[2]):  # WebCrypto: async only
            raise ValidationError("the recovery proof does not check: wrong recovery words, or a proof made "
                                  "for someone else")
        async with writes.transaction(self.ws, kind="workspace", staging=False) as tx:
            tx.recover_ownership(*keys, proof_verified=True)
        return {"owner": self.ws.actor_id.hex()}

    async def m_provenance(self) -> dict[str, Any]:
        from openprod.fork import fork_provenance

        return fork_provenance(self.ws)

    async def m_template(self, with_records: bool = True) -> dict[str, Any]:
        """This workspace as a template file (base64), with or without its records."""
        import base64

        from openprod.fork import encode_template, read_state

        data = encode_template(read_state(self.ws, with_records=bool(with_records)))
        return {"data": base64.b64encode(data).decode(), "bytes": len(data), "name": self.ws.name}


# name -> True if the method writes (the worker then waits for its records to be durable); "local":
# it changes this device's own decisions only (no bundle), so the worker takes a snapshot after it
METHODS: dict[str, bool | str] = {
    "info": False, "status": False, "state_hash": False, "rows": False, "record": False, "history": False,
    "membership": False, "stats": False, "set_cell": True, "create_record": True, "update_record": True,
    "add_to_table": True, "remove_from_table": True, "delete_record": True, "undo": True, "redo": True,
    "upgrade_modules": True, "note_fork": True, "recover_ownership": True, "provenance": False, "template": False,
    **CONFLICT_METHODS, **STAGING_METHODS, **IMPORT_METHODS, **LINK_METHODS, **VIEW_METHODS,
    **CALLING_METHODS, **SCRIPT_METHODS, **MAPPING_METHODS, **RULE_METHODS, **IDENTITY_METHODS, **ATTACHMENT_METHODS,
}
