"""What a peer signs to prove it holds its actor key, for a sync handshake or a relay request.

A hello names an actor; anyone can type an actor id. So each side sends a fresh random nonce
in its hello and the other side signs it (with its own nonce, both actor ids and the workspace,
so a proof can be neither replayed in another session nor relayed to a third party). Signing
may be async (WebCrypto in the browser), so the session asks its driver to sign; see `driver.py`.
"""

from __future__ import annotations

PROOF_CONTEXT = b"openprod/sync-proof/v1\x00"


def proof_bytes_v1(*, workspace: bytes, prover: bytes, verifier: bytes, verifier_nonce: bytes,
                   prover_nonce: bytes) -> bytes:
    """The exact bytes `prover` signs to answer `verifier`'s nonce in `workspace`."""
    return PROOF_CONTEXT + workspace + prover + verifier + verifier_nonce + prover_nonce


SIGNAL_CONTEXT = b"openprod/signal-proof/v1\x00"


def signal_proof_bytes_v1(*, workspace: bytes, actor: bytes, nonce: bytes) -> bytes:
    """The exact bytes an actor signs to enter a workspace's WebRTC signalling room on a relay."""
    return SIGNAL_CONTEXT + workspace + actor + nonce
