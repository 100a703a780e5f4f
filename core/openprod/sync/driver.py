"""Doing a session's work against a workspace: one set of steps, run by a sync or an async runner.

The session hands out work (sign the handshake, verify the peer's proof, ingest received
bundles); `_steps` does it against the workspace's public receive steps (`check_received`, then
the signatures, then `apply_received`, one commit per batch) and yields each signature to make
or check. `pump` answers them with a synchronous signer and verifier (PyNaCl: the relay, the
CLI); `pump_async` awaits them (WebCrypto under Pyodide). Moving frames over a transport stays
with the caller, which sends `session.data_to_send()` after pumping. This module knows the
workspace only through the small `Host` interface: sync/ never imports the facade.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol

from ..results import IngestResult
from .events import IngestBatch, SignProof, VerifyProof
from .session import SyncSession


class _Signed(Protocol):
    @property
    def actor(self) -> bytes: ...

    @property
    def signature(self) -> bytes: ...

    def signing_bytes(self) -> bytes: ...

    def signatures(self) -> list[tuple[bytes, bytes, bytes]]: ...


class _Received(Protocol):
    @property
    def to_verify(self) -> Sequence[_Signed]: ...


class _Env(Protocol):
    @property
    def signer(self) -> Any: ...

    @property
    def verifier(self) -> Any: ...


class Host(Protocol):
    """What the driver uses of a Workspace (its public receive steps and the handed-in signer)."""

    @property
    def env(self) -> _Env: ...

    def check_received(self, wires: Sequence[bytes], *, source: str | None = None) -> Any: ...

    def apply_received(self, received: Any, verdicts: Sequence[bool] | None = None) -> list[IngestResult]: ...


# What `_steps` asks its runner for: ("sign", message) -> signature, or
# ("verify", actor, message, signature) -> bool.
Request = tuple[Any, ...]


def _steps(session: SyncSession, host: Host, now_ms: Callable[[], int],
           source: str | None, *, synchronous: bool = False) -> Generator[Request, Any, int]:
    """`synchronous`: the runner's verifier is the host's own, so a batch is verified and applied by
    the host in one step (a verifier offering `verify_each` then overlaps the two)."""
    ingested = 0
    while (work := session.next_work()) is not None:
        if isinstance(work, IngestBatch):
            received = host.check_received(list(work.wires), source=source)
            if synchronous:
                session.batch_ingested(work, host.apply_received(received), now_ms())
                ingested += len(work.wires)
                continue
            verdicts = []
            for bundle in received.to_verify:
                valid = True
                for key, message, signature in bundle.signatures():
                    valid = valid and bool((yield ("verify", key, message, signature)))
                verdicts.append(valid)
            session.batch_ingested(work, host.apply_received(received, verdicts), now_ms())
            ingested += len(work.wires)
        elif isinstance(work, SignProof):
            session.proof_signed((yield ("sign", work.message)), now_ms())
        elif isinstance(work, VerifyProof):
            session.proof_verified(bool((yield ("verify", work.actor, work.message, work.signature))), now_ms())
    return ingested


def pump(session: SyncSession, ws: Host, now_ms: Callable[[], int], *, source: str | None = None) -> int:
    """Run every pending work item synchronously. Returns how many bundles were ingested."""
    signer, verifier = ws.env.signer, ws.env.verifier
    steps = _steps(session, ws, now_ms, source, synchronous=True)
    try:
        request = next(steps)
        while True:
            answer = signer.sign(request[1]) if request[0] == "sign" else verifier.verify(*request[1:])
            request = steps.send(answer)
    except StopIteration as done:
        return int(done.value)


async def pump_async(session: SyncSession, ws: Host, now_ms: Callable[[], int], *,
                     source: str | None = None) -> int:
    """The same steps, awaiting an async signer and verifier (WebCrypto under Pyodide)."""
    signer, verifier = ws.env.signer, ws.env.verifier
    steps = _steps(session, ws, now_ms, source)
    try:
        request = next(steps)
        while True:
            if request[0] == "sign":
                answer = await signer.sign_async(request[1])
            else:
                answer = await verifier.verify_async(*request[1:])
            request = steps.send(answer)
    except StopIteration as done:
        return int(done.value)
