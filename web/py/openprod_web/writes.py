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
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from openprod import (
    Bundle,
    BundleRejected,
    Env,
    IngestResult,
    Prepared,
    Receipt,
    Transaction,
    UndoResult,
    Workspace,
    decode_bundle,
)

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


class _Answer:
    """The verify pool's answer for one batch of items, awaited once."""

    __slots__ = ("backend", "data", "pending")

    def __init__(self, pending: Awaitable[Any]) -> None:
        self.pending = pending
        self.data: bytes | None = None
        self.backend = "?"  # which Ed25519 backend the pool used ('webcrypto' or 'sodium', verifier.js)

    async def bytes(self, ms: dict[str, float] | None = None) -> bytes:
        if self.data is None:
            try:
                asked = time.perf_counter() * 1000  # Pyodide's perf_counter is performance.now()
                raw = await self.pending
                at = getattr(raw, "resolvedAt", None)  # verifypool.js: performance.now() when it came back
                self.backend = str(getattr(raw, "backend", None) or "?")
                if ms is not None and isinstance(at, (int, float)):
                    # the pool late (answered after we asked), then the event loop's way back to us
                    ms["verdict_late"] = ms.get("verdict_late", 0.0) + max(0.0, at - asked)
                    ms["verdict_hop"] = ms.get("verdict_hop", 0.0) + time.perf_counter() * 1000 - max(at, asked)
                self.data = bytes(raw.to_bytes()) if hasattr(raw, "to_bytes") else bytes(raw)
            except Exception:  # the pool failed: its items are verified here instead
                self.data = b""
        return self.data


class VerifyAhead:
    """A catch-up's next slice decoded, and its signatures sent to a verify worker, while this slice applies.

    Chromium's WebCrypto verifies Ed25519 on the calling thread (its promise is settled when
    `verify()` returns): a slice's verifies were 1.25 s of a 100k-op join's 4.0 s of ingest turns on
    the worker's one thread (docs/benchmarks.md, session 14). CPython checks the next bundles on a
    thread of its own while earlier ones apply (`NaclVerifier.verify_each`); here `pool` (the worker's
    verifypool.js: WebCrypto on a worker of its own) does: `prepare(wires)` decodes them (a function
    of the bytes alone) and hands their (key, message, signature) to the pool without waiting;
    `ingest_many(..., ahead=self)` takes what it finds for its own wires, a decoded bundle by the
    wire's exact bytes and a verdict by the exact (key, message, signature), so nothing prepared for
    other bytes is ever used. What was not prepared, or the pool could not tell, is decoded and
    verified there as before; the verifier still applies libsodium's refusals to every item.
    Without a pool (CPython, Node) this does nothing. Holds at most `keep` wires; what no slice took
    is dropped.

    `pool(packed, count)`: an awaitable of `count` bytes (1 valid, 0 not, 2 could not tell) for
    `count` items packed as key (32) | signature (64) | message length (4, little-endian) | message."""

    def __init__(self, pool: Callable[[bytes, int], Awaitable[Any]] | None = None, keep: int = 4096) -> None:
        self._pool = pool
        self.keep = keep
        self._decoded: dict[bytes, Bundle | BundleRejected] = {}
        self._begun: dict[tuple[bytes, bytes, bytes], tuple[_Answer, int]] = {}  # item -> (the pool's answer, index)
        self.prepared = 0  # wires decoded ahead so far
        self.taken = 0  # ...that a slice then took
        self.answered = 0  # signatures whose verdict came from the pool
        # where the catch-up's time went, ms (bench.browser_bench --only join prints it; docs/benchmarks.md
        # session 16): decoding ahead and handing signatures to the pool (prepare), the core's check,
        # waiting for the pool's verdicts (verdict_wait: the pool answering after we asked, verdict_late,
        # then the event loop's way back to us, verdict_hop), the verifier's own step, the core's apply
        # (one SQLite transaction), and SyncHub.work's whole call (work; frames are fed outside it)
        self.ms = {"prepare": 0.0, "check": 0.0, "verdict_wait": 0.0, "verdict_late": 0.0, "verdict_hop": 0.0,
                   "verify": 0.0, "apply": 0.0, "work": 0.0}
        self.waits = 0  # the pool's answers a slice awaited (the first to need one; a trip through the event loop)
        self.backends: dict[str, int] = {}  # verdicts the pool gave, by the backend it measured cheaper then

    @property
    def active(self) -> bool:
        return self._pool is not None

    def prepare(self, wires: Sequence[bytes]) -> None:
        """Decode `wires` not prepared yet and send their signatures to the pool (in order, so a slice's
        are checked before the next slice's)."""
        if self._pool is None or not wires:
            return
        t0 = time.perf_counter()
        try:
            self._prepare(wires)
        finally:
            self.ms["prepare"] += (time.perf_counter() - t0) * 1000

    def _prepare(self, wires: Sequence[bytes]) -> None:
        assert self._pool is not None
        if len(self._decoded) + len(wires) > self.keep:  # left over by links that went away
            self._decoded.clear()
            self._begun.clear()
        items: list[tuple[bytes, bytes, bytes]] = []
        for wire in wires:
            if wire in self._decoded:
                continue
            try:
                bundle: Bundle | BundleRejected = decode_bundle(wire)
            except BundleRejected as exc:  # refused by the check as before, with the same reason
                bundle = exc
            self._decoded[wire] = bundle
            self.prepared += 1
            if isinstance(bundle, Bundle):
                items.extend(s for s in bundle.signatures() if len(s[0]) == 32 and len(s[2]) == 64)
        if not items:
            return
        packed = b"".join(b"".join((key, signature, len(message).to_bytes(4, "little"), message))
                          for key, message, signature in items)
        try:
            answer = _Answer(self._pool(packed, len(items)))
        except Exception:  # no verify worker here: the slices verify as before
            self._pool = None
            return
        for index, item in enumerate(items):
            self._begun[item] = (answer, index)

    def stats(self) -> dict[str, int]:
        return {"prepared": self.prepared, "taken": self.taken, "answered": self.answered}

    def split(self) -> dict[str, Any]:
        """Where the slices' time went (`ms`, see __init__), how many verdict answers a slice awaited, and
        how many verdicts each Ed25519 backend of the pool gave (`backends`)."""
        return {"waits": self.waits, "ms": {k: round(v) for k, v in self.ms.items()}, "backends": dict(self.backends)}

    def take_decoded(self, wires: Sequence[bytes]) -> list[Bundle | BundleRejected | None] | None:
        if not self._decoded:
            return None
        out = [self._decoded.pop(wire, None) for wire in wires]
        self.taken += sum(1 for b in out if b is not None)
        return out

    async def take_verdicts(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool | None]:
        """The pool's verdict on each item (None: not sent, or it could not tell). Each answer is awaited
        once; one that fails leaves its items to the caller's own verify."""
        found = [self._begun.pop(item, None) for item in items]
        out: list[bool | None] = []
        for hit in found:
            if hit is None:
                out.append(None)
                continue
            answer, index = hit
            if answer.data is None:
                self.waits += 1
                t0 = time.perf_counter()
                data = await answer.bytes(self.ms)
                self.ms["verdict_wait"] += (time.perf_counter() - t0) * 1000
            else:
                data = answer.data
            code = data[index] if index < len(data) else 2
            out.append(None if code == 2 else code == 1)
            self.answered += code != 2
            if code != 2:
                self.backends[answer.backend] = self.backends.get(answer.backend, 0) + 1
        return out


async def ingest_many(ws: Workspace, wires: Sequence[bytes], *, source: str | None = None,
                      ahead: VerifyAhead | None = None) -> list[IngestResult]:
    """Received bundles checked, verified with the async verifier, and applied in one commit.
    `ahead`: where the caller decoded these wires and began their verifies already (VerifyAhead)."""
    async with _lock(ws):
        ahead = ahead if ahead is not None and ahead.active else None
        t0 = time.perf_counter()
        received = ws.check_received(wires, source=source,
                                     decoded=ahead.take_decoded(wires) if ahead is not None else None)
        groups = [b.signatures() for b in received.to_verify]  # the author's signature, and any recovery proof
        flat = [s for group in groups for s in group]
        verifier = ws.env.verifier
        many = getattr(verifier, "verify_many_async", None)  # WebCrypto: the whole batch at once
        if many is not None and ahead is not None:
            t1 = time.perf_counter()
            known = await ahead.take_verdicts(flat)
            t2 = time.perf_counter()
            results = await many(flat, known=known)
            t3 = time.perf_counter()
            verdicts = _grouped(groups, results)
            out = ws.apply_received(received, verdicts)
            ahead.ms["check"] += (t1 - t0) * 1000
            ahead.ms["verify"] += (t3 - t2) * 1000
            ahead.ms["apply"] += (time.perf_counter() - t3) * 1000
            return out
        if many is not None:
            results = await many(flat)
        else:
            results = [await verifier.verify_async(*s) for s in flat]
        return ws.apply_received(received, _grouped(groups, results))


def _grouped(groups: Sequence[Sequence[Any]], results: Sequence[bool]) -> list[bool]:
    """One verdict per bundle: all of its signatures held."""
    verdicts = []
    at = 0
    for group in groups:
        verdicts.append(all(results[at:at + len(group)]))
        at += len(group)
    return verdicts


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
