"""Recovery secrets as twelve words a person can write down, and the key pair they stand for.

The words are BIP-39's English list (the `mnemonic` package, pinned: a well-kept list chosen so no
two words share their first four letters, with a checksum that catches a mistyped word). Twelve
words hold the 128-bit secret; openprod.recovery turns it into this workspace's recovery key pair.
"""

from __future__ import annotations

import secrets

from mnemonic import Mnemonic

from openprod import Identity
from openprod.recovery import SECRET_LEN, proof_message, recovery_seed
from openprod.signer_nacl import NaclSigner

WORD_COUNT = 12
_WORDS = Mnemonic("english")


class RecoveryWordsError(ValueError):
    """Words that are not a recovery secret; the message says what is wrong, in plain words."""


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_LEN)


def words_for(secret: bytes) -> str:
    return str(_WORDS.to_mnemonic(secret))


def secret_from(words: str) -> bytes:
    """Typed words -> the secret. Case, extra spaces, commas and numbering ("1. paper") are forgiven."""
    cleaned = [w for w in (part.strip(".,;:").lower() for part in words.replace(",", " ").split())
               if w and not w.isdigit()]
    if len(cleaned) != WORD_COUNT:
        raise RecoveryWordsError(f"recovery words are {WORD_COUNT} words; {len(cleaned)} were given")
    known = set(_WORDS.wordlist)
    unknown = [w for w in cleaned if w not in known]
    if unknown:
        raise RecoveryWordsError(f"{', '.join(repr(w) for w in unknown)} is not one of the recovery words; "
                                 "check the spelling")
    phrase = " ".join(cleaned)
    if not _WORDS.check(phrase):
        raise RecoveryWordsError("these words do not fit together (one is mistyped, or two are swapped)")
    return bytes(_WORDS.to_entropy(phrase))


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
