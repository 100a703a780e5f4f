"""The browser's runner of the core's two pipelines: WebCrypto signs and verifies between steps.

The core writes through begin -> writes -> prepare -> sign -> commit and receives through
check -> verify -> apply (docs/architecture.md); signing and verifying are the caller's steps.
Here they are awaited (WebCrypto is asynchronous), so two calls of the page, or a call and a sync
batch, could interleave at an `await`: one lock per workspace makes them take turns, as the
core allows one transaction at a time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from openprod import Env, IngestResult, Prepared, Receipt, Transaction, UndoResult, Workspace

_locks: weakref.WeakKeyDictionary[Workspace, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(ws: Workspace) -> asyncio.Lock:
    lock = _locks.get(ws)
    if lock is None:
        lock = _locks[ws] = asyncio.Lock()
    return lock


async def _finish(ws: Workspace, tx: Transaction) -> Receipt | None:
    prepared = ws.prepare(tx)
    return None if prepared is None else await sign_and_commit(ws, prepared)


async def sign_and_commit(ws: Workspace, prepared: Prepared) -> Receipt:
    """The pipeline's last two steps for a sealed bundle: WebCrypto signs, the core commits."""
    try:
        signature = await ws.env.signer.sign_async(prepared.signing_bytes())
    except BaseException:
        ws.abort()
        raise
    return ws.commit(prepared, signature)


@asynccontextmanager
async def transaction(ws: Workspace, kind: str = "edit", meta: dict[str, Any] | None = None,
                      staging: bool = True) -> AsyncIterator[Transaction]:
    """Like `Workspace.transaction()`, signing with the async signer; the receipt is `ws.last_receipt`."""
    async with _lock(ws):
        tx = ws.begin(kind, meta, staging)
        try:
            yield tx
        except BaseException:
            ws.abort()
            raise
        await _finish(ws, tx)


async def create(conn: sqlite3.Connection, env: Env, name: str,
                 recovery_key: Callable[[bytes], Awaitable[bytes]] | None = None,
                 founding: Callable[[Transaction], None] | None = None) -> Workspace:
    """A new workspace, its founding bundle signed with the async signer; with `recovery_key`
    (workspace id -> the public recovery key), that key is set in the founding bundle, and
    `founding(tx)` writes more into it (a fork's origin and structure)."""
    ws, tx = Workspace.founding(conn, env, name)
    async with _lock(ws):
        try:
            if recovery_key is not None:
                tx.set_setting("recovery_key", (await recovery_key(ws.workspace_id)).hex())
            if founding is not None:
                founding(tx)
        except BaseException:
            ws.abort()
            raise
        await _finish(ws, tx)
    return ws


async def ingest_many(ws: Workspace, wires: Sequence[bytes], *, source: str | None = None) -> list[IngestResult]:
    """Received bundles checked, verified with the async verifier, and applied in one commit."""
    async with _lock(ws):
        received = ws.check_received(wires, source=source)
        groups = [b.signatures() for b in received.to_verify]  # the author's signature, and any recovery proof
        flat = [s for group in groups for s in group]
        verifier = ws.env.verifier
        many = getattr(verifier, "verify_many_async", None)  # WebCrypto: the whole batch at once
        results = await many(flat) if many is not None else [await verifier.verify_async(*s) for s in flat]
        verdicts = []
        at = 0
        for group in groups:
            verdicts.append(all(results[at:at + len(group)]))
            at += len(group)
        return ws.apply_received(received, verdicts)


async def ingest(ws: Workspace, wire: bytes, *, source: str | None = None) -> IngestResult:
    return (await ingest_many(ws, [wire], source=source))[0]


async def undo(ws: Workspace, redo: bool = False) -> UndoResult:
    async with _lock(ws):
        planned = ws.begin_undo(redo)
        if isinstance(planned, UndoResult):
            return planned
        tx, result = planned
        await _finish(ws, tx)
        return result


async def commit_overlay(ws: Workspace, overlay: str) -> Receipt | None:
    """Everything staged in the overlay as one bundle signed with the async signer (None: nothing staged)."""
    async with _lock(ws):
        tx = ws.begin_overlay_commit(overlay)
        return None if tx is None else await _finish(ws, tx)


def held(ws: Workspace) -> asyncio.Lock:
    """The workspace's write lock: a script run holds it, as any write does, while its transaction is open."""
    return _lock(ws)


async def save_script(ws: Workspace, name: str, source: str, description: str, script_id: str | None) -> str:
    """Keep a user script in the workspace (adopting the Scripts table the first time)."""
    from openprod.scripts import SCRIPTS_TABLE, script_values

    return await _store_script_record(ws, SCRIPTS_TABLE, script_values(name, source, description), script_id)


async def save_trigger(ws: Workspace, *, trigger_id: str | None = None, **definition: Any) -> str:
    """Keep a trigger: the core checks it (a cycle is refused with the reason), WebCrypto signs."""
    from openprod.scripts import TRIGGERS_TABLE, trigger_values

    values = trigger_values(ws, trigger_id=trigger_id, **definition)
    return await _store_script_record(ws, TRIGGERS_TABLE, values, trigger_id)


async def _store_script_record(ws: Workspace, table: str, values: dict[str, Any], record_id: str | None) -> str:
    from openprod.scripts import SCRIPTS_MODULE

    if table not in ws.schema.tables:
        async with transaction(ws, kind="module", staging=False) as tx:
            tx.adopt_module(SCRIPTS_MODULE)
    async with transaction(ws, staging=False) as tx:
        if record_id is None:
            return tx.create_record(table, values)
        for key, value in values.items():
            tx.set_field(record_id, f"{table}.{key}", value)
    return record_id


async def drive_chain(ws: Workspace, chain: Generator[Prepared, bytes, list[Any]]) -> list[Any]:
    """A trigger chain (`TriggerRunner.chain`) to its end, each bundle it seals signed with
    WebCrypto between steps (the caller holds the write lock)."""
    try:
        prepared = next(chain)
        while True:
            try:
                signature = await ws.env.signer.sign_async(prepared.signing_bytes())
            except BaseException as exc:
                prepared = chain.throw(exc)
                continue
            prepared = chain.send(signature)
    except StopIteration as stop:
        return list(stop.value)
