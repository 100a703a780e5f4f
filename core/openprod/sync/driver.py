"""Doing a session's work against a Workspace: one synchronous and one async pump, same logic.

The relay and the CLI verify with PyNaCl and call `pump`; the browser worker verifies with
WebCrypto and awaits `pump_async`. Both only run the session's work items (sign the handshake,
verify the peer's proof, ingest received bundles
with one commit per batch) and report results back; moving frames over
a transport stays with the caller, which sends `session.data_to_send()` after pumping.
"""

from __future__ import annotations

from collections.abc import Callable

from ..workspace import Workspace
from .events import IngestBatch, SignProof, VerifyProof
from .session import SyncSession


def pump(session: SyncSession, ws: Workspace, now_ms: Callable[[], int], *, source: str | None = None) -> int:
    """Run every pending work item synchronously. Returns how many bundles were ingested."""
    ingested = 0
    signer, verifier = ws.env.signer, ws.env.verifier
    while (work := session.next_work()) is not None:
        if isinstance(work, IngestBatch):
            session.batch_ingested(work, ws.ingest_many(list(work.wires), source=source), now_ms())
            ingested += len(work.wires)
        elif isinstance(work, SignProof):
            session.proof_signed(signer.sign(work.message), now_ms())
        elif isinstance(work, VerifyProof):
            session.proof_verified(verifier.verify(work.actor, work.message, work.signature), now_ms())
    return ingested


async def pump_async(session: SyncSession, ws: Workspace, now_ms: Callable[[], int], *,
                     source: str | None = None) -> int:
    """The same as `pump`, for async signers and verifiers (WebCrypto under Pyodide)."""
    ingested = 0
    signer, verifier = ws.env.signer, ws.env.verifier
    while (work := session.next_work()) is not None:
        if isinstance(work, IngestBatch):
            results = await ws.ingest_many_async(list(work.wires), source=source)
            session.batch_ingested(work, results, now_ms())
            ingested += len(work.wires)
        elif isinstance(work, SignProof):
            session.proof_signed(await signer.sign_async(work.message), now_ms())
        elif isinstance(work, VerifyProof):
            ok = await verifier.verify_async(work.actor, work.message, work.signature)
            session.proof_verified(ok, now_ms())
    return ingested
