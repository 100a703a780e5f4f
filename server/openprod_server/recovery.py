"""Recovery secrets as twelve words a person can write down, and the key pair they stand for.

The words are BIP-39's English list (the `mnemonic` package, pinned: a well-kept list chosen so no
two words share their first four letters, with a checksum that catches a mistyped word). Twelve
words hold the 128-bit secret; openprod.recovery turns it into this workspace's recovery key pair.
"""

from __future__ import annotations

import secrets

from mnemonic import Mnemonic

from openprod import Identity
from openprod.recovery import SECRET_LEN, RecoveryWordsError, proof_message, recovery_seed
from openprod.recovery import secret_from as read_words
from openprod.signer_nacl import NaclSigner

__all__ = ["RecoveryWordsError", "key_pair", "new_secret", "proof", "public_key", "secret_from", "words_for"]

_WORDS = Mnemonic("english")


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_LEN)


def words_for(secret: bytes) -> str:
    return str(_WORDS.to_mnemonic(secret))


def secret_from(words: str) -> bytes:
    """Typed words -> the secret (openprod.recovery.secret_from, with BIP-39's English list)."""
    return read_words(words, _WORDS)


def key_pair(workspace_id: bytes, secret: bytes) -> NaclSigner:
    """A signer holding this workspace's recovery key (its actor id is the public recovery key)."""
    from nacl.signing import SigningKey

    seed = recovery_seed(workspace_id, secret)
    public = bytes(SigningKey(seed).verify_key)
    return NaclSigner(Identity(public, seed, "Recovery key", ""))


def public_key(workspace_id: bytes, secret: bytes) -> bytes:
    return key_pair(workspace_id, secret).actor_id


def proof(workspace_id: bytes, secret: bytes, new_owner: bytes, next_key: bytes) -> bytes:
    return key_pair(workspace_id, secret).sign(proof_message(workspace_id, new_owner, next_key))
