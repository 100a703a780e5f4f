"""What a session hands out: work for its driver, and events for the application.

Work items are things the session cannot do itself because they may be async in the browser
(signing, verifying, ingesting through WebCrypto). The driver performs each one and reports
the result back (`proof_signed`, `proof_verified`, `batch_ingested`); `driver.py` does that
for a Workspace, synchronously or with `await`.

Events tell the application what happened: to show progress, "in sync", or why a peer left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VectorClock = dict[bytes, bytes]

# --- work for the driver ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignProof:
    """Sign `message` with the local actor key; answer with `session.proof_signed(signature, now)`."""

    message: bytes


@dataclass(frozen=True, slots=True)
class VerifyProof:
    """Check the peer's signature; answer with `session.proof_verified(ok, now)`."""

    actor: bytes
    message: bytes
    signature: bytes


@dataclass(frozen=True, slots=True, eq=False)
class IngestBatch:
    """Ingest `wires` (in order) into the local workspace, ideally with one commit
    (`Workspace.ingest_many`); answer with `session.batch_ingested(item, results, now)`.

    `parts` maps the wires back to the received batches they came from: (batch key, count).
    """

    wires: tuple[bytes, ...]
    parts: tuple[tuple[int, int], ...]


Work = SignProof | VerifyProof | IngestBatch

# --- events for the application ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Established:
    """The peer proved its key (and was admitted): bundles flow from now on."""

    peer: bytes
    peer_clock: VectorClock = field(repr=False)


@dataclass(frozen=True, slots=True)
class Progress:
    """A catch-up batch from the peer was processed; `remaining` bundles are still to come."""

    received: int
    remaining: int


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """The peer has sent everything it held when the catch-up (or a repair) started."""

    received: int


@dataclass(frozen=True, slots=True)
class BundleRefused:
    """We refused a bundle the peer sent (it was quarantined and the peer told why)."""

    bundle_id: str | None
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class PeerRefusedBundle:
    """The peer refused a bundle we sent."""

    bundle_id: str | None
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class InSync:
    """Both sides hold the same bundles and derive the same state hash."""

    state_hash: str


@dataclass(frozen=True, slots=True)
class Diverged:
    """Same bundles, different state hash: a derivation bug. Never resolved automatically."""

    local_hash: str
    peer_hash: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over. `by_peer`: the peer refused or hung up; else we did (and why)."""

    reason: str
    detail: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class BlobWanted:
    """The peer asks for `length` bytes of blob `digest` from `offset`: answer with
    `session.send_blob_piece(...)` or `session.send_blob_none(digest, reason)`."""

    digest: bytes
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class BlobArrived:
    """A piece of a blob we asked this peer for (not yet verified: the whole blob is, by its hash)."""

    digest: bytes
    offset: int
    total: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class BlobUnavailable:
    """The peer cannot send blob `digest` (`not_here`, `too_large`): one answer per request."""

    digest: bytes
    reason: str


Event = (Established | Progress | CaughtUp | BundleRefused | PeerRefusedBundle | InSync | Diverged | Closed
         | BlobWanted | BlobArrived | BlobUnavailable)
